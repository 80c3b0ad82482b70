package client

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/clock"
)

func TestRequestObjectIsAValidFAPICIBARequest(t *testing.T) {
	op := newFakeOP(t, false, nil)
	for _, tc := range []struct {
		name string
		key  jose.JSONWebKey
		alg  jose.SignatureAlgorithm
	}{
		{"PS256", rsaJWK(t, "rsa-1"), jose.PS256},
		{"ES256", ecJWK(t, "ec-1"), jose.ES256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := testClient(t, op, tc.key, nil)
			jwt, err := c.RequestObject(AuthParams{
				Scope:           "openid payments",
				LoginHint:       "alice",
				BindingMessage:  "1234",
				RequestedExpiry: "30",
				RequestContext:  map[string]any{"ip": "10.0.0.1"},
				Extra:           map[string]any{"custom": 7},
			})
			if err != nil {
				t.Fatal(err)
			}
			pub := tc.key.Public()
			if err := verifyJWT(jwt, tc.alg, &pub); err != nil {
				t.Fatalf("request object does not verify: %v", err)
			}
			header, claims, _ := decodeJWT(t, jwt)
			if header["alg"] != string(tc.alg) || header["kid"] != tc.key.KeyID {
				t.Errorf("header = %v", header)
			}
			if _, ok := header["typ"]; ok {
				t.Errorf("typ set by default: %v", header)
			}
			now := float64(testStart.Unix())
			want := map[string]any{
				"iss": "client-1", "aud": op.srv.URL,
				"iat": now, "nbf": now, "exp": now + 300,
				"scope": "openid payments", "login_hint": "alice", "binding_message": "1234",
				"requested_expiry": "30", "custom": float64(7),
			}
			for k, v := range want {
				if claims[k] != v {
					t.Errorf("claim %s = %v (%T), want %v", k, claims[k], claims[k], v)
				}
			}
			if rc, ok := claims["request_context"].(map[string]any); !ok || rc["ip"] != "10.0.0.1" {
				t.Errorf("request_context = %v", claims["request_context"])
			}
			for _, absent := range []string{"id_token_hint", "login_hint_token", "user_code", "acr_values", "client_notification_token"} {
				if _, ok := claims[absent]; ok {
					t.Errorf("empty parameter %s was sent", absent)
				}
			}
			jti, _ := claims["jti"].(string)
			if raw, err := base64.RawURLEncoding.DecodeString(jti); err != nil || len(raw)*8 < 128 {
				t.Errorf("jti %q has fewer than 128 random bits", jti)
			}
			again, err := c.RequestObject(AuthParams{Scope: "openid"})
			if err != nil {
				t.Fatal(err)
			}
			if _, c2, _ := decodeJWT(t, again); c2["jti"] == jti {
				t.Errorf("jti repeated across request objects: %v", jti)
			}
		})
	}
}

