package mockdevice

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/ciba-check/ciba-check/ciba"
)

// sendExpiring posts a channel request whose bearer token expires at exp
// (no exp at all when exp is zero).
func (h *harness) sendExpiring(t *testing.T, id, loginHint string, exp time.Time) {
	t.Helper()
	claims := defaultClaims(id)
	claims.Expiry = nil
	if !exp.IsZero() {
		claims.Expiry = jwt.NewNumericDate(exp)
	}
	body := `{"scope":"openid","login_hint":"` + loginHint + `"}`
	w := h.do(http.MethodPost, PathChannel, "Bearer "+sign(t, h.key.private, jose.ES256, claims), "application/json", body)
	if w.Code != http.StatusCreated {
		t.Fatalf("POST %s: status %d; body %s", PathChannel, w.Code, w.Body)
	}
}

func storedIDs(d *Device) []string {
	var ids []string
	for _, r := range d.Requests() {
		ids = append(ids, r.ID)
	}
	return ids
}

// TestDeviceForgetsUndecidedRequestsOnceExpired drives the fake clock past
// each request's expiry (plus ExpiryGrace) and checks exactly the expired
// undecided ones are gone, decided ones stay, and a scheduled decision of
// a forgotten request is cancelled.
func TestDeviceForgetsUndecidedRequestsOnceExpired(t *testing.T) {
	tests := []struct {
		name     string
		advance  time.Duration
		wantIDs  []string
		wantGone int
	}{
		{"before any expiry", 30 * time.Second, []string{"short", "long", "noexp", "slow", "done"}, 0},
		{"at expiry, within the grace", time.Minute + ExpiryGrace, []string{"short", "long", "noexp", "slow", "done"}, 0},
		{"past the short one's grace", time.Minute + ExpiryGrace + time.Second, []string{"long", "noexp", "slow", "done"}, 1},
		{"past the slow one's expiry", 3*time.Minute + ExpiryGrace + time.Second, []string{"long", "noexp", "done"}, 2},
		{"past the default lifetime of one without exp", DefaultRequestLifetime + ExpiryGrace + time.Second, []string{"long", "done"}, 3},
		{"past every expiry", time.Hour, []string{"done"}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) {
				c.Default = Policy{Outcome: ciba.OutcomeNever}
				c.Policies = map[string]Policy{
					"auto": {Outcome: ciba.OutcomeApprove},
					"slow": {Outcome: ciba.OutcomeApprove, Delay: 2 * time.Hour},
				}
			})
			h.sendExpiring(t, "short", "carol", epoch.Add(time.Minute))
			h.sendExpiring(t, "long", "carol", epoch.Add(30*time.Minute))
			h.sendExpiring(t, "noexp", "carol", time.Time{})
			h.sendExpiring(t, "slow", "slow", epoch.Add(3*time.Minute))
			h.sendExpiring(t, "done", "auto", epoch.Add(time.Minute))
			h.op.next(t)
			if _, err := h.device.WaitSettled(waitCtx(t), "done"); err != nil {
				t.Fatal(err)
			}
			if got := h.clock.Pending(); got != 1 {
				t.Fatalf("%d timers scheduled, want slow's", got)
			}
			h.clock.Advance(tt.advance)
			if got := storedIDs(h.device); !slices.Equal(got, tt.wantIDs) {
				t.Fatalf("kept %v, want %v", got, tt.wantIDs)
			}
			st := h.device.Stats()
			if st.ForgottenExpired != tt.wantGone || st.Stored != len(tt.wantIDs) {
				t.Fatalf("stats %+v, want %d forgotten and %d stored", st, tt.wantGone, len(tt.wantIDs))
			}
			if _, ok := h.device.Request("slow"); !ok && h.clock.Pending() != 0 {
				t.Fatal("slow was forgotten but its scheduled decision was not cancelled")
			}
		})
	}
}

