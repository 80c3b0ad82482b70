package refop

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMemoryStoreJTIReplayAcrossSweeps: whichever trigger sweeps the
// used jtis (each case checks that the call it names did sweep: the set
// shrank), a jti still live is refused until its expiry, to the
// nanosecond, and is fresh from then on.
func TestMemoryStoreJTIReplayAcrossSweeps(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	exp := start.Add(time.Hour) // of the jti under test
	c := context.Background()
	// use uses n jtis named prefix0... at now, expiring at until.
	use := func(s *MemoryStore, prefix string, n int, until, now time.Time) {
		for i := range n {
			if fresh, _ := s.UseJTI(c, fmt.Sprint(prefix, i), until, now); !fresh {
				t.Fatalf("%s%d refused", prefix, i)
			}
		}
	}
	// sweeps fails unless do swept the set (it shrank).
	sweeps := func(t *testing.T, s *MemoryStore, do func()) {
		t.Helper()
		before := s.jtis.m.len()
		do()
		if after := s.jtis.m.len(); after >= before {
			t.Fatalf("no sweep: %d jtis held, %d before", after, before)
		}
	}
	// swept600 is 600 jtis held till two hours on, and the last sweep
	// at start + 2s left them alone.
	swept600 := func(t *testing.T, s *MemoryStore) {
		use(s, "long", 600, start.Add(2*time.Hour), start)
		use(s, "short", 1000, start.Add(time.Second), start)
		sweeps(t, s, func() { use(s, "b", 1, start.Add(2*time.Hour), start.Add(2*time.Second)) })
	}
	tests := []struct {
		name  string
		sweep func(t *testing.T, s *MemoryStore)
	}{
		{"small set, its earliest expired", func(t *testing.T, s *MemoryStore) {
			use(s, "a", 10, start.Add(time.Second), start)
			sweeps(t, s, func() { use(s, "b", 1, start.Add(time.Minute), start.Add(2*time.Second)) })
		}},
		{"grown by a quarter", func(t *testing.T, s *MemoryStore) {
			swept600(t, s)
			use(s, "a", 200, start.Add(3*time.Second), start.Add(2*time.Second))
			sweeps(t, s, func() { use(s, "c", 1, start.Add(time.Minute), start.Add(4*time.Second)) })
		}},
		{"a minute on", func(t *testing.T, s *MemoryStore) {
			swept600(t, s)
			use(s, "a", 100, start.Add(3*time.Second), start.Add(2*time.Second))
			before := s.jtis.m.len()
			use(s, "c", 1, start.Add(time.Minute), start.Add(4*time.Second))
			if s.jtis.m.len() <= before {
				t.Fatal("swept before a quarter more or a minute")
			}
			sweeps(t, s, func() { use(s, "d", 1, start.Add(2*time.Minute), start.Add(time.Minute+2*time.Second)) })
		}},
		{"purge", func(t *testing.T, s *MemoryStore) {
			use(s, "a", 2000, start.Add(time.Second), start)
			sweeps(t, s, func() { must(t, s.Purge(c, start.Add(2*time.Second))) })
		}},
		{"rebuilt after a burst", func(t *testing.T, s *MemoryStore) {
			use(s, "a", 20_000, start.Add(time.Second), start)
			peak := s.jtis.m.capacity()
			sweeps(t, s, func() { use(s, "b", 1, start.Add(2*time.Minute), start.Add(time.Minute)) })
			if s.jtis.m.capacity() >= peak {
				t.Fatalf("%d slots after the burst, %d before: not rebuilt", s.jtis.m.capacity(), peak)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewMemoryStore()
			if fresh, _ := s.UseJTI(c, "jti", exp, start); !fresh {
				t.Fatal("first use refused")
			}
			tt.sweep(t, s)
			for _, at := range []time.Time{start.Add(2 * time.Minute), exp.Add(-time.Nanosecond)} {
				if fresh, _ := s.UseJTI(c, "jti", exp, at); fresh {
					t.Fatalf("replay at %v accepted, %v before its expiry", at, exp.Sub(at))
				}
			}
			if fresh, _ := s.UseJTI(c, "jti", exp.Add(time.Hour), exp); !fresh {
				t.Fatal("refused at its expiry")
			}
		})
	}
}

// TestMemoryStoreShrinksAfterABurst: a burst of 100,000 jtis or
// tombstones, once expired and swept (a few new uses; a Purge), leaves
// the store's heap where it was before the burst, give or take a few
// KB: the maps were rebuilt to what they hold.
func TestMemoryStoreShrinksAfterABurst(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 100,000 entries")
	}
	const n = 100_000
	start := time.Unix(1_800_000_000, 0)
	c := context.Background()
	tests := []struct {
		name  string
		burst func(t *testing.T, s *MemoryStore)
		after func(t *testing.T, s *MemoryStore) // past the burst's expiry
		held  func(s *MemoryStore) int
	}{
		{"jti", func(t *testing.T, s *MemoryStore) {
			for i := range n {
				if fresh, _ := s.UseJTI(c, sizeTestID(i), start.Add(time.Minute), start); !fresh {
					t.Fatal("refused")
				}
			}
		}, func(t *testing.T, s *MemoryStore) {
			now := start.Add(2 * time.Minute)
			for i := range 10 {
				if fresh, _ := s.UseJTI(c, fmt.Sprint("new-", i), now.Add(time.Minute), now); !fresh {
					t.Fatal("refused")
				}
			}
		}, func(s *MemoryStore) int { return s.jtis.m.len() }},
		{"tombstone", func(t *testing.T, s *MemoryStore) {
			s.mu.Lock()
			defer s.mu.Unlock()
			for i := range n {
				if !s.retireLocked(sizeTestID(i), AuthRequest{ClientID: "c", DeliveryMode: "poll", Status: StatusRedeemed,
					Redemptions: 1, ExpiresAt: start.Add(time.Minute)}) {
					t.Fatal("not retired")
				}
			}
		}, func(t *testing.T, s *MemoryStore) {
			must(t, s.Purge(c, start.Add(2*time.Minute)))
		}, func(s *MemoryStore) int { return s.tombs.m.len() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewMemoryStore()
			base := liveHeap()
			tt.burst(t, s)
			peak := liveHeap() - base
			tt.after(t, s)
			after := liveHeap() - base
			runtime.KeepAlive(s)
			t.Logf("%s: heap +%d B after the burst, +%d B once it expired (%d held)", tt.name, peak, after, tt.held(s))
			if peak < n*10 || after > 8<<10 {
				t.Errorf("%s: heap +%d B after the burst, +%d after it expired: want it back within 8 KB", tt.name, peak, after)
			}
		})
	}
}

