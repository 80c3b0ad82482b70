package refop_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	refop "github.com/ciba-check/ciba-check/reference-op"
)

// TestRetiredRequestsAnswerAsBefore: a request the memory store has
// reduced to a tombstone (soon after its expiry) gets the same
// token-endpoint answers as while it was whole, for its own client and
// another; a redeemed one replayed still revokes what it issued (with
// the replay-revokes-tokens allowance on). A redeemed request is retired
// at its redemption already, expired or not.
func TestRetiredRequestsAnswerAsBefore(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(h *harness, id string) (accessToken string)
		wantOwner string
		// atOnce: retired when redeemed, before its expiry.
		atOnce bool
	}{
		{"never decided", func(*harness, string) string { return "" }, "expired_token", false},
		{"approved, never redeemed", func(h *harness, id string) string { h.approve(id); return "" }, "expired_token", false},
		{"denied", func(h *harness, id string) string {
			if r := h.decide(id, ciba.DeviceUnauthorized); r.status != http.StatusOK {
				h.t.Fatalf("callback: %d %s", r.status, r.raw)
			}
			return ""
		}, "expired_token", false},
		{"redeemed", func(h *harness, id string) string {
			h.approve(id)
			r := h.poll(cPoll, id)
			if r.status != http.StatusOK {
				h.t.Fatalf("redeem: %d %s", r.status, r.raw)
			}
			return r.str("access_token")
		}, "invalid_grant", true},
	}
	for _, tt := range tests {
		for _, retired := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/retired=%v", tt.name, retired), func(t *testing.T) {
				store := refop.NewMemoryStore()
				h := newHarness(t, func(c *refop.Config) {
					c.Store = store
					c.Allowances = []string{refop.AllowReplayRevokesTokens}
				})
				id := h.start(cPoll, map[string]any{"requested_expiry": 10})
				access := tt.setup(h, id)
				h.clock.Advance(30 * time.Second)
				if retired {
					// The OP retires on a backchannel request.
					h.start(cPoll, nil)
				}
				// One request whole unless retired, plus the one started.
				tomb := retired || tt.atOnce
				whole := map[bool]int{false: 1, true: 0}[tomb] + map[bool]int{false: 0, true: 1}[retired]
				if n := store.Counts(); n.Requests != whole || (n.Tombstones == 1) != tomb {
					t.Fatalf("store holds %+v, want the expired request retired=%v", n, tomb)
				}
				wantError(t, h.poll(cPoll, id), 400, tt.wantOwner)
				wantError(t, h.poll(cPoll2, id), 400, "invalid_grant")
				if access != "" {
					if r := h.userinfo(cPoll, access); r.status != http.StatusUnauthorized {
						t.Errorf("the replayed grant's access token still works: %d", r.status)
					}
				}
			})
		}
	}
}

// TestOPRetiresAtExpiry: the OP reduces an expired request to its
// tombstone on the first backchannel request more than TombstoneAfter
// past its expiry, not before, however recently it last did; with the
// accept-expired-token fault (an expired request stays redeemable, so
// its subject and scope are still needed) it keeps it whole.
func TestOPRetiresAtExpiry(t *testing.T) {
	const expiry = 10 * time.Second
	tests := []struct {
		name    string
		faults  []string
		past    time.Duration // how long after the expiry the next backchannel request comes
		retired bool
	}{
		{"at the edge", nil, refop.TombstoneAfter, false},
		{"just past it", nil, refop.TombstoneAfter + time.Nanosecond, true},
		{"accept-expired-token", []string{refop.FaultAcceptExpiredToken}, 30 * time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := refop.NewMemoryStore()
			h := newHarness(t, func(c *refop.Config) { c.Store, c.Faults = store, tt.faults })
			// A first backchannel request now: any once-a-minute spacing
			// would then hold the next one back.
			h.start(cPoll2, nil)
			id := h.start(cPoll, map[string]any{"requested_expiry": int(expiry / time.Second)})
			h.clock.Advance(expiry + tt.past)
			h.start(cPoll2, nil)
			if n := store.Counts(); n.Tombstones != map[bool]int{false: 0, true: 1}[tt.retired] {
				t.Fatalf("store holds %+v, want the expired request retired=%v", n, tt.retired)
			}
			if tt.faults == nil {
				wantError(t, h.poll(cPoll, id), 400, "expired_token")
			}
		})
	}
}