func TestJWTOptionsBreakWhatTheySay(t *testing.T) {
	op := newFakeOP(t, false, nil)
	key := rsaJWK(t, "rsa-1")
	other := ecJWK(t, "other-client")
	c, _ := testClient(t, op, key, nil)
	pub := key.Public()
	pubDER, err := x509.MarshalPKIXPublicKey(&key.Key.(*rsa.PrivateKey).PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	now := float64(testStart.Unix())

	for _, tc := range []struct {
		name  string
		opts  []JWTOption
		check func(t *testing.T, jwt string, header, claims map[string]any, sig []byte)
	}{
		{"alg none", []JWTOption{WithNoneAlg()}, func(t *testing.T, jwt string, h, _ map[string]any, sig []byte) {
			if h["alg"] != "none" || len(sig) != 0 || !strings.HasSuffix(jwt, ".") || strings.Count(jwt, ".") != 2 {
				t.Errorf("not an unsigned JWT: %q", jwt)
			}
		}},
		{"tampered signature", []JWTOption{WithTamperedSignature()}, func(t *testing.T, jwt string, h, _ map[string]any, _ []byte) {
			if h["alg"] != "PS256" {
				t.Errorf("alg = %v", h["alg"])
			}
			if err := verifyJWT(jwt, jose.PS256, &pub); err == nil {
				t.Error("tampered signature still verifies")
			}
		}},
		{"RS256", []JWTOption{WithAlg("RS256")}, func(t *testing.T, jwt string, h, _ map[string]any, _ []byte) {
			if h["alg"] != "RS256" {
				t.Errorf("alg = %v", h["alg"])
			}
			if err := verifyJWT(jwt, jose.RS256, &pub); err != nil {
				t.Errorf("RS256 signature does not verify: %v", err)
			}
		}},
		{"HS256 with public key", []JWTOption{WithHS256Secret(pubDER)}, func(t *testing.T, jwt string, h, _ map[string]any, _ []byte) {
			if h["alg"] != "HS256" || h["kid"] != "rsa-1" {
				t.Errorf("header = %v", h)
			}
			if err := verifyJWT(jwt, jose.HS256, pubDER); err != nil {
				t.Errorf("HMAC under the public key does not verify: %v", err)
			}
		}},
		{"other client's key", []JWTOption{WithSigningKey(other)}, func(t *testing.T, jwt string, h, _ map[string]any, _ []byte) {
			if h["kid"] != "other-client" || h["alg"] != "ES256" {
				t.Errorf("header = %v", h)
			}
			op := other.Public()
			if err := verifyJWT(jwt, jose.ES256, &op); err != nil {
				t.Errorf("does not verify under the other key: %v", err)
			}
			if err := verifyJWT(jwt, jose.PS256, &pub); err == nil {
				t.Error("verifies under the client's own key")
			}
		}},
		{"typ", []JWTOption{WithTyp("oauth-authz-req+jwt")}, func(t *testing.T, jwt string, h, _ map[string]any, _ []byte) {
			if h["typ"] != "oauth-authz-req+jwt" {
				t.Errorf("typ = %v", h["typ"])
			}
			if err := verifyJWT(jwt, jose.PS256, &pub); err != nil {
				t.Errorf("does not verify: %v", err)
			}
		}},
		{"no kid", []JWTOption{WithoutKid()}, func(t *testing.T, _ string, h, _ map[string]any, _ []byte) {
			if _, ok := h["kid"]; ok {
				t.Errorf("kid present: %v", h)
			}
		}},
		{"header alg lies", []JWTOption{WithHeader("alg", "ES256"), WithHeader("jku", "https://evil.example/jwks")}, func(t *testing.T, _ string, h, _ map[string]any, _ []byte) {
			if h["alg"] != "ES256" || h["jku"] != "https://evil.example/jwks" {
				t.Errorf("header = %v", h)
			}
		}},
		{"claims set and removed", []JWTOption{WithClaim("exp", "soon"), WithClaim("aud", []string{"a", "b"}), WithoutClaim("jti"), WithoutClaim("nbf")}, func(t *testing.T, _ string, _, c map[string]any, _ []byte) {
			if c["exp"] != "soon" {
				t.Errorf("exp = %v", c["exp"])
			}
			if aud, ok := c["aud"].([]any); !ok || len(aud) != 2 {
				t.Errorf("aud = %v", c["aud"])
			}
			for _, k := range []string{"jti", "nbf"} {
				if _, ok := c[k]; ok {
					t.Errorf("%s still present", k)
				}
			}
		}},
		{"lifetime", []JWTOption{WithLifetime(-70*time.Minute, 5*time.Minute)}, func(t *testing.T, _ string, _, c map[string]any, _ []byte) {
			if c["nbf"] != now-4200 || c["exp"] != now+300 || c["iat"] != now {
				t.Errorf("nbf %v exp %v iat %v", c["nbf"], c["exp"], c["iat"])
			}
		}},
		{"jti", []JWTOption{WithJTI("used-before")}, func(t *testing.T, _ string, _, c map[string]any, _ []byte) {
			if c["jti"] != "used-before" {
				t.Errorf("jti = %v", c["jti"])
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jwt, err := c.RequestObject(AuthParams{Scope: "openid", LoginHint: "alice"}, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			h, claims, sig := decodeJWT(t, jwt)
			tc.check(t, jwt, h, claims, sig)
		})
	}
}

func TestJWTOptionErrors(t *testing.T) {
	op := newFakeOP(t, false, nil)
	c, _ := testClient(t, op, ecJWK(t, "ec"), nil)
	for _, tc := range []struct {
		name string
		opts []JWTOption
		want string
	}{
		{"RS256 with an EC key", []JWTOption{WithAlg("RS256")}, "RS256"},
		{"tampering with no signature", []JWTOption{WithNoneAlg(), WithTamperedSignature()}, "no signature"},
		{"unencodable claim", []JWTOption{WithClaim("x", func() {})}, "claims"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.ClientAssertion("aud", tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestClientAssertionClaims(t *testing.T) {
	op := newFakeOP(t, false, nil)
	key := ecJWK(t, "ec-1")
	c, _ := testClient(t, op, key, nil)
	jwt, err := c.ClientAssertion("https://op.example/token")
	if err != nil {
		t.Fatal(err)
	}
	pub := key.Public()
	if err := verifyJWT(jwt, jose.ES256, &pub); err != nil {
		t.Fatal(err)
	}
	h, claims, _ := decodeJWT(t, jwt)
	now := float64(testStart.Unix())
	if h["kid"] != "ec-1" {
		t.Errorf("kid = %v", h["kid"])
	}
	for k, v := range map[string]any{"iss": "client-1", "sub": "client-1", "aud": "https://op.example/token", "iat": now, "exp": now + 60} {
		if claims[k] != v {
			t.Errorf("%s = %v, want %v", k, claims[k], v)
		}
	}
	if _, ok := claims["nbf"]; ok {
		t.Error("assertion carries nbf by default")
	}
	if jti, _ := claims["jti"].(string); len(jti) < 22 {
		t.Errorf("jti %q too short", jti)
	}
}

func TestAuthParamsRequestedExpiryTypes(t *testing.T) {
	op := newFakeOP(t, false, nil)
	c, _ := testClient(t, op, ecJWK(t, "ec"), nil)
	for _, tc := range []struct {
		in   any
		want any
	}{{30, float64(30)}, {"30", "30"}, {-5, float64(-5)}} {
		jwt, err := c.RequestObject(AuthParams{Scope: "openid", RequestedExpiry: tc.in})
		if err != nil {
			t.Fatal(err)
		}
		if _, claims, _ := decodeJWT(t, jwt); claims[ciba.ParamRequestedExpiry] != tc.want {
			t.Errorf("requested_expiry %v sent as %v", tc.in, claims[ciba.ParamRequestedExpiry])
		}
	}
}

// Config.RequestObjectLifetime sets exp-nbf of the request objects the
// client signs, within what FAPI-CIBA 5.2.2-9 allows, and
// Config.AssertionLifetime exp-iat of its client assertions.
func TestSignedLifetimes(t *testing.T) {
	op := newFakeOP(t, false, nil)
	key := ecJWK(t, "ec-1")
	requestObject := func(c *Client) (string, error) {
		return c.RequestObject(AuthParams{Scope: "openid", LoginHint: "alice"})
	}
	assertion := func(c *Client) (string, error) { return c.ClientAssertion(op.metadata().TokenEndpoint) }
	for _, tc := range []struct {
		name     string
		object   bool // a request object (exp-nbf), else a client assertion (exp-iat)
		lifetime time.Duration
		wantExp  float64 // seconds after nbf or iat
		wantErr  string
	}{
		{name: "request object, default", object: true, wantExp: 300},
		{name: "request object, a minute", object: true, lifetime: time.Minute, wantExp: 60},
		{name: "request object, the FAPI maximum", object: true, lifetime: time.Hour, wantExp: 3600},
		{name: "request object, over the FAPI maximum", object: true, lifetime: time.Hour + time.Second, wantErr: "Config.RequestObjectLifetime 1h0m1s is not within (0, 3600s]"},
		{name: "request object, negative", object: true, lifetime: -time.Second, wantErr: "Config.RequestObjectLifetime -1s is not within"},
		{name: "assertion, default", wantExp: 60},
		{name: "assertion, half a minute", lifetime: 30 * time.Second, wantExp: 30},
		{name: "assertion, the maximum", lifetime: time.Hour, wantExp: 3600},
		{name: "assertion, over the maximum", lifetime: time.Hour + time.Second, wantErr: "Config.AssertionLifetime 1h0m1s is not within (0, 1h0m0s]"},
		{name: "assertion, negative", lifetime: -time.Second, wantErr: "Config.AssertionLifetime -1s is not within"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{ClientID: "client-1", AuthMethod: ciba.AuthPrivateKeyJWT, Mode: ciba.ModePoll, SigningKey: key,
				RootCAs: op.roots(), Metadata: op.metadata(), Clock: clock.NewFake(testStart)}
			sign, from := assertion, "iat"
			if tc.object {
				cfg.RequestObjectLifetime, sign, from = tc.lifetime, requestObject, "nbf"
			} else {
				cfg.AssertionLifetime = tc.lifetime
			}
			c, err := New(cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("New: %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			jwt, err := sign(c)
			if err != nil {
				t.Fatal(err)
			}
			_, claims, _ := decodeJWT(t, jwt)
			if start, exp := claims[from].(float64), claims["exp"].(float64); exp-start != tc.wantExp {
				t.Fatalf("exp - %s = %v s, want %v", from, exp-start, tc.wantExp)
			}
		})
	}
}
