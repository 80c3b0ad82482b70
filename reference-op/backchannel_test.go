package refop_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ciba-check/ciba-check/ciba"
	refop "github.com/ciba-check/ciba-check/reference-op"
)

// TestBackchannelRequestValidation is CIBA.md 2.2-2.7 and 7.1-7.2: every
// bad request gets its CIBA 13 error and status.
func TestBackchannelRequestValidation(t *testing.T) {
	h := newHarness(t)
	now := h.clock.Now().Unix()
	other := h.ids[cPoll2]
	rsa := rsaKey()
	tests := []struct {
		name   string
		client string
		// request builds the request object; nil means the default.
		request   func() string
		overrides map[string]any
		status    int
		code      string
	}{
		{name: "valid", client: cPoll, status: 200},
		{name: "valid typ header", client: cPoll, request: func() string {
			i := h.ids[cPoll]
			return signJWT(t, i.key, "ES256", i.kid, h.requestClaims(cPoll, nil), map[string]any{"typ": "oauth-authz-req+jwt"})
		}, status: 200},
		{name: "scope order reversed", client: cPoll, overrides: map[string]any{"scope": "accounts openid"}, status: 200},
		{name: "requested_expiry as string", client: cPoll, overrides: map[string]any{"requested_expiry": "30"}, status: 200},
		{name: "requested_expiry as number", client: cPoll, overrides: map[string]any{"requested_expiry": 300}, status: 200},
		{name: "long binding message", client: cPoll, overrides: map[string]any{"binding_message": strings.Repeat("x", 201)}, status: 400, code: "invalid_binding_message"},
		{name: "binding message with control char", client: cPoll, overrides: map[string]any{"binding_message": "pay\n100"}, status: 400, code: "invalid_binding_message"},
		{name: "binding message with bidi override", client: cPoll, overrides: map[string]any{"binding_message": "pay \u202e001"}, status: 400, code: "invalid_binding_message"},
		{name: "emoji binding message", client: cPoll, overrides: map[string]any{"binding_message": "支払い 💳 1234"}, status: 200},
		{name: "alg none", client: cPoll, request: func() string { return unsignedJWT(h.requestClaims(cPoll, nil)) }, status: 400, code: "invalid_request"},
		{name: "RS256", client: cPoll, request: func() string { return signJWT(t, rsa, "RS256", h.ids[cPoll].kid, h.requestClaims(cPoll, nil), nil) }, status: 400, code: "invalid_request"},
		{name: "PS256 with unregistered key", client: cPoll, request: func() string { return signJWT(t, rsa, "PS256", "", h.requestClaims(cPoll, nil), nil) }, status: 400, code: "invalid_request"},
		{name: "signed by other client", client: cPoll, request: func() string { return signJWT(t, other.key, "ES256", other.kid, h.requestClaims(cPoll, nil), nil) }, status: 400, code: "invalid_request"},
		{name: "signed by other client without kid", client: cPoll, request: func() string { return signJWT(t, other.key, "ES256", "", h.requestClaims(cPoll, nil), nil) }, status: 400, code: "invalid_request"},
		{name: "tampered signature", client: cPoll, request: func() string {
			s := h.requestObject(cPoll, nil)
			return s[:len(s)-6] + "AAAAAA"
		}, status: 400, code: "invalid_request"},
		{name: "crit header", client: cPoll, request: func() string {
			i := h.ids[cPoll]
			return signJWT(t, i.key, "ES256", i.kid, h.requestClaims(cPoll, nil), map[string]any{"crit": []string{"exp"}, "exp": 1})
		}, status: 400, code: "invalid_request"},
		{name: "wrong typ", client: cPoll, request: func() string {
			i := h.ids[cPoll]
			return signJWT(t, i.key, "ES256", i.kid, h.requestClaims(cPoll, nil), map[string]any{"typ": "at+jwt"})
		}, status: 400, code: "invalid_request"},
		{name: "two segments", client: cPoll, request: func() string { return "abc.def" }, status: 400, code: "invalid_request"},
		{name: "garbage", client: cPoll, request: func() string { return "!!!.???.***" }, status: 400, code: "invalid_request"},
		{name: "missing aud", client: cPoll, overrides: map[string]any{"aud": nil}, status: 400, code: "invalid_request"},
		{name: "bad aud", client: cPoll, overrides: map[string]any{"aud": "https://www.other1.example.com/"}, status: 400, code: "invalid_request"},
		{name: "aud array with issuer", client: cPoll, overrides: map[string]any{"aud": []string{"https://x.example", h.issuer}}, status: 200},
		{name: "missing iss", client: cPoll, overrides: map[string]any{"iss": nil}, status: 400, code: "invalid_request"},
		{name: "iss of other client", client: cPoll, overrides: map[string]any{"iss": cPoll2}, status: 400, code: "invalid_request"},
		{name: "missing exp", client: cPoll, overrides: map[string]any{"exp": nil}, status: 400, code: "invalid_request"},
		{name: "expired", client: cPoll, overrides: map[string]any{"exp": now - 3600, "nbf": now - 3700}, status: 400, code: "invalid_request"},
		{name: "exp 70 minutes ahead", client: cPoll, overrides: map[string]any{"exp": now + 70*60}, status: 400, code: "invalid_request"},
		{name: "missing iat", client: cPoll, overrides: map[string]any{"iat": nil}, status: 400, code: "invalid_request"},
		{name: "missing nbf", client: cPoll, overrides: map[string]any{"nbf": nil}, status: 400, code: "invalid_request"},
		{name: "nbf 10 minutes ahead", client: cPoll, overrides: map[string]any{"nbf": now + 600}, status: 400, code: "invalid_request"},
		{name: "nbf 70 minutes past", client: cPoll, overrides: map[string]any{"nbf": now - 70*60}, status: 400, code: "invalid_request"},
		{name: "exp as string", client: cPoll, overrides: map[string]any{"exp": "9999999999"}, status: 400, code: "invalid_request"},
		{name: "missing jti", client: cPoll, overrides: map[string]any{"jti": nil}, status: 400, code: "invalid_request"},
		{name: "sub equals client_id", client: cPoll, overrides: map[string]any{"sub": cPoll}, status: 400, code: "invalid_request"},
		{name: "nested request claim", client: cPoll, overrides: map[string]any{"request": "x"}, status: 400, code: "invalid_request"},
		{name: "no hint", client: cPoll, overrides: map[string]any{"login_hint": nil}, status: 400, code: "invalid_request"},
		{name: "two hints", client: cPoll, overrides: map[string]any{"login_hint_token": "x"}, status: 400, code: "invalid_request"},
		{name: "unknown login_hint", client: cPoll, overrides: map[string]any{"login_hint": "mallory"}, status: 400, code: "unknown_user_id"},
		{name: "login_hint not a string", client: cPoll, overrides: map[string]any{"login_hint": 7}, status: 400, code: "invalid_request"},
		{name: "scope without openid", client: cPoll, overrides: map[string]any{"scope": "accounts"}, status: 400, code: "invalid_scope"},
		{name: "scope missing", client: cPoll, overrides: map[string]any{"scope": nil}, status: 400, code: "invalid_scope"},
		{name: "scope not allowed", client: cPoll, overrides: map[string]any{"scope": "openid admin"}, status: 400, code: "invalid_scope"},
		{name: "requested_expiry zero", client: cPoll, overrides: map[string]any{"requested_expiry": 0}, status: 400, code: "invalid_request"},
		{name: "requested_expiry negative", client: cPoll, overrides: map[string]any{"requested_expiry": -5}, status: 400, code: "invalid_request"},
		{name: "requested_expiry fraction", client: cPoll, overrides: map[string]any{"requested_expiry": 3.5}, status: 400, code: "invalid_request"},
		{name: "requested_expiry text", client: cPoll, overrides: map[string]any{"requested_expiry": "abc"}, status: 400, code: "invalid_request"},
		{name: "requested_expiry bool", client: cPoll, overrides: map[string]any{"requested_expiry": true}, status: 400, code: "invalid_request"},
		{name: "request_context not an object", client: cPoll, overrides: map[string]any{"request_context": "x"}, status: 400, code: "invalid_request"},
		{name: "request_context object", client: cPoll, overrides: map[string]any{"request_context": map[string]any{"ip": "1.2.3.4"}}, status: 200},
		{name: "ping without notification token", client: cPing, overrides: map[string]any{"client_notification_token": nil}, status: 400, code: "invalid_request"},
		{name: "ping notification token too long", client: cPing, overrides: map[string]any{"client_notification_token": strings.Repeat("a", 1025)}, status: 400, code: "invalid_request"},
		{name: "ping notification token bad chars", client: cPing, overrides: map[string]any{"client_notification_token": "a b"}, status: 400, code: "invalid_request"},
		{name: "ping long b64token", client: cPing, overrides: map[string]any{"client_notification_token": strings.Repeat("aZ9-._~+/", 113) + "=="}, status: 200},
		{name: "push client under FAPI", client: cPush, status: 400, code: "unauthorized_client"},
		{name: "user code missing", client: cUserCode, overrides: map[string]any{"login_hint": "bob"}, status: 400, code: "missing_user_code"},
		{name: "user code wrong", client: cUserCode, overrides: map[string]any{"login_hint": "bob", "user_code": "0000"}, status: 400, code: "invalid_user_code"},
		{name: "user code right", client: cUserCode, overrides: map[string]any{"login_hint": "bob", "user_code": "4321"}, status: 200},
		{name: "user without code needs none", client: cUserCode, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := ""
			if tt.request != nil {
				req = tt.request()
			} else {
				req = h.requestObject(tt.client, tt.overrides)
			}
			form := h.authForm(tt.client, h.issuer+refop.PathBackchannel)
			form.Set("request", req)
			r := h.post(tt.client, refop.PathBackchannel, form)
			if tt.status == 200 {
				if r.status != 200 || r.str("auth_req_id") == "" {
					t.Fatalf("got %d %s", r.status, r.raw)
				}
				return
			}
			wantError(t, r, tt.status, tt.code)
		})
	}
}

