package refop

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// TestMemoryStoreAgeListStaysBounded creates many short-lived requests,
// purging as an OP would: the age list behind the cap stays within twice
// the store's size (plus its slack), however many were ever created.
func TestMemoryStoreAgeListStaysBounded(t *testing.T) {
	s, c := NewMemoryStore(), context.Background()
	start := time.Unix(1_800_000_000, 0)
	for i := range 20_000 {
		now := start.Add(time.Duration(i) * time.Second)
		if err := s.CreateAuthRequest(c, AuthRequest{ID: fmt.Sprint(i), ExpiresAt: now.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if i%60 == 0 {
			if err := s.Purge(c, now); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, live := len(s.requestsAge.keys)-s.requestsAge.head, len(s.requests); n > 2*live+1024+1 {
		t.Fatalf("age list holds %d keys for %d requests", n, live)
	}
	if len(s.requests) > 200 || len(s.requestsExp) > 200 {
		t.Fatalf("%d requests and %d expiry entries after purges", len(s.requests), len(s.requestsExp))
	}
}

// TestMemoryStoreOwnsItsStrings: every string field of a stored request
// or token is a copy, not a window into the caller's (a form body's)
// memory. It walks the fields by reflection, so a string field added
// later without a copy in MemoryStore.own fails here. Named string types
// (AuthStatus, TokenKind) hold constants and are left out.
func TestMemoryStoreOwnsItsStrings(t *testing.T) {
	s, c := NewMemoryStore(), context.Background()
	body := strings.Repeat("x", 4096) // stands for the form body
	var r AuthRequest
	var tok Token
	for _, v := range []reflect.Value{reflect.ValueOf(&r).Elem(), reflect.ValueOf(&tok).Elem()} {
		for i := range v.NumField() {
			if f := v.Field(i); f.Type() == reflect.TypeFor[string]() {
				f.SetString(body[i : i+8])
			}
		}
	}
	if err := s.CreateAuthRequest(c, r); err != nil {
		t.Fatal(err)
	}
	if err := s.PutToken(c, tok); err != nil {
		t.Fatal(err)
	}
	// Later calls name the entries by strings of their own (windows into
	// their bodies): equal content, other memory.
	if _, err := s.UpdateAuthRequest(c, string([]byte(r.ID)), func(*AuthRequest) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(c, string([]byte(tok.Key))); err != nil {
		t.Fatal(err)
	}
	gotR, _ := s.GetAuthRequest(c, r.ID)
	// A token is stored under a digest of its key, and Get hands back
	// the key it is given: ask with a copy, so what points into body
	// can only be what was stored.
	gotT, _ := s.GetToken(c, string([]byte(tok.Key)))
	for k := range s.requests {
		if p := unsafe.StringData(k); p != unsafe.StringData(gotR.ID) {
			t.Error("the requests map is keyed by a caller's string, not the stored id")
		}
	}
	for _, v := range []reflect.Value{reflect.ValueOf(gotR), reflect.ValueOf(gotT)} {
		for i := range v.NumField() {
			f := v.Field(i)
			if f.Type() != reflect.TypeFor[string]() {
				continue
			}
			p := unsafe.StringData(f.String())
			start := unsafe.StringData(body)
			if uintptr(unsafe.Pointer(p)) >= uintptr(unsafe.Pointer(start)) &&
				uintptr(unsafe.Pointer(p)) < uintptr(unsafe.Pointer(start))+uintptr(len(body)) {
				t.Errorf("%s.%s points into the caller's string", v.Type().Name(), v.Type().Field(i).Name)
			}
		}
	}
}

// TestMemoryStoreTombstoneCap: beyond maxTombs the eighth expiring first
// go (here one, of 2), counted as dropped; the others stay and still
// purge (TestMemoryStoreTombstoneCapDropsEarliest has more).
func TestMemoryStoreTombstoneCap(t *testing.T) {
	s, c := NewMemoryStore(), context.Background()
	s.maxTombs = 2
	start := time.Unix(1_800_000_000, 0)
	for i := range 3 {
		if err := s.CreateAuthRequest(c, AuthRequest{ID: fmt.Sprint(i), DeliveryMode: "poll", ExpiresAt: start.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Retire(c, start.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := s.Counts(); n.Tombstones != 2 || n.Dropped != 1 || n.Requests != 0 {
		t.Fatalf("counts %+v, want 2 tombstones and 1 dropped", n)
	}
	if _, err := s.GetAuthRequest(c, "0"); err != ErrNotFound {
		t.Errorf("the first to expire: %v, want ErrNotFound", err)
	}
	for _, id := range []string{"1", "2"} {
		if _, err := s.GetAuthRequest(c, id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	if err := s.Purge(c, start.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := s.Counts(); n.Tombstones != 0 || n.Queued != 0 {
		t.Errorf("after purge %+v", n)
	}
}

// TestMemoryStoreWideTokens: once the shared strings are full, a token
// with a string not among them is kept whole and reads back the same;
// re-stored with shared strings, or purged, it leaves nothing behind.
func TestMemoryStoreWideTokens(t *testing.T) {
	s, c := NewMemoryStore(), context.Background()
	start := time.Unix(1_800_000_000, 0)
	for i := len(s.names); i < maxInterned; i++ {
		s.intern(fmt.Sprint("filler-", i))
	}
	shared := Token{Key: "k", Kind: KindAccess, ClientID: "filler-100", ExpiresAt: start.Add(time.Minute)}
	wide := shared
	wide.Subject, wide.Scope, wide.CertThumbprint = "a subject never seen", "openid never-seen", "x5t"
	tests := []struct {
		name string
		put  Token
		wide int
	}{
		{"new strings", wide, 1},
		{"shared strings", shared, 0},
		{"new strings again", wide, 1},
	}
	for _, tt := range tests {
		if err := s.PutToken(c, tt.put); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetToken(c, "k")
		if err != nil {
			t.Fatal(err)
		}
		got.ExpiresAt = tt.put.ExpiresAt // Equal, other location
		if got != tt.put || len(s.wideTokens) != tt.wide {
			t.Errorf("%s: got %+v with %d kept whole, want %+v with %d", tt.name, got, len(s.wideTokens), tt.put, tt.wide)
		}
	}
	if err := s.RevokeToken(c, "k"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetToken(c, "k"); !got.Revoked || got.Subject != wide.Subject {
		t.Errorf("revoked wide token reads %+v", got)
	}
	if err := s.Purge(c, start.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if s.tokens.len()+len(s.wideTokens) != 0 {
		t.Errorf("after purge: %d tokens, %d kept whole", s.tokens.len(), len(s.wideTokens))
	}
}

// TestMemoryStoreJTISeconds: a used jti's expiry is kept in whole
// seconds rounded up, so it is remembered to its exp and at most a second
// longer, never less; times outside uint32 seconds clamp (an exp before
// 1970 is kept to 1970, one after 2106 to 2106).
func TestMemoryStoreJTISeconds(t *testing.T) {
	exp := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name      string
		exp, now  time.Time
		wantFresh bool // a second use at now
	}{
		{"whole second, a nanosecond before", exp, exp.Add(-time.Nanosecond), false},
		{"whole second, at it", exp, exp, true},
		{"fraction, at it", exp.Add(time.Millisecond), exp.Add(time.Millisecond), false},
		{"fraction, the next second", exp.Add(time.Millisecond), exp.Add(time.Second), true},
		{"before 1970, kept to 1970", time.Unix(-5, 0), time.Unix(-1, 0), false},
		{"before 1970, at 1970", time.Unix(-5, 0), time.Unix(0, 0), true},
		{"after 2106, before it", time.Unix(1<<33, 0), time.Unix(1<<32-2, 0), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := NewMemoryStore(), context.Background()
			if fresh, _ := s.UseJTI(c, "j", tt.exp, time.Unix(-100, 0)); !fresh {
				t.Fatal("first use refused")
			}
			if fresh, _ := s.UseJTI(c, "j", tt.exp, tt.now); fresh != tt.wantFresh {
				t.Errorf("second use at %v: fresh=%v, want %v", tt.now, fresh, tt.wantFresh)
			}
		})
	}
}

// TestMemoryStoreTokenKeyTaken: a token whose digest's first half (the
// token table's key) is another stored token's is refused and reads as
// unknown, and the stored one is left as it was. The collision is forged
// by moving a stored token under the first half of another key's digest.
func TestMemoryStoreTokenKeyTaken(t *testing.T) {
	exp := time.Unix(1_800_000_000, 0).Add(time.Hour)
	tests := []struct {
		name string
		op   func(s *MemoryStore, c context.Context) error
		want error
	}{
		{"put", func(s *MemoryStore, c context.Context) error {
			return s.PutToken(c, Token{Key: "fresh", Kind: KindRefresh, ExpiresAt: exp})
		}, errTokenKeyTaken},
		{"get", func(s *MemoryStore, c context.Context) error { _, err := s.GetToken(c, "fresh"); return err }, ErrNotFound},
		{"revoke", func(s *MemoryStore, c context.Context) error { return s.RevokeToken(c, "fresh") }, ErrNotFound},
		{"drop", func(s *MemoryStore, _ context.Context) error { s.dropToken(digestOf("fresh")); return nil }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := NewMemoryStore(), context.Background()
			must(t, s.PutToken(c, Token{Key: "held", Kind: KindAccess, ExpiresAt: exp}))
			held, _ := digestHalves(digestOf("held"))
			fresh, _ := digestHalves(digestOf("fresh"))
			v, _ := s.tokens.get(held)
			s.tokens.del(held)
			s.tokens.put(fresh, v, nil)
			if err := tt.op(s, c); !errors.Is(err, tt.want) {
				t.Fatalf("%s: %v, want %v", tt.name, err, tt.want)
			}
			if got, ok := s.tokens.get(fresh); !ok || got != v || s.tokens.len() != 1 || len(s.wideTokens) != 0 {
				t.Errorf("the stored token is now %+v (held %v), %d tokens, %d kept whole; want %+v alone", got, ok, s.tokens.len(), len(s.wideTokens), v)
			}
		})
	}
}
