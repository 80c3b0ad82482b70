package refop_test

import (
	"crypto/tls"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
	refop "github.com/ciba-check/ciba-check/reference-op"
)

// allowanceProbe observes an allowance: it returns true when the OP
// shows the allowed behaviour. Every allowance must be off by default
// and on when switched on (TestAllowancesChangeBehaviour).
type allowanceProbe = func(t *testing.T, h *harness) bool

func withAllowances(a ...string) option {
	return func(c *refop.Config) { c.Allowances = append(c.Allowances, a...) }
}

// withRSAFirst makes a PS256 key the OP's first (default) signing key,
// before the harness's ES256 one.
func withRSAFirst(c *refop.Config) {
	c.SigningKeys = append([]jose.JSONWebKey{{Key: rsaKey(), KeyID: "op-ps256", Algorithm: "PS256", Use: "sig"}}, c.SigningKeys...)
}

// allowanceHarness lists the harness options an allowance's probe needs
// in both runs (with and without the allowance).
var allowanceHarness = map[string][]option{
	refop.AllowIDTokenES256Only: {withRSAFirst},
}

// refresh runs the refresh grant for id with refreshToken and extra form
// values.
func (h *harness) refresh(id, refreshToken string, extra map[string]string) response {
	h.t.Helper()
	f := h.authForm(id, h.issuer+refop.PathToken)
	f.Set("grant_type", ciba.GrantTypeRefreshToken)
	f.Set("refresh_token", refreshToken)
	for k, v := range extra {
		f.Set(k, v)
	}
	return h.post(id, refop.PathToken, f)
}

// idTokenClaims returns the claims of the ID token of a full poll flow.
func idTokenClaims(t *testing.T, h *harness, overrides map[string]any) (map[string]any, string) {
	id := h.start(cPoll, overrides)
	h.approve(id)
	r := h.poll(cPoll, id)
	if r.status != http.StatusOK {
		t.Fatalf("tokens: %d %s", r.status, r.raw)
	}
	_, c := decodeJWT(t, r.str("id_token"))
	return c, id
}

