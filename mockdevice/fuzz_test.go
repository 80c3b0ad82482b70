package mockdevice

import (
	"net/http"
	"testing"

	"github.com/ciba-check/ciba-check/ciba"
)

// FuzzChannel feeds the OP-facing channel arbitrary bearer tokens and
// bodies: whatever arrives, the device answers 201 or a 4xx JSON error,
// never a 5xx or a panic.
func FuzzChannel(f *testing.F) {
	f.Add("Bearer eyJhbGciOiJIUzI1NiJ9.eyJqdGkiOiJ4In0.c2ln", `{"scope":"openid","login_hint":"u"}`, "application/json")
	f.Add("Bearer a.b.c", `{`, "")
	f.Add("", `[]`, "text/plain")
	f.Add("bearer  x", `{"is_consent_required":1}`, "application/json; charset=utf-8")
	f.Fuzz(func(t *testing.T, auth, body, contentType string) {
		h := newHarness(t, func(c *Config) { c.Default = Policy{Outcome: ciba.OutcomeNever} })
		w := h.do(http.MethodPost, PathChannel, auth, contentType, body)
		if w.Code != http.StatusCreated && (w.Code < 400 || w.Code > 499) {
			t.Fatalf("status %d for auth %q body %q: %s", w.Code, auth, body, w.Body)
		}
		if w.Code != http.StatusCreated {
			decodeError(t, w)
		}
	})
}
