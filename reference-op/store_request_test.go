package refop

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fullRequest has every AuthRequest field set (TestStoredRequestRoundTrip
// checks that, so a field added later without a place in storedRequest
// fails there).
func fullRequest() AuthRequest {
	at := time.Date(2027, 3, 4, 5, 6, 7, 891011121, time.FixedZone("X", 3600))
	return AuthRequest{ID: "id-1", ClientID: "client-ping", Subject: "alice", Scope: "openid email", ACR: ACRMultiFactor,
		ACRValues: "mfa pwd", BindingMessage: "W4SCT", UserCode: "1234", ClientNotificationToken: "cnt-8f1a",
		DeliveryMode: "ping", CreatedAt: at, ExpiresAt: at.Add(2 * time.Minute), Interval: 7, LastPoll: at.Add(time.Second),
		Status: StatusApproved, AuthTime: at.Add(3 * time.Second), Redemptions: 2, FailureReason: "device said no",
		DeviceCalledAt: at.Add(time.Millisecond), NotifyAttempts: 3, NotifyDone: true}
}

// normalRequest is r with each time as a store gives it back: the same
// instant, no monotonic reading, in UTC (the zone is not kept).
func normalRequest(r AuthRequest) AuthRequest {
	for _, f := range []*time.Time{&r.CreatedAt, &r.ExpiresAt, &r.LastPoll, &r.AuthTime, &r.DeviceCalledAt} {
		if f.IsZero() {
			*f = time.Time{}
		} else {
			*f = f.Round(0).UTC()
		}
	}
	return r
}

// checkSameRequest fails unless got is want as a store gives it back,
// and got's times carry no monotonic reading.
func checkSameRequest(t *testing.T, what string, got, want AuthRequest) {
	t.Helper()
	for _, at := range []time.Time{got.CreatedAt, got.ExpiresAt, got.LastPoll, got.AuthTime, got.DeviceCalledAt} {
		if strings.Contains(at.String(), " m=") {
			t.Errorf("%s: time %v keeps a monotonic reading", what, at)
		}
	}
	if g, w := normalRequest(got), normalRequest(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

// TestStoredRequestRoundTrip: a request comes back from Create, Get,
// Update and List as it went in, compact (storedRequest) or, when
// something does not fit one, kept whole, for every field, zero and
// extreme values included.
func TestStoredRequestRoundTrip(t *testing.T) {
	full := fullRequest()
	v := reflect.ValueOf(full)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("fullRequest leaves %s zero", v.Type().Field(i).Name)
		}
	}
	with := func(f func(*AuthRequest)) AuthRequest { r := fullRequest(); f(&r); return r }
	tests := []struct {
		name string
		r    AuthRequest
		wide bool
	}{
		{"every field", full, false},
		{"zero", AuthRequest{}, false},
		{"only an id", AuthRequest{ID: "x"}, false},
		{"monotonic times", with(func(r *AuthRequest) {
			now := time.Now()
			r.CreatedAt, r.LastPoll, r.ExpiresAt = now, now.Add(time.Second), now.Add(time.Minute)
		}), false},
		{"Unix epoch", with(func(r *AuthRequest) { r.AuthTime = time.Unix(0, 0) }), false},
		{"zero instant in a zone", with(func(r *AuthRequest) { r.LastPoll = time.Time{}.In(time.FixedZone("Y", 7200)) }), false},
		{"earliest Unix ns", with(func(r *AuthRequest) { r.CreatedAt = time.Unix(0, math.MinInt64+1) }), false},
		{"latest Unix ns", with(func(r *AuthRequest) { r.ExpiresAt = time.Unix(0, math.MaxInt64) }), false},
		{"Unix ns minimum", with(func(r *AuthRequest) { r.CreatedAt = time.Unix(0, math.MinInt64) }), true},
		{"year 3000", with(func(r *AuthRequest) { r.ExpiresAt = time.Date(3000, 1, 1, 0, 0, 0, 1, time.UTC) }), true},
		{"year 1000", with(func(r *AuthRequest) { r.DeviceCalledAt = time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC) }), true},
		{"most attempts", with(func(r *AuthRequest) { r.NotifyAttempts, r.Redemptions = 255, 255 }), false},
		{"too many attempts", with(func(r *AuthRequest) { r.NotifyAttempts = 256 }), true},
		{"negative redemptions", with(func(r *AuthRequest) { r.Redemptions = -1 }), true},
		{"interval extremes", with(func(r *AuthRequest) { r.Interval = math.MinInt32 }), false},
		{"interval too large", with(func(r *AuthRequest) { r.Interval = math.MaxInt32 + 1 }), true},
		{"longest binding message", with(func(r *AuthRequest) { r.BindingMessage = strings.Repeat("b", math.MaxUint16) }), false},
		{"binding message too long", with(func(r *AuthRequest) { r.BindingMessage = strings.Repeat("b", math.MaxUint16+1) }), true},
		{"failure reason too long", with(func(r *AuthRequest) { r.FailureReason = strings.Repeat("f", 1<<17) }), false},
		{"unknown status", with(func(r *AuthRequest) { r.Status = "limbo" }), false},
		{"non-ASCII", with(func(r *AuthRequest) { r.BindingMessage, r.Subject = "Zahlung für Ø", "ünïcode" }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := NewMemoryStore(), context.Background()
			must(t, s.CreateAuthRequest(c, tt.r))
			if sr := s.requests[tt.r.ID]; sr.wide != tt.wide {
				t.Errorf("kept whole: %v, want %v", sr.wide, tt.wide)
			}
			got, err := s.GetAuthRequest(c, tt.r.ID)
			must(t, err)
			checkSameRequest(t, "get", got, tt.r)
			list, err := s.ListAuthRequests(c)
			must(t, err)
			if len(list) != 1 {
				t.Fatalf("list holds %d", len(list))
			}
			checkSameRequest(t, "list", list[0], tt.r)
			// An update that changes nothing, then one that changes
			// every field but the id to fullRequest's (or zero's).
			got, err = s.UpdateAuthRequest(c, tt.r.ID, func(*AuthRequest) error { return nil })
			must(t, err)
			checkSameRequest(t, "unchanged update", got, tt.r)
			next := fullRequest()
			if tt.name == "every field" {
				next = AuthRequest{}
			}
			next.ID = tt.r.ID
			got, err = s.UpdateAuthRequest(c, tt.r.ID, func(r *AuthRequest) error { *r = next; return nil })
			must(t, err)
			checkSameRequest(t, "update", got, next)
			got, err = s.GetAuthRequest(c, tt.r.ID)
			must(t, err)
			checkSameRequest(t, "get after update", got, next)
			if s.requests[tt.r.ID].wide || len(s.wideRequests) != 0 {
				t.Errorf("after an update that fits: kept whole %v, %d whole", s.requests[tt.r.ID].wide, len(s.wideRequests))
			}
			// And back: an update to the original, then a refused one.
			_, err = s.UpdateAuthRequest(c, tt.r.ID, func(r *AuthRequest) error { *r = tt.r; return nil })
			must(t, err)
			got, err = s.UpdateAuthRequest(c, tt.r.ID, func(r *AuthRequest) error { r.Scope = "lost"; return fmt.Errorf("no") })
			if err == nil {
				t.Fatal("refused update: no error")
			}
			checkSameRequest(t, "refused update", got, tt.r)
			if tt.r.ExpiresAt.After(maxUnixNano) {
				return // beyond what Purge orders by (unixNano), as before
			}
			must(t, s.Purge(c, time.Unix(0, math.MaxInt64).Add(time.Hour)))
			if len(s.requests)+len(s.wideRequests) != 0 {
				t.Errorf("after a purge of everything: %d requests, %d whole", len(s.requests), len(s.wideRequests))
			}
		})
	}
}

