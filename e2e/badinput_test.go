package e2e

// The bad-input corpus of CIBA.md §2.2-2.4, §3.2 and §7.1-7.4, sent to the
// reference OP from the outside. One table per endpoint, one world per
// table; every table ends with a good request, proving the OP still serves
// after the abuse. Every refusal must be a well-formed OAuth error with the
// right code and status, never a 5xx.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
)

// probeSender sends one probe and returns the exchange and the client's
// verdict (a *ciba.Error for an OAuth error answer).
type probeSender = func(t *testing.T) (*client.Exchange, error)

// badProbe is one request sent to the OP and the check of its answer.
type badProbe struct {
	name  string
	send  probeSender
	check func(t *testing.T, ex *client.Exchange, err error)
}

// probeRefused expects an OAuth error with one of codes and one of statuses
// (400 when none are given).
func probeRefused(name string, send probeSender, codes []string, statuses ...int) badProbe {
	return badProbe{name: name, send: send, check: func(t *testing.T, ex *client.Exchange, err error) {
		t.Helper()
		wantOAuthErrorIn(t, ex, err, codes, statuses...)
	}}
}

// probeAccepted expects success.
func probeAccepted(name string, send probeSender) badProbe {
	return badProbe{name: name, send: send, check: func(t *testing.T, ex *client.Exchange, err error) {
		t.Helper()
		wantOK(t, ex, err, name)
	}}
}

// runBadProbes runs the probes in order, one subtest each.
func runBadProbes(t *testing.T, probes []badProbe) {
	t.Helper()
	for _, p := range probes {
		t.Run(p.name, func(t *testing.T) {
			ex, err := p.send(t)
			p.check(t, ex, err)
		})
	}
}

// wantOAuthErrorIn is wantOAuthError accepting any of codes (CIBA.md lets
// some probes be answered with either of two codes).
func wantOAuthErrorIn(t *testing.T, ex *client.Exchange, err error, codes []string, statuses ...int) {
	t.Helper()
	if len(codes) == 1 {
		wantOAuthError(t, ex, err, codes[0], statuses...)
		return
	}
	if ex == nil {
		t.Fatalf("want one of %v, got no HTTP answer: %v", codes, err)
	}
	if ex.Status >= 500 {
		t.Fatalf("want one of %v, got a server error: %s", codes, dump(ex))
	}
	var oe *ciba.Error
	if !errors.As(err, &oe) {
		t.Fatalf("want OAuth error %v, got %v: %s", codes, err, dump(ex))
	}
	if !slices.Contains(codes, oe.Code) {
		t.Fatalf("want one of %v, got %s (%s): %s", codes, oe.Code, oe.Description, dump(ex))
	}
	wantOAuthError(t, ex, err, oe.Code, statuses...)
}

// Error code sets used across the tables (functions, so no table can
// change another's).
func errInvalidRequest() []string { return []string{"invalid_request"} }
func errInvalidClient() []string  { return []string{"invalid_client"} }
func errInvalidGrant() []string   { return []string{"invalid_grant"} }

// errClientAuth(): a client authentication failure is invalid_client (401,
// 400 tolerated) or invalid_request (400); CIBA 13, RFC 6749 5.2,
// CIBA.md §2.4.
func errClientAuth() []string { return []string{"invalid_client", "invalid_request"} }

// errPending(): the answer to an authenticated poll of a pending
// auth_req_id (CIBA 11).
func errPending() []string { return []string{"authorization_pending", "slow_down"} }

// status400or401() are the statuses allowed for invalid_client (CIBA 13).
func status400or401() []int { return []int{http.StatusBadRequest, http.StatusUnauthorized} }

// signingKeyOf is the private signing key of client id from target.yaml.
func (w *world) signingKeyOf(id string) jose.JSONWebKey {
	w.t.Helper()
	tc, ok := w.env.Target.Client(id)
	if !ok {
		w.t.Fatalf("no client %q in target.yaml", id)
	}
	k, err := tc.LoadSigningKey()
	if err != nil {
		w.t.Fatal(err)
	}
	return k
}

// attackerKey is a fresh ES256 key no client registered.
func attackerKey(t *testing.T) jose.JSONWebKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return jose.JSONWebKey{Key: priv, KeyID: "attacker-" + randomSuffix(t), Algorithm: ciba.AlgES256, Use: "sig"}
}