// TestDeviceRecordStaysBoundedWhateverArrives sends many more requests than the
// record holds, of every kind, and checks the bound and what is forgotten
// first.
func TestDeviceRecordStaysBoundedWhateverArrives(t *testing.T) {
	tests := []struct {
		name        string
		hint        string // the policy of every request sent
		wantKept    []string
		wantStats   Stats
		needsSettle bool
	}{
		{"settled: the earliest settled go", "auto", []string{"r-7", "r-8", "r-9"},
			Stats{Stored: 3, ForgottenSettled: 7}, true},
		{"refused: settled at once", "fail", []string{"r-7", "r-8", "r-9"},
			Stats{Stored: 3, ForgottenSettled: 7}, false},
		{"undecided: the earliest received goes, whatever its expiry", "wait", []string{"r-7", "r-8", "r-9"},
			Stats{Stored: 3, Pending: 3, ForgottenPending: 7}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) {
				c.MaxRequests = 3
				c.Policies = map[string]Policy{
					"auto": {Outcome: ciba.OutcomeApprove},
					"fail": {Outcome: ciba.OutcomeError},
					"wait": {Outcome: ciba.OutcomeNever},
				}
			})
			for i := range 10 {
				id := fmt.Sprintf("r-%d", i)
				// Later requests expire sooner, except the last: the
				// closest to expiry is never the one to forget.
				exp := epoch.Add(time.Hour - time.Duration(i)*time.Minute)
				if i == 9 {
					exp = epoch.Add(2 * time.Hour)
				}
				if i < 2 {
					exp = epoch.Add(3 * time.Hour)
				}
				claims := defaultClaims(id)
				claims.Expiry = jwt.NewNumericDate(exp)
				want := http.StatusCreated
				if tt.hint == "fail" {
					want = DefaultErrorStatus
				}
				w := h.do(http.MethodPost, PathChannel, "Bearer "+sign(t, h.key.private, jose.ES256, claims),
					"application/json", `{"scope":"openid","login_hint":"`+tt.hint+`"}`)
				if w.Code != want {
					t.Fatalf("%s: status %d", id, w.Code)
				}
				if tt.needsSettle {
					h.op.next(t)
					if _, err := h.device.WaitSettled(waitCtx(t), id); err != nil {
						t.Fatal(err)
					}
				}
				if n := h.device.Stats().Stored; n > 3 {
					t.Fatalf("after %s: %d stored, bound 3", id, n)
				}
			}
			if got := storedIDs(h.device); !slices.Equal(got, tt.wantKept) {
				t.Fatalf("kept %v, want %v", got, tt.wantKept)
			}
			if got := h.device.Stats(); got != tt.wantStats {
				t.Fatalf("stats %+v, want %+v", got, tt.wantStats)
			}
			// A settled request keeps no bearer token: no callback needs it.
			h.device.mu.Lock()
			for id, rec := range h.device.index.byID {
				if rec.req.Settled() && rec.token != "" {
					t.Errorf("settled %s still holds the OP's bearer token", id)
				}
				if rec.req.State == StatePending && rec.token == "" {
					t.Errorf("pending %s lost the bearer token its callback needs", id)
				}
			}
			h.device.mu.Unlock()
		})
	}
}

// TestDeviceWaitMatchFindsByIndex checks each kind of Match against a record
// holding several requests per login_hint.
func TestDeviceWaitMatchFindsByIndex(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Default = Policy{Outcome: ciba.OutcomeNever}
		c.Policies = map[string]Policy{"auto": {Outcome: ciba.OutcomeApprove}}
	})
	h.send(t, "w-1", "carol", http.StatusCreated)
	h.send(t, "a-1", "auto", http.StatusCreated)
	h.op.next(t)
	h.send(t, "w-2", "carol", http.StatusCreated)
	if err := h.device.Decide(waitCtx(t), "w-2", "SUCCEED"); err != nil {
		t.Fatal(err)
	}
	h.op.next(t)
	tests := []struct {
		name  string
		match Match
		want  string
	}{
		{"by id", Match{ID: "w-2"}, "w-2"},
		{"by id, settled", Match{ID: "a-1", Settled: true}, "a-1"},
		{"by id and its login_hint", Match{ID: "w-1", LoginHint: "carol"}, "w-1"},
		{"by login_hint: the earliest", Match{LoginHint: "carol"}, "w-1"},
		{"by login_hint, settled: the earliest settled", Match{LoginHint: "carol", Settled: true}, "w-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := h.device.WaitMatch(waitCtx(t), tt.match)
			if err != nil || r.ID != tt.want {
				t.Fatalf("got %q, %v; want %q", r.ID, err, tt.want)
			}
		})
	}
	if _, err := h.device.WaitMatch(waitCtx(t), Match{Settled: true}); err != ErrEmptyMatch {
		t.Fatalf("an empty Match: %v, want ErrEmptyMatch", err)
	}
}

// TestDeviceWaitersOfDifferentRequestsDoNotWakeEachOther checks a change of one
// request wakes only the waiters of that request (by id or login_hint).
func TestDeviceWaitersOfDifferentRequestsDoNotWakeEachOther(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Default = Policy{Outcome: ciba.OutcomeNever} })
	done := make(chan string, 2)
	for _, id := range []string{"x-1", "x-2"} {
		go func() {
			if _, err := h.device.WaitSettled(waitCtx(t), id); err == nil {
				done <- id
			}
		}()
	}
	h.send(t, "x-1", "carol", http.StatusCreated)
	h.send(t, "x-2", "dave", http.StatusCreated)
	if err := h.device.Decide(waitCtx(t), "x-2", "UNAUTHORIZED"); err != nil {
		t.Fatal(err)
	}
	h.op.next(t)
	if got := <-done; got != "x-2" {
		t.Fatalf("%s woke first", got)
	}
	h.device.mu.Lock()
	_, x2Watched := h.device.watches[watchKey{id: "x-2"}]
	h.device.mu.Unlock()
	if x2Watched {
		t.Fatal("x-2's watch outlived its waiter")
	}
	if err := h.device.Decide(waitCtx(t), "x-1", "CANCELLED"); err != nil {
		t.Fatal(err)
	}
	h.op.next(t)
	if got := <-done; got != "x-1" {
		t.Fatalf("%s woke", got)
	}
}