// TestStoredRequestUpdateChangesID: an update that changes the id keeps
// the request under its old one and returns the new, as a store keeping
// AuthRequest values did.
func TestStoredRequestUpdateChangesID(t *testing.T) {
	s, c := NewMemoryStore(), context.Background()
	r := fullRequest()
	must(t, s.CreateAuthRequest(c, r))
	got, err := s.UpdateAuthRequest(c, r.ID, func(r *AuthRequest) error { r.ID = "other"; return nil })
	must(t, err)
	if got.ID != "other" {
		t.Errorf("update returned id %q", got.ID)
	}
	if got, err := s.GetAuthRequest(c, r.ID); err != nil || got.ID != "other" {
		t.Errorf("get: %q, %v", got.ID, err)
	}
	if _, err := s.GetAuthRequest(c, "other"); err != ErrNotFound {
		t.Errorf("get other: %v", err)
	}
}

// TestStoredRequestSharedStringsFull: with the shared strings full, a
// request with a new client is kept whole, and comes back as it went in.
func TestStoredRequestSharedStringsFull(t *testing.T) {
	s, c := NewMemoryStore(), context.Background()
	for i := len(s.names); i < maxInterned; i++ {
		s.intern(fmt.Sprint("name-", i))
	}
	r := fullRequest()
	r.ClientID = "a client never seen"
	must(t, s.CreateAuthRequest(c, r))
	if !s.requests[r.ID].wide {
		t.Error("not kept whole")
	}
	got, err := s.GetAuthRequest(c, r.ID)
	must(t, err)
	checkSameRequest(t, "get", got, r)
}

