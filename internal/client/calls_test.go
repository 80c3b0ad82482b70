package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
)

func TestNewRejectsBadConfig(t *testing.T) {
	op := newFakeOP(t, false, nil)
	good := func() Config {
		return Config{ClientID: "c", AuthMethod: ciba.AuthPrivateKeyJWT, Mode: ciba.ModePoll, SigningKey: ecJWK(t, "k"), Metadata: op.metadata()}
	}
	if _, err := New(good()); err != nil {
		t.Fatalf("good config refused: %v", err)
	}
	rsaPS := rsaJWK(t, "r")
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no client id", func(c *Config) { c.ClientID = "" }, "ClientID"},
		{"bad auth method", func(c *Config) { c.AuthMethod = ciba.AuthClientSecretBasic }, "AuthMethod"},
		{"bad mode", func(c *Config) { c.Mode = "fax" }, "Mode"},
		{"no key", func(c *Config) { c.SigningKey = jose.JSONWebKey{} }, "no key"},
		{"public key", func(c *Config) { c.SigningKey = c.SigningKey.Public() }, "public"},
		{"no kid", func(c *Config) { c.SigningKey.KeyID = "" }, "kid"},
		{"HS256 key", func(c *Config) { k := rsaPS; k.Algorithm = "HS256"; c.SigningKey = k }, "is not one of"},
		{"secret method without secret", func(c *Config) { c.AuthMethod = ciba.AuthClientSecretPost }, "needs Config.Secret"},
		{"signed requests need a key", func(c *Config) {
			c.AuthMethod = ciba.AuthClientSecretPost
			c.Secret = "s"
			c.SigningKey = jose.JSONWebKey{}
		}, "no key"},
		{"no metadata", func(c *Config) { c.Metadata = nil }, "Metadata"},
		{"empty TLS certificate", func(c *Config) { c.TLSCert = &tls.Certificate{} }, "TLSCert"},
		{"no issuer", func(c *Config) { c.Metadata = &ciba.ProviderMetadata{} }, "issuer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good()
			tc.edit(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestApplyClientAuth(t *testing.T) {
	op := newFakeOP(t, false, nil)
	key := ecJWK(t, "ec")
	pkjwt, _ := testClient(t, op, key, nil)
	mtls, _ := testClient(t, op, key, func(c *Config) { c.AuthMethod = ciba.AuthTLSClient })
	const endpoint = "https://op.example/bc"
	assertionAud := func(t *testing.T, f url.Values) any {
		t.Helper()
		_, claims, _ := decodeJWT(t, f.Get(ciba.ParamClientAssertion))
		return claims["aud"]
	}
	for _, tc := range []struct {
		name   string
		client *Client
		opts   []AuthOption
		check  func(t *testing.T, f url.Values)
	}{
		{"private_key_jwt default", pkjwt, nil, func(t *testing.T, f url.Values) {
			if f.Get(ciba.ParamClientAssertionType) != ciba.ClientAssertionTypeJWTBearer || f.Has(ciba.ParamClientID) {
				t.Errorf("form = %v", f)
			}
			if aud := assertionAud(t, f); aud != endpoint {
				t.Errorf("aud = %v, want the endpoint", aud)
			}
		}},
		{"aud issuer", pkjwt, []AuthOption{AuthAudience("https://op.example")}, func(t *testing.T, f url.Values) {
			if aud := assertionAud(t, f); aud != "https://op.example" {
				t.Errorf("aud = %v", aud)
			}
		}},
		{"client_id only", pkjwt, []AuthOption{AuthClientIDOnly()}, func(t *testing.T, f url.Values) {
			if len(f) != 1 || f.Get(ciba.ParamClientID) != "client-1" {
				t.Errorf("form = %v", f)
			}
		}},
		{"custom assertion and type", pkjwt, []AuthOption{AuthAssertion("a.b.c"), AuthAssertionType("urn:wrong")}, func(t *testing.T, f url.Values) {
			if f.Get(ciba.ParamClientAssertion) != "a.b.c" || f.Get(ciba.ParamClientAssertionType) != "urn:wrong" {
				t.Errorf("form = %v", f)
			}
		}},
		{"assertion options", pkjwt, []AuthOption{AuthAssertionOptions(WithNoneAlg())}, func(t *testing.T, f url.Values) {
			if !strings.HasSuffix(f.Get(ciba.ParamClientAssertion), ".") {
				t.Errorf("assertion not unsigned: %q", f.Get(ciba.ParamClientAssertion))
			}
		}},
		{"private_key_jwt with client_id", pkjwt, []AuthOption{AuthIncludeClientID()}, func(t *testing.T, f url.Values) {
			if f.Get(ciba.ParamClientID) != "client-1" || f.Get(ciba.ParamClientAssertion) == "" {
				t.Errorf("form = %v", f)
			}
		}},
		{"tls_client_auth default", mtls, nil, func(t *testing.T, f url.Values) {
			if len(f) != 1 || f.Get(ciba.ParamClientID) != "client-1" {
				t.Errorf("form = %v", f)
			}
		}},
		{"tls_client_auth other client_id", mtls, []AuthOption{AuthClientID("client-2")}, func(t *testing.T, f url.Values) {
			if f.Get(ciba.ParamClientID) != "client-2" {
				t.Errorf("form = %v", f)
			}
		}},
		{"tls_client_auth no client_id", mtls, []AuthOption{AuthNoClientID()}, func(t *testing.T, f url.Values) {
			if len(f) != 0 {
				t.Errorf("form = %v", f)
			}
		}},
		{"mtls client as private_key_jwt", mtls, []AuthOption{AuthAs(ciba.AuthPrivateKeyJWT)}, func(t *testing.T, f url.Values) {
			if f.Get(ciba.ParamClientAssertion) == "" || f.Has(ciba.ParamClientID) {
				t.Errorf("form = %v", f)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := url.Values{}
			if err := tc.client.ApplyClientAuth(f, endpoint, tc.opts...); err != nil {
				t.Fatal(err)
			}
			tc.check(t, f)
		})
	}
	if err := pkjwt.ApplyClientAuth(url.Values{}, endpoint, AuthAs(ciba.AuthClientSecretPost)); err == nil {
		t.Error("client_secret_post accepted without a secret")
	}
}

func TestAuthenticateSendsSignedRequest(t *testing.T) {
	var op *fakeOP
	op = newFakeOP(t, false, func(s seen) reply {
		return jsonReply(200, `{"auth_req_id":"req-1","expires_in":120,"interval":2}`)
	})
	key := rsaJWK(t, "rsa")
	c, _ := testClient(t, op, key, nil)
	ack, ex, err := c.Authenticate(context.Background(), AuthParams{Scope: "openid", LoginHint: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if *ack != (ciba.AuthenticationResponse{AuthReqID: "req-1", ExpiresIn: 120, Interval: 2}) {
		t.Errorf("ack = %+v", ack)
	}
	got := (<-op.arrived)
	if got.Path != "/bc" || got.Method != http.MethodPost || got.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		t.Errorf("request = %s %s %v", got.Method, got.Path, got.Header)
	}
	for _, p := range ciba.AuthenticationRequestParams {
		if got.Form.Has(p) {
			t.Errorf("parameter %s sent outside the request object (CIBA 7.1.1)", p)
		}
	}
	pub := key.Public()
	if err := verifyJWT(got.Form.Get(ciba.ParamRequest), jose.PS256, &pub); err != nil {
		t.Errorf("request object: %v", err)
	}
	_, claims, _ := decodeJWT(t, got.Form.Get(ciba.ParamClientAssertion))
	if claims["aud"] != op.srv.URL+"/bc" {
		t.Errorf("assertion aud = %v, want the backchannel endpoint", claims["aud"])
	}
	if ex.Method != http.MethodPost || ex.URL != op.srv.URL+"/bc" || ex.Status != 200 || !bytes.Contains(ex.ResponseBody, []byte("req-1")) {
		t.Errorf("exchange = %+v", ex)
	}
}

func TestAuthenticateVariants(t *testing.T) {
	op := newFakeOP(t, false, func(s seen) reply { return jsonReply(200, `{"auth_req_id":"x","expires_in":60}`) })
	c, _ := testClient(t, op, ecJWK(t, "ec"), nil)
	ctx := context.Background()

	if _, _, err := c.Authenticate(ctx, AuthParams{Scope: "openid", LoginHint: "bob", RequestedExpiry: 30}, CallUnsigned()); err != nil {
		t.Fatal(err)
	}
	got := <-op.arrived
	if got.Form.Has(ciba.ParamRequest) || got.Form.Get("login_hint") != "bob" || got.Form.Get("requested_expiry") != "30" {
		t.Errorf("unsigned form = %v", got.Form)
	}

	if _, _, err := c.Authenticate(ctx, AuthParams{}, CallRequestObjectJWT("replayed.jwt.sig"), CallForm("scope", "openid", "email")); err != nil {
		t.Fatal(err)
	}
	got = <-op.arrived
	if got.Form.Get(ciba.ParamRequest) != "replayed.jwt.sig" || len(got.Form["scope"]) != 2 {
		t.Errorf("form = %v", got.Form)
	}

	if _, _, err := c.Authenticate(ctx, AuthParams{Scope: "openid"}, CallRequestObject(WithTyp("oauth-authz-req+jwt"))); err != nil {
		t.Fatal(err)
	}
	got = <-op.arrived
	if h, _, _ := decodeJWT(t, got.Form.Get(ciba.ParamRequest)); h["typ"] != "oauth-authz-req+jwt" {
		t.Errorf("typ = %v", h["typ"])
	}
}

func TestOAuthErrorsAreCibaErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rep      reply
		sentinel *ciba.Error
		status   int
		desc     string
	}{
		{"invalid_request", jsonReply(400, `{"error":"invalid_request","error_description":"bad nbf"}`), ciba.ErrInvalidRequest, 400, "bad nbf"},
		{"invalid_client 401", jsonReply(401, `{"error":"invalid_client"}`), ciba.ErrInvalidClient, 401, ""},
		{"access_denied 403", jsonReply(403, `{"error":"access_denied"}`), ciba.ErrAccessDeniedBackchannel, 403, ""},
		{"odd status keeps status", jsonReply(500, `{"error":"invalid_request"}`), ciba.ErrInvalidRequest, 500, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := newFakeOP(t, false, func(seen) reply { return tc.rep })
			c, _ := testClient(t, op, ecJWK(t, "ec"), nil)
			_, ex, err := c.Authenticate(context.Background(), AuthParams{Scope: "openid"})
			if !errors.Is(err, tc.sentinel) {
				t.Fatalf("err = %v, want %v", err, tc.sentinel)
			}
			var ce *ciba.Error
			if !errors.As(err, &ce) || ce.Status != tc.status || ce.Description != tc.desc {
				t.Errorf("error = %#v", ce)
			}
			if ex == nil || ex.Status != tc.status || ex.OAuthError().Code != tc.sentinel.Code {
				t.Errorf("exchange = %+v", ex)
			}
		})
	}
	for _, tc := range []struct {
		name string
		rep  reply
		want string
	}{
		{"html 500", reply{Status: 500, Header: http.Header{"Content-Type": {"text/html"}}, Body: "<h1>oops</h1>"}, "without an OAuth error"},
		{"200 not json", jsonReply(200, `{"auth_req_id":`), "does not parse"},
		{"error not a string", jsonReply(400, `{"error":42}`), "without an OAuth error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := newFakeOP(t, false, func(seen) reply { return tc.rep })
			c, _ := testClient(t, op, ecJWK(t, "ec"), nil)
			_, _, err := c.Token(context.Background(), "id")
			var re *ResponseError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.want) || re.Status != tc.rep.Status {
				t.Fatalf("err = %v, want a ResponseError mentioning %q", err, tc.want)
			}
			var ce *ciba.Error
			if errors.As(err, &ce) {
				t.Errorf("also a ciba.Error: %v", ce)
			}
		})
	}
	t.Run("transport failure", func(t *testing.T) {
		op := newFakeOP(t, false, nil)
		c, _ := testClient(t, op, ecJWK(t, "ec"), nil)
		op.srv.Close()
		_, ex, err := c.Token(context.Background(), "id")
		var ce *ciba.Error
		if err == nil || errors.As(err, &ce) || ex == nil || ex.Status != 0 {
			t.Fatalf("err = %v, exchange = %+v", err, ex)
		}
	})
}

