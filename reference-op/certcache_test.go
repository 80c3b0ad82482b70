package refop_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	refop "github.com/ciba-check/ciba-check/reference-op"
)

// TestTLSClientAuthCacheKeepsChecks: once a tls_client_auth certificate
// chain has verified (and is cached), the registered subject DN is still
// enforced per client and the certificate's expiry still refuses it
// (RFC 8705 2.1).
func TestTLSClientAuthCacheKeepsChecks(t *testing.T) {
	const other = "mtls-other"
	h := newHarness(t, func(c *refop.Config) {
		c.Clients = append(c.Clients, refop.Client{
			ID: other, AuthMethod: ciba.AuthTLSClient, DeliveryMode: ciba.ModePoll,
			TLSSubjectDN: "CN=someone-else,O=ciba-check",
		})
	})
	id := h.start(cMTLS, nil)
	pollAs := func(clientID string) response {
		form := h.authForm(cMTLS, "")
		form.Set("client_id", clientID)
		form.Set("grant_type", ciba.GrantTypeCIBA)
		form.Set("auth_req_id", id)
		return h.post(cMTLS, refop.PathToken, form)
	}
	steps := []struct {
		name     string
		advance  time.Duration
		clientID string
		// authenticated: the answer is about the grant, not invalid_client.
		authenticated bool
	}{
		{"first poll verifies the chain", 0, cMTLS, true},
		{"second poll uses the cached verification", 0, cMTLS, true},
		{"cached chain, subject DN of another client", 0, other, false},
		{"cached chain, still inside validity", 22 * time.Hour, cMTLS, true},
		{"cached chain, subject DN still enforced later", 0, other, false},
		{"cached chain after the certificate expired", 3 * time.Hour, cMTLS, false},
	}
	for _, s := range steps {
		h.clock.Advance(s.advance)
		r := pollAs(s.clientID)
		if s.authenticated {
			if r.status == http.StatusUnauthorized || r.str("error") == "invalid_client" {
				t.Fatalf("%s: got %d %s, want client authenticated", s.name, r.status, r.raw)
			}
			continue
		}
		wantError(t, r, http.StatusUnauthorized, "invalid_client")
	}
}

// TestTokenContentTypes: the exact form media type takes a fast path; the
// other spellings still go through the full parser (RFC 7231 3.1.1.1).
func TestTokenContentTypes(t *testing.T) {
	h := newHarness(t)
	id := h.start(cMTLS, nil)
	tests := []struct {
		ctype    string
		accepted bool
	}{
		{"application/x-www-form-urlencoded", true},
		{"application/x-www-form-urlencoded; charset=utf-8", true},
		{"Application/X-WWW-Form-Urlencoded", true},
		{"application/json", false},
		{"application/x-www-form-urlencoded;;", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.ctype, func(t *testing.T) {
			form := h.authForm(cMTLS, "")
			form.Set("grant_type", ciba.GrantTypeCIBA)
			form.Set("auth_req_id", id)
			req, _ := http.NewRequest(http.MethodPost, h.issuer+refop.PathToken, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", tt.ctype)
			r := h.do(cMTLS, req)
			if !tt.accepted {
				wantError(t, r, http.StatusBadRequest, "invalid_request")
				return
			}
			// Accepted: the answer is about the grant (pending or slow_down).
			if code := r.str("error"); code != "authorization_pending" && code != "slow_down" {
				t.Fatalf("got %d %s, want a grant answer", r.status, r.raw)
			}
		})
	}
}
