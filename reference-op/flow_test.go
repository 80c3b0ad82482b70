package refop_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"regexp"
	"strings"
	"testing"

	refop "github.com/ciba-check/ciba-check/reference-op"
)

func halfHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// TestPollFlow runs the whole poll flow: acknowledgement, device request
// and callback, tokens, ID token, cert-bound userinfo, introspection and
// revocation.
func TestPollFlow(t *testing.T) {
	for _, id := range []string{cPoll, cMTLS, cSelfSigned} {
		t.Run(id, func(t *testing.T) {
			h := newHarness(t)
			ack := h.backchannel(id, map[string]any{"acr_values": "urn:other " + refop.ACRMultiFactor, "requested_expiry": "30"})
			if ack.status != http.StatusOK {
				t.Fatalf("ack: %d %s", ack.status, ack.raw)
			}
			authReqID := ack.str("auth_req_id")
			if !regexp.MustCompile(`^[A-Za-z0-9._-]{27,}$`).MatchString(authReqID) {
				t.Errorf("auth_req_id %q: want >= 160 bits in base64url", authReqID)
			}
			if ack.body["expires_in"] != float64(30) || ack.body["interval"] != float64(2) {
				t.Errorf("ack %s: want expires_in 30, interval 2", ack.raw)
			}
			if ack.header.Get("Cache-Control") != "no-store" {
				t.Errorf("ack Cache-Control %q", ack.header.Get("Cache-Control"))
			}

			wantError(t, h.poll(id, authReqID), 400, "authorization_pending")

			dr := h.device.await(t, authReqID)
			if dr.body.LoginHint != "alice" || dr.body.BindingMessage != "1234" || dr.body.Scope != "openid accounts" {
				t.Errorf("device request %+v", dr.body)
			}
			_, ct := decodeJWT(t, dr.token)
			if ct["azp"] != id || ct["sub"] != "sub-alice" || ct["aud"] != h.issuer || ct["iss"] != h.issuer {
				t.Errorf("channel token claims %v", ct)
			}
			h.approve(authReqID)

			h.clock.Advance(2_000_000_000)
			tok := h.poll(id, authReqID)
			if tok.status != http.StatusOK {
				t.Fatalf("token: %d %s", tok.status, tok.raw)
			}
			if tok.header.Get("Cache-Control") != "no-store" || tok.header.Get("Pragma") != "no-cache" {
				t.Errorf("token cache headers %v", tok.header)
			}
			at := tok.str("access_token")
			if len(at) < 22 || tok.str("token_type") != "Bearer" || tok.str("refresh_token") == "" || tok.str("scope") != "openid accounts" {
				t.Errorf("token response %s", tok.raw)
			}
			idt := h.verifyWithJWKS(tok.str("id_token"))
			hdr, _ := decodeJWT(t, tok.str("id_token"))
			if hdr["kid"] != "op-es256" || hdr["alg"] != "ES256" {
				t.Errorf("id token header %v", hdr)
			}
			if idt["iss"] != h.issuer || idt["sub"] != "sub-alice" || idt["aud"] != id || idt["at_hash"] != halfHash(at) || idt["acr"] != refop.ACRMultiFactor || idt["auth_time"] == nil {
				t.Errorf("id token claims %v", idt)
			}
			if _, ok := idt["nonce"]; ok {
				t.Error("id token has a nonce")
			}

			// Exactly once: the redeemed auth_req_id is now invalid_grant.
			wantError(t, h.poll(id, authReqID), 400, "invalid_grant")

			ui := h.userinfo(id, at)
			if ui.status != 200 || ui.str("sub") != "sub-alice" || ui.str("name") != "Alice" {
				t.Fatalf("userinfo: %d %s", ui.status, ui.raw)
			}
			if ui.header.Get("x-fapi-interaction-id") == "" || ui.header.Get("Date") == "" {
				t.Errorf("userinfo headers %v", ui.header)
			}
			other := h.userinfo(cPoll2, at)
			wantError(t, other, 401, "invalid_token")
			if !strings.Contains(other.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate %q", other.header.Get("WWW-Authenticate"))
			}
			wantError(t, h.userinfo("", at), 401, "invalid_token")

			intro := h.authForm(id, h.issuer+refop.PathIntrospect)
			intro.Set("token", at)
			ir := h.post(id, refop.PathIntrospect, intro)
			cnf, _ := ir.body["cnf"].(map[string]any)
			sum := sha256.Sum256(h.ids[id].cert.Certificate[0])
			if ir.body["active"] != true || cnf["x5t#S256"] != base64.RawURLEncoding.EncodeToString(sum[:]) || ir.str("client_id") != id {
				t.Errorf("introspection %s", ir.raw)
			}
			// Another client sees the token inactive.
			intro2 := h.authForm(cPoll2, h.issuer+refop.PathIntrospect)
			intro2.Set("token", at)
			if r := h.post(cPoll2, refop.PathIntrospect, intro2); r.body["active"] != false {
				t.Errorf("other client's introspection %s", r.raw)
			}

			// Revocation by another client is a silent no-op (RFC 7009 2.2).
			rv2 := h.authForm(cPoll2, h.issuer+refop.PathRevoke)
			rv2.Set("token", at)
			if r := h.post(cPoll2, refop.PathRevoke, rv2); r.status != 200 {
				t.Fatalf("revoke other: %d %s", r.status, r.raw)
			}
			if r := h.userinfo(id, at); r.status != 200 {
				t.Fatalf("token revoked by another client: %d", r.status)
			}
			rv := h.authForm(id, h.issuer+refop.PathRevoke)
			rv.Set("token", at)
			if r := h.post(id, refop.PathRevoke, rv); r.status != 200 {
				t.Fatalf("revoke: %d %s", r.status, r.raw)
			}
			wantError(t, h.userinfo(id, at), 401, "invalid_token")
			unknown := h.authForm(id, h.issuer+refop.PathRevoke)
			unknown.Set("token", "nope")
			if r := h.post(id, refop.PathRevoke, unknown); r.status != 200 {
				t.Errorf("revoke unknown: %d", r.status)
			}
		})
	}
}

