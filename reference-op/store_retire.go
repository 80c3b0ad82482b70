package refop

import (
	"container/heap"
	"context"
	"fmt"
	"math"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
)

// Retirer is a Store that can reduce expired requests to
// tombstones (OP.maybePurge calls it, on every backchannel request,
// when the store is one).
type Retirer interface {
	// Retire reduces each request that expired before cutoff, and owes
	// its client nothing more, to what a late token request needs to be
	// answered as before: its client, delivery mode, state, redemptions
	// and expiry. Get and Update then return those fields (NotifyDone
	// set, the rest zero), Update refusing to move one retired pending
	// to another state; ListAuthRequests leaves such requests out.
	Retire(ctx context.Context, cutoff time.Time) error
	// RetireRedeemed reduces request id to its tombstone now, before its
	// expiry, if it is redeemed and owes its client nothing: the OP calls
	// it once the request can be redeemed no more, and what a later token
	// request for it gets (invalid_grant, CIBA 11) the tombstone answers.
	// An unknown or already retired id is no error.
	RetireRedeemed(ctx context.Context, id string) error
}

var _ Retirer = (*MemoryStore)(nil)

// tombstone is a retired request, its strings as indexes of s.names:
// 16 bytes, about 85 with its map and queue entries, against about 480
// for the whole record (TestMemoryStoreBytesPerEntry; 95 with 32-bit
// indexes for all). Tombstones are kept an hour (expiredRetention), so
// a serve holds rate × an hour of them.
type tombstone struct {
	expires              int64 // Unix ns
	clientID             uint32
	deliveryMode, status uint8 // the modes and states come first in s.names
	redemptions          uint16
}

// tombstone returns r as a tombstone, or false when one of its strings
// has no index that fits (the shared strings are full) or its
// redemptions do not fit (only a fault redeems more than once).
func (s *MemoryStore) tombstone(r AuthRequest) (tombstone, bool) {
	client, ok1 := s.nameOf(r.ClientID)
	mode, ok2 := s.nameOf(r.DeliveryMode)
	status, ok3 := s.nameOf(string(r.Status))
	fits := mode <= math.MaxUint8 && status <= math.MaxUint8 && r.Redemptions >= 0 && r.Redemptions <= math.MaxUint16
	return tombstone{expires: unixNano(r.ExpiresAt), clientID: client, deliveryMode: uint8(mode), status: uint8(status),
		redemptions: uint16(r.Redemptions)}, ok1 && ok2 && ok3 && fits
}

func (s *MemoryStore) request(id string, tb tombstone) AuthRequest {
	return AuthRequest{ID: id, ClientID: s.names[tb.clientID], DeliveryMode: s.names[tb.deliveryMode],
		ExpiresAt: fromUnixNano(tb.expires), Status: AuthStatus(s.names[tb.status]), Redemptions: int(tb.redemptions), NotifyDone: true}
}

// owesNothing says whether an expired request r has nothing left to
// deliver: a poll request, one whose notification is done, or a ping
// request never decided (ping has no expiry notice). A push request
// still being told of its outcome or expiry stays whole.
func owesNothing(r AuthRequest) bool {
	switch ciba.DeliveryMode(r.DeliveryMode) {
	case ciba.ModePoll:
		return true
	case ciba.ModePing:
		return r.NotifyDone || r.Status == StatusPending
	}
	return r.NotifyDone
}

// Retire implements Retirer in O(k log n) for the k requests retired.
func (s *MemoryStore) Retire(_ context.Context, cutoff time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cut := unixNano(cutoff)
	s.requestsExp.popWhile(func(at int64) bool { return at < cut }, func(id string) {
		r, ok := s.requests[id]
		if !ok || !r.ExpiresAt.Before(cutoff) {
			return // dropped, or re-queued under a later expiry
		}
		if !s.retireLocked(id, r) {
			s.retainedExp.push(id, unixNano(r.ExpiresAt))
		}
	})
	return nil
}

// RetireRedeemed implements Retirer.
func (s *MemoryStore) RetireRedeemed(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.requests[id]; ok && r.Status == StatusRedeemed {
		s.retireLocked(id, r) // one that cannot be retired stays whole until Retire
	}
	return nil
}

// retireLocked replaces request r (id) with its tombstone, unless it
// still owes its client something or does not fit one; it reports
// whether it did. The caller holds s.mu.
func (s *MemoryStore) retireLocked(id string, r AuthRequest) bool {
	tb, ok := s.tombstone(r)
	if !ok || !owesNothing(r) {
		return false
	}
	delete(s.requests, id)
	k := digestOf(id)
	s.tombs[k] = tb
	s.tombsExp.push(k, tb.expires)
	for len(s.tombs) > s.maxTombs && len(s.tombsExp) > 0 {
		k := heap.Pop(&s.tombsExp).(expiring[digest, int64]).key
		if _, ok := s.tombs[k]; ok {
			delete(s.tombs, k)
			s.dropped++
		}
	}
	return true
}

// updateTomb is UpdateAuthRequest for a retired request: fn sees it as
// tombstone.request shows it, and what it changes of state and
// redemptions is kept. The caller holds s.mu.
func (s *MemoryStore) updateTomb(id string, fn func(*AuthRequest) error) (AuthRequest, error) {
	k := digestOf(id)
	tb, ok := s.tombs[k]
	if !ok {
		return AuthRequest{}, ErrNotFound
	}
	r := s.request(id, tb)
	if err := fn(&r); err != nil {
		return s.request(id, tb), err
	}
	// A request retired pending expired undecided: a decision reaching
	// the store now (one that read the clock before the expiry) would be
	// kept without what its ping or a token needs, so it is refused.
	if AuthStatus(s.names[tb.status]) == StatusPending && r.Status != StatusPending {
		return s.request(id, tb), fmt.Errorf("retired request %q cannot become %q: %w", id, r.Status, ErrExpiredUndecided)
	}
	next, ok := s.tombstone(r)
	if !ok {
		return s.request(id, tb), fmt.Errorf("refop: retired request %q: state %q, %d redemptions do not fit its tombstone", id, r.Status, r.Redemptions)
	}
	tb.status, tb.redemptions = next.status, next.redemptions
	s.tombs[k] = tb
	return r, nil
}