// TestMemoryStoreTokenPurge: Purge drops exactly the tokens that expired
// before its cutoff, in one pass over them (no expiry queue), whether
// few or most are going (sweep guesses which way to drop them), re-stored
// ones by their latest expiry, and after a burst the map is rebuilt to
// what is left.
func TestMemoryStoreTokenPurge(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name string
		n    int
		// life is token i's lifetime.
		life func(i int) time.Duration
		cut  time.Duration
	}{
		{"none due", 1000, func(int) time.Duration { return time.Hour }, time.Minute},
		{"a few due", 1000, func(i int) time.Duration { return time.Duration(i%50+1) * time.Minute }, 2 * time.Minute},
		{"most due", 1000, func(i int) time.Duration { return time.Duration(i%50+1) * time.Minute }, 45 * time.Minute},
		{"all due", 1000, func(int) time.Duration { return time.Second }, time.Minute},
		{"exactly at the cutoff stays", 10, func(int) time.Duration { return time.Minute }, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := NewMemoryStore(), context.Background()
			for i := range tt.n {
				must(t, s.PutToken(c, Token{Key: sizeTestID(i), Kind: KindAccess, ExpiresAt: start.Add(time.Second)}))
				// Re-stored with its lifetime: the later expiry counts.
				must(t, s.PutToken(c, Token{Key: sizeTestID(i), Kind: KindAccess, ExpiresAt: start.Add(tt.life(i))}))
			}
			must(t, s.Purge(c, start.Add(tt.cut)))
			left := 0
			for i := range tt.n {
				_, err := s.GetToken(c, sizeTestID(i))
				if keep := tt.life(i) >= tt.cut; keep != (err == nil) {
					t.Errorf("token %d (life %v): %v", i, tt.life(i), err)
				}
				if err == nil {
					left++
				}
			}
			if s.Counts().Tokens != left {
				t.Errorf("counts %d tokens, %d found", s.Counts().Tokens, left)
			}
			if slots := s.tokens.capacity(); slots > flatShrinkFloor && 2*left < slots {
				t.Errorf("%d slots after a purge to %d: the table was not rebuilt", slots, left)
			}
		})
	}
}