// TestRequestedExpiryClamped: huge requested_expiry is clamped to MaxExpiry.
func TestRequestedExpiryClamped(t *testing.T) {
	h := newHarness(t)
	for _, v := range []any{999999, "99999999999999"} {
		r := h.backchannel(cPoll, map[string]any{"requested_expiry": v})
		if r.status != 200 || r.body["expires_in"] != float64(600) {
			t.Errorf("requested_expiry %v: %d %s, want expires_in 600", v, r.status, r.raw)
		}
	}
	if r := h.backchannel(cPoll, nil); r.body["expires_in"] != float64(120) {
		t.Errorf("default expiry: %s", r.raw)
	}
}

// TestBackchannelFormRules: transport and form-level rules (CIBA 7.1, 7.1.1).
func TestBackchannelFormRules(t *testing.T) {
	h := newHarness(t)
	signed := func() url.Values {
		f := h.authForm(cPoll, h.issuer+refop.PathBackchannel)
		f.Set("request", h.requestObject(cPoll, nil))
		return f
	}
	tests := []struct {
		name   string
		form   func() url.Values
		ctype  string
		status int
		code   string
	}{
		{"unsigned plain form", func() url.Values {
			f := h.authForm(cPoll, h.issuer+refop.PathBackchannel)
			f.Set("scope", "openid")
			f.Set("login_hint", "alice")
			return f
		}, "", 400, "invalid_request"},
		{"param beside request object", func() url.Values { f := signed(); f.Set("binding_message", "x"); return f }, "", 400, "invalid_request"},
		{"duplicated request", func() url.Values { f := signed(); f.Add("request", f.Get("request")); return f }, "", 400, "invalid_request"},
		{"request_uri", func() url.Values { f := signed(); f.Del("request"); f.Set("request_uri", "https://x"); return f }, "", 400, "invalid_request"},
		{"json content type", signed, "application/json", 400, "invalid_request"},
		{"client secret", func() url.Values { f := signed(); f.Set("client_secret", "s"); return f }, "", 401, "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, h.issuer+refop.PathBackchannel, strings.NewReader(tt.form().Encode()))
			ct := tt.ctype
			if ct == "" {
				ct = "application/x-www-form-urlencoded"
			}
			req.Header.Set("Content-Type", ct)
			wantError(t, h.do(cPoll, req), tt.status, tt.code)
		})
	}
	t.Run("GET is 405 with Allow", func(t *testing.T) {
		r := h.get(cPoll, refop.PathBackchannel)
		wantError(t, r, 405, "invalid_request")
		if r.header.Get("Allow") != "POST" {
			t.Errorf("Allow %q", r.header.Get("Allow"))
		}
	})
	t.Run("oversized body is 413", func(t *testing.T) {
		f := signed()
		f.Set("pad", strings.Repeat("x", refop.MaxBodyBytes))
		wantError(t, h.post(cPoll, refop.PathBackchannel, f), 413, "invalid_request")
	})
	t.Run("unknown path is 404 JSON", func(t *testing.T) {
		if r := h.get("", "/nope"); r.status != 404 || r.str("error") == "" {
			t.Errorf("%d %s", r.status, r.raw)
		}
	})
}