var allowanceProbes = map[string]allowanceProbe{
	refop.AllowACRAlways: func(t *testing.T, h *harness) bool {
		c, _ := idTokenClaims(t, h, nil)
		return c["acr"] == refop.ACRMultiFactor
	},
	refop.AllowACRUnsupported: func(t *testing.T, h *harness) bool {
		_, advertised := discovery(h).body["acr_values_supported"]
		c, _ := idTokenClaims(t, h, map[string]any{"acr_values": refop.ACRMultiFactor})
		return !advertised && c["acr"] == nil
	},
	refop.AllowAuthReqID128Bits: func(t *testing.T, h *harness) bool {
		id := h.start(cPoll, nil)
		raw, err := hex.DecodeString(id)
		return err == nil && len(raw) == 16
	},
	refop.AllowBindingMessageRestricted: func(t *testing.T, h *harness) bool {
		if r := h.backchannel(cPoll, map[string]any{"binding_message": "A-1.b_2+/!?#"}); r.status != http.StatusOK {
			t.Errorf("an allowed binding_message was refused: %d %s", r.status, r.raw)
		}
		return h.backchannel(cPoll, map[string]any{"binding_message": "ciba check"}).str("error") == "invalid_binding_message"
	},
	refop.AllowCacheControlExtra: func(t *testing.T, h *harness) bool {
		return h.tokens(cPoll).header.Get("Cache-Control") == "no-store, no-cache, private"
	},
	refop.AllowCacheControlMixedCase: func(t *testing.T, h *harness) bool {
		return h.tokens(cPoll).header.Get("Cache-Control") == "No-Store"
	},
	refop.AllowDiscoveryExtraMetadata: func(t *testing.T, h *harness) bool {
		return discovery(h).body["x_ciba_check_vendor_feature"] != nil
	},
	refop.AllowErrorExtraMembers: func(t *testing.T, h *harness) bool {
		r := h.poll(cPoll, h.start(cPoll, nil))
		return r.str("error") == "authorization_pending" && r.str("trace_id") != "" && r.body["error_details"] != nil
	},
	refop.AllowGenericErrorDescription: func(t *testing.T, h *harness) bool {
		r := h.poll(cPoll, "no-such-id")
		return r.str("error") == "invalid_grant" && r.str("error_description") == "the request was refused"
	},
	refop.AllowIDTokenAudArray: func(t *testing.T, h *harness) bool {
		c, _ := idTokenClaims(t, h, nil)
		aud, isArray := c["aud"].([]any)
		return isArray && len(aud) == 1 && aud[0] == cPoll
	},
	refop.AllowIDTokenAuthReqIDClaim: func(t *testing.T, h *harness) bool {
		c, id := idTokenClaims(t, h, nil)
		return c[ciba.ClaimAuthReqID] == id
	},
	refop.AllowIDTokenES256Only: func(t *testing.T, h *harness) bool {
		hdr, _ := decodeJWT(t, h.tokens(cPoll).str("id_token"))
		algs := discoveryStrings(h, "id_token_signing_alg_values_supported")
		return hdr["alg"] == "ES256" && slices.Equal(algs, []string{"ES256"})
	},
	refop.AllowIDTokenWithoutATHash: func(t *testing.T, h *harness) bool {
		c, _ := idTokenClaims(t, h, nil)
		return c[ciba.ClaimATHash] == nil
	},
	refop.AllowIDTokenWithoutAuthTime: func(t *testing.T, h *harness) bool {
		c, _ := idTokenClaims(t, h, nil)
		return c[ciba.ClaimAuthTime] == nil
	},
	refop.AllowIntervalAbsent: func(t *testing.T, h *harness) bool {
		r := h.backchannel(cPoll, nil)
		_, announced := r.body["interval"]
		id := r.str("auth_req_id")
		h.poll(cPoll, id)
		h.clock.Advance(3 * time.Second) // past the harness's 2 s, within the default 5 s
		return !announced && h.poll(cPoll, id).str("error") == "slow_down"
	},
	refop.AllowIntrospectionAbsent: func(t *testing.T, h *harness) bool {
		_, advertised := discovery(h).body["introspection_endpoint"]
		f := h.authForm(cPoll, h.issuer)
		f.Set("token", "x")
		return !advertised && h.post(cPoll, refop.PathIntrospect, f).status == http.StatusNotFound
	},
	refop.AllowIntrospectionRefused: func(t *testing.T, h *harness) bool {
		f := h.authForm(cPoll, h.issuer)
		f.Set("token", h.tokens(cPoll).str("access_token"))
		r := h.post(cPoll, refop.PathIntrospect, f)
		return r.status == http.StatusUnauthorized && r.str("error") == "invalid_client"
	},
	refop.AllowInvalidClient400: func(t *testing.T, h *harness) bool {
		f := h.authForm(cMTLS, h.issuer)
		f.Set("client_id", "no-such-client")
		f.Set("request", h.requestObject(cMTLS, nil))
		r := h.post(cMTLS, refop.PathBackchannel, f)
		return r.status == http.StatusBadRequest && r.str("error") == "invalid_client"
	},
	refop.AllowJWKSMixedKeys: func(t *testing.T, h *harness) bool {
		raw := h.get("", refop.PathJWKS).raw
		return strings.Contains(raw, `"X25519"`) && strings.Contains(raw, `"RSA-OAEP-256"`)
	},
	refop.AllowJWTAccessTokens: func(t *testing.T, h *harness) bool {
		at := h.tokens(cPoll).str("access_token")
		if strings.Count(at, ".") != 2 {
			return false
		}
		hdr, c := decodeJWT(t, at)
		if r := h.userinfo(cPoll, at); r.status != http.StatusOK {
			t.Errorf("userinfo refused the JWT access token: %d %s", r.status, r.raw)
		}
		return hdr["typ"] == "at+jwt" && c["client_id"] == cPoll && c["cnf"] != nil
	},
	refop.AllowNeverSlowDown: func(t *testing.T, h *harness) bool {
		id := h.start(cPoll, nil)
		h.poll(cPoll, id)
		return h.poll(cPoll, id).str("error") == "authorization_pending"
	},
	refop.AllowNoErrorDescription: func(t *testing.T, h *harness) bool {
		r := h.poll(cPoll, "no-such-id")
		_, described := r.body["error_description"]
		return r.str("error") == "invalid_grant" && !described
	},
	refop.AllowNoRefreshTokens: func(t *testing.T, h *harness) bool {
		return h.tokens(cPoll).str("refresh_token") == ""
	},
	refop.AllowPingRetry4xx: func(t *testing.T, h *harness) bool {
		h.ping.setAnswer(func(string, int) (int, string) { return 401, "" })
		h.approve(h.start(cPing, nil))
		return h.logs.waitFor(t, "notification sent", 1).attrs["retry"] == "true"
	},
	refop.AllowRefreshOfflineAccessOnly: func(t *testing.T, h *harness) bool {
		withoutOffline := h.tokens(cPoll).str("refresh_token") == ""
		if !withoutOffline {
			return false
		}
		id := h.start(cPoll, map[string]any{"scope": "openid offline_access"})
		h.approve(id)
		if r := h.poll(cPoll, id); r.str("refresh_token") == "" {
			t.Errorf("scope offline_access got no refresh token: %d %s", r.status, r.raw)
		}
		return withoutOffline
	},
	refop.AllowRefreshTokenRotation: func(t *testing.T, h *harness) bool {
		old := h.tokens(cPoll).str("refresh_token")
		r := h.refresh(cPoll, old, nil)
		next := r.str("refresh_token")
		if next == "" || next == old {
			return false
		}
		if again := h.refresh(cPoll, next, nil); again.status != http.StatusOK {
			t.Errorf("the rotated refresh token was refused: %d %s", again.status, again.raw)
		}
		return h.refresh(cPoll, old, nil).str("error") == "invalid_grant"
	},
	refop.AllowRefreshWithoutIDToken: func(t *testing.T, h *harness) bool {
		r := h.refresh(cPoll, h.tokens(cPoll).str("refresh_token"), nil)
		return r.status == http.StatusOK && r.str("id_token") == ""
	},
	refop.AllowRefreshWiderScopeIgnored: func(t *testing.T, h *harness) bool {
		r := h.refresh(cPoll, h.tokens(cPoll).str("refresh_token"), map[string]string{"scope": "openid accounts payments"})
		return r.status == http.StatusOK && r.str("scope") == "openid accounts"
	},
	refop.AllowReplayRevokesTokens: func(t *testing.T, h *harness) bool {
		id := h.start(cPoll, nil)
		h.approve(id)
		first := h.poll(cPoll, id)
		if r := h.poll(cPoll, id); r.str("error") != "invalid_grant" {
			t.Errorf("replayed auth_req_id: %d %s, want invalid_grant", r.status, r.raw)
		}
		return h.userinfo(cPoll, first.str("access_token")).status == http.StatusUnauthorized
	},
	refop.AllowRequestObjectReplay: func(t *testing.T, h *harness) bool {
		req := h.requestObject(cPoll, nil)
		ok := 0
		for range 2 {
			f := h.authForm(cPoll, h.issuer)
			f.Set("request", req)
			if h.post(cPoll, refop.PathBackchannel, f).status == http.StatusOK {
				ok++
			}
		}
		return ok == 2
	},
	refop.AllowRequestURINotSupported: func(t *testing.T, h *harness) bool {
		f := h.authForm(cPoll, h.issuer)
		f.Set("request_uri", "urn:example:request")
		r := h.post(cPoll, refop.PathBackchannel, f)
		return r.status == http.StatusBadRequest && r.str("error") == "request_uri_not_supported"
	},
	refop.AllowRequestedExpiryIgnored: func(t *testing.T, h *harness) bool {
		r := h.backchannel(cPoll, map[string]any{"requested_expiry": 30})
		if bad := h.backchannel(cPoll, map[string]any{"requested_expiry": "soon"}); bad.str("error") != "invalid_request" {
			t.Errorf("a malformed requested_expiry: %d %s, want invalid_request", bad.status, bad.raw)
		}
		return r.body["expires_in"] == float64(120)
	},
	refop.AllowSingleKeyWithoutKid: func(t *testing.T, h *harness) bool {
		set := jwks(t, h)
		hdr, _ := decodeJWT(t, h.tokens(cPoll).str("id_token"))
		return len(set.Keys) == 1 && set.Keys[0].KeyID == "" && hdr["kid"] == nil
	},
	refop.AllowSlowDevice: func(t *testing.T, h *harness) bool {
		before := h.clock.Pending()
		h.start(cPoll, nil)
		pollDelayed := h.clock.Pending() > before
		id := h.start(cPing, nil)
		pingDelayed := h.clock.Pending() > before
		h.clock.Advance(7 * time.Second)
		h.approve(id)
		if r := h.poll(cPing, id); r.status != http.StatusOK {
			t.Errorf("no tokens after the late approval: %d %s", r.status, r.raw)
		}
		return pingDelayed && !pollDelayed
	},
	refop.AllowTLS13Only: func(t *testing.T, h *harness) bool {
		tls12 := handshakes(h, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}})
		return !tls12 && handshakes(h, &tls.Config{MinVersion: tls.VersionTLS13})
	},
	refop.AllowTokenExpiresInAbsent: func(t *testing.T, h *harness) bool {
		_, has := h.tokens(cPoll).body["expires_in"]
		return !has
	},
	refop.AllowTokenScopeOmitted: func(t *testing.T, h *harness) bool {
		_, has := h.tokens(cPoll).body["scope"]
		return !has
	},
	refop.AllowTokenTypeLowercase: func(t *testing.T, h *harness) bool {
		return h.tokens(cPoll).str("token_type") == "bearer"
	},
}

