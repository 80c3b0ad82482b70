package mockdevice

import (
	"container/heap"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/ciba-check/ciba-check/clock"
)

// The record is indexed so that nothing a request does costs time in
// proportion to the number of requests ever seen (a long `serve` under
// load sees hundreds of thousands):
//
//   - byID finds a request by id (Request, Wait, Decide, the callback):
//     a hash set of the records themselves (idTable), 8 bytes a slot,
//     that shrinks as requests are forgotten;
//   - byHint chains each login_hint's requests in arrival order (WaitMatch
//     by login_hint);
//   - arrivals chains every request in arrival order (Requests);
//   - the settled queue (fifo) holds settled requests in the order they
//     settled: the front is the one forgotten first when the record is
//     full;
//   - undecided is a min-heap of pending requests by when they are
//     forgotten: a request the user never decides is forgotten once the
//     OP can no longer accept its callback (see forgetAfter), so
//     `load poll --pending` leaves nothing behind for good.
//
// Every operation is O(1) (amortised) or O(log n) in the number of
// stored requests, and the number stored is at most Config.MaxRequests
// (plus the requests whose callback is in flight). The chains run
// through the records themselves: a container/list element per index
// cost 48 bytes each. What a burst of requests made the indexes grow by
// goes back once they are forgotten (Go maps and popped slices would
// keep it): idTable, the expiry heap and the settled queue shrink, and
// byHint is rebuilt at half its peak.

// ExpiryGrace is the longest an undecided request is remembered past its
// expiry: the device tolerates that much clock skew on the bearer token's
// exp, so a request may arrive with an exp already that far past.
const ExpiryGrace = tokenLeeway

// skewMargin is what an undecided request is kept beyond its expiry plus
// the clock skew observed when it arrived: room for the clocks to drift
// while it is pending, and for an OP that accepts a callback a moment
// past exp.
const skewMargin = 2 * time.Second

// forgetAfter is how long after its expiry an undecided request received
// at received, with a bearer token issued at iat (zero when it had none),
// is still remembered. The OP accepts the callback until exp on its own
// clock, which the device's clock reads as exp plus the skew between
// them. The token was signed before it arrived (and iat is truncated to
// the second), so received-iat is at least that skew: keeping the
// request that long (plus skewMargin) never forgets one the OP would
// still accept, while a load run's undecided requests go within seconds
// of expiring instead of ExpiryGrace. Without iat the skew is unknown
// and the full ExpiryGrace applies; a skew beyond it is more than the
// token check tolerates (tokenLeeway), so it caps the wait too.
func forgetAfter(received, iat time.Time) time.Duration {
	if iat.IsZero() {
		return ExpiryGrace
	}
	return min(max(received.Sub(iat), 0)+skewMargin, ExpiryGrace)
}

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

// record is one request as the device keeps it: a Request (328 bytes)
// in 96 with its places in the indexes, with times as Unix nanoseconds
// (the expiry, the decision and the callback as offsets, see delta and
// expiry), the state as a small number (the response status follows
// from it and the policy), what a run's requests have in common shared,
// and what most requests lack (a binding message, a user code, a
// callback error) behind one pointer. TestRecordBytesPerRequest measures
// it.
type record struct {
	id string
	*common
	// more is nil while the request has none of what extras holds.
	more                *extras
	received            stamp
	expires             expiry
	decided, calledBack delta
	callbackStatus      int16 // an HTTP status: three digits
	state               stateCode
	consentRequired     bool
	// pend is what only an unsettled request needs; nil once settled.
	pend *pendingPart
	// byArrival and byHint chain the record into arrivals and its
	// login_hint's chain.
	byArrival, byHint links
}

// extras is what few requests have: a load run's have none of it.
type extras struct {
	bindingMessage, userCode, callbackError string
	// decided and calledBack are the record's stamps of those names
	// when their delta is farDelta, expires when its expiry is farExpiry.
	decided, calledBack, expires stamp
}

// ext is rec's extras, the zero value when it has none.
func (rec *record) ext() extras {
	if rec.more == nil {
		return extras{}
	}
	return *rec.more
}

// grow returns rec's extras, adding them if it has none.
func (rec *record) grow() *extras {
	if rec.more == nil {
		rec.more = &extras{}
	}
	return rec.more
}

