package mockdevice

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestIDTableAgreesWithAMap runs sequences of puts and deletes through an
// idTable and a map and checks they hold the same records after each
// step, and that the table grows and shrinks within its bounds (at most
// 3/4 full; at least 1/4 full once past its smallest size).
func TestIDTableAgreesWithAMap(t *testing.T) {
	for _, tt := range []struct {
		name string
		ops  int
		ids  int // ids drawn from; few make long runs of collisions and deletes of absent ids
		del  float64
	}{
		{"few ids, churn", 2000, 8, 0.5},
		{"many ids, mostly puts", 5000, 4000, 0.2},
		{"grow then drain", 3000, 3000, 0},
		{"heavy deletes", 4000, 500, 0.7},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tt.ops)))
			tab := newIDTable()
			want := map[string]*record{}
			check := func(step string) {
				t.Helper()
				if tab.len() != len(want) {
					t.Fatalf("%s: len %d, want %d", step, tab.len(), len(want))
				}
				for id, rec := range want {
					if got := tab.get(id); got != rec {
						t.Fatalf("%s: get(%q) = %p, want %p", step, id, got, rec)
					}
				}
				seen := 0
				for rec := range tab.all() {
					if want[rec.id] != rec {
						t.Fatalf("%s: all yields %q, not held", step, rec.id)
					}
					seen++
				}
				if seen != len(want) {
					t.Fatalf("%s: all yields %d records, want %d", step, seen, len(want))
				}
				if n, size := tab.len(), len(tab.slots); n*4 > size*3 || (size > minIDSlots && n*4 < size) || (n == 0 && size != 0) {
					t.Fatalf("%s: %d records in %d slots", step, n, size)
				}
			}
			for op := range tt.ops {
				id := fmt.Sprintf("id-%d", rng.IntN(tt.ids))
				if rng.Float64() < tt.del {
					tab.del(id)
					delete(want, id)
				} else if want[id] == nil {
					rec := &record{id: id}
					tab.put(rec)
					want[id] = rec
				}
				if op%97 == 0 {
					check(fmt.Sprintf("op %d", op))
				}
			}
			check("after the ops")
			for id := range want {
				tab.del(id)
				delete(want, id)
			}
			check("drained")
			if tab.get("id-0") != nil {
				t.Fatal("an empty table found id-0")
			}
		})
	}
}

// TestIndexesShrinkAfterABurst adds records to an index and forgets them
// again, and checks the indexes that would keep the memory of their peak
// are rebuilt smaller: the login_hint map once at half its peak, the
// expiry heap's array once under a quarter full.
func TestIndexesShrinkAfterABurst(t *testing.T) {
	for _, tt := range []struct {
		name           string
		n, hints, keep int
		wantHintPeak   int // after forgetting all but keep
		wantHeapCapMax int
	}{
		{"few hints: too small to bother", 1000, 10, 1, 10, 64},
		{"a hint each, all forgotten", 1000, 1000, 0, 0, 64},
		{"a hint each, a few kept", 1000, 1000, 10, 10, 64},
		{"a hint each, half kept", 1000, 1000, 500, 500, 1024},
	} {
		t.Run(tt.name, func(t *testing.T) {
			x := newIndex(time.UTC)
			recs := make([]*record, tt.n)
			for i := range recs {
				recs[i] = &record{id: fmt.Sprint("id-", i), common: &common{loginHint: fmt.Sprint("hint-", i%tt.hints)},
					pend: &pendingPart{forgetAt: stamp(i + 1), heapIdx: -1}}
				x.add(recs[i])
			}
			for _, rec := range recs[:tt.n-tt.keep] {
				x.remove(rec)
			}
			if len(x.byHint) != min(tt.keep, tt.hints) || x.hintPeak > max(tt.wantHintPeak, minShrink-1) {
				t.Errorf("%d login_hints, peak %d; want %d, peak at most %d", len(x.byHint), x.hintPeak, min(tt.keep, tt.hints), max(tt.wantHintPeak, minShrink-1))
			}
			if len(x.undecided) != tt.keep || cap(x.undecided) > tt.wantHeapCapMax {
				t.Errorf("expiry heap %d long, capacity %d; want %d, at most %d", len(x.undecided), cap(x.undecided), tt.keep, tt.wantHeapCapMax)
			}
			if x.byID.len() != tt.keep || len(x.byID.slots) > max(4*tt.keep, minIDSlots) {
				t.Errorf("%d ids in %d slots, want %d in at most %d", x.byID.len(), len(x.byID.slots), tt.keep, max(4*tt.keep, minIDSlots))
			}
		})
	}
}