// TestMemoryStoreSweepTime prints how long the single call that sweeps
// takes: UseJTI at 25,000 and 100,000 jtis held, at a steady state (a
// fifth of them expired) and at a burst's end (all expired, the map
// rebuilt); Purge of 100,000 and 400,000 tombstones of which a sixtieth
// expired (a minute of an hour's retention); fastest, median and slowest
// of 7. It asserts nothing of the times (a shared machine, -race), only
// that each call did sweep.
func TestMemoryStoreSweepTime(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 400,000 entries")
	}
	start := time.Unix(1_800_000_000, 0)
	c := context.Background()
	type sweepCase struct {
		name          string
		held, expired int
	}
	time7 := func(tc sweepCase, fill func(s *MemoryStore, live func(i int) bool), sweep func(s *MemoryStore), held func(s *MemoryStore) int) {
		var took []time.Duration
		for range 7 {
			s := NewMemoryStore()
			fill(s, func(i int) bool { return i >= tc.expired })
			runtime.GC() // what the fill left is not the sweep's
			t0 := time.Now()
			sweep(s)
			took = append(took, time.Since(t0))
			if n := held(s); n < tc.held-tc.expired || n > tc.held-tc.expired+1 {
				t.Fatalf("%s: %d held after the sweep, want %d", tc.name, n, tc.held-tc.expired)
			}
		}
		slices.Sort(took)
		t.Logf("%s, %d held, %d expired: the sweeping call took %v / %v / %v (fastest / median / slowest of %d)",
			tc.name, tc.held, tc.expired, took[0], took[len(took)/2], took[len(took)-1], len(took))
	}
	for _, held := range []int{25_000, 100_000} {
		for _, expired := range []int{held / 5, held} {
			tc := sweepCase{"UseJTI", held, expired}
			time7(tc, func(s *MemoryStore, live func(int) bool) {
				for i := range held {
					at := start.Add(time.Second)
					if live(i) {
						at = start.Add(time.Hour)
					}
					s.UseJTI(c, sizeTestID(i), at, start)
				}
			}, func(s *MemoryStore) {
				now := start.Add(time.Minute + time.Second)
				s.UseJTI(c, "sweeps", now.Add(time.Minute), now)
			}, func(s *MemoryStore) int { return s.jtis.m.len() })
		}
	}
	for _, held := range []int{100_000, 400_000} {
		tc := sweepCase{"Purge of tombstones", held, held / 60}
		time7(tc, func(s *MemoryStore, live func(int) bool) {
			s.mu.Lock()
			defer s.mu.Unlock()
			for i := range held {
				at := start
				if live(i) {
					at = start.Add(time.Hour)
				}
				s.retireLocked(sizeTestID(i), AuthRequest{ClientID: "c", DeliveryMode: "poll", Status: StatusExpired, ExpiresAt: at})
			}
		}, func(s *MemoryStore) { must(t, s.Purge(c, start.Add(time.Minute))) },
			func(s *MemoryStore) int { return s.tombs.m.len() })
	}
}