func (rec *record) decidedAt() stamp { return rec.decided.at(rec.received, rec.ext().decided) }

// calledBackAt is when the callback finished: a delta from the decision,
// a round trip to the OP.
func (rec *record) calledBackAt() stamp {
	return rec.calledBack.at(rec.calledBackBase(), rec.ext().calledBack)
}

func (rec *record) calledBackBase() stamp {
	if d := rec.decidedAt(); d != 0 {
		return d
	}
	return rec.received
}

func (rec *record) setDecided(s stamp) {
	var ok bool
	if rec.decided, ok = deltaOf(rec.received, s); !ok {
		rec.grow().decided = s
	}
}

func (rec *record) setCalledBack(s stamp) {
	var ok bool
	if rec.calledBack, ok = deltaOf(rec.calledBackBase(), s); !ok {
		rec.grow().calledBack = s
	}
}

// expiresAt is the token's exp (or the default expiry), as a stamp.
func (rec *record) expiresAt() stamp { return rec.expires.at(rec.received, rec.ext().expires) }

func (rec *record) setExpires(s stamp) {
	var ok bool
	if rec.expires, ok = expiryOf(rec.received, s); !ok && s != 0 {
		rec.grow().expires = s
	}
}

// responseStatus is what the device answered the OP's POST (see
// Device.receive): 201, or the error status of the OutcomeError policy
// that refused it.
func (rec *record) responseStatus() int {
	if states[rec.state] == StateFailed {
		return rec.policy.errorStatus()
	}
	return http.StatusCreated
}

// expiry is a stamp in whole seconds as seconds after the second its
// record was received in, in 4 bytes: a bearer token's exp is a whole
// number of seconds, minutes after the request arrives. farExpiry stands
// for one that is not (the default expiry of a token without exp is
// DefaultRequestLifetime after arrival, to the nanosecond), or is over
// 68 years off: kept whole in the record's extras.
type expiry int32

const farExpiry expiry = math.MinInt32

// expiryOf is s as an expiry from received; ok is false when it is not a
// whole second or too far off (then the expiry is farExpiry and s must
// be kept whole).
func expiryOf(received, s stamp) (e expiry, ok bool) {
	const sec = stamp(time.Second)
	if s%sec != 0 {
		return farExpiry, false
	}
	// Seconds on both sides: no overflow at the ends of a stamp's range.
	if diff := int64(s/sec) - int64(floorSecond(received)); diff > math.MinInt32 && diff <= math.MaxInt32 {
		return expiry(diff), true
	}
	return farExpiry, false
}

// floorSecond is the second a stamp falls in (rounding down, also before
// the epoch).
func floorSecond(s stamp) stamp {
	const sec = stamp(time.Second)
	q := s / sec
	if s%sec < 0 {
		q--
	}
	return q
}

// at is the stamp e stands for: far when it is farExpiry.
func (e expiry) at(received, far stamp) stamp {
	if e == farExpiry {
		return far
	}
	return (floorSecond(received) + stamp(e)) * stamp(time.Second)
}

// delta is a stamp as nanoseconds after a base stamp (for the decision
// the arrival, for the callback the decision) plus one, in 4 bytes: up to
// about 4.29 s after it, where a load run's user approves within a
// second or two (--approve-delay, 500 ms by default) and a callback takes
// milliseconds. noDelta stands for the zero stamp (not yet), farDelta for
// one further off or before its base (the wall clock stepped back), kept
// whole in the record's extras.
type delta uint32

const (
	noDelta  delta = 0
	farDelta delta = math.MaxUint32
)

// deltaOf is s as a delta from base; ok is false when it is too far off
// (then the delta is farDelta and s must be kept whole).
func deltaOf(base, s stamp) (d delta, ok bool) {
	if s == 0 {
		return noDelta, true
	}
	// The difference as an unsigned number: exact, where int64
	// subtraction of stamps from opposite ends of their range would
	// overflow.
	if s >= base {
		if diff := uint64(s) - uint64(base); diff < uint64(farDelta-1) {
			return delta(diff + 1), true
		}
	}
	return farDelta, false
}

// at is the stamp d stands for: far when it is farDelta.
func (d delta) at(base, far stamp) stamp {
	switch d {
	case noDelta:
		return 0
	case farDelta:
		return far
	}
	return base + stamp(d-1)
}

