package refop

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// at is a key whose home slot in a table of 8 slots is slot: home takes
// the top bits of the key scaled to the capacity, so the top 3 bits here.
func at(slot, n uint64) uint64 { return slot<<61 | n }

// checkFlat asserts what every flatTable must keep: n counts the keys
// held, each key held is found from its home without crossing an empty
// slot, and t holds exactly want.
func checkFlat(t *testing.T, ft *flatTable[uint32], want map[uint64]uint32) {
	t.Helper()
	n := 0
	for i, k := range ft.keys {
		if k == 0 {
			continue
		}
		n++
		if j, ok := ft.find(k); !ok || j != i {
			t.Fatalf("key %#x at slot %d: find gives %d, %v", k, i, j, ok)
		}
	}
	if n != ft.len() || n != len(want) {
		t.Fatalf("%d keys in slots, len %d, want %d", n, ft.len(), len(want))
	}
	for k, v := range want {
		if got, ok := ft.get(k); !ok || got != v {
			t.Fatalf("get %#x = %d, %v; want %d", k, got, ok, v)
		}
	}
}

// TestFlatTable runs sequences of puts and deletes on a table of 8
// slots (never more than 6 held, so it does not grow) against a map.
func TestFlatTable(t *testing.T) {
	type op struct {
		del bool
		key uint64
		// for a delete, whether the key was held; for a put, whether
		// it was stored (a held key whose value is at least keepAbove
		// is kept: put's keep).
		want bool
	}
	const keepAbove = 100
	put := func(k uint64) op { return op{key: k, want: true} }
	del := func(k uint64, held bool) op { return op{del: true, key: k, want: held} }
	tests := []struct {
		name string
		ops  []op
		// slots is where the keys are at the end (0: empty).
		slots [8]uint64
	}{
		{"distinct homes", []op{put(at(0, 1)), put(at(3, 1)), put(at(7, 1))},
			[8]uint64{at(0, 1), 0, 0, at(3, 1), 0, 0, 0, at(7, 1)}},
		{"collisions at one home", []op{put(at(2, 1)), put(at(2, 2)), put(at(2, 3))},
			[8]uint64{0, 0, at(2, 1), at(2, 2), at(2, 3), 0, 0, 0}},
		{"wrap-around at the end", []op{put(at(6, 1)), put(at(7, 1)), put(at(6, 2)), put(at(7, 2))},
			[8]uint64{at(6, 2), at(7, 2), 0, 0, 0, 0, at(6, 1), at(7, 1)}},
		{"delete shifts the run back across the end", []op{put(at(6, 1)), put(at(7, 1)), put(at(6, 2)), put(at(7, 2)), del(at(6, 1), true)},
			[8]uint64{at(7, 2), 0, 0, 0, 0, 0, at(6, 2), at(7, 1)}},
		{"delete leaves an entry at its home", []op{put(at(2, 1)), put(at(3, 1)), put(at(3, 2)), del(at(2, 1), true)},
			[8]uint64{0, 0, 0, at(3, 1), at(3, 2), 0, 0, 0}},
		{"delete moves only entries homed at or before the hole", []op{put(at(1, 1)), put(at(1, 2)), put(at(3, 1)), put(at(1, 3)), del(at(1, 2), true)},
			[8]uint64{0, at(1, 1), at(1, 3), at(3, 1), 0, 0, 0, 0}},
		{"delete of the last of a run", []op{put(at(4, 1)), put(at(4, 2)), del(at(4, 2), true), del(at(4, 2), false)},
			[8]uint64{0, 0, 0, 0, at(4, 1), 0, 0, 0}},
		{"delete not held, same home", []op{put(at(5, 1)), del(at(5, 2), false)},
			[8]uint64{0, 0, 0, 0, 0, at(5, 1), 0, 0}},
		{"the zero key is held as 1", []op{put(0), put(1), del(1, true), del(0, false)},
			[8]uint64{}},
		{"put over a held key", []op{put(at(0, 7)), put(at(0, 7)), put(at(7, 9)), put(at(7, 9))},
			[8]uint64{at(0, 7), 0, 0, 0, 0, 0, 0, at(7, 9)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ft flatTable[uint32]
			ft.resize(8)
			want := map[uint64]uint32{}
			for i, o := range tt.ops {
				k, v := flatKey(o.key), uint32(i)
				if o.del {
					if got := ft.del(o.key); got != o.want {
						t.Fatalf("op %d: del %#x = %v", i, o.key, got)
					}
					delete(want, k)
				} else {
					if got := ft.put(o.key, v, func(old uint32) bool { return old >= keepAbove }); got != o.want {
						t.Fatalf("op %d: put %#x = %v", i, o.key, got)
					}
					want[k] = v
				}
				checkFlat(t, &ft, want)
			}
			if ft.capacity() != 8 {
				t.Fatalf("%d slots, want 8", ft.capacity())
			}
			if !slices.Equal(ft.keys, tt.slots[:]) {
				t.Fatalf("slots %#x, want %#x", ft.keys, tt.slots)
			}
		})
	}
}

