package mockdevice

import (
	"hash/maphash"
	"iter"
)

// idTable finds a record by its id: a hash set of records in 8 bytes a
// slot, keyed by the record's own id, where a map[string]*record holds
// another 16-byte string header per entry in 24-byte slots. It is open
// addressing with linear probing, at most 3/4 full, and unlike a Go map
// it gives memory back: once under 1/4 full it halves, so a device that
// forgets the requests of a burst shrinks back.
type idTable struct {
	slots []*record // a power of two long, or empty
	n     int
	seed  maphash.Seed
}

// minIDSlots is the fewest slots a non-empty table has.
const minIDSlots = 16

func newIDTable() idTable { return idTable{seed: maphash.MakeSeed()} }

// len is how many records the table holds.
func (t *idTable) len() int { return t.n }

// home is the slot where a search for id starts.
func (t *idTable) home(id string) int {
	return int(maphash.String(t.seed, id) & uint64(len(t.slots)-1))
}

// get returns the record with id, or nil.
func (t *idTable) get(id string) *record {
	if t.n == 0 {
		return nil
	}
	mask := len(t.slots) - 1
	for i := t.home(id); t.slots[i] != nil; i = (i + 1) & mask {
		if t.slots[i].id == id {
			return t.slots[i]
		}
	}
	return nil
}

// put adds rec, whose id the table does not hold.
func (t *idTable) put(rec *record) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.resize(max(2*len(t.slots), minIDSlots))
	}
	t.insert(rec)
	t.n++
}

func (t *idTable) insert(rec *record) {
	mask := len(t.slots) - 1
	i := t.home(rec.id)
	for t.slots[i] != nil {
		i = (i + 1) & mask
	}
	t.slots[i] = rec
}

// del removes the record with id, if the table holds it. The records
// after it in its run move back (backward-shift deletion), so no
// tombstones are left.
func (t *idTable) del(id string) {
	if t.n == 0 {
		return
	}
	mask := len(t.slots) - 1
	i := t.home(id)
	for t.slots[i] != nil && t.slots[i].id != id {
		i = (i + 1) & mask
	}
	if t.slots[i] == nil {
		return
	}
	for j := (i + 1) & mask; t.slots[j] != nil; j = (j + 1) & mask {
		// The record at j moves to the hole at i unless its home lies
		// cyclically in (i, j]: then a search for it never passes i.
		if h := t.home(t.slots[j].id); (i < j && i < h && h <= j) || (j < i && (i < h || h <= j)) {
			continue
		}
		t.slots[i], i = t.slots[j], j
	}
	t.slots[i] = nil
	t.n--
	if t.n == 0 {
		t.slots = nil
	} else if len(t.slots) > minIDSlots && t.n*4 < len(t.slots) {
		t.resize(len(t.slots) / 2)
	}
}

func (t *idTable) resize(size int) {
	old := t.slots
	t.slots = make([]*record, size)
	for _, rec := range old {
		if rec != nil {
			t.insert(rec)
		}
	}
}

// all yields every record, in no particular order.
func (t *idTable) all() iter.Seq[*record] {
	return func(yield func(*record) bool) {
		for _, rec := range t.slots {
			if rec != nil && !yield(rec) {
				return
			}
		}
	}
}