// common is what the requests of one user through one client usually
// share (a load run's requests all do): it is stored once for all of them
// (index.shareCommon).
type common struct {
	iss, sub, clientID, loginHint, scope, acrValues string
	policy                                          Policy
}

// pendingPart is the part of a record dropped when it settles, in 48
// bytes (TestRecordSizes). A scheduled decision's timer is not in it but
// in index.timers: most pending requests have none (a load run decides
// by hand, or never).
type pendingPart struct {
	token heldToken // replayed on the callback
	// forgetAt is when an undecided request is forgotten (its place in
	// the expiry heap, heapIdx; -1 once decided).
	forgetAt stamp
	heapIdx  int32
}

// stamp is a time as Unix nanoseconds, 0 for the zero time: 8 bytes where
// a time.Time takes 24. Only an absurd token exp falls outside the years
// 1678-2262 a stamp holds; it is kept as the nearest one. The Unix epoch
// itself is kept 1 ns later.
type stamp int64

var (
	minStamp = time.Unix(0, math.MinInt64)
	maxStamp = time.Unix(0, math.MaxInt64)
)

func stampOf(t time.Time) stamp {
	switch {
	case t.IsZero():
		return 0
	case t.Before(minStamp):
		return math.MinInt64
	case t.After(maxStamp):
		return math.MaxInt64
	}
	if n := t.UnixNano(); n != 0 {
		return stamp(n)
	}
	return 1
}

// in is the time in loc (the zero time for 0).
func (s stamp) in(loc *time.Location) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(s)).In(loc)
}

// stateCode is a State in one byte.
type stateCode uint8

var states = [...]State{StatePending, StateApproved, StateDenied, StateCancelled, StateFailed}

func codeOf(s State) stateCode {
	for i, v := range states {
		if v == s {
			return stateCode(i)
		}
	}
	panic("mockdevice: unknown state " + string(s))
}

// settled is Request.Settled on the record.
func (rec *record) settled() bool {
	st := states[rec.state]
	return st == StateFailed || (st != StatePending && rec.calledBack != noDelta)
}

// links place a record in a doubly linked chain.
type links struct{ prev, next *record }

// chain is a doubly linked list of records threaded through the links
// that at picks out of each record.
type chain struct {
	head, tail *record
	at         func(*record) *links
}

func arrivalLinks(r *record) *links { return &r.byArrival }
func hintLinks(r *record) *links    { return &r.byHint }

func (c *chain) push(r *record) {
	l := c.at(r)
	l.prev, l.next = c.tail, nil
	if c.tail != nil {
		c.at(c.tail).next = r
	} else {
		c.head = r
	}
	c.tail = r
}

func (c *chain) remove(r *record) {
	l := c.at(r)
	if l.prev != nil {
		c.at(l.prev).next = l.next
	} else {
		c.head = l.next
	}
	if l.next != nil {
		c.at(l.next).prev = l.prev
	} else {
		c.tail = l.prev
	}
	l.prev, l.next = nil, nil
}

// index holds the record's indexes; the Device's mutex guards it.
type index struct {
	byID   idTable
	byHint map[string]*chain
	// hintPeak is the most login_hints byHint held since it was last
	// rebuilt: a Go map keeps the memory of its peak, so it is rebuilt
	// once half of that has gone.
	hintPeak int
	// timers holds the scheduled decisions of pending requests (see
	// setTimer), timerPeak its peak as hintPeak is byHint's.
	timers    map[*record]clock.Timer
	timerPeak int
	arrivals  chain
	settled   fifo
	undecided expiryHeap
	stats     Stats
	// shared holds one copy of each token header (see share), commons
	// of each common (see shareCommon), at most maxShared of each.
	shared  map[string]*string
	commons map[common]*common
	// loc is the location of the device's clock: times come back in it,
	// as they were read, so the API's JSON shows them as before.
	loc *time.Location
}

// maxShared bounds index.shared and index.commons: beyond it new values
// are kept as they come, unshared.
const maxShared = 4096

func newIndex(loc *time.Location) index {
	return index{
		byID:     newIDTable(),
		byHint:   map[string]*chain{},
		timers:   map[*record]clock.Timer{},
		arrivals: chain{at: arrivalLinks},
		shared:   map[string]*string{},
		commons:  map[common]*common{},
		loc:      loc,
	}
}