// publicKeyPEM is the SPKI PEM of a client's public key: the "secret" of
// the HS256 algorithm-confusion attack.
func publicKeyPEM(t *testing.T, k jose.JSONWebKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.Key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func publicKeyJSON(t *testing.T, k jose.JSONWebKey) []byte {
	t.Helper()
	b, err := k.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signRaw signs payload verbatim with k (for JSON the client would never
// produce, such as duplicate members).
func signRaw(t *testing.T, k jose.JSONWebKey, payload string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Algorithm), Key: k.Key},
		(&jose.SignerOptions{}).WithHeader("kid", k.KeyID))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// authSend is a backchannel request of c with p.
func (w *world) authSend(c *client.Client, p client.AuthParams, opts ...client.CallOption) probeSender {
	return func(t *testing.T) (*client.Exchange, error) {
		_, ex, err := c.Authenticate(w.ctx(), p, opts...)
		return ex, err
	}
}

// tokenSend is a CIBA grant token request of c for the id *id points at
// (set by an earlier step).
func (w *world) tokenSend(c *client.Client, id *string, opts ...client.CallOption) probeSender {
	return func(t *testing.T) (*client.Exchange, error) {
		if *id == "" {
			t.Fatal("no auth_req_id: an earlier step failed")
		}
		_, ex, err := c.Token(w.ctx(), *id, opts...)
		return ex, err
	}
}

// approvedRequest starts a request for carol (who never answers by
// herself) and approves it on the device by hand, so the test, not a
// timer, decides when the user has approved. It reports to t, which may
// be a subtest.
func (w *world) approvedRequest(t *testing.T, c *client.Client) string {
	t.Helper()
	ack, ex, err := c.Authenticate(w.ctx(), w.params(c, "carol"))
	if err != nil {
		t.Fatalf("%s: backchannel request refused: %v\n%s", c.ClientID(), err, dump(ex))
	}
	if _, err := w.env.Device.Wait(w.ctx(), ack.AuthReqID); err != nil {
		t.Fatalf("device never received %s: %v", ack.AuthReqID, err)
	}
	if err := w.env.Device.Decide(w.ctx(), ack.AuthReqID, ciba.DeviceSucceed); err != nil {
		t.Fatalf("approving %s on the device: %v", ack.AuthReqID, err)
	}
	return ack.AuthReqID
}

// tokensFor redeems an approved request of c.
func (w *world) tokensFor(t *testing.T, c *client.Client) *ciba.TokenResponse {
	t.Helper()
	id := w.approvedRequest(t, c)
	tr, ex, err := c.Token(w.ctx(), id)
	if err != nil {
		t.Fatalf("%s: token request for an approved auth_req_id: %v\n%s", c.ClientID(), err, dump(ex))
	}
	return tr
}

// wantShownOrRefused: a binding_message the device may not be able to
// display is either refused with invalid_binding_message or shown exactly
// as sent (CIBA 7.1, 13; suite module 11).
func (w *world) wantShownOrRefused(msg string) func(*testing.T, *client.Exchange, error) {
	return func(t *testing.T, ex *client.Exchange, err error) {
		t.Helper()
		if err != nil {
			wantOAuthError(t, ex, err, "invalid_binding_message")
			return
		}
		body, jerr := ex.JSON()
		id, _ := body["auth_req_id"].(string)
		if jerr != nil || id == "" {
			t.Fatalf("accepted without an auth_req_id: %s", dump(ex))
		}
		got, werr := w.env.Device.Wait(w.ctx(), id)
		if werr != nil {
			t.Fatal(werr)
		}
		if got.BindingMessage != msg {
			t.Errorf("device shows binding_message %q, sent %q", got.BindingMessage, msg)
		}
	}
}

// wantMethodNotAllowed checks a wrong-method answer: 405 with an Allow
// header naming POST (RFC 9110 15.5.6), or a 400 OAuth error; never 5xx.
func wantMethodNotAllowed(t *testing.T, ex *client.Exchange, err error) {
	t.Helper()
	if ex == nil || ex.Status == 0 {
		t.Fatalf("no HTTP answer: %v", err)
	}
	switch ex.Status {
	case http.StatusMethodNotAllowed:
		if allow := ex.ResponseHeader.Get("Allow"); !strings.Contains(allow, http.MethodPost) {
			t.Errorf("405 with Allow %q, want POST listed (RFC 9110 15.5.6)", allow)
		}
		if len(ex.ResponseBody) > 0 {
			wantErrorBodyShape(t, ex)
		}
	default:
		t.Fatalf("want 405, got %s", dump(ex))
	}
}

// TestBadInputRequestObject probes the signed authentication request
// (CIBA 7.1.1, FAPI-CIBA 5.2.2-6/-9, FAPI-RW 8.6; CIBA.md §2.3, §7.1).
// Every bad request object is 400 invalid_request (CIBA.md pitfall 1).
func TestBadInputRequestObject(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	c := w.client("poll-pkjwt-ps256") // RSA key, so RS256 can be tried
	other := w.signingKeyOf("poll-pkjwt-es256")
	own := w.signingKeyOf("poll-pkjwt-ps256")
	attacker := attackerKey(t)
	now := w.clock.Now()
	p := w.params(c, "carol")
	ro := func(opts ...client.JWTOption) probeSender {
		return w.authSend(c, p, client.CallRequestObject(opts...))
	}
	raw := func(jwt string) probeSender { return w.authSend(c, p, client.CallRequestObjectJWT(jwt)) }
	withExpiry := func(v any) probeSender {
		q := p
		q.RequestedExpiry = v
		return w.authSend(c, q)
	}
	bad := func(name string, send probeSender) badProbe { return probeRefused(name, send, errInvalidRequest()) }

	probes := []badProbe{
		// FAPI-CIBA 5.2.2-6: only signed requests (suite module 43).
		bad("unsigned form request", w.authSend(c, p, client.CallUnsigned())),
		// CIBA 7.1.1 via OIDC 10.1: asymmetric only (modules 24-26).
		bad("alg none", ro(client.WithNoneAlg())),
		bad("alg none with kid and valid claims but empty signature", ro(client.WithNoneAlg(), client.WithHeader("kid", own.KeyID))),
		bad("HS256 keyed with the client's public JWK", ro(client.WithHS256Secret(publicKeyJSON(t, c.PublicKey())))),
		bad("HS256 keyed with the client's public key PEM", ro(client.WithHS256Secret(publicKeyPEM(t, c.PublicKey())))),
		bad("RS256 with the client's own RSA key", ro(client.WithAlg(ciba.AlgRS256))),
		bad("header alg ES256 over a PS256 signature", ro(client.WithHeader("alg", ciba.AlgES256))),
		bad("tampered signature", ro(client.WithTamperedSignature())),
		// CIBA.md §2.3: verified with the authenticated client's keys only.
		bad("signed by another client's key", ro(client.WithSigningKey(other))),
		bad("signed by another client's key under this client's kid", ro(client.WithSigningKey(other), client.WithHeader("kid", own.KeyID))),
		// RFC 7515 4.1.3/4.1.2: header-supplied keys are never trusted.
		bad("attacker key embedded as jwk header", ro(client.WithSigningKey(attacker), client.WithHeader("jwk", attacker.Public()))),
		bad("attacker key embedded as jwk header under this client's kid", ro(client.WithSigningKey(attacker), client.WithHeader("jwk", attacker.Public()), client.WithHeader("kid", own.KeyID))),
		bad("attacker key by jku header", ro(client.WithSigningKey(attacker), client.WithHeader("jku", "https://attacker.example/jwks.json"))),
		bad("kid unknown", ro(client.WithHeader("kid", "no-such-key-"+randomSuffix(t)))),
		// RFC 7515 4.1.11: unknown critical extensions must be refused.
		bad("crit header with unknown extension", ro(client.WithHeader("crit", []string{"urn:example:must-understand"}), client.WithHeader("urn:example:must-understand", true))),
		// CIBA 7.1.1 required claims (modules 12, 14, 16, 19, 20, 23).
		bad("missing aud", ro(client.WithoutClaim("aud"))),
		bad("missing iss", ro(client.WithoutClaim("iss"))),
		bad("missing exp", ro(client.WithoutClaim("exp"))),
		bad("missing iat", ro(client.WithoutClaim("iat"))),
		bad("missing nbf", ro(client.WithoutClaim("nbf"))),
		bad("missing jti", ro(client.WithoutClaim("jti"))),
		// Module 13 and CIBA.md §7.1.
		bad("bad aud", ro(client.WithClaim("aud", "https://www.other1.example.com/"))),
		bad("aud array without the issuer", ro(client.WithClaim("aud", []string{"https://www.other1.example.com/", w.md.TokenEndpoint}))),
		bad("aud is the token endpoint, not the issuer", ro(client.WithClaim("aud", w.md.TokenEndpoint))),
		// Module 15.
		bad("iss is another client", ro(client.WithClaim("iss", "poll-pkjwt-es256"))),
		// Modules 17, 18, 21, 22 (FAPI-CIBA 5.2.2-9).
		bad("exp in the past", ro(client.WithClaim("exp", now.Add(-time.Hour).Unix()))),
		bad("exp 70 minutes in the future", ro(client.WithClaim("exp", now.Add(70*time.Minute).Unix()))),
		bad("nbf 10 minutes in the future", ro(client.WithLifetime(10*time.Minute, 15*time.Minute))),
		bad("nbf 70 minutes in the past", ro(client.WithLifetime(-70*time.Minute, 5*time.Minute))),
		// RFC 7519 2: NumericDate is a JSON number (CIBA.md §7.1, judgement).
		bad("exp as a string", ro(client.WithClaim("exp", "9999999999"))),
		// CIBA.md §7.1: replayed request object (judgement).
		{name: "replayed request object", send: func(t *testing.T) (*client.Exchange, error) {
			jwt, err := c.RequestObject(p)
			if err != nil {
				t.Fatal(err)
			}
			_, ex, err := c.Authenticate(w.ctx(), p, client.CallRequestObjectJWT(jwt))
			wantOK(t, ex, err, "first use of the request object")
			_, ex, err = c.Authenticate(w.ctx(), p, client.CallRequestObjectJWT(jwt))
			return ex, err
		}, check: func(t *testing.T, ex *client.Exchange, err error) { wantOAuthError(t, ex, err, "invalid_request") }},
		{name: "fresh request object reusing a jti", send: func(t *testing.T) (*client.Exchange, error) {
			jti := "replayed-" + randomSuffix(t)
			_, ex, err := c.Authenticate(w.ctx(), p, client.CallRequestObject(client.WithJTI(jti)))
			wantOK(t, ex, err, "first use of the jti")
			q := p
			q.BindingMessage = "5678"
			_, ex, err = c.Authenticate(w.ctx(), q, client.CallRequestObject(client.WithJTI(jti)))
			return ex, err
		}, check: func(t *testing.T, ex *client.Exchange, err error) { wantOAuthError(t, ex, err, "invalid_request") }},
		// Malformed compact serialisation (RFC 7515 7.1).
		bad("two segments", raw(b64url(`{"alg":"PS256"}`)+"."+b64url(`{"iss":"poll-pkjwt-ps256"}`))),
		bad("five segments (JWE shaped)", raw("a.b.c.d.e")),
		bad("bad base64url", raw("eyJhbGciOiJQUzI1NiJ9.!!!not*base64!!!.c2ln")),
		bad("non-JSON header", raw(b64url("not json")+"."+b64url(`{}`)+"."+b64url("sig"))),
		bad("non-JSON payload", raw(b64url(`{"alg":"PS256","kid":"`+own.KeyID+`"}`)+"."+b64url("not json")+"."+b64url("sig"))),
		bad("empty request parameter", raw("")),
		// CIBA has no request_uri (CIBA.md §7.1).
		bad("request_uri instead of request", w.authSend(c, p,
			client.CallWithoutForm(ciba.ParamRequest),
			client.CallForm(ciba.ParamRequestURI, "urn:ietf:params:oauth:request_uri:"+randomSuffix(t)))),
		// CIBA 7.1.1: parameters live inside the JWT only; an OP may
		// refuse duplicates or use the JWT's values, never the form's.
		{name: "auth params duplicated outside the JWT", send: w.authSend(c, p, client.CallForm(ciba.ParamLoginHint, "alice")),
			check: func(t *testing.T, ex *client.Exchange, err error) {
				if err != nil {
					wantOAuthError(t, ex, err, "invalid_request")
					return
				}
				ack, jerr := ex.JSON()
				id, _ := ack["auth_req_id"].(string)
				if jerr != nil || id == "" {
					t.Fatalf("accepted without an auth_req_id: %s", dump(ex))
				}
				got, werr := w.env.Device.Wait(w.ctx(), id)
				if werr != nil {
					t.Fatal(werr)
				}
				if got.LoginHint != "carol" {
					t.Errorf("the OP used the form's login_hint %q instead of the request object's (CIBA 7.1.1)", got.LoginHint)
				}
			}},
		// JAR 4 typ and CIBA 7.1.1 requested_expiry forms that must pass.
		probeAccepted("typ oauth-authz-req+jwt", ro(client.WithTyp("oauth-authz-req+jwt"))),
		probeAccepted("aud array containing the issuer", ro(client.WithClaim("aud", []string{w.md.Issuer, "https://www.other1.example.com/"}))),
		{name: `requested_expiry "30" as a string`, send: withExpiry("30"), check: wantExpiresInAtMost(30)},
		{name: "requested_expiry 30 as a number", send: withExpiry(30), check: wantExpiresInAtMost(30)},
		bad("requested_expiry 0", withExpiry(0)),
		bad("requested_expiry -5", withExpiry(-5)),
		bad(`requested_expiry "abc"`, withExpiry("abc")),
		bad("requested_expiry 3.5", withExpiry(3.5)),
		bad(`requested_expiry "-5"`, withExpiry("-5")),
		bad("requested_expiry true", withExpiry(true)),
		// CIBA.md §7.2: a huge value is refused or clamped, never echoed.
		{name: "requested_expiry 1e12", send: withExpiry(int64(1e12)), check: func(t *testing.T, ex *client.Exchange, err error) {
			if err != nil {
				wantOAuthError(t, ex, err, "invalid_request")
				return
			}
			wantExpiresInAtMost(365*24*3600)(t, ex, err)
		}},
		probeAccepted("good request afterwards", w.authSend(c, w.params(c, "carol"))),
	}
	runBadProbes(t, probes)
}

// wantExpiresInAtMost accepts the request and wants 0 < expires_in <= max:
// the OP may honour or shorten requested_expiry, never lengthen it
// (CIBA 7.1, 7.3).
func wantExpiresInAtMost(max int) func(*testing.T, *client.Exchange, error) {
	return func(t *testing.T, ex *client.Exchange, err error) {
		t.Helper()
		wantOK(t, ex, err, "requested_expiry")
		body, jerr := ex.JSON()
		if jerr != nil {
			t.Fatal(jerr)
		}
		n, ok := body["expires_in"].(float64)
		if !ok || n <= 0 || n > float64(max) {
			t.Errorf("expires_in %v, want a number in (0, %d]", body["expires_in"], max)
		}
	}
}

// TestBadInputBackchannelParameters probes the authentication request
// parameters inside a well-signed request object (CIBA 7.1, 7.1.2, 13;
// CIBA.md §2.2, §7.2) and the HTTP shape of the request.
func TestBadInputBackchannelParameters(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	c := w.client("poll-pkjwt-es256")
	ping := w.client("ping-pkjwt-ps256")
	good := w.params(c, "carol")
	with := func(edit func(*client.AuthParams)) client.AuthParams {
		q := good
		edit(&q)
		return q
	}
	pingWith := func(edit func(*client.AuthParams)) client.AuthParams {
		q := w.params(ping, "carol")
		edit(&q)
		return q
	}
	send := func(q client.AuthParams, opts ...client.CallOption) probeSender { return w.authSend(c, q, opts...) }
	code := func(name, code string, q client.AuthParams) badProbe {
		return probeRefused(name, send(q), []string{code})
	}
	const otherHintToken = "eyJhbGciOiJFUzI1NiJ9.eyJsb2dpbl9oaW50IjoiYWxpY2UifQ.c2ln"
	longToken := strings.Repeat("A", ciba.MaxClientNotificationTokenLength)
	otherJWT, err := c.RequestObject(good)
	if err != nil {
		t.Fatal(err)
	}
	now := w.clock.Now()
	// login_hint_token in the reference OP's documented format: a JWT
	// signed by the client with login_hint (or sub) and exp.
	hintToken := func(opts ...client.JWTOption) string {
		t.Helper()
		base := []client.JWTOption{client.WithoutClaim("sub"), client.WithClaim("login_hint", "carol")}
		tok, err := c.ClientAssertion(w.md.Issuer, append(base, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	onlyHintToken := func(tok string) client.AuthParams {
		return with(func(q *client.AuthParams) { q.LoginHint, q.LoginHintToken = "", tok })
	}
	// An ID token this OP issued for carol, and forgeries of it.
	idToken := w.tokensFor(t, c).IDToken
	idParts := strings.Split(idToken, ".")
	onlyIDTokenHint := func(tok string) client.AuthParams {
		return with(func(q *client.AuthParams) { q.LoginHint, q.IDTokenHint = "", tok })
	}
	tamperedIDToken := idParts[0] + "." + idParts[1] + "." + strings.Map(func(r rune) rune {
		if r == 'A' {
			return 'B'
		}
		return 'A'
	}, idParts[2])
	unsignedIDToken := b64url(`{"alg":"none"}`) + "." + idParts[1] + "."
	bindingShownOrRefused := func(name, msg string) badProbe {
		return badProbe{name: name, send: send(with(func(q *client.AuthParams) { q.BindingMessage = msg })), check: w.wantShownOrRefused(msg)}
	}
	hintUnknownOrBad := []string{"invalid_request", "unknown_user_id"}

	probes := []badProbe{
		// CIBA 7.1: exactly one hint (suite module 28).
		code("no hint", "invalid_request", with(func(q *client.AuthParams) { q.LoginHint = "" })),
		code("login_hint and login_hint_token", "invalid_request", with(func(q *client.AuthParams) { q.LoginHintToken = otherHintToken })),
		code("login_hint and id_token_hint", "invalid_request", with(func(q *client.AuthParams) { q.IDTokenHint = otherHintToken })),
		code("all three hints", "invalid_request", with(func(q *client.AuthParams) {
			q.LoginHintToken, q.IDTokenHint = otherHintToken, otherHintToken
		})),
		code("unknown login_hint", "unknown_user_id", with(func(q *client.AuthParams) { q.LoginHint = "mallory-" + randomSuffix(t) })),
		// CIBA.md §7.2: no dedicated code; invalid_request or unknown_user_id.
		probeRefused("id_token_hint not issued by this OP", send(with(func(q *client.AuthParams) {
			q.LoginHint, q.IDTokenHint = "", otherHintToken
		})), []string{"invalid_request", "unknown_user_id"}),
		// CIBA 7.1 login_hint_token (CIBA.md §7.2).
		probeAccepted("login_hint_token valid", send(onlyHintToken(hintToken()))),
		code("login_hint_token expired", "expired_login_hint_token", onlyHintToken(hintToken(
			client.WithClaim("iat", now.Add(-time.Hour).Unix()), client.WithClaim("exp", now.Add(-time.Minute).Unix())))),
		code("login_hint_token for an unknown user", "unknown_user_id", onlyHintToken(hintToken(client.WithClaim("login_hint", "mallory")))),
		probeRefused("login_hint_token signed by another client", send(onlyHintToken(hintToken(client.WithSigningKey(w.signingKeyOf("poll-pkjwt-ps256"))))), hintUnknownOrBad),
		probeRefused("login_hint_token alg none", send(onlyHintToken(hintToken(client.WithNoneAlg()))), hintUnknownOrBad),
		probeRefused("login_hint_token not a JWT", send(onlyHintToken("opaque-"+randomSuffix(t))), hintUnknownOrBad),
		// CIBA 7.1 id_token_hint: an ID token this OP issued.
		probeAccepted("id_token_hint issued by this OP", send(onlyIDTokenHint(idToken))),
		probeRefused("id_token_hint with a tampered signature", send(onlyIDTokenHint(tamperedIDToken)), hintUnknownOrBad),
		probeRefused("id_token_hint re-labelled alg none", send(onlyIDTokenHint(unsignedIDToken)), hintUnknownOrBad),
		probeRefused("request object as id_token_hint", send(onlyIDTokenHint(otherJWT)), hintUnknownOrBad),
		// CIBA 7.1 scope: openid required; only known scopes.
		code("scope without openid", "invalid_scope", with(func(q *client.AuthParams) { q.Scope = "profile" })),
		code("unknown scope", "invalid_scope", with(func(q *client.AuthParams) { q.Scope = "openid payments:write-all" })),
		probeRefused("scope missing", send(with(func(q *client.AuthParams) { q.Scope = "" })), []string{"invalid_scope", "invalid_request"}),
		// CIBA 7.1 client_notification_token: required for ping, <= 1024
		// characters of RFC 6750 2.1 b64token.
		probeRefused("ping client without client_notification_token", w.authSend(ping, pingWith(func(q *client.AuthParams) { q.ClientNotificationToken = "" })), errInvalidRequest()),
		probeRefused("client_notification_token of 1025 characters", w.authSend(ping, pingWith(func(q *client.AuthParams) { q.ClientNotificationToken = longToken + "A" })), errInvalidRequest()),
		probeRefused("client_notification_token with spaces", w.authSend(ping, pingWith(func(q *client.AuthParams) { q.ClientNotificationToken = "not a b64token " + randomSuffix(t) })), errInvalidRequest()),
		probeAccepted("client_notification_token of exactly 1024 characters", w.authSend(ping, pingWith(func(q *client.AuthParams) { q.ClientNotificationToken = longToken }))),
		// CIBA 7.1 / 13 binding_message the device cannot display.
		code("binding_message too long", "invalid_binding_message", with(func(q *client.AuthParams) { q.BindingMessage = strings.Repeat("pay 100 EUR ", 400) })),
		code("binding_message with a newline", "invalid_binding_message", with(func(q *client.AuthParams) { q.BindingMessage = "12\n34" })),
		code("binding_message with a NUL", "invalid_binding_message", with(func(q *client.AuthParams) { q.BindingMessage = "12\x0034" })),
		code("binding_message with an RTL override", "invalid_binding_message", with(func(q *client.AuthParams) { q.BindingMessage = "pay \u202eRUE 001" })),
		bindingShownOrRefused("binding_message with HTML", `<script>alert("x")</script>`),
		bindingShownOrRefused("binding_message with emoji and CJK", "お支払い 💳 1234 確認してください"),
		// CIBA 7.1.2 user_code (grace has "4711").
		code("user_code missing for grace", "missing_user_code", with(func(q *client.AuthParams) { q.LoginHint = "grace" })),
		code("user_code wrong for grace", "invalid_user_code", with(func(q *client.AuthParams) { q.LoginHint, q.UserCode = "grace", "0000" })),
		probeAccepted("user_code right for grace", send(with(func(q *client.AuthParams) { q.LoginHint, q.UserCode = "grace", "4711" }))),
		// RFC 6749 3.1: parameters must not be repeated.
		probeRefused("request parameter twice", send(good, client.CallForm(ciba.ParamRequest, otherJWT, otherJWT)), errInvalidRequest()),
		probeRefused("client_assertion_type twice", send(good, client.CallForm(ciba.ParamClientAssertionType, ciba.ClientAssertionTypeJWTBearer, ciba.ClientAssertionTypeJWTBearer)), errClientAuth(), status400or401()...),
		// CIBA 7.1: POST with application/x-www-form-urlencoded.
		{name: "GET", send: send(good, client.CallMethod(http.MethodGet)), check: wantMethodNotAllowed},
		{name: "PUT", send: send(good, client.CallMethod(http.MethodPut)), check: wantMethodNotAllowed},
		probeRefused("JSON body", send(good, client.CallContentType("application/json"),
			client.CallRawBody(`{"request":"`+otherJWT+`","client_id":"poll-pkjwt-es256"}`)), errClientAuth()),
		probeRefused("form body labelled text/plain", send(good, client.CallContentType("text/plain")), errInvalidRequest()),
		probeRefused("huge form body (1 MiB)", send(good, client.CallForm("padding", strings.Repeat("a", 1<<20))),
			errInvalidRequest(), http.StatusBadRequest, http.StatusRequestEntityTooLarge),
		probeRefused("huge request object (100 KiB claim)", send(with(func(q *client.AuthParams) {
			q.Extra = map[string]any{"padding": strings.Repeat("b", 100<<10)}
		})), errInvalidRequest(), http.StatusBadRequest, http.StatusRequestEntityTooLarge),
		// Deeper than encoding/json's nesting limit (10000): a parse
		// error, which must be a 400 like any other (CIBA.md §7.1).
		probeRefused("request object with 20000 levels of nested JSON", send(with(func(q *client.AuthParams) {
			var nested any = "x"
			for range 20000 {
				nested = []any{nested}
			}
			q.Extra = map[string]any{"deep": nested}
		})), errInvalidRequest()),
		// RFC 7519 4: duplicate claim names are refused or the lexically
		// last one is used.
		{name: "request object with a duplicate login_hint claim", send: func(t *testing.T) (*client.Exchange, error) {
			iat := w.clock.Now().Unix()
			payload := fmt.Sprintf(`{"iss":%q,"aud":%q,"iat":%d,"nbf":%d,"exp":%d,"jti":%q,"scope":"openid profile","binding_message":"1234","login_hint":"carol","login_hint":"grace-dup-%s"}`,
				c.ClientID(), w.md.Issuer, iat, iat, iat+300, randomSuffix(t), randomSuffix(t))
			_, ex, err := c.Authenticate(w.ctx(), good, client.CallRequestObjectJWT(signRaw(t, w.signingKeyOf(c.ClientID()), payload)))
			return ex, err
		}, check: func(t *testing.T, ex *client.Exchange, err error) {
			// The last login_hint names no user: unknown_user_id is the
			// "last one wins" answer, invalid_request the refusal.
			wantOAuthErrorIn(t, ex, err, []string{"invalid_request", "unknown_user_id"})
		}},
		probeAccepted("good request afterwards", send(w.params(c, "carol"))),
	}
	runBadProbes(t, probes)
}

// TestBadInputClientAuthBackchannel probes client authentication at the
// backchannel endpoint (CIBA 7.1, 7.2 step 1; RFC 7523 3; RFC 8705 2;
// CIBA.md §2.4, §7.3).
func TestBadInputClientAuthBackchannel(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	c := w.client("poll-pkjwt-ps256")
	mtls := w.client("poll-mtls")
	selfSigned := w.client("poll-selfsigned")
	now := w.clock.Now()
	p := w.params(c, "carol")
	send := func(opts ...client.CallOption) probeSender { return w.authSend(c, p, opts...) }
	assertion := func(opts ...client.JWTOption) probeSender {
		return send(client.WithAuth(client.AuthAssertionOptions(opts...)))
	}
	auth := func(opts ...client.AuthOption) probeSender { return send(client.WithAuth(opts...)) }
	invalidClient := func(name string, s probeSender) badProbe {
		return probeRefused(name, s, errInvalidClient(), status400or401()...)
	}
	mtlsSend := func(cl *client.Client, opts ...client.CallOption) probeSender {
		return w.authSend(cl, w.params(cl, "carol"), opts...)
	}
	bcAud := w.md.BackchannelAuthenticationEndpoint

	probes := []badProbe{
		// Suite module 34.
		probeRefused("private_key_jwt client sends client_id only", auth(client.AuthClientIDOnly()), errClientAuth(), status400or401()...),
		probeRefused("no client authentication at all", send(client.SkipClientAuth()), errClientAuth(), status400or401()...),
		// FAPI-RW 8.6 (modules 35): only PS256/ES256 assertions.
		invalidClient("assertion alg none", assertion(client.WithNoneAlg())),
		invalidClient("assertion HS256 keyed with the public key", assertion(client.WithHS256Secret(publicKeyJSON(t, c.PublicKey())))),
		invalidClient("assertion RS256", assertion(client.WithAlg(ciba.AlgRS256))),
		invalidClient("assertion tampered signature", assertion(client.WithTamperedSignature())),
		invalidClient("assertion signed by another client's key", assertion(client.WithSigningKey(w.signingKeyOf("poll-pkjwt-es256")))),
		// RFC 7523 3.
		invalidClient("assertion expired", assertion(client.WithClaim("iat", now.Add(-10*time.Minute).Unix()), client.WithClaim("exp", now.Add(-5*time.Minute).Unix()))),
		invalidClient("assertion without exp", assertion(client.WithoutClaim("exp"))),
		invalidClient("assertion without jti", assertion(client.WithoutClaim("jti"))),
		invalidClient("assertion without iss", assertion(client.WithoutClaim("iss"))),
		invalidClient("assertion without sub", assertion(client.WithoutClaim("sub"))),
		invalidClient("assertion without aud", assertion(client.WithoutClaim("aud"))),
		invalidClient("assertion nbf 10 minutes in the future", assertion(client.WithClaim("nbf", now.Add(10*time.Minute).Unix()))),
		// FAPI-RW 5.2.2-14: no shared secrets; the registered method only.
		probeRefused("client_secret_post instead of an assertion", send(client.WithAuth(client.AuthClientIDOnly()), client.CallForm(ciba.ParamClientSecret, "s3cret")), errClientAuth(), status400or401()...),
		invalidClient("tls_client_auth client sends an assertion and no certificate", mtlsSend(mtls, client.CallTLSCertificate(nil), client.WithAuth(client.AuthAs(ciba.AuthPrivateKeyJWT)))),
		// RFC 6749 2.3: one authentication method per request.
		probeRefused("tls_client_auth client sends an assertion beside its certificate", mtlsSend(mtls, client.WithAuth(client.AuthAs(ciba.AuthPrivateKeyJWT), client.AuthIncludeClientID())), errClientAuth(), status400or401()...),
		{name: "assertion jti replayed", send: func(t *testing.T) (*client.Exchange, error) {
			a, err := c.ClientAssertion(bcAud)
			if err != nil {
				t.Fatal(err)
			}
			_, ex, err := c.Authenticate(w.ctx(), p, client.WithAuth(client.AuthAssertion(a)))
			wantOK(t, ex, err, "first use of the assertion")
			_, ex, err = c.Authenticate(w.ctx(), p, client.WithAuth(client.AuthAssertion(a)))
			return ex, err
		}, check: func(t *testing.T, ex *client.Exchange, err error) {
			wantOAuthErrorIn(t, ex, err, errInvalidClient(), status400or401()...)
		}},
		invalidClient("assertion aud another server", auth(client.AuthAudience("https://www.other1.example.com/token"))),
		// CIBA 7.1 (CIBA.md pitfall 2): all three audiences are accepted.
		probeAccepted("assertion aud issuer", auth(client.AuthAudience(w.md.Issuer))),
		probeAccepted("assertion aud token endpoint", auth(client.AuthAudience(w.md.TokenEndpoint))),
		probeAccepted("assertion aud backchannel endpoint", auth(client.AuthAudience(bcAud))),
		probeRefused("wrong client_assertion_type", auth(client.AuthAssertionType("urn:ietf:params:oauth:client-assertion-type:saml2-bearer")), errClientAuth(), status400or401()...),
		invalidClient("assertion iss != sub", assertion(client.WithClaim("sub", "poll-pkjwt-es256"))),
		invalidClient("assertion for another client signed with own key", assertion(client.WithClaim("iss", "poll-pkjwt-es256"), client.WithClaim("sub", "poll-pkjwt-es256"))),
		invalidClient("form client_id differs from assertion", auth(client.AuthClientID("poll-pkjwt-es256"))),
		invalidClient("unknown client_id (private_key_jwt)", assertion(client.WithClaim("iss", "nobody"), client.WithClaim("sub", "nobody"))),
		// RFC 8705 2.1 / suite module 32.
		invalidClient("tls_client_auth with another client's certificate", mtlsSend(mtls, client.CallTLSCertificate(w.certOf("ping-mtls")))),
		invalidClient("tls_client_auth with a private_key_jwt client's certificate", mtlsSend(mtls, client.CallTLSCertificate(w.certOf("poll-pkjwt-es256")))),
		probeRefused("tls_client_auth without a certificate", mtlsSend(mtls, client.CallTLSCertificate(nil)), errClientAuth(), status400or401()...),
		// RFC 8705 2.2: the self-signed client's registered key, not a
		// CA-issued certificate of someone else.
		invalidClient("self_signed client presents another client's CA-issued certificate", mtlsSend(selfSigned, client.CallTLSCertificate(w.certOf("poll-mtls")))),
		probeRefused("self_signed client without a certificate", mtlsSend(selfSigned, client.CallTLSCertificate(nil)), errClientAuth(), status400or401()...),
		// Suite module 30: exactly 401 invalid_client.
		probeRefused("MTLS form client_id differs from request object iss", mtlsSend(mtls, client.WithAuth(client.AuthClientID("ping-mtls"))), errInvalidClient(), http.StatusUnauthorized),
		invalidClient("unknown client_id (tls_client_auth)", mtlsSend(mtls, client.WithAuth(client.AuthClientID("nobody-"+randomSuffix(t))))),
		probeAccepted("good private_key_jwt request afterwards", w.authSend(c, w.params(c, "carol"))),
		probeAccepted("good tls_client_auth request afterwards", mtlsSend(mtls)),
		probeAccepted("good self_signed_tls_client_auth request afterwards", mtlsSend(selfSigned)),
	}
	runBadProbes(t, probes)
}

// TestBadInputClientAuthToken probes client authentication at the token
// endpoint (CIBA 10.1, RFC 7523 3, RFC 8705 2; CIBA.md §3.2, §7.3). An
// accepted authentication answers authorization_pending or slow_down for
// a pending request.
func TestBadInputClientAuthToken(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	c := w.client("poll-pkjwt-ps256") // RSA key, so RS256 can be tried
	mtls := w.client("poll-mtls")
	selfSigned := w.client("poll-selfsigned")
	now := w.clock.Now()
	id := w.authenticate(c, w.params(c, "carol")).AuthReqID
	mtlsID := w.authenticate(mtls, w.params(mtls, "carol")).AuthReqID
	selfID := w.authenticate(selfSigned, w.params(selfSigned, "carol")).AuthReqID
	send := func(opts ...client.CallOption) probeSender { return w.tokenSend(c, &id, opts...) }
	assertion := func(opts ...client.JWTOption) probeSender {
		return send(client.WithAuth(client.AuthAssertionOptions(opts...)))
	}
	auth := func(opts ...client.AuthOption) probeSender { return send(client.WithAuth(opts...)) }
	invalidClient := func(name string, s probeSender) badProbe {
		return probeRefused(name, s, errInvalidClient(), status400or401()...)
	}
	authOK := func(name string, s probeSender) badProbe { return probeRefused(name, s, errPending()) }
	teAud := w.md.TokenEndpoint

	probes := []badProbe{
		// Suite module 33.
		probeRefused("private_key_jwt client sends client_id only", auth(client.AuthClientIDOnly()), errClientAuth(), status400or401()...),
		// Suite module 36 and CIBA.md §7.3.
		invalidClient("assertion alg none", assertion(client.WithNoneAlg())),
		invalidClient("assertion HS256 keyed with the public key", assertion(client.WithHS256Secret(publicKeyPEM(t, c.PublicKey())))),
		invalidClient("assertion RS256", assertion(client.WithAlg(ciba.AlgRS256))),
		invalidClient("assertion signed by another client's key", assertion(client.WithSigningKey(w.signingKeyOf("poll-pkjwt-es256")))),
		invalidClient("assertion expired", assertion(client.WithClaim("iat", now.Add(-10*time.Minute).Unix()), client.WithClaim("exp", now.Add(-5*time.Minute).Unix()))),
		{name: "assertion jti replayed", send: func(t *testing.T) (*client.Exchange, error) {
			a, err := c.ClientAssertion(teAud)
			if err != nil {
				t.Fatal(err)
			}
			_, ex, err := c.Token(w.ctx(), id, client.WithAuth(client.AuthAssertion(a)))
			wantOAuthErrorIn(t, ex, err, errPending())
			_, ex, err = c.Token(w.ctx(), id, client.WithAuth(client.AuthAssertion(a)))
			return ex, err
		}, check: func(t *testing.T, ex *client.Exchange, err error) {
			wantOAuthErrorIn(t, ex, err, errInvalidClient(), status400or401()...)
		}},
		invalidClient("assertion aud another server", auth(client.AuthAudience("https://www.other1.example.com/token"))),
		// Suite module 37: aud = issuer should be accepted.
		authOK("assertion aud issuer", auth(client.AuthAudience(w.md.Issuer))),
		authOK("assertion aud token endpoint", auth(client.AuthAudience(teAud))),
		probeRefused("wrong client_assertion_type", auth(client.AuthAssertionType("urn:ietf:params:oauth:client-assertion-type:saml2-bearer")), errClientAuth(), status400or401()...),
		invalidClient("assertion iss != sub", assertion(client.WithClaim("sub", "poll-pkjwt-es256"))),
		invalidClient("unknown client_id (private_key_jwt)", assertion(client.WithClaim("iss", "nobody"), client.WithClaim("sub", "nobody"))),
		// Suite module 31 and RFC 8705 2.
		invalidClient("tls_client_auth with another client's certificate", w.tokenSend(mtls, &mtlsID, client.CallTLSCertificate(w.certOf("ping-mtls")))),
		invalidClient("tls_client_auth client_id of another client over own certificate", w.tokenSend(mtls, &mtlsID, client.WithAuth(client.AuthClientID("ping-mtls")))),
		{name: "tls_client_auth without a certificate", send: w.tokenSend(mtls, &mtlsID, client.CallTLSCertificate(nil)), check: wantNoTokensWithoutCert},
		invalidClient("self_signed client presents another client's CA-issued certificate", w.tokenSend(selfSigned, &selfID, client.CallTLSCertificate(w.certOf("poll-mtls")))),
		invalidClient("unknown client_id (tls_client_auth)", w.tokenSend(mtls, &mtlsID, client.WithAuth(client.AuthClientID("nobody-"+randomSuffix(t))))),
		// The rightful requests are unharmed by all of the above.
		authOK("good private_key_jwt poll afterwards", send()),
		authOK("good tls_client_auth poll afterwards", w.tokenSend(mtls, &mtlsID)),
		authOK("good self_signed poll afterwards", w.tokenSend(selfSigned, &selfID)),
		{name: "tokens for an approved request afterwards", send: func(t *testing.T) (*client.Exchange, error) {
			approved := w.approvedRequest(t, c)
			_, ex, err := c.Token(w.ctx(), approved)
			return ex, err
		}, check: func(t *testing.T, ex *client.Exchange, err error) { wantOK(t, ex, err, "token request") }},
	}
	runBadProbes(t, probes)
}

// wantNoTokensWithoutCert: a token request without a client certificate
// is refused, by a TLS failure or a 4xx client-authentication error, and
// never yields tokens (FAPI-RW 5.2.2-5/-6, RFC 8705 3; suite module 45).
func wantNoTokensWithoutCert(t *testing.T, ex *client.Exchange, err error) {
	t.Helper()
	if ex == nil || ex.Status == 0 {
		if err == nil {
			t.Fatal("no answer and no error")
		}
		return // TLS handshake refused: allowed
	}
	if err == nil {
		t.Fatalf("tokens issued to a request without a client certificate: %s", dump(ex))
	}
	wantOAuthErrorIn(t, ex, err, errClientAuth(), status400or401()...)
}

// TestBadInputTokenEndpoint probes the CIBA grant and refresh grant at
// the token endpoint (CIBA 10.1, 11; RFC 6749 5.2, 6; CIBA.md §3.2,
// §7.4), including the cross-client checks of CIBA.md pitfall 8.
func TestBadInputTokenEndpoint(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	a := w.client("poll-pkjwt-es256")
	b := w.client("poll-pkjwt-ps256")
	pending := w.authenticate(a, w.params(a, "carol")).AuthReqID
	mutated := func(f func(string) string) *string { s := f(pending); return &s }
	invalidGrant := func(name string, id *string) badProbe {
		return probeRefused(name, w.tokenSend(a, id), errInvalidGrant())
	}
	swapCase := func(s string) string {
		return strings.Map(func(r rune) rune {
			switch {
			case r >= 'a' && r <= 'z':
				return r - 'a' + 'A'
			case r >= 'A' && r <= 'Z':
				return r - 'A' + 'a'
			}
			return r
		}, s)
	}
	lit := func(s string) *string { return &s }

	// Shared by the sequential cross-client steps.
	var crossID, victimRefresh string
	var victimTokens *ciba.TokenResponse

	probes := []badProbe{
		probeRefused("missing auth_req_id", w.tokenSend(a, &pending, client.CallWithoutForm(ciba.ParamAuthReqID)), errInvalidRequest()),
		probeRefused("empty auth_req_id", w.tokenSend(a, &pending, client.CallForm(ciba.ParamAuthReqID, "")), errInvalidRequest()),
		probeRefused("auth_req_id twice", w.tokenSend(a, &pending, client.CallForm(ciba.ParamAuthReqID, pending, pending)), errInvalidRequest()),
		invalidGrant("random auth_req_id", lit(randomSuffix(t)+randomSuffix(t))),
		invalidGrant("truncated auth_req_id", mutated(func(s string) string { return s[:len(s)-4] })),
		invalidGrant("case-changed auth_req_id", mutated(swapCase)),
		invalidGrant("padded auth_req_id", mutated(func(s string) string { return s + "==" })),
		invalidGrant("auth_req_id with trailing space", mutated(func(s string) string { return s + " " })),
		invalidGrant("SQL injection", lit(`' OR '1'='1' --`)),
		invalidGrant("NoSQL operator", lit(`{"$ne":null}`)),
		invalidGrant("wildcard", lit(`*`)),
		invalidGrant("path traversal", lit(`../../../etc/passwd`)),
		invalidGrant("NUL byte", mutated(func(s string) string { return s + "\x00" })),
		probeRefused("4 KiB auth_req_id", w.tokenSend(a, lit(strings.Repeat("Z", 4096))), []string{"invalid_grant", "invalid_request"}),
		probeRefused("grant_type password", w.tokenSend(a, &pending, client.CallForm(ciba.ParamGrantType, "password")), []string{"unsupported_grant_type"}),
		probeRefused("grant_type authorization_code", w.tokenSend(a, &pending, client.CallForm(ciba.ParamGrantType, "authorization_code")), []string{"unsupported_grant_type"}),
		probeRefused("grant_type ciba misspelt", w.tokenSend(a, &pending, client.CallForm(ciba.ParamGrantType, "urn:openid:params:grant-type:CIBA")), []string{"unsupported_grant_type"}),
		probeRefused("missing grant_type", w.tokenSend(a, &pending, client.CallWithoutForm(ciba.ParamGrantType)), errInvalidRequest()),
		{name: "GET", send: w.tokenSend(a, &pending, client.CallMethod(http.MethodGet)), check: wantMethodNotAllowed},
		// Suite module 29 / CIBA.md pitfall 8: another client's
		// auth_req_id is invalid_grant and leaves the victim's request as
		// it was, while pending and after approval.
		{name: "another client's pending auth_req_id", send: func(t *testing.T) (*client.Exchange, error) {
			ack, ex, err := a.Authenticate(w.ctx(), w.params(a, "carol"))
			wantOK(t, ex, err, "backchannel request")
			if _, err := w.env.Device.Wait(w.ctx(), ack.AuthReqID); err != nil {
				t.Fatal(err)
			}
			_, ex, err = a.Token(w.ctx(), ack.AuthReqID)
			wantOAuthErrorIn(t, ex, err, errPending())
			crossID = ack.AuthReqID
			_, ex, err = b.Token(w.ctx(), crossID)
			return ex, err
		}, check: func(t *testing.T, ex *client.Exchange, err error) { wantOAuthError(t, ex, err, "invalid_grant") }},
		{name: "another client's approved auth_req_id", send: func(t *testing.T) (*client.Exchange, error) {
			if crossID == "" {
				t.Fatal("no auth_req_id: an earlier step failed")
			}
			if err := w.env.Device.Decide(w.ctx(), crossID, ciba.DeviceSucceed); err != nil {
				t.Fatalf("approving on the device: %v", err)
			}
			w.clock.Advance(time.Duration(1+ciba.SlowDownIncrement) * time.Second) // past any interval
			_, ex, err := b.Token(w.ctx(), crossID)
			return ex, err
		}, check: func(t *testing.T, ex *client.Exchange, err error) { wantOAuthError(t, ex, err, "invalid_grant") }},
		{name: "rightful client still gets tokens", send: func(t *testing.T) (*client.Exchange, error) {
			tr, ex, err := a.Token(w.ctx(), crossID)
			if tr != nil {
				victimTokens = tr
				victimRefresh = tr.RefreshToken
			}
			return ex, err
		}, check: func(t *testing.T, ex *client.Exchange, err error) {
			wantOK(t, ex, err, "victim's token request")
			if victimTokens.AccessToken == "" || victimTokens.IDToken == "" {
				t.Errorf("token response lacks access_token or id_token: %s", ex.ResponseBody)
			}
		}},
		invalidGrant("redeemed auth_req_id again", &crossID),
		probeRefused("redeemed auth_req_id by the other client", w.tokenSend(b, &crossID), errInvalidGrant()),
		// FAPI-RW 5.2.2-5/-6, RFC 8705 3 (suite module 45): no
		// certificate, no tokens; the request stays redeemable.
		{name: "approved request without a client certificate", send: func(t *testing.T) (*client.Exchange, error) {
			crossID = w.approvedRequest(t, a)
			_, ex, err := w.withCert(a, nil).Token(w.ctx(), crossID)
			return ex, err
		}, check: wantNoTokensWithoutCert},
		probeAccepted("same request with the certificate", w.tokenSend(a, &crossID)),
		// RFC 6749 6 / suite module 44.
		{name: "refresh token of another client", send: func(t *testing.T) (*client.Exchange, error) {
			if victimRefresh == "" {
				t.Skip("the OP issued no refresh token (CIBA.md §3.6: optional)")
			}
			_, ex, err := b.Refresh(w.ctx(), victimRefresh, "")
			return ex, err
		}, check: func(t *testing.T, ex *client.Exchange, err error) { wantOAuthError(t, ex, err, "invalid_grant") }},
		{name: "refresh with wider scope", send: func(t *testing.T) (*client.Exchange, error) {
			if victimRefresh == "" {
				t.Skip("the OP issued no refresh token")
			}
			_, ex, err := a.Refresh(w.ctx(), victimRefresh, "openid profile email")
			return ex, err
		}, check: func(t *testing.T, ex *client.Exchange, err error) { wantOAuthError(t, ex, err, "invalid_scope") }},
		{name: "refresh token without a client certificate", send: func(t *testing.T) (*client.Exchange, error) {
			if victimRefresh == "" {
				t.Skip("the OP issued no refresh token")
			}
			_, ex, err := w.withCert(a, nil).Refresh(w.ctx(), victimRefresh, "")
			return ex, err
		}, check: wantNoTokensWithoutCert},
		probeRefused("garbage refresh token", func(t *testing.T) (*client.Exchange, error) {
			_, ex, err := a.Refresh(w.ctx(), "rt-"+randomSuffix(t), "")
			return ex, err
		}, errInvalidGrant()),
		{name: "refresh by the rightful client afterwards", send: func(t *testing.T) (*client.Exchange, error) {
			if victimRefresh == "" {
				t.Skip("the OP issued no refresh token")
			}
			_, ex, err := a.Refresh(w.ctx(), victimRefresh, "openid")
			return ex, err
		}, check: func(t *testing.T, ex *client.Exchange, err error) { wantOK(t, ex, err, "refresh") }},
		{name: "pending request still pending afterwards", send: w.tokenSend(a, &pending), check: func(t *testing.T, ex *client.Exchange, err error) {
			wantOAuthErrorIn(t, ex, err, errPending())
		}},
	}
	runBadProbes(t, probes)
}

// TestBadInputUserinfo probes the userinfo endpoint's bearer and
// certificate-binding checks (RFC 6750 3, RFC 8705 3, FAPI-R 6.2.1).
func TestBadInputUserinfo(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	a := w.client("poll-pkjwt-es256")
	b := w.client("poll-mtls")
	tokens := w.tokensFor(t, a)
	claims := w.idToken(tokens.IDToken, a.ClientID(), tokens.AccessToken)
	userinfo := func(c *client.Client, token string, opts ...client.CallOption) probeSender {
		return func(t *testing.T) (*client.Exchange, error) {
			_, ex, err := c.UserInfo(w.ctx(), token, opts...)
			return ex, err
		}
	}
	invalidToken := func(name string, s probeSender) badProbe {
		return probeRefused(name, s, []string{"invalid_token"}, http.StatusUnauthorized)
	}

	probes := []badProbe{
		// RFC 6750 3.1: no credentials, 401 with a Bearer challenge (an
		// error code is optional then).
		{name: "no token", send: userinfo(a, "", client.CallWithoutHeader("Authorization")), check: wantBearerChallenge},
		// FAPI-R 6.2.1-1: the header only, never the query.
		{name: "access_token in the query string only", send: userinfo(a, "", client.CallWithoutHeader("Authorization"),
			client.CallForm("access_token", tokens.AccessToken)), check: wantBearerChallenge},
		invalidToken("unknown token", userinfo(a, "at-"+randomSuffix(t))),
		invalidToken("ID token as access token", userinfo(a, tokens.IDToken)),
		// RFC 8705 3: certificate-bound token.
		invalidToken("token with another client's certificate", userinfo(a, tokens.AccessToken, client.CallTLSCertificate(w.certOf("poll-pkjwt-ps256")))),
		invalidToken("token used by another client", userinfo(b, tokens.AccessToken)),
		invalidToken("token without a certificate", userinfo(w.withCert(a, nil), tokens.AccessToken)),
		// FAPI-R 6.2.1-1: the header only, never the body.
		{name: "access_token in a POST body only", send: userinfo(a, "", client.CallWithoutHeader("Authorization"),
			client.CallMethod(http.MethodPost), client.CallForm("access_token", tokens.AccessToken)), check: wantBearerChallenge},
		invalidToken("token with a Basic scheme", userinfo(a, "", client.CallHeader("Authorization", "Basic "+tokens.AccessToken))),
		// RFC 6750 3.1 (invalid_token for an expired token).
		{name: "expired access token", send: func(t *testing.T) (*client.Exchange, error) {
			tr := w.tokensFor(t, a)
			if tr.ExpiresIn <= 0 {
				t.Fatalf("token response without a positive expires_in: %+v", tr.ExpiresIn)
			}
			w.clock.Advance(time.Duration(tr.ExpiresIn+1) * time.Second)
			_, ex, err := a.UserInfo(w.ctx(), tr.AccessToken)
			return ex, err
		}, check: func(t *testing.T, ex *client.Exchange, err error) {
			wantOAuthError(t, ex, err, "invalid_token", http.StatusUnauthorized)
		}},
		// RFC 9110 11.1: the auth scheme is case-insensitive.
		{name: "lowercase bearer scheme with a fresh token", send: func(t *testing.T) (*client.Exchange, error) {
			tr := w.tokensFor(t, a)
			_, ex, err := a.UserInfo(w.ctx(), "", client.CallHeader("Authorization", "bearer "+tr.AccessToken))
			return ex, err
		}, check: func(t *testing.T, ex *client.Exchange, err error) { wantOK(t, ex, err, "userinfo") }},
		{name: "good call afterwards", send: func(t *testing.T) (*client.Exchange, error) {
			tr := w.tokensFor(t, a)
			_, ex, err := a.UserInfo(w.ctx(), tr.AccessToken)
			return ex, err
		}, check: func(t *testing.T, ex *client.Exchange, err error) {
			wantOK(t, ex, err, "userinfo")
			got, jerr := ex.JSON()
			if jerr != nil {
				t.Fatalf("userinfo body: %v", jerr)
			}
			if got["sub"] == nil || got["sub"] != claims["sub"] {
				t.Errorf("userinfo sub %v, want the ID token's %v", got["sub"], claims["sub"])
			}
		}},
	}
	runBadProbes(t, probes)
}

// wantBearerChallenge: 401 with a Bearer WWW-Authenticate challenge
// (RFC 6750 3).
func wantBearerChallenge(t *testing.T, ex *client.Exchange, err error) {
	t.Helper()
	if ex == nil || ex.Status == 0 {
		t.Fatalf("no HTTP answer: %v", err)
	}
	if ex.Status != http.StatusUnauthorized {
		t.Fatalf("want 401, got %s", dump(ex))
	}
	ch := ex.ResponseHeader.Get("WWW-Authenticate")
	if scheme, _, _ := strings.Cut(ch, " "); !strings.EqualFold(strings.TrimSpace(scheme), "Bearer") {
		t.Errorf("WWW-Authenticate %q, want a Bearer challenge (RFC 6750 3)", ch)
	}
}