// TestHints covers login_hint_token and id_token_hint resolution.
func TestHints(t *testing.T) {
	h := newHarness(t)
	id := h.start(cPoll, nil)
	h.approve(id)
	tok := h.poll(cPoll, id)
	idToken := tok.str("id_token")
	channelToken := h.device.await(t, id).token
	ident := h.ids[cPoll]
	now := h.clock.Now().Unix()
	lht := func(claims map[string]any) string { return signJWT(t, ident.key, "ES256", ident.kid, claims, nil) }

	tests := []struct {
		name      string
		overrides map[string]any
		status    int
		code      string
	}{
		{"id_token_hint", map[string]any{"login_hint": nil, "id_token_hint": idToken}, 200, ""},
		{"id_token_hint tampered", map[string]any{"login_hint": nil, "id_token_hint": idToken[:len(idToken)-4] + "AAAA"}, 400, "invalid_request"},
		{"channel token as id_token_hint", map[string]any{"login_hint": nil, "id_token_hint": channelToken}, 400, "invalid_request"},
		{"id_token_hint not a JWT", map[string]any{"login_hint": nil, "id_token_hint": "abc"}, 400, "invalid_request"},
		{"id_token_hint signed by client", map[string]any{"login_hint": nil, "id_token_hint": lht(map[string]any{"iss": h.issuer, "sub": "sub-alice"})}, 400, "invalid_request"},
		{"login_hint_token sub", map[string]any{"login_hint": nil, "login_hint_token": lht(map[string]any{"sub": "sub-bob", "exp": now + 60})}, 200, ""},
		{"login_hint_token login_hint", map[string]any{"login_hint": nil, "login_hint_token": lht(map[string]any{"login_hint": "alice", "exp": now + 60})}, 200, ""},
		{"login_hint_token expired", map[string]any{"login_hint": nil, "login_hint_token": lht(map[string]any{"sub": "sub-bob", "exp": now - 1})}, 400, "expired_login_hint_token"},
		{"login_hint_token unknown user", map[string]any{"login_hint": nil, "login_hint_token": lht(map[string]any{"sub": "sub-zed", "exp": now + 60})}, 400, "unknown_user_id"},
		{"login_hint_token without exp", map[string]any{"login_hint": nil, "login_hint_token": lht(map[string]any{"sub": "sub-bob"})}, 400, "invalid_request"},
		{"login_hint_token unsigned", map[string]any{"login_hint": nil, "login_hint_token": unsignedJWT(map[string]any{"sub": "sub-bob", "exp": now + 60})}, 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.backchannel(cPoll, tt.overrides)
			if tt.status == 200 {
				if r.status != 200 {
					t.Fatalf("got %d %s", r.status, r.raw)
				}
				return
			}
			wantError(t, r, tt.status, tt.code)
		})
	}
}