// TestMemoryStoreTombstonesAcrossSweeps: whatever moves the tombstones
// (a Purge dropping others, the cap's sweep, a rebuild after a burst, a
// rebase of their expiries), the ones kept read back as before, to the
// nanosecond of their expiry, and answer updates as before: one retired
// pending refuses a decision, a redeemed one counts a redemption.
func TestMemoryStoreTombstonesAcrossSweeps(t *testing.T) {
	start := time.Unix(1_800_000_000, 123_456_789)
	c := context.Background()
	kept := []AuthRequest{
		{ID: "pending", ClientID: "client-a", DeliveryMode: "poll", Status: StatusPending, ExpiresAt: start.Add(time.Hour + 1)},
		{ID: "redeemed", ClientID: "client-b", DeliveryMode: "ping", Status: StatusRedeemed, Redemptions: 1, NotifyDone: true, ExpiresAt: start.Add(time.Hour + 2)},
		{ID: "denied", ClientID: "client-a", DeliveryMode: "push", Status: StatusDenied, NotifyDone: true, ExpiresAt: start.Add(2 * time.Hour)},
	}
	// others retires n tombstones of client-x expiring from start, one
	// ms apart.
	others := func(s *MemoryStore, n int) {
		for i := range n {
			retire(t, s, AuthRequest{ID: fmt.Sprint("other-", i), ClientID: "client-x", DeliveryMode: "poll", Status: StatusExpired,
				ExpiresAt: start.Add(time.Duration(i) * time.Millisecond)})
		}
	}
	tests := []struct {
		name  string
		move  func(s *MemoryStore)
		wantN int // tombstones held after
	}{
		{"purge of others", func(s *MemoryStore) {
			others(s, 100)
			must(t, s.Purge(c, start.Add(time.Minute)))
		}, 3},
		{"cap", func(s *MemoryStore) {
			s.maxTombs = 64
			others(s, 62) // 65 held: the 9 expiring first go, to 56
		}, 56},
		{"rebuilt after a burst", func(s *MemoryStore) {
			others(s, 5000)
			peak := s.tombs.m.capacity()
			must(t, s.Purge(c, start.Add(time.Hour)))
			if s.tombs.m.capacity() >= peak {
				t.Fatalf("%d slots after the purge, %d before: not rebuilt", s.tombs.m.capacity(), peak)
			}
		}, 3},
		{"rebased: one 9 hours later", func(s *MemoryStore) {
			retire(t, s, AuthRequest{ID: "later", ClientID: "client-x", DeliveryMode: "poll", Status: StatusExpired, ExpiresAt: start.Add(9 * time.Hour)})
		}, 4},
		{"rebased: one 7 hours before", func(s *MemoryStore) {
			retire(t, s, AuthRequest{ID: "earlier", ClientID: "client-x", DeliveryMode: "poll", Status: StatusExpired, ExpiresAt: start.Add(-7 * time.Hour)})
		}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewMemoryStore()
			for _, r := range kept {
				retire(t, s, r)
			}
			base := s.tombs.base
			tt.move(s)
			if n := s.Counts().Tombstones; n != tt.wantN {
				t.Fatalf("%d tombstones held, want %d", n, tt.wantN)
			}
			if rebased := s.tombs.base != base; rebased != strings.HasPrefix(tt.name, "rebased") {
				t.Fatalf("rebased=%v", rebased)
			}
			for _, want := range kept {
				got, err := s.GetAuthRequest(c, want.ID)
				if err != nil {
					t.Fatalf("%s: %v", want.ID, err)
				}
				want.NotifyDone = true
				if !got.ExpiresAt.Equal(want.ExpiresAt) {
					t.Errorf("%s: expires %v, want %v", want.ID, got.ExpiresAt, want.ExpiresAt)
				}
				got.ExpiresAt = want.ExpiresAt
				if got != want {
					t.Errorf("%s: read back %+v, want %+v", want.ID, got, want)
				}
				if err := s.CreateAuthRequest(c, AuthRequest{ID: want.ID}); !errors.Is(err, ErrExists) {
					t.Errorf("%s: re-created: %v", want.ID, err)
				}
			}
			if _, err := s.UpdateAuthRequest(c, "pending", func(r *AuthRequest) error { r.Status = StatusApproved; return nil }); !errors.Is(err, ErrExpiredUndecided) {
				t.Errorf("deciding the one retired pending: %v, want ErrExpiredUndecided", err)
			}
			if got, err := s.UpdateAuthRequest(c, "redeemed", func(r *AuthRequest) error { r.Redemptions++; return nil }); err != nil || got.Redemptions != 2 {
				t.Errorf("a redemption more: %+v, %v", got, err)
			}
			if got, _ := s.GetAuthRequest(c, "redeemed"); got.Redemptions != 2 || got.Status != StatusRedeemed || got.ClientID != "client-b" {
				t.Errorf("after the update: %+v", got)
			}
		})
	}
}