// share returns the stored copy of v, so ten thousand tokens from one OP
// hold one header.
func (x *index) share(v string) *string {
	if c, ok := x.shared[v]; ok {
		return c
	}
	// A copy: v may be a slice of a longer string (a header segment of
	// the token) that it would otherwise keep alive.
	v = strings.Clone(v)
	if len(x.shared) < maxShared {
		x.shared[v] = &v
	}
	return &v
}

// shareCommon returns the stored copy of c, so ten thousand requests
// from a load run hold one "openid" and one policy.
func (x *index) shareCommon(c common) *common {
	if p, ok := x.commons[c]; ok {
		return p
	}
	// Copies: a value may be a slice of a longer string it would keep alive.
	for _, f := range []*string{&c.iss, &c.sub, &c.clientID, &c.loginHint, &c.scope, &c.acrValues} {
		*f = strings.Clone(*f)
	}
	p := &c
	if len(x.commons) < maxShared {
		x.commons[c] = p
	}
	return p
}

// newRecord is req as stored; token (for the callback, issued at iat)
// only while pending.
func (x *index) newRecord(req Request, token string, iat, forgetAt time.Time) *record {
	rec := &record{
		id: req.ID,
		common: x.shareCommon(common{iss: req.Issuer, sub: req.Subject, clientID: req.ClientID,
			loginHint: req.LoginHint, scope: req.Scope, acrValues: req.ACRValues, policy: req.Policy}),
		received: stampOf(req.ReceivedAt), decided: noDelta, calledBack: noDelta,
		state: codeOf(req.State), consentRequired: req.IsConsentRequired,
	}
	rec.setExpires(stampOf(req.ExpiresAt))
	if req.BindingMessage != "" || req.UserCode != "" {
		rec.more = &extras{bindingMessage: req.BindingMessage, userCode: req.UserCode}
	}
	if req.State == StatePending {
		rec.pend = &pendingPart{forgetAt: stampOf(forgetAt), heapIdx: -1}
		rec.pend.token = x.hold(token, rec, iat)
	}
	return rec
}

// request is rec as the API shows it.
func (x *index) request(rec *record) Request {
	more := rec.ext()
	return Request{
		ID: rec.id, Issuer: rec.iss, Subject: rec.sub, ClientID: rec.clientID,
		LoginHint: rec.loginHint, Scope: rec.scope, BindingMessage: more.bindingMessage,
		UserCode: more.userCode, ACRValues: rec.acrValues, IsConsentRequired: rec.consentRequired,
		Policy: rec.policy, ReceivedAt: rec.received.in(x.loc), ResponseStatus: rec.responseStatus(),
		State: states[rec.state], DecidedAt: rec.decidedAt().in(x.loc), CalledBackAt: rec.calledBackAt().in(x.loc),
		CallbackStatus: int(rec.callbackStatus), CallbackError: more.callbackError,
		// The token's exp is kept in UTC (see handleChannel).
		ExpiresAt: rec.expiresAt().in(time.UTC),
	}
}

// add indexes a new record; a refused (StateFailed) one is settled at once.
func (x *index) add(rec *record) {
	x.byID.put(rec)
	x.arrivals.push(rec)
	c := x.byHint[rec.loginHint]
	if c == nil {
		c = &chain{at: hintLinks}
		x.byHint[rec.loginHint] = c
		x.hintPeak = max(x.hintPeak, len(x.byHint))
	}
	c.push(rec)
	if rec.pend != nil {
		heap.Push(&x.undecided, rec)
	} else {
		x.settled.push(rec)
	}
}

// decided takes a request off the expiry heap: it is no longer undecided.
func (x *index) decided(rec *record) {
	if rec.pend != nil && rec.pend.heapIdx >= 0 {
		heap.Remove(&x.undecided, int(rec.pend.heapIdx))
	}
}

// settle drops what a request that just settled no longer needs (its
// bearer token: no callback will need it again) and queues it for
// forgetting.
func (x *index) settle(rec *record) {
	if rec.pend == nil {
		return
	}
	rec.pend = nil
	if x.byID.get(rec.id) == rec {
		x.settled.push(rec)
	}
}