// TestDiscoveryAndJWKS checks the metadata of CIBA.md section 1.
func TestDiscoveryAndJWKS(t *testing.T) {
	// With FAPI off the secret methods join FAPI's three (RFC 6749 2.3.1, OIDC Core 9).
	authMethods := map[bool]string{
		false: `["private_key_jwt","tls_client_auth","self_signed_tls_client_auth"]`,
		true:  `["private_key_jwt","tls_client_auth","self_signed_tls_client_auth","client_secret_basic","client_secret_post","client_secret_jwt"]`,
	}
	for _, push := range []bool{false, true} {
		h := newHarness(t, func(c *refop.Config) { c.PushAllowed = push })
		r := h.get("", refop.PathDiscovery)
		if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("discovery: %d %v", r.status, r.header)
		}
		modes := strings.Fields(strings.Trim(strings.ReplaceAll(strings.ReplaceAll(jsonOf(r.body["backchannel_token_delivery_modes_supported"]), `"`, " "), ",", " "), "[]"))
		wantModes := "poll ping"
		if push {
			wantModes = "poll ping push"
		}
		if strings.Join(modes, " ") != wantModes {
			t.Errorf("push=%v: modes %v, want %s", push, modes, wantModes)
		}
		checks := map[string]string{
			"issuer":                              h.issuer,
			"token_endpoint":                      h.issuer + refop.PathToken,
			"backchannel_authentication_endpoint": h.issuer + refop.PathBackchannel,
			"jwks_uri":                            h.issuer + refop.PathJWKS,
			"userinfo_endpoint":                   h.issuer + refop.PathUserinfo,
			"introspection_endpoint":              h.issuer + refop.PathIntrospect,
			"revocation_endpoint":                 h.issuer + refop.PathRevoke,
			"grant_types_supported":               `["urn:openid:params:grant-type:ciba","refresh_token"]`,
			"backchannel_authentication_request_signing_alg_values_supported": `["PS256","ES256"]`,
			"id_token_signing_alg_values_supported":                           `["PS256","ES256"]`,
			"token_endpoint_auth_signing_alg_values_supported":                `["PS256","ES256"]`,
			"token_endpoint_auth_methods_supported":                           authMethods[push],
			"tls_client_certificate_bound_access_tokens":                      "true",
			"backchannel_user_code_parameter_supported":                       "true",
			"scopes_supported":     `["openid","accounts","payments"]`,
			"acr_values_supported": `["` + refop.ACRMultiFactor + `","` + refop.ACRSingleFactor + `"]`,
		}
		for k, want := range checks {
			got := jsonOf(r.body[k])
			if s, ok := r.body[k].(string); ok {
				got = s
			}
			if got != want {
				t.Errorf("%s = %s, want %s", k, got, want)
			}
		}
	}
	h := newHarness(t)
	r := h.get("", refop.PathJWKS)
	keys, _ := r.body["keys"].([]any)
	if len(keys) != 1 {
		t.Fatalf("jwks %s", r.raw)
	}
	k := keys[0].(map[string]any)
	if k["kid"] != "op-es256" || k["alg"] != "ES256" || k["d"] != nil {
		t.Errorf("jwks key %v", k)
	}
}

func jsonOf(v any) string {
	b, _ := jsonMarshal(v)
	return string(b)
}

// TestRefresh covers the refresh grant (CIBA.md 3.6, 7.4).
func TestRefresh(t *testing.T) {
	h := newHarness(t)
	id := h.start(cPoll, map[string]any{"scope": "openid accounts payments"})
	h.approve(id)
	tok := h.poll(cPoll, id)
	rt := tok.str("refresh_token")
	refresh := func(client, token, scope string) response {
		f := h.authForm(client, h.issuer+refop.PathToken)
		f.Set("grant_type", "refresh_token")
		f.Set("refresh_token", token)
		if scope != "" {
			f.Set("scope", scope)
		}
		return h.post(client, refop.PathToken, f)
	}
	tests := []struct {
		name, client, token, scope string
		status                     int
		code                       string
	}{
		{"own token", cPoll, rt, "", 200, ""},
		{"narrower scope", cPoll, rt, "openid accounts", 200, ""},
		{"wider scope", cPoll, rt, "openid accounts admin", 400, "invalid_scope"},
		{"other client's token", cPoll2, rt, "", 400, "invalid_grant"},
		{"unknown token", cPoll, "garbage", "", 400, "invalid_grant"},
		{"access token as refresh token", cPoll, tok.str("access_token"), "", 400, "invalid_grant"},
		{"missing token", cPoll, "", "", 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := refresh(tt.client, tt.token, tt.scope)
			if tt.status != 200 {
				wantError(t, r, tt.status, tt.code)
				return
			}
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			if want := tt.scope; want != "" && r.str("scope") != want {
				t.Errorf("scope %q, want %q", r.str("scope"), want)
			}
			// The new access token is bound to the caller's certificate.
			if u := h.userinfo(cPoll, r.str("access_token")); u.status != 200 {
				t.Errorf("userinfo own cert: %d", u.status)
			}
			if u := h.userinfo(cPoll2, r.str("access_token")); u.status != 401 {
				t.Errorf("userinfo other cert: %d", u.status)
			}
			idt := h.verifyWithJWKS(r.str("id_token"))
			if idt["sub"] != "sub-alice" || idt["aud"] != cPoll {
				t.Errorf("refreshed id token %v", idt)
			}
		})
	}
	// The victim's refresh token still works after the cross-client try.
	if r := refresh(cPoll, rt, ""); r.status != 200 {
		t.Errorf("after cross-client attempt: %d %s", r.status, r.raw)
	}
}
