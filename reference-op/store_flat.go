package refop

import "math/bits"

// flatTable is a hash table from keyHash keys to a fixed-size value, the
// container of a MemoryStore's used jtis, tombstones and tokens: open
// addressing with linear probing over two parallel slices, keys and
// values, so a slot is 12 bytes (uint32 values), 16 (uint64) or 48 (a
// token: tokenSlot under half its digest) with no padding and no
// per-entry allocation. The keys are already keyed 64-bit hashes (or
// halves of SHA-256 digests), so a
// key's home slot is taken from it directly (its high bits scaled to the
// capacity, which need not be a power of two).
//
// Key 0 marks an empty slot: a key of 0 is held as 1 (flatKey), so the
// two are one key, a collision like any other of keyHash (which only
// ever costs a refusal).
//
// A delete shifts the rest of its run back (backward-shift deletion), so
// the table holds no deletion markers and a probe stops at the first
// empty slot. It grows at 3/4 full to 5/8 (flatFit), and a sweep that
// leaves it under 1/2 full rebuilds it to 5/8 (sweepFlat), so its memory
// follows what it holds: 1.6 slots a live entry after a growth or a
// rebuild, up to 2 before one (it was 2 and up to 8/3 when tables were
// made 1/2 full and rebuilt under 3/8: a quarter more slots for the same
// entries). A 5/8-full table costs a probe of a fresh key (every jti
// used, every tombstone put) about 4 slots looked at on average where
// a 1/2-full one costs 2.5 (linear probing: (1+1/(1-a)^2)/2 at load a),
// all but always in the same cache line or the next, and the 3/4 a
// table reaches before it grows, 8.5, is unchanged. Growth from 3/4 to
// 5/8 rehashes the table every fifth more entries it holds (every half
// more before): amortised O(1), about 5 rehashed entries a put.
type flatTable[V any] struct {
	keys []uint64
	vals []V
	n    int
}

// flatMin is the fewest slots a table is made with; a table of
// flatShrinkFloor slots or fewer is not rebuilt smaller.
const (
	flatMin         = 8
	flatShrinkFloor = 64
)

// flatFit is the capacity a table of n entries is made with: 5/8 full
// (8n/5 slots, rounded up).
func flatFit(n int) int { return max(flatMin, (8*n+4)/5) }

// flatKey is how key h is held: 0 marks an empty slot, so 0 is held as 1.
func flatKey(h uint64) uint64 {
	if h == 0 {
		return 1
	}
	return h
}

func (t *flatTable[V]) len() int      { return t.n }
func (t *flatTable[V]) capacity() int { return len(t.keys) }

// home is the slot a probe for k starts at.
func (t *flatTable[V]) home(k uint64) int {
	hi, _ := bits.Mul64(k, uint64(len(t.keys)))
	return int(hi)
}

// find returns the slot holding k (ok) or, when k is not held, the empty
// slot it would go in. The table must have a slot.
func (t *flatTable[V]) find(k uint64) (i int, ok bool) {
	i = t.home(k)
	for {
		switch t.keys[i] {
		case k:
			return i, true
		case 0:
			return i, false
		}
		if i++; i == len(t.keys) {
			i = 0
		}
	}
}

// get returns h's value.
func (t *flatTable[V]) get(h uint64) (V, bool) {
	if t.n == 0 {
		var zero V
		return zero, false
	}
	i, ok := t.find(flatKey(h))
	return t.vals[i], ok
}

// put stores v under h, unless h is held and keep says its value stays:
// then it stores nothing and reports false.
func (t *flatTable[V]) put(h uint64, v V, keep func(old V) bool) bool {
	if 4*(t.n+1) > 3*len(t.keys) {
		t.resize(flatFit(t.n + 1))
	}
	k := flatKey(h)
	i, ok := t.find(k)
	if ok && keep != nil && keep(t.vals[i]) {
		return false
	}
	if !ok {
		t.keys[i] = k
		t.n++
	}
	t.vals[i] = v
	return true
}

// set stores v under h, which is held; false (and nothing stored) if it
// is not.
func (t *flatTable[V]) set(h uint64, v V) bool {
	if t.n == 0 {
		return false
	}
	i, ok := t.find(flatKey(h))
	if ok {
		t.vals[i] = v
	}
	return ok
}

// del drops h, reporting whether it was held.
func (t *flatTable[V]) del(h uint64) bool {
	if t.n == 0 {
		return false
	}
	i, ok := t.find(flatKey(h))
	if ok {
		t.deleteAt(i)
	}
	return ok
}

