package refop_test

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ciba-check/ciba-check/ciba"
	refop "github.com/ciba-check/ciba-check/reference-op"
)

// tokenFaultProbes observe the faults of faults_token.go.
var tokenFaultProbes = map[string]faultProbe{
	refop.FaultPendingAs401: func(t *testing.T, h *harness) bool {
		r := h.poll(cPoll, h.start(cPoll, nil))
		return r.str("error") == "authorization_pending" && r.status == http.StatusUnauthorized
	},
	refop.FaultTokenResponseCacheable: func(t *testing.T, h *harness) bool {
		r := h.tokens(cPoll)
		return !strings.Contains(r.header.Get("Cache-Control"), "no-store")
	},
	refop.FaultShortAccessToken: func(t *testing.T, h *harness) bool {
		raw, err := base64.RawURLEncoding.DecodeString(h.tokens(cPoll).str("access_token"))
		return err == nil && len(raw) < 16
	},
	refop.FaultFullAtHash: func(t *testing.T, h *harness) bool {
		r := h.tokens(cPoll)
		_, c := decodeJWT(t, r.str("id_token"))
		sum := sha256.Sum256([]byte(r.str("access_token")))
		return c[ciba.ClaimATHash] != base64.RawURLEncoding.EncodeToString(sum[:16])
	},
	refop.FaultWrongAuthReqIDClaim: func(t *testing.T, h *harness) bool {
		id := h.start(cPoll, nil)
		h.approve(id)
		_, c := decodeJWT(t, h.poll(cPoll, id).str("id_token"))
		v, present := c[ciba.ClaimAuthReqID]
		return present && v != id
	},
	refop.FaultIDTokenWithoutKid: func(t *testing.T, h *harness) bool {
		hdr, _ := decodeJWT(t, h.tokens(cPoll).str("id_token"))
		return hdr["kid"] == nil
	},
	refop.FaultOmitIDToken: func(t *testing.T, h *harness) bool {
		return h.tokens(cPoll).str("id_token") == ""
	},
	refop.FaultTokenWithoutCertificate: func(t *testing.T, h *harness) bool {
		got := 0
		for _, id := range []string{cPoll, cMTLS} {
			authReqID := h.start(id, nil)
			h.approve(authReqID)
			f := h.authForm(id, h.issuer+refop.PathToken)
			f.Set("grant_type", ciba.GrantTypeCIBA)
			f.Set("auth_req_id", authReqID)
			if h.post("", refop.PathToken, f).status == http.StatusOK {
				got++
			}
		}
		if got == 1 {
			t.Errorf("only one of the private_key_jwt and mutual-TLS clients got tokens without a certificate")
		}
		return got == 2
	},
	refop.FaultPingOmitIDToken: func(t *testing.T, h *harness) bool {
		if h.tokens(cPoll).str("id_token") == "" {
			t.Error("poll client got no id_token")
		}
		id := h.start(cPing, nil)
		h.approve(id)
		h.ping.next(t)
		return h.poll(cPing, id).str("id_token") == ""
	},
	refop.FaultTokenRequiresCAIssuedCert: func(t *testing.T, h *harness) bool {
		if h.tokens(cMTLS).status != http.StatusOK {
			t.Error("tls_client_auth client got no tokens")
		}
		id := h.start(cSelfSigned, nil)
		h.approve(id)
		return h.poll(cSelfSigned, id).str("error") == "invalid_client"
	},
	refop.FaultRefreshScopeWidening: func(t *testing.T, h *harness) bool {
		f := h.authForm(cPoll, h.issuer+refop.PathToken)
		f.Set("grant_type", "refresh_token")
		f.Set("refresh_token", h.tokens(cPoll).str("refresh_token"))
		f.Set("scope", "openid accounts payments")
		return h.post(cPoll, refop.PathToken, f).status == http.StatusOK
	},
	refop.FaultMissingAuthReqIDInvalidGrant: func(t *testing.T, h *harness) bool {
		f := h.authForm(cPoll, h.issuer+refop.PathToken)
		f.Set("grant_type", ciba.GrantTypeCIBA)
		return h.post(cPoll, refop.PathToken, f).str("error") != "invalid_request"
	},
	refop.FaultUnknownAuthReqIDExpired: func(t *testing.T, h *harness) bool {
		return h.poll(cPoll, h.start(cPoll, nil)+"A").str("error") != "invalid_grant"
	},
	refop.FaultUnknownGrantTypeInvalidRequest: func(t *testing.T, h *harness) bool {
		f := h.authForm(cPoll, h.issuer+refop.PathToken)
		f.Set("grant_type", "urn:example:no-such-grant")
		return h.post(cPoll, refop.PathToken, f).str("error") != "unsupported_grant_type"
	},
	refop.FaultDeniedAsInvalidGrant: func(t *testing.T, h *harness) bool {
		id := h.start(cPoll, nil)
		h.decide(id, ciba.DeviceUnauthorized)
		return h.poll(cPoll, id).str("error") != "access_denied"
	},
	refop.FaultThrottleWith429: func(t *testing.T, h *harness) bool {
		id := h.start(cPoll, nil)
		for range 5 {
			if r := h.poll(cPoll, id); r.status != http.StatusBadRequest {
				return true
			}
		}
		return false
	},
	refop.FaultPingExtraMembers: func(t *testing.T, h *harness) bool {
		h.approve(h.start(cPing, nil))
		var body map[string]any
		if err := json.Unmarshal([]byte(h.ping.next(t).body), &body); err != nil {
			t.Fatalf("ping body: %v", err)
		}
		return len(body) != 1
	},
	refop.FaultPingAnswerFailsRequest: func(t *testing.T, h *harness) bool {
		h.ping.setAnswer(func(string, int) (int, string) { return http.StatusUnauthorized, "" })
		id := h.start(cPing, nil)
		h.approve(id)
		// Logged after the delivery outcome is stored.
		h.logs.waitFor(t, "notification sent", 1)
		return h.poll(cPing, id).status != http.StatusOK
	},
	refop.FaultNoInteractionIDEcho: func(t *testing.T, h *harness) bool {
		const id = "c0ffee00-1234-4abc-8def-0123456789ab"
		req, _ := http.NewRequest(http.MethodGet, h.issuer+refop.PathUserinfo, nil)
		req.Header.Set("Authorization", "Bearer "+h.tokens(cPoll).str("access_token"))
		req.Header.Set(refop.HeaderInteractionID, id)
		return h.do(cPoll, req).header.Get(refop.HeaderInteractionID) != id
	},
	refop.FaultUserinfoTokenInQuery: func(t *testing.T, h *harness) bool {
		q := url.Values{"access_token": {h.tokens(cPoll).str("access_token")}}
		return h.get(cPoll, refop.PathUserinfo+"?"+q.Encode()).status == http.StatusOK
	},
	refop.FaultTLS12ChaChaOnly: func(t *testing.T, h *harness) bool {
		return !handshakes(h, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: ciba.FAPITLS12CipherSuites}) &&
			!handshakes(h, &tls.Config{MinVersion: tls.VersionTLS13})
	},
	refop.FaultTLSLegacyVersions: func(t *testing.T, h *harness) bool {
		return handshakes(h, &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	},
}

