package mockdevice

import (
	"container/heap"
	"container/list"
	"time"
)

// The record is indexed so that nothing a request does costs time in
// proportion to the number of requests ever seen (a long `serve` under
// load sees hundreds of thousands):
//
//   - byID finds a request by id (Request, Wait, Decide, the callback);
//   - byHint lists each login_hint's requests in arrival order (WaitMatch
//     by login_hint);
//   - arrivals lists every request in arrival order (Requests);
//   - settled lists settled requests in the order they settled: the
//     front is the one forgotten first when the record is full;
//   - undecided is a min-heap of pending requests by expiry: a request
//     the user never decides is forgotten once it has expired (plus
//     ExpiryGrace), so `load poll --pending` leaves nothing behind for good.
//
// Every operation is O(1) or O(log n) in the number of stored requests,
// and the number stored is at most Config.MaxRequests (plus the requests
// whose callback is in flight).

// ExpiryGrace is how long after its expiry an undecided request is still
// remembered: the device tolerates the same clock skew on the bearer
// token's exp, so a request may arrive with an exp already that far past.
const ExpiryGrace = tokenLeeway

// DefaultRequestLifetime is the expiry given to a request whose bearer
// token carries no exp (only possible when the token is not verified).
const DefaultRequestLifetime = 10 * time.Minute

// Stats counts what the record holds and what it forgot.
type Stats struct {
	// Stored is how many requests are remembered now.
	Stored int `json:"stored"`
	// Pending is how many of them are undecided.
	Pending int `json:"pending"`
	// ForgottenSettled counts settled requests forgotten to make room.
	ForgottenSettled int `json:"forgotten_settled"`
	// ForgottenExpired counts undecided requests forgotten after expiring.
	ForgottenExpired int `json:"forgotten_expired"`
	// ForgottenPending counts undecided requests forgotten before their
	// expiry because the record was full of them (the earliest received
	// goes first: most likely one a load run left behind); a sign that
	// MaxRequests is too small.
	ForgottenPending int `json:"forgotten_pending"`
}

// index holds the record's indexes; the Device's mutex guards it.
type index struct {
	byID      map[string]*record
	byHint    map[string]*list.List // of *record
	arrivals  *list.List            // of *record
	settled   *list.List            // of *record
	undecided expiryHeap
	stats     Stats
	// shared holds one copy of each value of the fields most requests
	// repeat (issuer, subject, client, login_hint, scope, acr_values), at
	// most maxShared of them; see share.
	shared map[string]string
}

// maxShared bounds index.shared: beyond it new values are kept as they
// come, unshared.
const maxShared = 4096

func newIndex() index {
	return index{
		byID:     map[string]*record{},
		byHint:   map[string]*list.List{},
		arrivals: list.New(),
		settled:  list.New(),
		shared:   map[string]string{},
	}
}

// share points the request's repeated fields at one stored copy of each
// value, so ten thousand requests from a load run hold one "openid".
func (x *index) share(req *Request) {
	for _, f := range []*string{&req.Issuer, &req.Subject, &req.ClientID, &req.LoginHint, &req.Scope, &req.ACRValues} {
		if c, ok := x.shared[*f]; ok {
			*f = c
		} else if len(x.shared) < maxShared {
			x.shared[*f] = *f
		}
	}
}

// add indexes a new record; a refused (StateFailed) one is settled at once.
func (x *index) add(rec *record) {
	x.byID[rec.req.ID] = rec
	rec.arrival = x.arrivals.PushBack(rec)
	l := x.byHint[rec.req.LoginHint]
	if l == nil {
		l = list.New()
		x.byHint[rec.req.LoginHint] = l
	}
	rec.hintEl = l.PushBack(rec)
	rec.heapIdx = -1
	switch {
	case rec.req.State == StatePending:
		heap.Push(&x.undecided, rec)
	case rec.req.Settled():
		rec.settledEl = x.settled.PushBack(rec)
	}
}

// decided takes a request off the expiry heap: it is no longer undecided.
func (x *index) decided(rec *record) {
	if rec.heapIdx >= 0 {
		heap.Remove(&x.undecided, rec.heapIdx)
	}
}

// settle queues a request that just settled for forgetting.
func (x *index) settle(rec *record) {
	if rec.settledEl == nil && x.byID[rec.req.ID] == rec {
		rec.settledEl = x.settled.PushBack(rec)
	}
}

// remove forgets a record from every index.
func (x *index) remove(rec *record) {
	delete(x.byID, rec.req.ID)
	x.arrivals.Remove(rec.arrival)
	if l := x.byHint[rec.req.LoginHint]; l != nil {
		l.Remove(rec.hintEl)
		if l.Len() == 0 {
			delete(x.byHint, rec.req.LoginHint)
		}
	}
	if rec.settledEl != nil {
		x.settled.Remove(rec.settledEl)
		rec.settledEl = nil
	}
	x.decided(rec)
}

// expired returns the undecided record that expired (plus ExpiryGrace)
// before now, if any; the caller removes it.
func (x *index) expired(now time.Time) *record {
	if len(x.undecided) == 0 {
		return nil
	}
	if rec := x.undecided[0]; now.After(rec.expires.Add(ExpiryGrace)) {
		return rec
	}
	return nil
}

// victim returns the record to forget to make room for one more: the
// earliest settled, else the earliest received undecided one (pending
// says which). Not the one closest to expiry: that may be a request a
// check or a load flow is working on, with a shorter expiry than those
// an earlier run left behind. The walk skips only requests whose callback
// is in flight, so it is bounded by those.
func (x *index) victim() (rec *record, pending bool) {
	if e := x.settled.Front(); e != nil {
		return e.Value.(*record), false
	}
	for e := x.arrivals.Front(); e != nil; e = e.Next() {
		if r := e.Value.(*record); r.heapIdx >= 0 {
			return r, true
		}
	}
	return nil, false
}

// expiryHeap orders undecided records by expiry, earliest first.
type expiryHeap []*record

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx = i
	h[j].heapIdx = j
}

func (h *expiryHeap) Push(x any) {
	rec := x.(*record)
	rec.heapIdx = len(*h)
	*h = append(*h, rec)
}

func (h *expiryHeap) Pop() any {
	old := *h
	rec := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	rec.heapIdx = -1
	return rec
}