func TestAllowancesChangeBehaviour(t *testing.T) {
	allowances := refop.Allowances()
	if len(allowances) < 25 {
		t.Errorf("%d allowances, want at least 25", len(allowances))
	}
	for _, a := range allowances {
		probe, ok := allowanceProbes[a.Name]
		if !ok {
			t.Errorf("allowance %s has no probe", a.Name)
			continue
		}
		t.Run(a.Name, func(t *testing.T) {
			probeSwitch(t, "allowance "+a.Name, probe, allowanceHarness[a.Name], withAllowances(a.Name))
		})
	}
	if len(allowanceProbes) != len(allowances) {
		t.Errorf("%d probes for %d allowances", len(allowanceProbes), len(allowances))
	}
}

func TestAllowancesCatalogue(t *testing.T) {
	a, b := refop.Allowances(), refop.Allowances()
	a[0].Name = "changed"
	if len(a[0].Exclusive) > 0 {
		a[0].Exclusive[0] = "changed"
	}
	if b[0].Name == "changed" || (len(b[0].Exclusive) > 0 && b[0].Exclusive[0] == "changed") {
		t.Error("Allowances returns shared state")
	}
	names := map[string]bool{}
	var sorted []string
	for _, al := range b {
		sorted = append(sorted, al.Name)
		names[al.Name] = true
		if al.Permits == "" || al.Basis == "" {
			t.Errorf("%s lacks Permits or Basis", al.Name)
		}
		// Basis quotes the text: a section, then a quotation.
		if !strings.Contains(al.Basis, `: "`) {
			t.Errorf("%s: Basis %q quotes no text", al.Name, al.Basis)
		}
		if al.Departs != "" && !strings.Contains(al.Departs, "SHOULD") && !strings.Contains(al.Departs, "RECOMMENDED") && !strings.Contains(al.Departs, "recommended") {
			t.Errorf("%s: Departs %q names no SHOULD", al.Name, al.Departs)
		}
		for _, faultName := range refop.Faults() {
			if faultName.Name == al.Name {
				t.Errorf("%s is both a fault and an allowance", al.Name)
			}
		}
	}
	if !slices.IsSorted(sorted) || len(slices.Compact(slices.Clone(sorted))) != len(sorted) {
		t.Errorf("allowance names not sorted and unique: %v", sorted)
	}
	for _, al := range b {
		for _, other := range al.Exclusive {
			if !names[other] {
				t.Errorf("%s excludes unknown %q", al.Name, other)
			}
			if err := refop.ValidateAllowances([]string{al.Name, other}, b); err == nil {
				t.Errorf("%s and %s validated together", al.Name, other)
			}
		}
	}
}