// TestMemoryStoreRequestsShrinkAfterBurst: once a burst of requests has
// gone (purged, retired, or retired redeemed one by one), the map, the
// expiry queue and the age list are rebuilt to what is left, so the
// memory of the burst is given back; the requests left read as before.
func TestMemoryStoreRequestsShrinkAfterBurst(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	const burst, kept = 20_000, 100
	tests := []struct {
		name string
		// mode is the requests' delivery mode; status the burst's.
		status AuthStatus
		drop   func(s *MemoryStore, c context.Context)
	}{
		{"purged", StatusPending, func(s *MemoryStore, c context.Context) { must(t, s.Purge(c, start.Add(time.Minute))) }},
		{"retired", StatusPending, func(s *MemoryStore, c context.Context) { must(t, s.Retire(c, start.Add(time.Minute))) }},
		{"retired redeemed", StatusRedeemed, func(s *MemoryStore, c context.Context) {
			for i := kept; i < burst; i++ {
				must(t, s.RetireRedeemed(c, sizeTestID(i)))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := NewMemoryStore(), context.Background()
			for i := range burst {
				r := AuthRequest{ID: sizeTestID(i), ClientID: "client-poll", DeliveryMode: "poll", Status: tt.status,
					CreatedAt: start, ExpiresAt: start.Add(time.Second)}
				if i < kept {
					r.Status, r.ExpiresAt = StatusPending, start.Add(time.Hour)
				}
				must(t, s.CreateAuthRequest(c, r))
			}
			tt.drop(s, c)
			if n := s.Counts().Requests; n != kept {
				t.Fatalf("%d requests left, want %d", n, kept)
			}
			if s.requestsPeak > 2*kept || cap(s.requestsExp) > 4*kept || cap(s.requestsAge.keys) > 4*kept {
				t.Errorf("after the burst: peak %d, expiry queue capacity %d, age list capacity %d for %d requests",
					s.requestsPeak, cap(s.requestsExp), cap(s.requestsAge.keys), kept)
			}
			for i := range kept {
				if r, err := s.GetAuthRequest(c, sizeTestID(i)); err != nil || r.Status != StatusPending {
					t.Fatalf("request %d: %+v, %v", i, r, err)
				}
			}
			// The queue and age list still work: the rest expire, and the
			// cap drops the oldest first.
			s.SetLimits(kept, 0)
			must(t, s.CreateAuthRequest(c, AuthRequest{ID: "new", ExpiresAt: start.Add(time.Hour)}))
			if _, err := s.GetAuthRequest(c, sizeTestID(0)); err != ErrNotFound {
				t.Errorf("the oldest over the cap: %v, want ErrNotFound", err)
			}
			must(t, s.Purge(c, start.Add(2*time.Hour)))
			if n := s.Counts(); n.Requests != 0 {
				t.Errorf("after purging all: %+v", n)
			}
		})
	}
}

// TestStoredTokenRoundTrip: a token comes back from PutToken, GetToken
// and RevokeToken as it went in (times as instants, monotonic reading
// and zone dropped), compact (storedToken) or, when it does not fit one,
// kept whole.
func TestStoredTokenRoundTrip(t *testing.T) {
	now := time.Date(2027, 3, 4, 5, 6, 7, 891011121, time.FixedZone("X", 3600))
	base := Token{Key: "k", Kind: KindRefresh, ClientID: "client-ping", Subject: "alice", Scope: "openid", ACR: ACRMultiFactor,
		AuthTime: now.Add(-time.Second), IssuedAt: now, ExpiresAt: now.Add(24 * time.Hour), CertThumbprint: "x5t"}
	with := func(f func(*Token)) Token { tok := base; f(&tok); return tok }
	tests := []struct {
		name string
		tok  Token
		wide bool
	}{
		{"as the OP issues one", base, false},
		{"zero", Token{}, false},
		{"revoked", with(func(t *Token) { t.Revoked = true }), false},
		{"monotonic times", with(func(t *Token) {
			n := time.Now()
			t.AuthTime, t.IssuedAt, t.ExpiresAt = n, n, n.Add(time.Hour)
		}), false},
		{"no issue time", with(func(t *Token) { t.IssuedAt = time.Time{} }), false},
		{"issued at its expiry", with(func(t *Token) { t.IssuedAt = t.ExpiresAt }), false},
		{"longest lifetime", with(func(t *Token) { t.ExpiresAt = now.Add((math.MaxUint32 - 1) * time.Millisecond) }), false},
		{"lifetime too long", with(func(t *Token) { t.ExpiresAt = now.Add(math.MaxUint32 * time.Millisecond) }), true},
		{"lifetime not whole ms", with(func(t *Token) { t.ExpiresAt = now.Add(time.Hour + time.Microsecond) }), true},
		{"issued after its expiry", with(func(t *Token) { t.IssuedAt = t.ExpiresAt.Add(time.Second) }), true},
		{"issued before 1678", with(func(t *Token) { t.IssuedAt = time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC) }), true},
		{"another kind", with(func(t *Token) { t.Kind = "id_token" }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := NewMemoryStore(), context.Background()
			must(t, s.PutToken(c, tt.tok))
			want := tt.tok
			for _, f := range []*time.Time{&want.AuthTime, &want.IssuedAt, &want.ExpiresAt} {
				*f = fromUnixNano(unixNano(*f)) // the instant, clamped to Unix ns as before
			}
			for _, step := range []string{"get", "revoke"} {
				if step == "revoke" {
					must(t, s.RevokeToken(c, tt.tok.Key))
					want.Revoked = true
				}
				got, err := s.GetToken(c, tt.tok.Key)
				must(t, err)
				if strings.Contains(got.IssuedAt.String(), " m=") || strings.Contains(got.ExpiresAt.String(), " m=") {
					t.Errorf("%s: a time keeps a monotonic reading: %+v", step, got)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s:\n got %+v\nwant %+v", step, got, want)
				}
			}
			if st, _ := s.getToken(digestOf(tt.tok.Key)); st.wide() != tt.wide || len(s.wideTokens) != map[bool]int{true: 1}[tt.wide] {
				t.Errorf("kept whole: %v (%d), want %v", st.wide(), len(s.wideTokens), tt.wide)
			}
		})
	}
}