func TestExchangeRedactsSecrets(t *testing.T) {
	const (
		notifToken   = "notif-SECRET-token-1234567890"
		accessToken  = "AT-SECRET-abcdefghijklmnop"
		refreshToken = "RT-SECRET-qrstuvwxyz/+=012345"
	)
	op := newFakeOP(t, false, func(s seen) reply {
		switch s.Path {
		case "/bc":
			return jsonReply(200, `{"auth_req_id":"req-1","expires_in":60}`)
		case "/token":
			// The refresh token contains characters JSON and forms escape.
			return jsonReply(200, fmt.Sprintf(`{"access_token":%q,"token_type":"Bearer","refresh_token":"RT-SECRET-qrstuvwxyz\/+=012345"}`, accessToken))
		default:
			return jsonReply(200, `{"sub":"alice"}`)
		}
	})
	c, _ := testClient(t, op, rsaJWK(t, "rsa"), func(c *Config) { c.Mode = ciba.ModePing })
	ctx := context.Background()
	var exchanges []*Exchange
	record := OnExchange(func(ex *Exchange) { exchanges = append(exchanges, ex) })

	if _, _, err := c.Authenticate(ctx, AuthParams{Scope: "openid", LoginHint: "a", ClientNotificationToken: notifToken}, record); err != nil {
		t.Fatal(err)
	}
	sentBC := <-op.arrived
	tr, _, err := c.Token(ctx, "req-1", record)
	if err != nil {
		t.Fatal(err)
	}
	if tr.AccessToken != accessToken || tr.RefreshToken != refreshToken {
		t.Fatalf("tokens parsed wrongly: %+v", tr)
	}
	sentToken := <-op.arrived
	if _, _, err := c.Refresh(ctx, refreshToken, "", record); err != nil {
		t.Fatal(err)
	}
	<-op.arrived
	if _, _, err := c.UserInfo(ctx, accessToken, record); err != nil {
		t.Fatal(err)
	}
	<-op.arrived
	if len(exchanges) != 4 {
		t.Fatalf("OnExchange saw %d exchanges, want 4", len(exchanges))
	}

	requestJWT := sentBC.Form.Get(ciba.ParamRequest)
	secrets := []string{
		notifToken, accessToken, refreshToken, url.QueryEscape(refreshToken), `RT-SECRET-qrstuvwxyz\/`,
		requestJWT[strings.LastIndexByte(requestJWT, '.')+1:],
		sentBC.Form.Get(ciba.ParamClientAssertion), sentToken.Form.Get(ciba.ParamClientAssertion),
	}
	for i, ex := range exchanges {
		dump := fmt.Sprintf("%s %v %v %s %s %v", ex.URL, ex.RequestHeader, ex.RequestForm, ex.RequestBody, ex.ResponseBody, ex.ResponseHeader)
		for _, s := range secrets {
			if strings.Contains(dump, s) {
				t.Errorf("exchange %d contains secret %q:\n%s", i, s, dump)
			}
		}
	}
	if got := exchanges[3].RequestHeader.Get("Authorization"); got != "Bearer "+Redact(accessToken) {
		t.Errorf("Authorization recorded as %q", got)
	}
	if !bytes.Contains(exchanges[1].ResponseBody, []byte(`"access_token":"`+Redact(accessToken)+`"`)) {
		t.Errorf("response body lost its layout: %s", exchanges[1].ResponseBody)
	}
	_, claims, _ := decodeJWT(t, strings.TrimSuffix(exchanges[0].RequestForm.Get(ciba.ParamRequest), Redact(requestJWT[strings.LastIndexByte(requestJWT, '.')+1:]))+"AA")
	if claims[ciba.ParamClientNotificationToken] != Redact(notifToken) || claims["login_hint"] != "a" {
		t.Errorf("recorded request object claims = %v", claims)
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"abcdefghijklmnop", "abcdef…"},
		{"abcd", "ab…"},
		{"abcdefghijkl", "abcdef…"},
		{"äöüßéèêëxyzuvw", "äöüßéè…"},
	} {
		if got := Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPostFormProbes(t *testing.T) {
	op := newFakeOP(t, false, func(seen) reply { return jsonReply(400, `{"error":"invalid_request"}`) })
	c, _ := testClient(t, op, ecJWK(t, "ec"), nil)
	ctx := context.Background()
	endpoint := op.srv.URL + "/bc"
	for _, tc := range []struct {
		name  string
		form  url.Values
		opts  []CallOption
		check func(t *testing.T, s seen)
	}{
		{"default adds client auth", url.Values{"a": {"1"}}, nil, func(t *testing.T, s seen) {
			if s.Form.Get("a") != "1" || s.Form.Get(ciba.ParamClientAssertion) == "" {
				t.Errorf("form = %v", s.Form)
			}
		}},
		{"skip client auth", url.Values{"a": {"1"}}, []CallOption{SkipClientAuth()}, func(t *testing.T, s seen) {
			if len(s.Form) != 1 {
				t.Errorf("form = %v", s.Form)
			}
		}},
		{"raw JSON body", nil, []CallOption{CallRawBody(`{"request":"x"}`), CallContentType("application/json")}, func(t *testing.T, s seen) {
			if s.Body != `{"request":"x"}` || s.Header.Get("Content-Type") != "application/json" {
				t.Errorf("body %q, type %q", s.Body, s.Header.Get("Content-Type"))
			}
		}},
		{"GET", url.Values{"a": {"1"}}, []CallOption{CallMethod(http.MethodGet), SkipClientAuth()}, func(t *testing.T, s seen) {
			if s.Method != http.MethodGet || s.Form.Get("a") != "1" || s.Body != "" {
				t.Errorf("%s form %v body %q", s.Method, s.Form, s.Body)
			}
		}},
		{"headers and form edits", url.Values{"a": {"1"}}, []CallOption{CallHeader("X-Probe", "1"), CallForm("dup", "x", "y"), CallWithoutForm(ciba.ParamClientAssertionType)}, func(t *testing.T, s seen) {
			if s.Header.Get("X-Probe") != "1" || len(s.Form["dup"]) != 2 || s.Form.Has(ciba.ParamClientAssertionType) {
				t.Errorf("header %v form %v", s.Header, s.Form)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex, err := c.PostForm(ctx, endpoint, tc.form, tc.opts...)
			if err != nil {
				t.Fatalf("an HTTP 400 is not an error of PostForm: %v", err)
			}
			if ex.Status != 400 || !errors.Is(ex.OAuthError(), ciba.ErrInvalidRequest) {
				t.Errorf("exchange = %+v", ex)
			}
			tc.check(t, <-op.arrived)
		})
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	op := newFakeOP(t, false, func(s seen) reply {
		return reply{Status: http.StatusFound, Header: http.Header{"Location": {"/elsewhere"}}}
	})
	c, _ := testClient(t, op, ecJWK(t, "ec"), nil)
	ex, err := c.PostForm(context.Background(), op.srv.URL+"/token", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Status != http.StatusFound || len(op.requests()) != 1 {
		t.Errorf("status %d after %d requests", ex.Status, len(op.requests()))
	}
}

func TestMutualTLSPresentsTheCertificate(t *testing.T) {
	op := newFakeOP(t, true, func(s seen) reply {
		return jsonReply(200, `{"access_token":"at-123456789","token_type":"Bearer"}`)
	})
	cert, leaf := selfSignedCert(t, "client-1")
	otherCert, otherLeaf := selfSignedCert(t, "client-2")
	c, _ := testClient(t, op, ecJWK(t, "ec"), func(c *Config) {
		c.AuthMethod = ciba.AuthSelfSignedTLSClient
		c.TLSCert = &cert
	})
	ctx := context.Background()
	if _, _, err := c.Token(ctx, "id-1"); err != nil {
		t.Fatal(err)
	}
	got := <-op.arrived
	if len(got.PeerCerts) == 0 || !got.PeerCerts[0].Equal(leaf) {
		t.Fatal("the OP did not see the client's certificate")
	}
	if got.Form.Get(ciba.ParamClientID) != "client-1" || got.Form.Has(ciba.ParamClientAssertion) {
		t.Errorf("form = %v", got.Form)
	}

	other := c.WithTLSCertificate(&otherCert)
	defer other.CloseIdleConnections()
	if _, _, err := other.Token(ctx, "id-1"); err != nil {
		t.Fatal(err)
	}
	if got := <-op.arrived; !got.PeerCerts[0].Equal(otherLeaf) {
		t.Error("WithTLSCertificate did not present the other certificate")
	}
	if _, _, err := c.Token(ctx, "id-1", CallTLSCertificate(&otherCert)); err != nil {
		t.Fatal(err)
	}
	if got := <-op.arrived; !got.PeerCerts[0].Equal(otherLeaf) {
		t.Error("CallTLSCertificate did not present the other certificate")
	}
	if _, _, err := c.Token(ctx, "id-1"); err != nil {
		t.Fatal(err)
	}
	if got := <-op.arrived; !got.PeerCerts[0].Equal(leaf) {
		t.Error("the original client changed certificate")
	}

	none := c.WithTLSCertificate(nil)
	defer none.CloseIdleConnections()
	_, ex, err := none.Token(ctx, "id-1")
	var ce *ciba.Error
	if err == nil || errors.As(err, &ce) || ex.Status != 0 {
		t.Fatalf("without a certificate: err = %v, status %d; want a TLS failure", err, ex.Status)
	}
	if n := len(op.requests()); n != 4 {
		t.Errorf("OP saw %d requests, want 4", n)
	}
}

func TestMTLSEndpointAliasesAreUsed(t *testing.T) {
	op := newFakeOP(t, false, func(s seen) reply { return jsonReply(200, `{"access_token":"a","token_type":"Bearer"}`) })
	c, _ := testClient(t, op, ecJWK(t, "ec"), func(c *Config) {
		md := *c.Metadata
		md.MTLSEndpointAliases = &ciba.MTLSEndpointAliases{TokenEndpoint: op.srv.URL + "/mtls/token"}
		c.Metadata = &md
	})
	if _, _, err := c.Token(context.Background(), "id"); err != nil {
		t.Fatal(err)
	}
	got := <-op.arrived
	if got.Path != "/mtls/token" {
		t.Errorf("called %s, want the mTLS alias", got.Path)
	}
	if _, claims, _ := decodeJWT(t, got.Form.Get(ciba.ParamClientAssertion)); claims["aud"] != op.srv.URL+"/token" {
		t.Errorf("aud = %v, want the canonical token endpoint", claims["aud"])
	}
}

func TestUserInfoIntrospectRevoke(t *testing.T) {
	op := newFakeOP(t, false, func(s seen) reply {
		switch {
		case s.Path == "/userinfo" && s.Header.Get("Authorization") == "Bearer good-token-1234":
			return jsonReply(200, `{"sub":"alice"}`)
		case s.Path == "/userinfo":
			return reply{Status: 401, Header: http.Header{"Www-Authenticate": {`Bearer realm="op", error="invalid_token", error_description="cert mismatch"`}}}
		case s.Path == "/introspect":
			return jsonReply(200, `{"active":true,"client_id":"client-1","cnf":{"x5t#S256":"abc"}}`)
		case s.Path == "/revoke" && s.Form.Get("token") == "bad":
			return jsonReply(400, `{"error":"unsupported_token_type"}`)
		default:
			return reply{Status: 200}
		}
	})
	c, _ := testClient(t, op, ecJWK(t, "ec"), nil)
	ctx := context.Background()

	claims, ex, err := c.UserInfo(ctx, "good-token-1234")
	if err != nil || claims["sub"] != "alice" || ex.Method != http.MethodGet {
		t.Fatalf("claims %v, err %v", claims, err)
	}
	if got := <-op.arrived; got.Form.Has(ciba.ParamClientAssertion) {
		t.Error("userinfo carried client authentication")
	}
	_, _, err = c.UserInfo(ctx, "stolen-token-99")
	var ce *ciba.Error
	if !errors.Is(err, ciba.ErrInvalidToken) || !errors.As(err, &ce) || ce.Status != 401 || ce.Description != "cert mismatch" {
		t.Fatalf("err = %#v", err)
	}
	<-op.arrived

	ir, _, err := c.Introspect(ctx, "tok", "access_token")
	if err != nil || !ir.Active || ir.CNF[ciba.ClaimX5TS256] != "abc" {
		t.Fatalf("introspection %+v, err %v", ir, err)
	}
	got := <-op.arrived
	if got.Form.Get("token_type_hint") != "access_token" || got.Form.Get(ciba.ParamClientAssertion) == "" {
		t.Errorf("introspection form = %v", got.Form)
	}
	if _, claims, _ := decodeJWT(t, got.Form.Get(ciba.ParamClientAssertion)); claims["aud"] != op.srv.URL+"/introspect" {
		t.Errorf("aud = %v", claims["aud"])
	}

	if _, err := c.Revoke(ctx, "tok", ""); err != nil {
		t.Fatal(err)
	}
	<-op.arrived
	if _, err := c.Revoke(ctx, "bad", ""); !errors.Is(err, ciba.ErrUnsupportedTokenType) {
		t.Fatalf("err = %v", err)
	}
}

func TestParseBearerError(t *testing.T) {
	for _, tc := range []struct {
		in, code, desc string
	}{
		{`Bearer error="invalid_token"`, "invalid_token", ""},
		{`bearer realm="x", error="insufficient_scope", error_description="need, more"`, "insufficient_scope", "need, more"},
		{`Bearer error=invalid_token`, "invalid_token", ""},
		{`Bearer realm="x"`, "", ""},
		{`Basic realm="x"`, "", ""},
		{`Bearer error="unterminated`, "unterminated", ""},
	} {
		e := parseBearerError(401, tc.in)
		switch {
		case tc.code == "" && e != nil:
			t.Errorf("%q: got %v, want nil", tc.in, e)
		case tc.code != "" && (e == nil || e.Code != tc.code || e.Description != tc.desc):
			t.Errorf("%q: got %#v", tc.in, e)
		}
	}
}

func TestDiscover(t *testing.T) {
	op := newFakeOP(t, false, nil)
	hc, err := NewHTTPClient(Config{RootCAs: op.roots()})
	if err != nil {
		t.Fatal(err)
	}
	md, err := Discover(context.Background(), hc, op.srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	if md.Issuer != op.srv.URL || md.BackchannelAuthenticationEndpoint != op.srv.URL+"/bc" || !md.TLSClientCertificateBoundAccessTokens {
		t.Errorf("metadata = %+v", md)
	}
	for _, tc := range []struct {
		name string
		rep  reply
		want string
	}{
		{"404", reply{Status: 404}, "HTTP 404"},
		{"not json", jsonReply(200, "<html>"), "does not parse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := newFakeOP(t, false, func(seen) reply { return tc.rep })
			hc, _ := NewHTTPClient(Config{RootCAs: bad.roots()})
			if _, err := Discover(context.Background(), hc, bad.srv.URL); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := Discover(context.Background(), hc, ""); err == nil {
		t.Error("empty issuer accepted")
	}
	untrusting, _ := NewHTTPClient(Config{RootCAs: x509CertPoolEmpty()})
	if _, err := Discover(context.Background(), untrusting, op.srv.URL); err == nil {
		t.Error("an untrusted server certificate was accepted")
	}
}

func TestTLSConfigIsStrict(t *testing.T) {
	cert, _ := selfSignedCert(t, "c")
	tc := tlsConfig(nil, &cert)
	if tc.MinVersion != tls.VersionTLS12 || tc.InsecureSkipVerify {
		t.Errorf("tls config = %+v", tc)
	}
	got, err := tc.GetClientCertificate(&tls.CertificateRequestInfo{})
	if err != nil || got != &cert {
		t.Errorf("client certificate not presented to a server naming no CAs")
	}
}

func TestEndpointsAndMissingEndpoints(t *testing.T) {
	op := newFakeOP(t, false, func(seen) reply { return reply{Status: 200} })
	c, _ := testClient(t, op, ecJWK(t, "ec"), func(c *Config) {
		md := *c.Metadata
		md.IntrospectionEndpoint = ""
		c.Metadata = &md
	})
	if c.TokenEndpoint() != op.srv.URL+"/token" || c.BackchannelEndpoint() != op.srv.URL+"/bc" {
		t.Errorf("endpoints %s %s", c.TokenEndpoint(), c.BackchannelEndpoint())
	}
	if _, _, err := c.Introspect(context.Background(), "t", ""); err == nil || !strings.Contains(err.Error(), "no endpoint") {
		t.Errorf("err = %v", err)
	}
	if len(op.requests()) != 0 {
		t.Error("a request was sent without an endpoint")
	}
	other := op.srv.URL + "/somewhere"
	if _, err := c.Revoke(context.Background(), "t", "", CallEndpoint(other)); err != nil {
		t.Fatal(err)
	}
	got := <-op.arrived
	if got.Path != "/somewhere" {
		t.Errorf("called %s", got.Path)
	}
	if _, claims, _ := decodeJWT(t, got.Form.Get(ciba.ParamClientAssertion)); claims["aud"] != other {
		t.Errorf("aud = %v, want the overriding endpoint", claims["aud"])
	}
}

func TestRandIsInjected(t *testing.T) {
	op := newFakeOP(t, false, nil)
	c, _ := testClient(t, op, ecJWK(t, "ec"), func(c *Config) { c.Rand = bytes.NewReader(make([]byte, 48)) })
	jti, err := c.NewJTI()
	if err != nil || jti != strings.Repeat("A", 32) {
		t.Errorf("jti from zero bytes = %q, %v", jti, err)
	}
	if _, err := c.NewJTI(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RequestObject(AuthParams{Scope: "openid"}); err == nil || !strings.Contains(err.Error(), "randomness") {
		t.Errorf("exhausted randomness: err = %v", err)
	}
}

func TestClientIsSafeForConcurrentUse(t *testing.T) {
	op := newFakeOP(t, false, func(seen) reply { return jsonReply(200, `{"auth_req_id":"x","expires_in":60}`) })
	c, _ := testClient(t, op, ecJWK(t, "ec"), nil)
	const n = 20
	errs := make(chan error, n)
	for range n {
		go func() {
			_, _, err := c.Authenticate(context.Background(), AuthParams{Scope: "openid", LoginHint: "a"})
			errs <- err
		}()
	}
	jtis := map[string]bool{}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		_, claims, _ := decodeJWT(t, (<-op.arrived).Form.Get(ciba.ParamRequest))
		jtis[claims["jti"].(string)] = true
	}
	if len(jtis) != n {
		t.Errorf("%d distinct jti in %d requests", len(jtis), n)
	}
}