// TestOPRetiresARequestAtRedemption: once an auth_req_id can be redeemed
// no more, the MemoryStore keeps only its tombstone, which answers a
// second token request as the whole request did; a fault that allows a
// second redemption keeps it whole, as the tokens need its subject.
func TestOPRetiresARequestAtRedemption(t *testing.T) {
	for _, tt := range []struct {
		name   string
		faults []string
	}{
		{"strict", nil},
		{"issue-token-twice", []string{refop.FaultIssueTokenTwice}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store := refop.NewMemoryStore()
			h := newHarness(t, func(c *refop.Config) { c.Store, c.Faults = store, tt.faults })
			id := h.start(cPoll, nil)
			h.approve(id)
			if r := h.poll(cPoll, id); r.status != http.StatusOK {
				t.Fatalf("first redemption: %d %s", r.status, r.raw)
			}
			n := store.Counts()
			if tt.faults != nil {
				if n.Requests != 1 || n.Tombstones != 0 {
					t.Fatalf("store holds %+v, want the request whole: it may be redeemed again", n)
				}
				if r := h.poll(cPoll, id); r.status != http.StatusOK {
					t.Fatalf("second redemption under the fault: %d %s", r.status, r.raw)
				}
				return
			}
			if n.Requests != 0 || n.Tombstones != 1 {
				t.Fatalf("store holds %+v, want the redeemed request as its tombstone", n)
			}
			wantError(t, h.poll(cPoll, id), 400, "invalid_grant")
			wantError(t, h.poll(cPoll2, id), 400, "invalid_grant")
		})
	}
}

// TestMemoryStoreRetire: Retire reduces to tombstones exactly the
// requests expired before its cutoff that owe nothing; tombstones read
// and update as the fields they keep, hold their id against reuse, are
// not listed, and go at Purge like whole requests.
func TestMemoryStoreRetire(t *testing.T) {
	cutoff := storeEpoch
	past, future := cutoff.Add(-time.Second), cutoff.Add(time.Second)
	poll, ping, push := string(ciba.ModePoll), string(ciba.ModePing), string(ciba.ModePush)
	tests := []struct {
		name    string
		req     refop.AuthRequest
		retired bool
	}{
		{"poll, expired", refop.AuthRequest{DeliveryMode: poll, Status: refop.StatusRedeemed, Redemptions: 1, ExpiresAt: past}, true},
		{"poll, not yet expired at the cutoff", refop.AuthRequest{DeliveryMode: poll, Status: refop.StatusPending, ExpiresAt: future}, false},
		{"ping, undecided", refop.AuthRequest{DeliveryMode: ping, Status: refop.StatusPending, ExpiresAt: past}, true},
		{"ping, approved, notification done", refop.AuthRequest{DeliveryMode: ping, Status: refop.StatusApproved, NotifyDone: true, ExpiresAt: past}, true},
		{"ping, approved, notification owed", refop.AuthRequest{DeliveryMode: ping, Status: refop.StatusApproved, ExpiresAt: past}, false},
		{"push, expiry notice owed", refop.AuthRequest{DeliveryMode: push, Status: refop.StatusExpired, ExpiresAt: past}, false},
		{"push, told", refop.AuthRequest{DeliveryMode: push, Status: refop.StatusExpired, NotifyDone: true, ExpiresAt: past}, true},
		{"poll, redeemed more often than a tombstone counts", refop.AuthRequest{DeliveryMode: poll, Status: refop.StatusRedeemed, Redemptions: 1 << 16, ExpiresAt: past}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := refop.NewMemoryStore(), ctx(t)
			in := tt.req
			in.ID, in.ClientID, in.Subject, in.Scope = "r", "client", "sub", "openid"
			if err := s.CreateAuthRequest(c, in); err != nil {
				t.Fatal(err)
			}
			if err := s.Retire(c, cutoff); err != nil {
				t.Fatal(err)
			}
			if n := s.Counts(); (n.Tombstones == 1) != tt.retired || n.Tombstones+n.Requests != 1 {
				t.Fatalf("counts %+v, want retired=%v", n, tt.retired)
			}
			got, err := s.GetAuthRequest(c, "r")
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != "r" || got.ClientID != in.ClientID || got.DeliveryMode != in.DeliveryMode || got.Status != in.Status ||
				got.Redemptions != in.Redemptions || !got.ExpiresAt.Equal(in.ExpiresAt) {
				t.Errorf("read back %+v, want the fields of %+v", got, in)
			}
			if !tt.retired {
				if got.Subject != in.Subject {
					t.Errorf("a whole request lost its subject: %+v", got)
				}
				return
			}
			if all, _ := s.ListAuthRequests(c); len(all) != 0 {
				t.Errorf("listed %d retired requests", len(all))
			}
			if err := s.CreateAuthRequest(c, refop.AuthRequest{ID: "r"}); !errors.Is(err, refop.ErrExists) {
				t.Errorf("re-creating a retired id: %v, want ErrExists", err)
			}
			// An update keeps state and redemptions; a refused one nothing.
			// One retired pending cannot be decided any more: the
			// tombstone lacks what its ping or token would need.
			want, wantRedemptions := refop.StatusRedeemed, in.Redemptions+1
			if _, err := s.UpdateAuthRequest(c, "r", func(r *refop.AuthRequest) error {
				r.Status, r.Redemptions = refop.StatusRedeemed, r.Redemptions+1
				return nil
			}); in.Status == refop.StatusPending {
				if !errors.Is(err, refop.ErrExpiredUndecided) {
					t.Fatalf("deciding a request retired pending: %v, want ErrExpiredUndecided", err)
				}
				want, wantRedemptions = in.Status, in.Redemptions
			} else if err != nil {
				t.Fatal(err)
			}
			boom := errors.New("boom")
			if _, err := s.UpdateAuthRequest(c, "r", func(r *refop.AuthRequest) error { r.Redemptions = 99; return boom }); !errors.Is(err, boom) {
				t.Fatalf("refused update: %v", err)
			}
			if got, _ := s.GetAuthRequest(c, "r"); got.Status != want || got.Redemptions != wantRedemptions {
				t.Errorf("after updates %+v", got)
			}
			if err := s.Purge(c, in.ExpiresAt); err != nil {
				t.Fatal(err)
			}
			if _, err := s.GetAuthRequest(c, "r"); err != nil {
				t.Fatal("purged at its own expiry: Purge drops what expired before the cutoff")
			}
			if err := s.Purge(c, in.ExpiresAt.Add(time.Nanosecond)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.GetAuthRequest(c, "r"); !errors.Is(err, refop.ErrNotFound) {
				t.Errorf("after purge: %v, want ErrNotFound", err)
			}
			if n := s.Counts(); n != (refop.StoreCounts{}) {
				t.Errorf("after purge the store holds %+v", n)
			}
		})
	}
}