// fifo is the settled queue: settled records in the order they settled,
// 8 bytes each in an array, where a link in every record cost 8 bytes in
// pending ones too. Records leave from the front; once half the array is
// gone it is copied into a new one, so it shrinks after a burst.
// Amortised O(1).
type fifo struct {
	q    []*record
	head int
}

func (f *fifo) push(rec *record) { f.q = append(f.q, rec) }

// front is the record that settled first, nil when none did.
func (f *fifo) front() *record {
	if f.head == len(f.q) {
		return nil
	}
	return f.q[f.head]
}

// pop drops the front record.
func (f *fifo) pop() {
	f.q[f.head] = nil
	f.head++
	switch {
	case f.head == len(f.q):
		f.q, f.head = f.q[:0], 0
		if cap(f.q) >= minShrink {
			f.q = nil
		}
	case f.head >= minShrink && 2*f.head >= len(f.q):
		f.q, f.head = append([]*record(nil), f.q[f.head:]...), 0
	}
}

func (f *fifo) len() int { return len(f.q) - f.head }

// remove forgets a record from every index. A settled record leaves only
// from the front of the settled queue (victim), so the queue can be an
// array.
func (x *index) remove(rec *record) {
	x.byID.del(rec.id)
	x.arrivals.remove(rec)
	if c := x.byHint[rec.loginHint]; c != nil {
		c.remove(rec)
		if c.head == nil {
			delete(x.byHint, rec.loginHint)
			x.shrinkHints()
		}
	}
	if rec.pend == nil {
		if x.settled.front() != rec {
			panic("mockdevice: a settled request forgotten out of turn")
		}
		x.settled.pop()
	}
	x.decided(rec)
}

// minShrink is the fewest entries an index is shrunk from: below it the
// memory kept is too little to bother.
const minShrink = 64

// shrinkHints rebuilds byHint once it holds half its peak or less, so
// the memory of a burst of login_hints goes back; amortised O(1).
func (x *index) shrinkHints() { x.byHint = shrunk(x.byHint, &x.hintPeak) }

// shrunk is m, rebuilt when it holds half its peak or less (then the
// peak is its length).
func shrunk[K comparable, V any](m map[K]V, peak *int) map[K]V {
	if *peak < minShrink || len(m) > *peak/2 {
		return m
	}
	c := make(map[K]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	*peak = len(c)
	return c
}

// setTimer records t as rec's scheduled decision.
func (x *index) setTimer(rec *record, t clock.Timer) {
	x.timers[rec] = t
	x.timerPeak = max(x.timerPeak, len(x.timers))
}

// takeTimer returns rec's scheduled decision, nil when it has none, and
// forgets it.
func (x *index) takeTimer(rec *record) clock.Timer {
	t, ok := x.timers[rec]
	if ok {
		delete(x.timers, rec)
		x.timers = shrunk(x.timers, &x.timerPeak)
	}
	return t
}

// expired returns the undecided record due to be forgotten at now, if
// any; the caller removes it.
func (x *index) expired(now time.Time) *record {
	if len(x.undecided) == 0 {
		return nil
	}
	if rec := x.undecided[0]; stampOf(now) > rec.pend.forgetAt {
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
	if rec := x.settled.front(); rec != nil {
		return rec, false
	}
	for r := x.arrivals.head; r != nil; r = r.byArrival.next {
		if r.pend != nil && r.pend.heapIdx >= 0 {
			return r, true
		}
	}
	return nil, false
}

// expiryHeap orders undecided records by when they are forgotten,
// earliest first.
type expiryHeap []*record

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].pend.forgetAt < h[j].pend.forgetAt }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].pend.heapIdx = int32(i)
	h[j].pend.heapIdx = int32(j)
}

func (h *expiryHeap) Push(x any) {
	rec := x.(*record)
	rec.pend.heapIdx = int32(len(*h))
	*h = append(*h, rec)
}

func (h *expiryHeap) Pop() any {
	old := *h
	rec := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	// Under a quarter full, the array goes down to half: the memory of a
	// burst of pending requests goes back.
	if cap(old) >= minShrink && len(*h)*4 < cap(old) {
		*h = append(make(expiryHeap, 0, cap(old)/2), *h...)
	}
	rec.pend.heapIdx = -1
	return rec
}