// handshakes reports whether a TLS handshake with cfg succeeds.
func handshakes(h *harness, cfg *tls.Config) bool {
	cfg.RootCAs = h.roots
	conn, err := tls.Dial("tcp", h.srv.Listener.Addr().String(), cfg)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// TestTokenFaultsKeepTheRest checks the narrow faults leave the
// neighbouring behaviour intact, so each trips only its own check.
func TestTokenFaultsKeepTheRest(t *testing.T) {
	t.Run("tls-legacy-versions keeps TLS 1.2 CBC refused", func(t *testing.T) {
		h := newHarness(t, withFaults(refop.FaultTLSLegacyVersions))
		if handshakes(h, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}}) {
			t.Error("TLS 1.2 with a CBC suite accepted")
		}
		if !handshakes(h, &tls.Config{}) {
			t.Error("default TLS handshake refused")
		}
	})
	t.Run("tls12-chacha-only keeps clients with default settings working", func(t *testing.T) {
		h := newHarness(t, withFaults(refop.FaultTLS12ChaChaOnly))
		if h.tokens(cPoll).str("access_token") == "" {
			t.Error("no access token")
		}
	})
	t.Run("throttle-with-429 keeps the first slow_down a 400", func(t *testing.T) {
		h := newHarness(t, withFaults(refop.FaultThrottleWith429))
		id := h.start(cPoll, nil)
		wantError(t, h.poll(cPoll, id), http.StatusBadRequest, "authorization_pending")
		wantError(t, h.poll(cPoll, id), http.StatusBadRequest, "slow_down")
		if r := h.poll(cPoll, id); r.status != http.StatusTooManyRequests || r.str("error") != "slow_down" {
			t.Errorf("third fast poll: %d %s, want 429 slow_down", r.status, r.raw)
		}
	})
	t.Run("ping-answer-fails-request keeps 204-answered pings redeemable", func(t *testing.T) {
		h := newHarness(t, withFaults(refop.FaultPingAnswerFailsRequest))
		id := h.start(cPing, nil)
		h.approve(id)
		h.logs.waitFor(t, "notification sent", 1)
		if r := h.poll(cPing, id); r.status != http.StatusOK {
			t.Errorf("poll after a 204 ping: %d %s", r.status, r.raw)
		}
	})
}