// TestFlatTablePutKeeps: put stores nothing over a held value keep says
// stays, and replaces one it does not.
func TestFlatTablePutKeeps(t *testing.T) {
	var ft flatTable[uint32]
	ft.put(42, 7, nil)
	for _, tc := range []struct {
		keep, stored bool
		want         uint32
	}{{true, false, 7}, {false, true, 8}} {
		if got := ft.put(42, 8, func(uint32) bool { return tc.keep }); got != tc.stored {
			t.Fatalf("keep=%v: put = %v", tc.keep, got)
		}
		if v, _ := ft.get(42); v != tc.want || ft.len() != 1 {
			t.Fatalf("keep=%v: %d held, value %d, want %d", tc.keep, ft.len(), v, tc.want)
		}
		ft.set(42, 7)
	}
	if ft.set(43, 1) {
		t.Fatal("set of a key not held stored it")
	}
}

// TestFlatTableGrowth: the table grows at 3/4 full to 5/8, never more
// than 3/4 full after a put, and every key stays found.
func TestFlatTableGrowth(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var ft flatTable[uint32]
	want := map[uint64]uint32{}
	grew := 0
	for i := range 5000 {
		slots := ft.capacity()
		k := rng.Uint64()
		ft.put(k, uint32(i), nil)
		want[flatKey(k)] = uint32(i)
		if ft.capacity() != slots {
			grew++
			if ft.capacity() != flatFit(ft.len()) {
				t.Fatalf("grew to %d slots at %d held, want %d", ft.capacity(), ft.len(), flatFit(ft.len()))
			}
		}
		if 4*ft.len() > 3*ft.capacity() {
			t.Fatalf("%d held in %d slots", ft.len(), ft.capacity())
		}
	}
	checkFlat(t, &ft, want)
	if grew < 5 {
		t.Fatalf("grew %d times", grew)
	}
}

// TestFlatTableAgainstMap: random puts, deletes and deleteIf passes, on
// keys crowded into few homes so runs are long and wrap, agree with a
// map throughout.
func TestFlatTableAgainstMap(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		rng := rand.New(rand.NewPCG(seed, 7))
		var ft flatTable[uint32]
		want := map[uint64]uint32{}
		key := func() uint64 { return rng.Uint64N(4)<<62 | rng.Uint64N(300) } // few homes, 0 among them
		for i := range 20_000 {
			switch r := rng.IntN(100); {
			case r < 55:
				k := key()
				ft.put(k, uint32(i), nil)
				want[flatKey(k)] = uint32(i)
			case r < 99:
				k := key()
				_, held := want[flatKey(k)]
				if got := ft.del(k); got != held {
					t.Fatalf("seed %d op %d: del %#x = %v, want %v", seed, i, k, got, held)
				}
				delete(want, flatKey(k))
			default:
				cut := uint32(rng.IntN(i + 1))
				kept := 0
				ft.deleteIf(func(v uint32) bool { return v < cut }, func(uint32) { kept++ })
				maps := 0
				for k, v := range want {
					if v < cut {
						delete(want, k)
					} else {
						maps++
					}
				}
				if kept != maps {
					t.Fatalf("seed %d op %d: kept called %d times for %d kept", seed, i, kept, maps)
				}
			}
			if i%97 == 0 {
				checkFlat(t, &ft, want)
			}
		}
		checkFlat(t, &ft, want)
	}
}