// TestRequestObjectReplay: a jti is accepted once per client.
func TestRequestObjectReplay(t *testing.T) {
	h := newHarness(t)
	req := h.requestObject(cPoll, nil)
	send := func() response {
		f := h.authForm(cPoll, h.issuer+refop.PathBackchannel)
		f.Set("request", req)
		return h.post(cPoll, refop.PathBackchannel, f)
	}
	if r := send(); r.status != 200 {
		t.Fatalf("first: %d %s", r.status, r.raw)
	}
	wantError(t, send(), 400, "invalid_request")
}

// TestClientAuthentication is CIBA.md 2.4 and 7.3 at the backchannel and
// token endpoints.
func TestClientAuthentication(t *testing.T) {
	h := newHarness(t)
	ident := h.ids[cPoll]
	now := h.clock.Now().Unix()
	assertion := func(claims map[string]any, alg string) string {
		c := map[string]any{"iss": cPoll, "sub": cPoll, "aud": h.issuer, "iat": now, "exp": now + 60, "jti": newJTI()}
		for k, v := range claims {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		switch alg {
		case "none":
			return unsignedJWT(c)
		case "RS256":
			return signJWT(t, rsaKey(), "RS256", ident.kid, c, nil)
		}
		return signJWT(t, ident.key, "ES256", ident.kid, c, nil)
	}
	replayed := assertion(nil, "")
	pk := func(a string) url.Values {
		return url.Values{"client_assertion_type": {ciba.ClientAssertionTypeJWTBearer}, "client_assertion": {a}}
	}
	tests := []struct {
		name   string
		cert   string // TLS identity
		client string // request object signer
		form   func() url.Values
		status int
		code   string
	}{
		{"aud issuer", cPoll, cPoll, func() url.Values { return pk(assertion(nil, "")) }, 200, ""},
		{"aud token endpoint", cPoll, cPoll, func() url.Values { return pk(assertion(map[string]any{"aud": h.issuer + refop.PathToken}, "")) }, 200, ""},
		{"aud backchannel endpoint", cPoll, cPoll, func() url.Values { return pk(assertion(map[string]any{"aud": h.issuer + refop.PathBackchannel}, "")) }, 200, ""},
		{"aud other server", cPoll, cPoll, func() url.Values { return pk(assertion(map[string]any{"aud": "https://other.example"}, "")) }, 401, "invalid_client"},
		{"first use of assertion", cPoll, cPoll, func() url.Values { return pk(replayed) }, 200, ""},
		{"replayed assertion", cPoll, cPoll, func() url.Values { return pk(replayed) }, 401, "invalid_client"},
		{"assertion alg none", cPoll, cPoll, func() url.Values { return pk(assertion(nil, "none")) }, 401, "invalid_client"},
		{"assertion RS256", cPoll, cPoll, func() url.Values { return pk(assertion(nil, "RS256")) }, 401, "invalid_client"},
		{"assertion expired", cPoll, cPoll, func() url.Values { return pk(assertion(map[string]any{"exp": now - 60}, "")) }, 401, "invalid_client"},
		{"assertion without exp", cPoll, cPoll, func() url.Values { return pk(assertion(map[string]any{"exp": nil}, "")) }, 401, "invalid_client"},
		{"assertion nbf future", cPoll, cPoll, func() url.Values { return pk(assertion(map[string]any{"nbf": now + 600}, "")) }, 401, "invalid_client"},
		{"assertion without jti", cPoll, cPoll, func() url.Values { return pk(assertion(map[string]any{"jti": nil}, "")) }, 401, "invalid_client"},
		{"assertion sub differs", cPoll, cPoll, func() url.Values { return pk(assertion(map[string]any{"sub": cPoll2}, "")) }, 401, "invalid_client"},
		{"assertion iss of other client", cPoll, cPoll, func() url.Values { return pk(assertion(map[string]any{"iss": cPoll2, "sub": cPoll2}, "")) }, 401, "invalid_client"},
		{"assertion wrong type", cPoll, cPoll, func() url.Values {
			f := pk(assertion(nil, ""))
			f.Set("client_assertion_type", "urn:x")
			return f
		}, 401, "invalid_client"},
		{"assertion plus other client_id", cPoll, cPoll, func() url.Values { f := pk(assertion(nil, "")); f.Set("client_id", cPoll2); return f }, 401, "invalid_client"},
		{"client_id only for private_key_jwt", cPoll, cPoll, func() url.Values { return url.Values{"client_id": {cPoll}} }, 401, "invalid_client"},
		{"nothing", cPoll, cPoll, func() url.Values { return url.Values{} }, 401, "invalid_client"},
		{"unknown client_id", cPoll, cPoll, func() url.Values { return url.Values{"client_id": {"nobody"}} }, 401, "invalid_client"},
		{"tls_client_auth", cMTLS, cMTLS, func() url.Values { return url.Values{"client_id": {cMTLS}} }, 200, ""},
		{"tls_client_auth with self-signed cert", cSelfSigned, cMTLS, func() url.Values { return url.Values{"client_id": {cMTLS}} }, 401, "invalid_client"},
		{"tls_client_auth without cert", "", cMTLS, func() url.Values { return url.Values{"client_id": {cMTLS}} }, 401, "invalid_client"},
		{"self_signed", cSelfSigned, cSelfSigned, func() url.Values { return url.Values{"client_id": {cSelfSigned}} }, 200, ""},
		{"self_signed with other cert", cPoll, cSelfSigned, func() url.Values { return url.Values{"client_id": {cSelfSigned}} }, 401, "invalid_client"},
		// Suite module 30: form client_id of another client, TLS cert and iss of this one.
		{"mtls client_id differs from iss", cMTLS, cMTLS, func() url.Values { return url.Values{"client_id": {cSelfSigned}} }, 401, "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.form()
			f.Set("request", h.requestObject(tt.client, nil))
			r := h.post(tt.cert, refop.PathBackchannel, f)
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
