package refop

// The MemoryStore's compact sets: used jtis and tombstones (retired
// requests). Both are large, append-mostly and only ever asked "is X in
// here, and what few facts go with it?", so each is one flat hash table
// (flatTable, store_flat.go) from a 64-bit keyed hash of the key
// (keyHash) to a fixed-size value, with no per-entry expiry queue: what
// expired is swept by one pass over the table when due, and a table left
// under 1/2 full is rebuilt to fit, so memory follows what is live.

import (
	"hash/maphash"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
)

// keyHash is how a MemoryStore keys used jtis and tombstones: a 64-bit
// keyed hash (maphash) under a seed drawn when the store is made, so no
// one outside the process can choose keys that collide.
//
// A collision only costs a refusal, never an acceptance: a fresh jti
// whose hash is held is refused as a replay, and a fresh auth_req_id
// whose hash is a tombstone's is refused by CreateAuthRequest (ErrExists,
// which the backchannel endpoint does not retry: the client gets a
// server_error). With n entries held a fresh key collides with
// probability n/2^64: 5.4e-14 at 10^6 held, so one refusal in about
// 2x10^13 requests at that fill. A request whose id collides with a
// tombstone's when it is retired stays whole instead (retireLocked).
func keyHash(seed maphash.Seed, key string) uint64 { return maphash.String(seed, key) }

// shrinkFloor: a map that never held more than this is not rebuilt when
// it empties; it is a group or two.
const shrinkFloor = 64

// sweepSample is how many entries sweepFlat looks at first, to guess
// what share of the table is going.
const sweepSample = 64

// fitMap is a copy of m sized to what it holds: a Go map never gives back
// the memory of its peak.
func fitMap[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	maps.Copy(out, m)
	return out
}

// When UseJTI sweeps the jtis expired by its now, one pass over the
// table; never unless one of them has expired, and then when:
//   - the set has grown by a quarter since the last sweep
//     (jtiSweepGrowth): O(1) amortised per use, the pass paid by the
//     quarter of n uses since the last, and at most a quarter more jtis
//     held than are live; at a steady state that is a pass every
//     lifetime/4 of the clock (every 17 s for 70 s assertions);
//   - or a minute of the clock has passed since UseJTI last swept
//     (jtiSweepEvery), which bounds how long a burst's expired jtis
//     outstay it when few uses follow: one pass a minute at most;
//   - or the set is small (under jtiSweepSmall), swept whenever its
//     earliest jti has expired (once a second at most, as expiries are
//     whole seconds), so a slow client's set holds its live jtis only;
//     such a pass is under 512 entries, a few µs.
//
// A pass at a steady state takes about 0.4 ms at 25,000 held and 1.6 ms
// at 100,000 (TestMemoryStoreSweepTime), in the one call that makes it;
// the table's growth (at 3/4 full, so not at a steady state) rehashes
// it all, about 2 ms at 100,000 held, in the call that makes it.
const (
	jtiSweepGrowth = 4 // a sweep when len has grown by len/jtiSweepGrowth
	jtiSweepEvery  = time.Minute
	jtiSweepSmall  = 512
)

// jtiSet is the used jtis of a MemoryStore: keyHash of the key -> its
// expiry in whole seconds rounded up (jtiSeconds). 12 bytes a slot, 16 to
// 19 a jti as the table fills (17 to 20 measured; 16 to 24, 18 to 22
// measured, when tables were made 1/2 full), against 24 to 37 in a Go
// map and 42 to 57 for a 12-byte digest key and a per-entry expiry heap
// (TestMemoryStoreBytesPerEntry); at a steady state 21.7 per live jti
// (25.0 at 1/2 full) against 46 to 48 in a Go map and 67 before that
// (TestMemoryStoreBytesPerEntrySteady: between sweeps the table holds up
// to a quarter more than are live).
//
// Replay protection is exact: a jti is held until its expiry has passed
// by the now UseJTI is given (rounded up to the second, so up to a second
// longer, never shorter), whatever sweeps happen; nothing caps the set.
type jtiSet struct {
	m flatTable[uint32]
	// earliest is at most the earliest expiry in m (exact after a
	// sweep): no sweep is due before it.
	earliest uint32
	// swept is m.len() after the last sweep, sweptAt the now (Unix ns)
	// of use's last sweep.
	swept   int
	sweptAt int64
}

func newJTISet() jtiSet { return jtiSet{sweptAt: math.MinInt64} }

// use records jti h as used until exp (jtiSeconds) and reports true,
// unless h is held and not expired by nowN (Unix ns): then false.
func (j *jtiSet) use(h uint64, exp uint32, nowN int64) bool {
	if j.sweepDue(nowN) {
		j.sweep(func(at uint32) bool { return jtiNanos(at) <= nowN })
		j.sweptAt = nowN
	}
	empty := j.m.len() == 0
	if !j.m.put(h, exp, func(at uint32) bool { return jtiNanos(at) > nowN }) {
		return false
	}
	if empty || exp < j.earliest {
		j.earliest = exp
	}
	return true
}

