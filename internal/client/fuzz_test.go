package client

import (
	"testing"
	"time"
)

// The parsers below read what an OP under test sends: they must never panic.

func FuzzParseBearerError(f *testing.F) {
	for _, s := range []string{`Bearer error="invalid_token"`, `Bearer error=`, `Bearer "`, `bearer a=b, error="x", error_description="y`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if e := parseBearerError(401, s); e != nil && e.Code == "" {
			t.Fatalf("error with empty code from %q", s)
		}
	})
}

func FuzzParseOAuthError(f *testing.F) {
	for _, s := range []string{`{"error":"invalid_request"}`, `{"error":1}`, `[]`, `{"error":"x","error_description":{}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if e := parseOAuthError(400, b); e != nil && (e.Code == "" || e.Status != 400) {
			t.Fatalf("bad error %#v from %q", e, b)
		}
	})
}

func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"5", "-1", "Wed, 21 Oct 2015 07:28:00 GMT", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d := retryAfter(s, time.Unix(0, 0)); d < 0 {
			t.Fatalf("negative wait %v from %q", d, s)
		}
	})
}
