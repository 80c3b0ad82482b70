package refop

import (
	"context"
	"fmt"
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

// tombFacts returns what a tombstone keeps of r but its expiry, or false
// when it does not fit one (tomb): a client with no index (the shared
// strings are full), a state or mode a tombstone cannot name, or
// redemptions beyond tombMaxRedeem (only a fault redeems more than once).
func (s *MemoryStore) tombFacts(r AuthRequest) (uint64, bool) {
	client, ok := s.nameOf(r.ClientID)
	facts, fits := tombFacts(client, r.Status, r.DeliveryMode, r.Redemptions)
	return facts, ok && fits
}

// request is tombstone t of request id as a request. The caller holds
// s.mu.
func (s *MemoryStore) request(id string, t tomb) AuthRequest {
	return AuthRequest{ID: id, ClientID: s.names[t.client()], DeliveryMode: t.mode(),
		ExpiresAt: fromUnixNano(s.tombs.expiry(t)), Status: t.state(), Redemptions: t.redemptions(), NotifyDone: true}
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

// Retire implements Retirer in O(k log n) for the k requests retired
// (and, rarely, a pass over the tombstones: tombSet.rebase, the cap).
func (s *MemoryStore) Retire(_ context.Context, cutoff time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cut := unixNano(cutoff)
	s.requestsExp.popWhile(func(at int64) bool { return at < cut }, func(id string) {
		sr, ok := s.requests[id]
		if !ok {
			return // dropped
		}
		if !s.expiresAt(&sr).Before(cutoff) {
			return // re-queued under a later expiry
		}
		r := s.whole(&sr)
		if !s.retireLocked(id, r) {
			s.retainedExp.push(id, unixNano(r.ExpiresAt))
		}
	})
	s.shrinkRequests()
	return nil
}

// RetireRedeemed implements Retirer.
func (s *MemoryStore) RetireRedeemed(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sr, ok := s.requests[id]; ok {
		if r := s.whole(&sr); r.Status == StatusRedeemed {
			s.retireLocked(sr.id(), r) // one that cannot be retired stays whole until Retire
			s.shrinkRequests()
		}
	}
	return nil
}

// retireLocked replaces request r (id) with its tombstone, unless it
// still owes its client something or does not fit one (tombFacts,
// tombSet.put), or another id's tombstone has the same hash (keyHash);
// it reports whether it did. Beyond s.maxTombs the eighth of them
// expiring first go, in one sweep: no per-entry queue to pop the first
// from, and one sort of the expiries per maxTombs/8 retirements. The
// caller holds s.mu.
func (s *MemoryStore) retireLocked(id string, r AuthRequest) bool {
	facts, ok := s.tombFacts(r)
	if !ok || !owesNothing(r) {
		return false
	}
	h := s.hash(id)
	if _, taken := s.tombs.get(h); taken || !s.tombs.put(h, unixNano(r.ExpiresAt), facts) {
		return false
	}
	s.dropRequest(id)
	if s.tombs.m.len() > s.maxTombs {
		k := s.tombs.m.len() - (s.maxTombs - s.maxTombs/8)
		s.tombs.dropEarliest(k)
		s.dropped += k
	}
	return true
}

// updateTomb is UpdateAuthRequest for a retired request: fn sees it as
// request shows it, and what it changes of state and redemptions is
// kept. The caller holds s.mu.
func (s *MemoryStore) updateTomb(id string, fn func(*AuthRequest) error) (AuthRequest, error) {
	h := s.hash(id)
	t, ok := s.tombs.get(h)
	if !ok {
		return AuthRequest{}, ErrNotFound
	}
	r := s.request(id, t)
	if err := fn(&r); err != nil {
		return s.request(id, t), err
	}
	// A request retired pending expired undecided: a decision reaching
	// the store now (one that read the clock before the expiry) would be
	// kept without what its ping or a token needs, so it is refused.
	if t.state() == StatusPending && r.Status != StatusPending {
		return s.request(id, t), fmt.Errorf("retired request %q cannot become %q: %w", id, r.Status, ErrExpiredUndecided)
	}
	next, ok := tombFacts(t.client(), r.Status, t.mode(), r.Redemptions)
	if !ok {
		return s.request(id, t), fmt.Errorf("refop: retired request %q: state %q, %d redemptions do not fit its tombstone", id, r.Status, r.Redemptions)
	}
	s.tombs.set(h, tomb(t.offset()|next))
	return r, nil
}