// sweepDue: a jti may have expired by nowN, and the set is small, or has
// grown by a quarter since the last sweep, or a minute has passed since
// use last swept (see jtiSweepGrowth).
func (j *jtiSet) sweepDue(nowN int64) bool {
	switch n := j.m.len(); {
	case n == 0 || jtiNanos(j.earliest) > nowN:
		return false
	case n < jtiSweepSmall || n >= j.swept+j.swept/jtiSweepGrowth:
		return true
	}
	return nowN > j.sweptAt && uint64(nowN)-uint64(j.sweptAt) >= uint64(jtiSweepEvery)
}

// purge drops the jtis that expired before cut (Unix ns).
func (j *jtiSet) purge(cut int64) {
	if j.m.len() > 0 && jtiNanos(j.earliest) < cut {
		j.sweep(func(at uint32) bool { return jtiNanos(at) < cut })
	}
}

// sweep drops the jtis gone says have expired (see sweepFlat).
func (j *jtiSet) sweep(gone func(at uint32) bool) {
	earliest := uint32(math.MaxUint32)
	sweepFlat(&j.m, gone, func(at uint32) { earliest = min(earliest, at) })
	j.earliest, j.swept = earliest, j.m.len()
}

// tomb is a retired request (Retire) packed into 64 bits, what a late
// token request's answer needs (pollStep: client, state, redemptions,
// expiry) and a decision's refusal (updateTomb: state):
//
//	bits  0-44  expiry, ns after tombSet.base: exact, within a 9.7 h window
//	bits 45-56  client id, an index of s.names (fewer than maxInterned)
//	bits 57-59  state, tombStateCode
//	bits 60-61  delivery mode, tombModeCode
//	bits 62-63  redemptions, 0 to 3
//
// 16 bytes a slot with its keyHash key, 21 to 26 a tombstone as the
// table fills (23 to 26 measured; 24 to 30 when tables were made 1/2
// full, 24 to 37 in a Go map, 82 to 114 for a 16-byte digest key, a
// 16-byte struct and a per-entry expiry heap:
// TestMemoryStoreBytesPerEntry); 25.4 (31.9 at 1/2 full) against 38 in a
// Go map and 110 before that as the OP retires and purges them
// (TestMemoryStoreBytesPerEntrySteady: a purge a minute drops a sixtieth,
// so the table stays about as full as its last growth left it). A
// request with anything that does not fit (a fault's second redemption
// and more, an unknown state or mode, a client with no index, an expiry
// too far from the others held) stays whole instead (retireLocked
// reports false) until Purge drops it, as before.
type tomb uint64

const (
	tombExpBits    = 45
	tombSpan       = 1 << tombExpBits // ns an expiry may lie after tombSet.base
	tombClientBits = 12
	tombClientAt   = tombExpBits
	tombStateAt    = tombClientAt + tombClientBits
	tombModeAt     = tombStateAt + 3
	tombRedeemAt   = tombModeAt + 2
	tombMaxRedeem  = 3
)

// Every index of s.names fits the client bits.
const _ = uint(1<<tombClientBits - maxInterned)

func (t tomb) offset() uint64    { return uint64(t) & (tombSpan - 1) }
func (t tomb) client() uint32    { return uint32(uint64(t)>>tombClientAt) & (1<<tombClientBits - 1) }
func (t tomb) state() AuthStatus { return tombStates()[uint64(t)>>tombStateAt&7] }
func (t tomb) mode() string      { return tombModes()[uint64(t)>>tombModeAt&3] }
func (t tomb) redemptions() int  { return int(uint64(t) >> tombRedeemAt) }

// tombStates and tombModes are what the state and mode bits stand for.
func tombStates() [8]AuthStatus {
	return [8]AuthStatus{"", StatusPending, StatusApproved, StatusDenied, StatusFailed, StatusRedeemed, StatusExpired, ""}
}

func tombModes() [4]string {
	return [4]string{"", string(ciba.ModePoll), string(ciba.ModePing), string(ciba.ModePush)}
}

// tombFacts packs what a tombstone keeps of a request but its expiry;
// false when one does not fit.
func tombFacts(client uint32, state AuthStatus, mode string, redemptions int) (uint64, bool) {
	states, modes := tombStates(), tombModes()
	st, md := slices.Index(states[:7], state), slices.Index(modes[:], mode)
	if st < 0 || md < 0 || client >= 1<<tombClientBits || redemptions < 0 || redemptions > tombMaxRedeem {
		return 0, false
	}
	return uint64(client)<<tombClientAt | uint64(st)<<tombStateAt | uint64(md)<<tombModeAt | uint64(redemptions)<<tombRedeemAt, true
}

// tombSet is the tombstones of a MemoryStore: keyHash of the request id
// -> tomb.
type tombSet struct {
	m flatTable[uint64] // of tombs
	// base is the Unix ns an expiry offset of 0 stands for; lo and hi
	// are the earliest and latest expiry held (exact; valid when m is
	// not empty).
	base, lo, hi int64
}

