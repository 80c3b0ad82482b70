package refop_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ciba-check/ciba-check/clock"
	refop "github.com/ciba-check/ciba-check/reference-op"
)

// storeImpls are every Store implementation; each runs the same contract.
var storeImpls = []struct {
	name string
	open func(t *testing.T) refop.Store
}{
	{"memory", func(*testing.T) refop.Store { return refop.NewMemoryStore() }},
	{"bolt", func(t *testing.T) refop.Store {
		s, err := refop.NewBoltStore(filepath.Join(t.TempDir(), "op.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}},
}

var storeEpoch = time.Unix(1_800_000_000, 0).UTC()

// storeContract is what OP code relies on from any Store.
var storeContract = []struct {
	name string
	run  func(t *testing.T, s refop.Store)
}{
	{"create then get returns an equal copy", func(t *testing.T, s refop.Store) {
		c := ctx(t)
		r := refop.AuthRequest{ID: "a", ClientID: "c", Subject: "s", Scope: "openid", Status: refop.StatusPending,
			CreatedAt: storeEpoch, ExpiresAt: storeEpoch.Add(time.Minute), Interval: 5, ClientNotificationToken: "tok"}
		if err := s.CreateAuthRequest(c, r); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetAuthRequest(c, "a")
		if err != nil {
			t.Fatal(err)
		}
		if !got.ExpiresAt.Equal(r.ExpiresAt) || got.Scope != r.Scope || got.Interval != 5 || got.ClientNotificationToken != "tok" {
			t.Fatalf("got %+v, want %+v", got, r)
		}
	}},
	{"duplicate create is ErrExists and keeps the first", func(t *testing.T, s refop.Store) {
		c := ctx(t)
		_ = s.CreateAuthRequest(c, refop.AuthRequest{ID: "a", ClientID: "first"})
		if err := s.CreateAuthRequest(c, refop.AuthRequest{ID: "a", ClientID: "second"}); !errors.Is(err, refop.ErrExists) {
			t.Fatalf("duplicate create: %v", err)
		}
		if got, _ := s.GetAuthRequest(c, "a"); got.ClientID != "first" {
			t.Fatalf("duplicate overwrote: %q", got.ClientID)
		}
	}},
	{"unknown ids are ErrNotFound", func(t *testing.T, s refop.Store) {
		c := ctx(t)
		if _, err := s.GetAuthRequest(c, "zz"); !errors.Is(err, refop.ErrNotFound) {
			t.Errorf("get: %v", err)
		}
		if _, err := s.UpdateAuthRequest(c, "zz", func(*refop.AuthRequest) error { return nil }); !errors.Is(err, refop.ErrNotFound) {
			t.Errorf("update: %v", err)
		}
		if _, err := s.GetToken(c, "zz"); !errors.Is(err, refop.ErrNotFound) {
			t.Errorf("get token: %v", err)
		}
		if err := s.RevokeToken(c, "zz"); !errors.Is(err, refop.ErrNotFound) {
			t.Errorf("revoke: %v", err)
		}
	}},
	{"failed update saves nothing and returns fn's error", func(t *testing.T, s refop.Store) {
		c := ctx(t)
		_ = s.CreateAuthRequest(c, refop.AuthRequest{ID: "a", Status: refop.StatusPending})
		boom := errors.New("boom")
		got, err := s.UpdateAuthRequest(c, "a", func(r *refop.AuthRequest) error {
			r.Status = refop.StatusApproved
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("error %v, want boom", err)
		}
		if got.Status != refop.StatusPending {
			t.Errorf("returned %v, want the stored pending request", got.Status)
		}
		if got, _ := s.GetAuthRequest(c, "a"); got.Status != refop.StatusPending {
			t.Fatalf("failed update persisted: %v", got.Status)
		}
	}},
	{"successful update saves and returns the new value", func(t *testing.T, s refop.Store) {
		c := ctx(t)
		_ = s.CreateAuthRequest(c, refop.AuthRequest{ID: "a", Status: refop.StatusPending})
		got, err := s.UpdateAuthRequest(c, "a", func(r *refop.AuthRequest) error {
			r.Status, r.NotifyAttempts, r.DeviceCalledAt = refop.StatusApproved, 2, storeEpoch
			return nil
		})
		if err != nil || got.Status != refop.StatusApproved {
			t.Fatalf("update: %v %v", got.Status, err)
		}
		if got, _ := s.GetAuthRequest(c, "a"); got.Status != refop.StatusApproved || got.NotifyAttempts != 2 || !got.DeviceCalledAt.Equal(storeEpoch) {
			t.Fatalf("stored %+v", got)
		}
	}},
	{"concurrent updates are atomic: one redemption wins", func(t *testing.T, s refop.Store) {
		c := ctx(t)
		_ = s.CreateAuthRequest(c, refop.AuthRequest{ID: "a", Status: refop.StatusApproved})
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range 32 {
			wg.Go(func() {
				_, err := s.UpdateAuthRequest(c, "a", func(r *refop.AuthRequest) error {
					if r.Status != refop.StatusApproved {
						return errors.New("already redeemed")
					}
					r.Status = refop.StatusRedeemed
					r.Redemptions++
					return nil
				})
				if err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		got, _ := s.GetAuthRequest(c, "a")
		if wins != 1 || got.Redemptions != 1 {
			t.Fatalf("%d winners, %d redemptions; want exactly one", wins, got.Redemptions)
		}
	}},
	{"list returns every request", func(t *testing.T, s refop.Store) {
		c := ctx(t)
		for _, id := range []string{"a", "b", "c"} {
			_ = s.CreateAuthRequest(c, refop.AuthRequest{ID: id})
		}
		got, err := s.ListAuthRequests(c)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, r := range got {
			seen[r.ID] = true
		}
		if len(got) != 3 || !seen["a"] || !seen["b"] || !seen["c"] {
			t.Fatalf("listed %v", seen)
		}
	}},
	{"jti replay is refused until the jti expires", func(t *testing.T, s refop.Store) {
		c := ctx(t)
		now := storeEpoch
		steps := []struct {
			exp, now time.Time
			want     bool
		}{
			{now.Add(time.Minute), now, true},
			{now.Add(time.Minute), now.Add(30 * time.Second), false},
			{now.Add(3 * time.Minute), now.Add(2 * time.Minute), true},
			{now.Add(4 * time.Minute), now.Add(2*time.Minute + time.Second), false},
		}
		for i, st := range steps {
			if ok, err := s.UseJTI(c, "j", st.exp, st.now); err != nil || ok != st.want {
				t.Fatalf("step %d: fresh=%v err=%v, want %v", i, ok, err, st.want)
			}
		}
		if ok, _ := s.UseJTI(c, "other", now.Add(time.Minute), now); !ok {
			t.Fatal("a different jti was refused")
		}
	}},
	{"tokens round-trip and revocation sticks", func(t *testing.T, s refop.Store) {
		c := ctx(t)
		tok := refop.Token{Key: "k", Kind: refop.KindAccess, ClientID: "c", CertThumbprint: "x5t", ExpiresAt: storeEpoch.Add(time.Minute)}
		if err := s.PutToken(c, tok); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetToken(c, "k"); err != nil || got.CertThumbprint != "x5t" || got.Revoked {
			t.Fatalf("get: %+v %v", got, err)
		}
		if err := s.RevokeToken(c, "k"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetToken(c, "k"); !got.Revoked {
			t.Fatal("revocation lost")
		}
	}},
	{"purge drops only what expired before the cutoff", func(t *testing.T, s refop.Store) {
		c := ctx(t)
		cutoff := storeEpoch
		_ = s.CreateAuthRequest(c, refop.AuthRequest{ID: "old", ExpiresAt: cutoff.Add(-time.Second)})
		_ = s.CreateAuthRequest(c, refop.AuthRequest{ID: "new", ExpiresAt: cutoff.Add(time.Second)})
		_ = s.PutToken(c, refop.Token{Key: "old", ExpiresAt: cutoff.Add(-time.Second)})
		_ = s.PutToken(c, refop.Token{Key: "new", ExpiresAt: cutoff.Add(time.Second)})
		_, _ = s.UseJTI(c, "old", cutoff.Add(-time.Second), cutoff.Add(-time.Hour))
		_, _ = s.UseJTI(c, "new", cutoff.Add(time.Hour), cutoff.Add(-time.Hour))
		if err := s.Purge(c, cutoff); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetAuthRequest(c, "old"); !errors.Is(err, refop.ErrNotFound) {
			t.Error("purge kept an expired request")
		}
		if _, err := s.GetAuthRequest(c, "new"); err != nil {
			t.Error("purge dropped a live request")
		}
		if _, err := s.GetToken(c, "old"); !errors.Is(err, refop.ErrNotFound) {
			t.Error("purge kept an expired token")
		}
		if _, err := s.GetToken(c, "new"); err != nil {
			t.Error("purge dropped a live token")
		}
		if ok, _ := s.UseJTI(c, "new", cutoff.Add(time.Hour), cutoff); ok {
			t.Error("purge forgot a live jti")
		}
	}},
}

func TestStoreContract(t *testing.T) {
	for _, impl := range storeImpls {
		for _, tc := range storeContract {
			t.Run(impl.name+"/"+tc.name, func(t *testing.T) {
				tc.run(t, impl.open(t))
			})
		}
	}
}

// TestBoltStoreSurvivesReopen is the durability half of the contract:
// everything written before Close is there after opening the file again.
func TestBoltStoreSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "op.db")
	c := ctx(t)
	s, err := refop.NewBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.CreateAuthRequest(c, refop.AuthRequest{ID: "a", Status: refop.StatusPending, ExpiresAt: storeEpoch.Add(time.Hour)})
	_, _ = s.UpdateAuthRequest(c, "a", func(r *refop.AuthRequest) error { r.Status = refop.StatusRedeemed; return nil })
	_ = s.PutToken(c, refop.Token{Key: "k", Kind: refop.KindRefresh, ExpiresAt: storeEpoch.Add(time.Hour)})
	_, _ = s.UseJTI(c, "j", storeEpoch.Add(time.Hour), storeEpoch)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = refop.NewBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.GetAuthRequest(c, "a"); err != nil || got.Status != refop.StatusRedeemed {
		t.Errorf("request after reopen: %+v %v", got, err)
	}
	if got, err := s.GetToken(c, "k"); err != nil || got.Kind != refop.KindRefresh {
		t.Errorf("token after reopen: %+v %v", got, err)
	}
	if ok, _ := s.UseJTI(c, "j", storeEpoch.Add(time.Hour), storeEpoch.Add(time.Minute)); ok {
		t.Error("jti replay accepted after reopen")
	}
}

func TestBoltStoreRefusesSecondOpener(t *testing.T) {
	path := filepath.Join(t.TempDir(), "op.db")
	s, err := refop.NewBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s2, err := refop.NewBoltStore(path); err == nil {
		s2.Close()
		t.Fatal("a second store opened the same locked file")
	}
	if _, err := refop.NewBoltStore(filepath.Join(t.TempDir(), "missing", "op.db")); err == nil {
		t.Fatal("a store opened in a missing directory")
	}
}

// counts reports a store's size (both implementations can).
func counts(t *testing.T, s refop.Store) refop.StoreCounts {
	t.Helper()
	switch s := s.(type) {
	case *refop.MemoryStore:
		return s.Counts()
	case *refop.BoltStore:
		c, err := s.Counts()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	t.Fatalf("%T cannot count", s)
	return refop.StoreCounts{}
}

// TestStoreEvictsByExpiry advances an injected clock through entries of
// every kind and checks each Purge drops exactly those expired before its
// cutoff, through the expiry index (re-indexed when an expiry changes).
func TestStoreEvictsByExpiry(t *testing.T) {
	at := func(m int) time.Time { return storeEpoch.Add(time.Duration(m) * time.Minute) }
	steps := []struct {
		advance      time.Duration
		wantRequests []string
		wantTokens   []string
	}{
		{0, []string{"r1", "r2", "r3", "moved"}, []string{"t1", "t2", "t3"}},
		{time.Minute + time.Second, []string{"r2", "r3", "moved"}, []string{"t2", "t3"}},
		{time.Minute, []string{"r3", "moved"}, []string{"t3"}}, // "moved" was due at 2
		{time.Hour, nil, nil},
	}
	for _, impl := range storeImpls {
		t.Run(impl.name, func(t *testing.T) {
			s, c := impl.open(t), ctx(t)
			clk := clock.NewFake(storeEpoch)
			for i, id := range []string{"r1", "r2", "r3"} {
				if err := s.CreateAuthRequest(c, refop.AuthRequest{ID: id, ExpiresAt: at(i + 1)}); err != nil {
					t.Fatal(err)
				}
				if err := s.PutToken(c, refop.Token{Key: "t" + id[1:], ExpiresAt: at(i + 1)}); err != nil {
					t.Fatal(err)
				}
			}
			_ = s.CreateAuthRequest(c, refop.AuthRequest{ID: "moved", ExpiresAt: at(2)})
			if _, err := s.UpdateAuthRequest(c, "moved", func(r *refop.AuthRequest) error {
				r.ExpiresAt = at(30)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			// A token stored again with a later expiry is kept to the later one.
			_ = s.PutToken(c, refop.Token{Key: "t3", ExpiresAt: at(1)})
			_ = s.PutToken(c, refop.Token{Key: "t3", ExpiresAt: at(3)})
			for i, st := range steps {
				clk.Advance(st.advance)
				if err := s.Purge(c, clk.Now()); err != nil {
					t.Fatal(err)
				}
				all, _ := s.ListAuthRequests(c)
				var got []string
				for _, r := range all {
					got = append(got, r.ID)
				}
				slices.Sort(got)
				want := slices.Sorted(slices.Values(st.wantRequests))
				if !slices.Equal(got, want) {
					t.Fatalf("step %d: requests %v, want %v", i, got, want)
				}
				for _, k := range []string{"t1", "t2", "t3"} {
					_, err := s.GetToken(c, k)
					if kept := slices.Contains(st.wantTokens, k); kept != (err == nil) {
						t.Fatalf("step %d: token %s kept=%v, want %v", i, k, err == nil, kept)
					}
				}
			}
			if n := counts(t, s); n.Requests != 0 || n.Tokens != 0 {
				t.Fatalf("left behind: %+v", n)
			}
		})
	}
}

// TestStoreJTIsStayFlat uses a fresh jti every second, each valid for a
// minute, for three simulated hours (ten minutes for bolt, whose every
// use is an fsynced transaction) without any Purge: the store holds about
// a minute's worth, not hours'.
func TestStoreJTIsStayFlat(t *testing.T) {
	for _, impl := range storeImpls {
		t.Run(impl.name, func(t *testing.T) {
			s, c := impl.open(t), ctx(t)
			clk := clock.NewFake(storeEpoch)
			uses := 3 * 3600
			if impl.name == "bolt" {
				uses = 600
			}
			for i := range uses {
				now := clk.Now()
				fresh, err := s.UseJTI(c, fmt.Sprintf("jti-%d", i), now.Add(time.Minute), now)
				if err != nil || !fresh {
					t.Fatalf("use %d: fresh=%v err=%v", i, fresh, err)
				}
				clk.Advance(time.Second)
			}
			n := counts(t, s)
			if n.JTIs > 61 || n.Queued > 61 {
				t.Fatalf("after %d uses the store holds %+v, want at most a minute's worth (61)", uses, n)
			}
			// Replay within the minute is still refused.
			if fresh, _ := s.UseJTI(c, fmt.Sprintf("jti-%d", uses-1), clk.Now().Add(time.Minute), clk.Now()); fresh {
				t.Fatal("a live jti was accepted again")
			}
		})
	}
}

// TestBoltStoreIndexesAnOldFile opens a file written without the expiry
// indexes (removed by hand) and checks Purge still drops what expired.
func TestBoltStoreIndexesAnOldFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "op.db")
	s, err := refop.NewBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	c := ctx(t)
	_ = s.CreateAuthRequest(c, refop.AuthRequest{ID: "old", ExpiresAt: storeEpoch})
	_ = s.CreateAuthRequest(c, refop.AuthRequest{ID: "new", ExpiresAt: storeEpoch.Add(time.Hour)})
	_ = s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range []string{"auth_requests_by_expiry", "tokens_by_expiry", "jtis_by_expiry"} {
			if err := tx.DeleteBucket([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	s, err = refop.NewBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Purge(c, storeEpoch.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAuthRequest(c, "old"); !errors.Is(err, refop.ErrNotFound) {
		t.Fatal("the expired request of an old file was not purged")
	}
	if _, err := s.GetAuthRequest(c, "new"); err != nil {
		t.Fatal("the live request of an old file was purged")
	}
}

// TestMemoryStoreCaps: beyond its caps the memory store drops the oldest
// stored request, or the eighth of its tokens issued first (not those
// expiring first: a fresh access token expires long before an old
// refresh token).
func TestMemoryStoreCaps(t *testing.T) {
	tests := []struct {
		name         string
		reqCap       int
		tokCap       int
		requests     []string
		tokens       []refop.Token
		wantRequests []string
		wantTokens   []string
		wantDropped  int
	}{
		{name: "within the caps nothing goes", reqCap: 3, tokCap: 3,
			requests: []string{"a", "b"}, wantRequests: []string{"a", "b"}},
		{name: "requests: the oldest go", reqCap: 2, tokCap: 3,
			requests: []string{"a", "b", "c", "d"}, wantRequests: []string{"c", "d"}, wantDropped: 2},
		{name: "tokens: the oldest go, not the first to expire", reqCap: 3, tokCap: 2,
			tokens: []refop.Token{
				{Key: "refresh-old", IssuedAt: storeEpoch, ExpiresAt: storeEpoch.Add(24 * time.Hour)},
				{Key: "access-1", IssuedAt: storeEpoch.Add(time.Second), ExpiresAt: storeEpoch.Add(time.Second + 5*time.Minute)},
				{Key: "access-2", IssuedAt: storeEpoch.Add(2 * time.Second), ExpiresAt: storeEpoch.Add(2*time.Second + 5*time.Minute)},
			},
			wantTokens: []string{"access-1", "access-2"}, wantDropped: 1},
		{name: "tokens: beyond the cap the eighth issued first go at once", reqCap: 3, tokCap: 16,
			tokens: capTokens(17), wantTokens: capTokenKeys(3, 17), wantDropped: 3},
		{name: "tokens: a token without an issue time is the oldest", reqCap: 3, tokCap: 2,
			tokens: []refop.Token{
				{Key: "issued-1", IssuedAt: storeEpoch.Add(time.Second), ExpiresAt: storeEpoch.Add(time.Hour)},
				{Key: "no-iat", ExpiresAt: storeEpoch.Add(time.Hour)},
				{Key: "issued-2", IssuedAt: storeEpoch.Add(2 * time.Second), ExpiresAt: storeEpoch.Add(time.Hour)},
			},
			wantTokens: []string{"issued-1", "issued-2"}, wantDropped: 1},
		// An issue time not a whole ms before the expiry: kept whole.
		{name: "tokens: one kept whole goes by its issue time too", reqCap: 3, tokCap: 2,
			tokens: []refop.Token{
				{Key: "issued-2", IssuedAt: storeEpoch.Add(2 * time.Second), ExpiresAt: storeEpoch.Add(time.Hour)},
				{Key: "whole-1", IssuedAt: storeEpoch.Add(time.Second + time.Nanosecond), ExpiresAt: storeEpoch.Add(time.Hour)},
				{Key: "issued-3", IssuedAt: storeEpoch.Add(3 * time.Second), ExpiresAt: storeEpoch.Add(time.Hour)},
			},
			wantTokens: []string{"issued-2", "issued-3"}, wantDropped: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := refop.NewMemoryStore(), ctx(t)
			s.SetLimits(tt.reqCap, tt.tokCap)
			for i, id := range tt.requests {
				if err := s.CreateAuthRequest(c, refop.AuthRequest{ID: id, ExpiresAt: storeEpoch.Add(time.Duration(10-i) * time.Minute)}); err != nil {
					t.Fatal(err)
				}
			}
			for _, tok := range tt.tokens {
				if err := s.PutToken(c, tok); err != nil {
					t.Fatal(err)
				}
			}
			all, _ := s.ListAuthRequests(c)
			var got []string
			for _, r := range all {
				got = append(got, r.ID)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.wantRequests) {
				t.Errorf("requests %v, want %v", got, tt.wantRequests)
			}
			for _, tok := range tt.tokens {
				_, err := s.GetToken(c, tok.Key)
				if want := slices.Contains(tt.wantTokens, tok.Key); want != (err == nil) {
					t.Errorf("token %s kept=%v, want %v", tok.Key, err == nil, want)
				}
			}
			if n := s.Counts(); n.Dropped != tt.wantDropped {
				t.Errorf("dropped %d, want %d", n.Dropped, tt.wantDropped)
			}
		})
	}
}

// capTokens is n tokens issued a second apart, oldest first, each
// expiring earlier than the one before, named tok-00, tok-01, ...
func capTokens(n int) []refop.Token {
	out := make([]refop.Token, n)
	for i := range out {
		iat := storeEpoch.Add(time.Duration(i) * time.Second)
		out[i] = refop.Token{Key: fmt.Sprintf("tok-%02d", i), IssuedAt: iat, ExpiresAt: storeEpoch.Add(time.Duration(2*n-i) * time.Hour)}
	}
	return out
}

// capTokenKeys names capTokens' tokens from to to (exclusive).
func capTokenKeys(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("tok-%02d", i))
	}
	return out
}