// TestMemoryStoreTombstoneCapDropsEarliest: beyond maxTombs the eighth
// (at least one) expiring first go in one sweep, ties broken to drop
// exactly that many, counted as dropped; the rest stay.
func TestMemoryStoreTombstoneCapDropsEarliest(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name string
		max  int
		// expiries, in seconds after start, in the order retired.
		exps []int
		// wantGone lists the indexes of exps dropped (nil: count only,
		// for ties).
		wantGone []int
		wantN    int
	}{
		{"one over a cap of 2", 2, []int{5, 1, 3}, []int{1}, 2},
		{"one over a cap of 16: to 14", 16, []int{16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, []int{16, 15, 14}, 14},
		{"ties", 8, []int{1, 1, 1, 1, 1, 1, 1, 1, 1}, nil, 7},
		{"ties after the earliest", 8, []int{2, 0, 2, 2, 2, 3, 3, 3, 3}, nil, 7},
		{"at the cap: none", 4, []int{3, 2, 1, 0}, []int{}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := NewMemoryStore(), context.Background()
			s.maxTombs = tt.max
			for i, e := range tt.exps {
				retire(t, s, AuthRequest{ID: fmt.Sprint(i), ClientID: "c", DeliveryMode: "poll", Status: StatusExpired,
					ExpiresAt: start.Add(time.Duration(e) * time.Second)})
			}
			n := s.Counts()
			if n.Tombstones != tt.wantN || n.Dropped != len(tt.exps)-tt.wantN {
				t.Fatalf("counts %+v, want %d tombstones, %d dropped", n, tt.wantN, len(tt.exps)-tt.wantN)
			}
			latestGone, earliestKept := -1, 1<<30
			for i, e := range tt.exps {
				_, err := s.GetAuthRequest(c, fmt.Sprint(i))
				if err == nil {
					earliestKept = min(earliestKept, e)
				} else {
					latestGone = max(latestGone, e)
				}
				if tt.wantGone != nil {
					if gone := slices.Contains(tt.wantGone, i); gone != errors.Is(err, ErrNotFound) {
						t.Errorf("%d (expiry %d): %v, want gone=%v", i, e, err, gone)
					}
				}
			}
			if latestGone > earliestKept {
				t.Errorf("dropped one expiring at %d, kept one at %d", latestGone, earliestKept)
			}
		})
	}
}