// deleteAt empties slot i and shifts back into it, and into each slot so
// emptied in turn, the next entry of the run whose home allows it, so
// every entry stays reachable from its home without deletion markers.
// Only slot i and slots after it in the run (cyclically) change.
func (t *flatTable[V]) deleteAt(i int) {
	t.n--
	c := len(t.keys)
	for j := i; ; {
		t.keys[i] = 0
		for {
			if j++; j == c {
				j = 0
			}
			k := t.keys[j]
			if k == 0 {
				return
			}
			// The entry at j may move back to i unless its home lies
			// cyclically in (i, j].
			h := t.home(k)
			if i <= j && (h <= i || h > j) || i > j && h <= i && h > j {
				t.keys[i], t.vals[i] = k, t.vals[j]
				i = j
				break
			}
		}
	}
}

// each calls f with every value held.
func (t *flatTable[V]) each(f func(V)) {
	for i, k := range t.keys {
		if k != 0 {
			f(t.vals[i])
		}
	}
}

// rewrite replaces every value held by f of it.
func (t *flatTable[V]) rewrite(f func(V) V) {
	for i, k := range t.keys {
		if k != 0 {
			t.vals[i] = f(t.vals[i])
		}
	}
}

// deleteIf drops, in one pass in place, the entries gone says go,
// calling kept with each one left; gone and kept see each entry once.
// The pass starts after an empty slot, so no run it meets wraps past its
// end: a delete only moves entries from later in the pass back to the
// slot just looked at, which is looked at again.
func (t *flatTable[V]) deleteIf(gone func(V) bool, kept func(V)) {
	if t.n == 0 {
		return
	}
	c := len(t.keys)
	start := 0
	for t.keys[start] != 0 {
		start++ // the table is at most 3/4 full: there is an empty slot
	}
	i := start
	for range c {
		if i++; i == c {
			i = 0
		}
		for t.keys[i] != 0 {
			if !gone(t.vals[i]) {
				kept(t.vals[i])
				break
			}
			t.deleteAt(i)
		}
	}
}

// resize remakes the table with size slots (at least flatMin, and
// enough for what it holds at 3/4), keeping everything.
func (t *flatTable[V]) resize(size int) {
	old, oldVals := t.keys, t.vals
	t.keys, t.vals, t.n = make([]uint64, size), make([]V, size), 0
	for i, k := range old {
		if k != 0 {
			j, _ := t.find(k)
			t.keys[j], t.vals[j] = k, oldVals[i]
			t.n++
		}
	}
}

// sweepFlat drops from t, in one pass, the entries gone (a pure
// function) says have expired, calling kept with each one left. When
// what is left is under 1/2 of the slots (and the table is more than
// flatShrinkFloor slots), the table is rebuilt to fit it (flatFit), so
// memory is given back after a burst; it reports whether it was. A
// first look at sweepSample entries guesses which: when most are going
// (it would leave the table under 3/8 full), the ones left are copied
// to new slots, and nothing is deleted one by one from a table about to
// be dropped. The guess only chooses the faster way; either gives the
// same entries and slots. It is taken well below the line of a rebuild
// since a wrong one allocates a table of the same size: from 64
// entries, a sweep at a steady state that drops a fifth of a table 5/8
// full would often be guessed under 1/2.
func sweepFlat[V any](t *flatTable[V], gone func(V) bool, kept func(V)) (rebuilt bool) {
	shrinks := func(n int) bool { return len(t.keys) > flatShrinkFloor && 2*n < len(t.keys) }
	surelyShrinks := func(n int) bool { return len(t.keys) > flatShrinkFloor && 8*n < 3*len(t.keys) }
	seen, going := 0, 0
	for i, k := range t.keys {
		if seen == sweepSample {
			break
		}
		if k != 0 {
			seen++
			if gone(t.vals[i]) {
				going++
			}
		}
	}
	if seen > 0 && surelyShrinks(t.n*(seen-going)/seen) {
		// The entries left are moved to the front of the slots, which
		// are then dropped, so the pass over them is the only one.
		old, oldVals, left := t.keys, t.vals, 0
		for i, k := range old {
			if k != 0 && !gone(oldVals[i]) {
				old[left], oldVals[left] = k, oldVals[i]
				left++
			}
		}
		size := len(old) // the guess was wrong: the same slots again
		if shrinks(left) {
			size = flatFit(left)
		}
		t.keys, t.vals, t.n = make([]uint64, size), make([]V, size), left
		for i, k := range old[:left] {
			j, _ := t.find(k)
			t.keys[j], t.vals[j] = k, oldVals[i]
			kept(oldVals[i])
		}
		return size != len(old)
	}
	t.deleteIf(gone, kept)
	if shrinks(t.n) {
		t.resize(flatFit(t.n))
		return true
	}
	return false
}