func TestAllowancesConfig(t *testing.T) {
	h := newHarness(t)
	cfg := refop.Config{Issuer: h.issuer}
	for _, tt := range []struct {
		names   []string
		wantErr string
	}{
		{[]string{"no-such-allowance"}, `unknown allowance "no-such-allowance"`},
		{[]string{refop.AllowACRAlways, refop.AllowACRUnsupported}, "exclude each other"},
	} {
		cfg.Allowances = tt.names
		if _, err := refop.New(cfg); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%v: error %v, want %q", tt.names, err, tt.wantErr)
		}
	}
}

// TestAllowancesTogether runs a full poll flow and a refresh with every
// allowance that combines with the ones before it, as the matrix's
// combined run does.
func TestAllowancesTogether(t *testing.T) {
	var names []string
	for _, a := range refop.Allowances() {
		if !slices.ContainsFunc(names, func(n string) bool { return slices.Contains(a.Exclusive, n) }) {
			names = append(names, a.Name)
		}
	}
	h := newHarness(t, withRSAFirst, withAllowances(names...))
	id := h.start(cPoll, nil)
	h.clock.Advance(7 * time.Second) // slow-device
	h.approve(id)
	r := h.poll(cPoll, id)
	if r.status != http.StatusOK {
		t.Fatalf("tokens with %v: %d %s", names, r.status, r.raw)
	}
	if u := h.userinfo(cPoll, r.str("access_token")); u.status != http.StatusOK {
		t.Errorf("userinfo: %d %s", u.status, u.raw)
	}
	if rt := r.str("refresh_token"); rt != "" {
		if rr := h.refresh(cPoll, rt, nil); rr.status != http.StatusOK {
			t.Errorf("refresh: %d %s", rr.status, rr.raw)
		}
	}
}