// TestMemoryStoreTombstoneFit: a request whose facts do not fit a
// tombstone stays whole, as before (and Purge drops it as before); one
// whose expiry cannot share the window with those held stays whole
// until they are gone.
func TestMemoryStoreTombstoneFit(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	ok := AuthRequest{ID: "r", ClientID: "c", DeliveryMode: "poll", Status: StatusRedeemed, Redemptions: 1, ExpiresAt: start}
	tests := []struct {
		name    string
		edit    func(r *AuthRequest)
		held    time.Duration // another tombstone held, expiring this long after start (0: none)
		retired bool
	}{
		{"fits", func(*AuthRequest) {}, 0, true},
		{"three redemptions", func(r *AuthRequest) { r.Redemptions = 3 }, 0, true},
		{"four redemptions", func(r *AuthRequest) { r.Redemptions = 4 }, 0, false},
		{"unknown state", func(r *AuthRequest) { r.Status = "limbo" }, 0, false},
		{"unknown delivery mode", func(r *AuthRequest) { r.DeliveryMode, r.NotifyDone = "carrier-pigeon", true }, 0, false},
		{"no delivery mode", func(r *AuthRequest) { r.DeliveryMode, r.NotifyDone = "", true }, 0, true},
		{"the zero expiry, alone", func(r *AuthRequest) { r.ExpiresAt = time.Time{} }, 0, true},
		{"9.7 hours from the one held", func(*AuthRequest) {}, 9*time.Hour + 40*time.Minute, true},
		{"9.8 hours from the one held", func(*AuthRequest) {}, 9*time.Hour + 50*time.Minute, false},
		{"9.8 hours before the one held", func(r *AuthRequest) { r.ExpiresAt = start.Add(20 * time.Hour) }, 10*time.Hour + 10*time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := NewMemoryStore(), context.Background()
			if tt.held != 0 {
				retire(t, s, AuthRequest{ID: "held", ClientID: "c", DeliveryMode: "poll", Status: StatusExpired, ExpiresAt: start.Add(tt.held)})
			}
			r := ok
			tt.edit(&r)
			must(t, s.CreateAuthRequest(c, r))
			s.mu.Lock()
			retired := s.retireLocked(r.ID, r)
			s.mu.Unlock()
			if retired != tt.retired {
				t.Fatalf("retired=%v, want %v", retired, tt.retired)
			}
			got, err := s.GetAuthRequest(c, r.ID)
			if err != nil || !got.ExpiresAt.Equal(r.ExpiresAt) || got.ExpiresAt.IsZero() != r.ExpiresAt.IsZero() || got.Status != r.Status ||
				got.Redemptions != r.Redemptions || got.DeliveryMode != r.DeliveryMode || got.ClientID != r.ClientID {
				t.Errorf("read back %+v, %v; want the fields of %+v", got, err, r)
			}
			if n := s.Counts(); (n.Requests == 1) == retired {
				t.Errorf("counts %+v with retired=%v", n, retired)
			}
		})
	}
}

// retire creates r and reduces it to its tombstone, as RetireRedeemed
// would whatever its state.
func retire(t *testing.T, s *MemoryStore, r AuthRequest) {
	t.Helper()
	must(t, s.CreateAuthRequest(context.Background(), r))
	s.mu.Lock()
	defer s.mu.Unlock()
	sr := s.requests[r.ID]
	if !s.retireLocked(r.ID, s.whole(&sr)) {
		t.Fatalf("%s was not retired", r.ID)
	}
}