func newTombSet() tombSet { return tombSet{} }

// get returns h's tombstone.
func (ts *tombSet) get(h uint64) (tomb, bool) {
	t, ok := ts.m.get(h)
	return tomb(t), ok
}

// set replaces h's tombstone, which is held.
func (ts *tombSet) set(h uint64, t tomb) { ts.m.set(h, uint64(t)) }

// expiry is t's expiry in Unix ns.
func (ts *tombSet) expiry(t tomb) int64 { return int64(uint64(ts.base) + t.offset()) }

// put stores a tombstone of facts (tombFacts) expiring at exp (Unix ns)
// under h, which must not be held. It reports false, storing nothing,
// when exp and the expiries held do not fit one window.
func (ts *tombSet) put(h uint64, exp int64, facts uint64) bool {
	if !ts.fits(exp) && !ts.rebase(exp) {
		return false
	}
	if ts.m.len() == 0 {
		ts.lo, ts.hi = exp, exp
	}
	ts.lo, ts.hi = min(ts.lo, exp), max(ts.hi, exp)
	ts.m.put(h, uint64(exp)-uint64(ts.base)|facts, nil)
	return true
}

func (ts *tombSet) fits(exp int64) bool {
	return exp >= ts.base && uint64(exp)-uint64(ts.base) < tombSpan
}

// rebase moves the window so that it holds exp and every expiry held,
// centred on them, rewriting each tombstone's offset: false if they span
// more than it. Time moves forward and Purge drops what expired an hour
// before, so a serve rebases about every 4 hours; and as each rebase
// leaves room either side of half what was free, at most 45 follow one
// another without a Purge: O(n) each, rare.
func (ts *tombSet) rebase(exp int64) bool {
	lo, hi := exp, exp
	if ts.m.len() > 0 {
		lo, hi = min(ts.lo, exp), max(ts.hi, exp)
	}
	span := uint64(hi) - uint64(lo)
	if span >= tombSpan {
		return false
	}
	room := (tombSpan - 1 - span) / 2
	base := int64(math.MinInt64)
	if lo >= math.MinInt64+int64(room) {
		base = lo - int64(room)
	}
	ts.m.rewrite(func(t uint64) uint64 {
		off := uint64(ts.expiry(tomb(t))) - uint64(base)
		return t&^(tombSpan-1) | off
	})
	ts.base = base
	return true
}

// purge drops the tombstones that expired before cut (Unix ns): one pass
// over all of them when one has, about 1.3 ms at 100,000 held and 4.5
// ms at 400,000 (TestMemoryStoreSweepTime), where a heap popped only those
// going; the OP purges once a minute.
func (ts *tombSet) purge(cut int64) {
	if ts.m.len() > 0 && ts.lo < cut {
		ts.sweep(func(exp int64) bool { return exp < cut })
	}
}

// dropEarliest drops the k tombstones expiring first (the cap,
// retireLocked), ties broken by the table's order. It sorts the expiries
// held: O(n log n), once every n/8 retirements (about 0.1 s at 10^6).
func (ts *tombSet) dropEarliest(k int) {
	if k <= 0 {
		return
	}
	exps := make([]int64, 0, ts.m.len())
	ts.m.each(func(t uint64) { exps = append(exps, ts.expiry(tomb(t))) })
	goes := smallestK(exps, k)
	ts.lo, ts.hi = math.MaxInt64, math.MinInt64
	ts.m.deleteIf(func(t uint64) bool { return goes(ts.expiry(tomb(t))) }, func(t uint64) {
		exp := ts.expiry(tomb(t))
		ts.lo, ts.hi = min(ts.lo, exp), max(ts.hi, exp)
	})
}

// smallestK sorts keys (in place) and returns a predicate that is true for
// exactly the k smallest of them when asked about each key once: every
// key under the k-th smallest, and of those equal to it as many as make k,
// the first asked. The caps' drop-the-earliest passes (dropEarliest,
// dropOldestTokens) ask in their table's order.
func smallestK(keys []int64, k int) func(int64) bool {
	slices.Sort(keys)
	last := keys[min(k, len(keys))-1]
	first, _ := slices.BinarySearch(keys, last)
	ties := k - first // of those equal to last, how many go
	return func(key int64) bool {
		switch {
		case key < last:
			return true
		case key == last && ties > 0:
			ties--
			return true
		}
		return false
	}
}

// sweep drops the tombstones gone says have expired (see sweepFlat).
func (ts *tombSet) sweep(gone func(exp int64) bool) {
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	sweepFlat(&ts.m, func(t uint64) bool { return gone(ts.expiry(tomb(t))) }, func(t uint64) {
		exp := ts.expiry(tomb(t))
		lo, hi = min(lo, exp), max(hi, exp)
	})
	ts.lo, ts.hi = lo, hi
}
