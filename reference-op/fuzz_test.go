package refop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Parsers of untrusted input must never panic, whatever the bytes.

func FuzzRequestedExpiry(f *testing.F) {
	for _, s := range []string{"30", "0", "-5", "3.5", "1e12", "abc", "", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, v := range []any{s, json.Number(s)} {
			d, err := requestedExpiry(v)
			if err == nil && d <= 0 {
				t.Fatalf("requestedExpiry(%q) = %v without error", s, d)
			}
		}
	})
}

func FuzzVerifyJWS(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	keys := []jose.JSONWebKey{{Key: key.Public(), KeyID: "k"}}
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJFUzI1NiIsImNyaXQiOlsieCJdfQ.e30.AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		if _, _, err := verifyJWS(s, keys, []string{"ES256"}); err == nil {
			t.Fatalf("unsigned fuzz input %q verified", s)
		}
		if p, err := unsignedPayload(s); err == nil {
			_, _ = decodeClaims(p)
		}
	})
}

func FuzzBindingMessageAndNotificationToken(f *testing.F) {
	for _, s := range []string{"1234", "pay\n1", "\u202e", "支払い 💳", "ab+/~=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_ = checkBindingMessage(s)
		_ = checkNotificationToken(s)
	})
}

func TestClaimsDate(t *testing.T) {
	tests := []struct {
		json string
		ok   bool
	}{
		{`{"exp": 1700000000}`, true},
		{`{"exp": 1700000000.5}`, true},
		{`{"exp": "1700000000"}`, false},
		{`{"exp": -1}`, false},
		{`{"exp": 1e300}`, false},
		{`{"exp": true}`, false},
	}
	for _, tt := range tests {
		c, err := decodeClaims([]byte(tt.json))
		if err != nil {
			t.Fatal(err)
		}
		got, present, err := c.date("exp")
		if !present || (err == nil) != tt.ok {
			t.Errorf("%s: %v %v %v", tt.json, got, present, err)
		}
		if tt.ok && got.Before(time.Unix(1700000000, 0)) {
			t.Errorf("%s: %v", tt.json, got)
		}
	}
	if _, err := decodeClaims([]byte(`[1]`)); err == nil {
		t.Error("array accepted as claims")
	}
	if _, err := decodeClaims([]byte(`{} {}`)); err == nil {
		t.Error("trailing data accepted")
	}
}