// TestFlatTableDeleteIf: a pass that deletes as it goes sees every entry
// once, including runs that wrap past the end of the slots and entries
// shifted back into the slot just looked at.
func TestFlatTableDeleteIf(t *testing.T) {
	tests := []struct {
		name string
		keys []uint64
		gone func(k uint64) bool
	}{
		{"a run across the end, every other one going", []uint64{at(6, 1), at(6, 2), at(7, 1), at(6, 3), at(7, 2)},
			func(k uint64) bool { return k&1 == 1 }},
		{"a run across the end, all going", []uint64{at(7, 1), at(7, 2), at(7, 3), at(0, 1), at(0, 2)},
			func(uint64) bool { return true }},
		{"none going", []uint64{at(7, 1), at(7, 2), at(1, 1)},
			func(uint64) bool { return false }},
		{"the first of each run going", []uint64{at(2, 1), at(2, 2), at(2, 3), at(7, 1), at(7, 2)},
			func(k uint64) bool { return k == at(2, 1) || k == at(7, 1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ft flatTable[uint32]
			ft.resize(8)
			want := map[uint64]uint32{}
			byValue := map[uint32]uint64{}
			for i, k := range tt.keys {
				ft.put(k, uint32(i), nil)
				byValue[uint32(i)] = k
			}
			seen := map[uint32]int{}
			ft.deleteIf(func(v uint32) bool {
				seen[v]++
				return tt.gone(byValue[v])
			}, func(v uint32) {
				if tt.gone(byValue[v]) {
					t.Fatalf("kept called with %d, going", v)
				}
			})
			for v, k := range byValue {
				if seen[v] != 1 {
					t.Fatalf("entry %#x seen %d times", k, seen[v])
				}
				if !tt.gone(k) {
					want[k] = v
				}
			}
			checkFlat(t, &ft, want)
		})
	}
}

// TestSweepFlat: a sweep that leaves the table under 1/2 full rebuilds
// it to fit (5/8 full), whether the first look guessed so or not; one
// that leaves more, or a table of flatShrinkFloor slots or fewer, keeps
// its slots.
func TestSweepFlat(t *testing.T) {
	tests := []struct {
		name string
		n    int
		// gone: which of the values 0..n-1 go.
		gone        func(v uint32) bool
		wantRebuilt bool
		// inOrder: value i's key is i/n of the key space, so the
		// slots hold the values in order and the first look (at the
		// first slots) sees the lowest; else keys are random.
		inOrder bool
	}{
		{"most going", 10_000, func(v uint32) bool { return v%10 != 0 }, true, false},
		{"all going", 10_000, func(uint32) bool { return true }, true, false},
		{"a tenth going", 10_000, func(v uint32) bool { return v%10 == 0 }, false, false},
		{"half going", 10_000, func(v uint32) bool { return v%2 == 0 }, true, false},
		{"a third going", 10_000, func(v uint32) bool { return v%3 == 0 }, true, false},
		{"a fifth going", 10_000, func(v uint32) bool { return v%5 == 0 }, false, false},
		{"most going, the first look sees none", 10_000, func(v uint32) bool { return v >= 1000 }, true, true},
		{"a tenth going, the first look sees all", 10_000, func(v uint32) bool { return v < 1000 }, false, true},
		{"small", 20, func(uint32) bool { return true }, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			var ft flatTable[uint32]
			want := map[uint64]uint32{}
			for i := range tt.n {
				k := rng.Uint64()
				if tt.inOrder {
					k = uint64(i) * (^uint64(0) / uint64(tt.n))
				}
				ft.put(k, uint32(i), nil)
				want[flatKey(k)] = uint32(i)
			}
			slots := ft.capacity()
			kept := 0
			rebuilt := sweepFlat(&ft, tt.gone, func(v uint32) {
				kept++
				if tt.gone(v) {
					t.Fatalf("kept called with %d, going", v)
				}
			})
			for k, v := range want {
				if tt.gone(v) {
					delete(want, k)
				}
			}
			checkFlat(t, &ft, want)
			if kept != len(want) {
				t.Fatalf("kept called %d times for %d kept", kept, len(want))
			}
			if rebuilt != tt.wantRebuilt {
				t.Fatalf("rebuilt=%v, %d left of %d in %d slots", rebuilt, len(want), tt.n, slots)
			}
			wantSlots := slots
			if rebuilt {
				wantSlots = flatFit(len(want))
			}
			if ft.capacity() != wantSlots {
				t.Fatalf("%d slots, want %d", ft.capacity(), wantSlots)
			}
		})
	}
}