// TestMemoryStoreRetiredKeptWholeArePurged: a request Retire had to keep
// whole still goes at Purge.
func TestMemoryStoreRetiredKeptWholeArePurged(t *testing.T) {
	s, c := refop.NewMemoryStore(), ctx(t)
	exp := storeEpoch
	for _, id := range []string{"a", "b"} {
		if err := s.CreateAuthRequest(c, refop.AuthRequest{ID: id, DeliveryMode: string(ciba.ModePush), Status: refop.StatusApproved, ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Retire(c, exp.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if all, _ := s.ListAuthRequests(c); len(all) != 2 {
		t.Fatalf("listed %d, want both kept whole", len(all))
	}
	if err := s.Purge(c, exp.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if all, _ := s.ListAuthRequests(c); len(all) != 0 {
		t.Errorf("after purge: %d listed", len(all))
	}
	if n := s.Counts(); n != (refop.StoreCounts{}) {
		t.Errorf("after purge the store holds %+v", n)
	}
}

// TestMemoryStoreTokenRoundTrip: every field of a token comes back from
// the compact form it is stored in (times equal by Equal; a zero time
// stays zero).
func TestMemoryStoreTokenRoundTrip(t *testing.T) {
	tests := []refop.Token{
		{Key: "k1", Kind: refop.KindAccess, ClientID: "c", Subject: "s", Scope: "openid accounts", ACR: "urn:acr",
			AuthTime: storeEpoch.Add(-time.Minute), IssuedAt: storeEpoch, ExpiresAt: storeEpoch.Add(10 * time.Minute),
			CertThumbprint: "x5t", Revoked: true},
		{Key: "k2", Kind: refop.KindRefresh, ClientID: "c", ExpiresAt: storeEpoch.Add(24 * time.Hour)},
	}
	for _, want := range tests {
		t.Run(want.Key, func(t *testing.T) {
			s, c := refop.NewMemoryStore(), ctx(t)
			if err := s.PutToken(c, want); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetToken(c, want.Key)
			if err != nil {
				t.Fatal(err)
			}
			for _, tm := range []struct{ got, want time.Time }{{got.AuthTime, want.AuthTime}, {got.IssuedAt, want.IssuedAt}, {got.ExpiresAt, want.ExpiresAt}} {
				if !tm.got.Equal(tm.want) || tm.got.IsZero() != tm.want.IsZero() {
					t.Errorf("time %v, want %v", tm.got, tm.want)
				}
			}
			got.AuthTime, got.IssuedAt, got.ExpiresAt = want.AuthTime, want.IssuedAt, want.ExpiresAt
			if got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}
