package conformance

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/internal/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
)

// attackerKey is a fresh ES256 key no client registered: what an
// attacker signs with when it hopes the OP trusts keys named in headers.
func attackerKey(f *Fixture) jose.JSONWebKey {
	ginkgo.GinkgoHelper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Failf(nil, "generating a key: %v", err)
	}
	return jose.JSONWebKey{Key: k, KeyID: "ciba-check-attacker", Algorithm: ciba.AlgES256, Use: "sig"}
}

// expectAssertionRefused sends a token request for a pending request of
// a private_key_jwt client with its assertion built by opts, and expects
// invalid_client (RFC 7523 3, RFC 6749 5.2).
func expectAssertionRefused(ctx context.Context, f *Fixture, opts ...client.AuthOption) {
	ginkgo.GinkgoHelper()
	c := f.Client(AnyMode, ciba.AuthPrivateKeyJWT)
	ack := f.Start(c, f.Params(c, f.PendingUserOrAny()))
	_, ex, err := c.Token(ctx, ack.AuthReqID, client.WithAuth(opts...))
	f.ExpectOAuthError(ex, err, StatusInvalidClient, "invalid_client")
}

func describeAttacks(fw *Framework) {
	fw.Describe("Attack probes", func() {
		// Testname: Request object with an unknown crit header refused
		// Spec: RFC7515-4.1.11, CIBA-7.1.1
		// Description: A request object whose crit header names an
		// extension the OP does not understand MUST be refused with HTTP
		// 400 invalid_request.
		fw.ConformanceIt("refuses a request object with an unknown crit header", func(ctx context.Context, f *Fixture) {
			expectRequestObjectRefused(ctx, f, f.Client(AnyMode, AnyAuth),
				client.WithHeader("crit", []string{"urn:ciba-check:unknown"}), client.WithHeader("urn:ciba-check:unknown", true))
		}, Refs("RFC7515-4.1.11", "CIBA-7.1.1"), Negative)

		// Testname: Request object signed by a key embedded in its header refused
		// Spec: CIBA-7.1.1, RFC7515-4.1.3
		// Description: A request object signed by an unregistered key that
		// its own jwk header carries MUST be refused with HTTP 400
		// invalid_request: only the client's registered keys count.
		fw.ConformanceIt("refuses a request object signed by a key from its own jwk header", func(ctx context.Context, f *Fixture) {
			k := attackerKey(f)
			expectRequestObjectRefused(ctx, f, f.Client(AnyMode, AnyAuth), client.WithSigningKey(k), client.WithHeader("jwk", k.Public()))
		}, Refs("CIBA-7.1.1", "RFC7515-4.1.3"), Negative)

		// Testname: Request object signed by a key behind a jku header refused
		// Spec: CIBA-7.1.1, RFC7515-4.1.2
		// Description: A request object signed by an unregistered key and
		// pointing at it with jku MUST be refused with HTTP 400
		// invalid_request; the OP MUST NOT fetch keys from jku.
		fw.ConformanceIt("refuses a request object signed by a key behind a jku header", func(ctx context.Context, f *Fixture) {
			k := attackerKey(f)
			expectRequestObjectRefused(ctx, f, f.Client(AnyMode, AnyAuth), client.WithSigningKey(k), client.WithHeader("jku", "https://attacker.example/jwks.json"))
		}, Refs("CIBA-7.1.1", "RFC7515-4.1.2"), Negative)

		// Testname: Request object without kid signed by another client refused
		// Spec: CIBA-7.1.1
		// Description: A request object without a kid header MUST still be
		// verified only against the sending client's registered keys: one
		// signed by another registered client's key MUST be refused with
		// HTTP 400 invalid_request (an OP that "tries every key" when the
		// kid is missing lets any client speak for any other).
		fw.ConformanceIt("refuses a request object without kid signed by another client's key", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			other := f.OtherClient(c, false)
			expectRequestObjectRefused(ctx, f, c, client.WithSigningKey(f.SigningKey(other)), client.WithoutKid())
		}, Refs("CIBA-7.1.1"), Negative)

		// Testname: Request object signed by an unknown key refused
		// Spec: CIBA-7.1.1
		// Description: A request object signed by a key the client never
		// registered, under an unknown kid, MUST be refused with HTTP 400
		// invalid_request.
		fw.ConformanceIt("refuses a request object signed by an unregistered key", func(ctx context.Context, f *Fixture) {
			expectRequestObjectRefused(ctx, f, f.Client(AnyMode, AnyAuth), client.WithSigningKey(attackerKey(f)))
		}, Refs("CIBA-7.1.1"), Negative)

		// Testname: Request object with exp as a string refused
		// Spec: CIBA-7.1.1, RFC7519-4.1.4
		// Description: exp MUST be a NumericDate (a JSON number); a request
		// object with exp as a string MUST be refused with HTTP 400
		// invalid_request.
		fw.ConformanceIt("refuses a request object whose exp is a string", func(ctx context.Context, f *Fixture) {
			exp := time.Now().Add(5 * time.Minute).Unix()
			expectRequestObjectRefused(ctx, f, f.Client(AnyMode, AnyAuth), client.WithClaim("exp", itoa(exp)))
		}, Refs("CIBA-7.1.1", "RFC7519-4.1.4"), Negative)

		// Testname: Request object nested in a request object refused
		// Spec: CIBA-7.1.1
		// Description: A request object carrying its own request or
		// request_uri claim SHOULD be refused with HTTP 400
		// invalid_request. JAR 4 forbids the nesting to the client; that
		// the OP refuses it is judgement (CIBA.md 7.1), so a warning.
		fw.ConformanceIt("refuses a request object that contains a request claim", func(ctx context.Context, f *Fixture) {
			expectRequestObjectRefused(ctx, f, f.Client(AnyMode, AnyAuth), client.WithClaim(ciba.ParamRequest, "eyJhbGciOiJub25lIn0.e30."))
		}, Refs("CIBA-7.1.1"), Negative, Should)

		// Testname: Malformed request object refused
		// Spec: CIBA-7.1.1, CIBA-13
		// Description: A request parameter that is not a compact JWS (two
		// segments, bad base64url) MUST be refused with HTTP 400
		// invalid_request, not a server error.
		fw.ConformanceIt("refuses a malformed request object with invalid_request", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			for _, bad := range []string{"eyJhbGciOiJQUzI1NiJ9.e30", "!!.??.**", strings.Repeat("a", 300)} {
				_, ex, err := c.Authenticate(ctx, f.Params(c, f.PendingUserOrAny()), client.CallRequestObjectJWT(bad))
				f.ExpectOAuthError(ex, err, Status400, "invalid_request")
			}
		}, Refs("CIBA-7.1.1", "CIBA-13"), Negative)

		// Testname: Two request objects refused
		// Spec: RFC6749-3.1, CIBA-7.1
		// Description: A backchannel request with the request parameter
		// twice MUST be refused with HTTP 400 invalid_request.
		fw.ConformanceIt("refuses a backchannel request with the request parameter twice", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			p := f.Params(c, f.PendingUserOrAny())
			jwt, err := c.RequestObject(p)
			if err != nil {
				f.Failf(nil, "signing: %v", err)
			}
			_, ex, err := c.Authenticate(ctx, p, client.CallForm(ciba.ParamRequest, jwt, jwt))
			f.ExpectOAuthError(ex, err, Status400, "invalid_request")
		}, Refs("RFC6749-3.1", "CIBA-7.1"), Negative)

		// Testname: Oversized request object refused cleanly
		// Spec: CIBA-13
		// Description: A request object of more than 64 KiB MUST be
		// refused with a 4xx answer (400 invalid_request or 413), never a
		// server error.
		fw.ConformanceIt("refuses an oversized request object with a 4xx answer", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			p := f.Params(c, f.PendingUserOrAny())
			p.Extra = map[string]any{"ciba_check_padding": strings.Repeat("x", 70<<10)}
			_, ex, err := c.Authenticate(ctx, p)
			if ex != nil && ex.Status == http.StatusRequestEntityTooLarge {
				return
			}
			f.ExpectOAuthError(ex, err, Status400, "invalid_request")
		}, Refs("CIBA-13"), Negative)

		// Testname: Non-positive or fractional requested_expiry refused
		// Spec: CIBA-7.1
		// Description: requested_expiry MUST be a positive integer; 0, -5,
		// "abc" and 3.5 MUST each be refused with HTTP 400 invalid_request.
		fw.ConformanceIt("refuses a requested_expiry that is not a positive integer", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			for _, v := range []any{0, -5, "abc", 3.5} {
				p := f.Params(c, f.PendingUserOrAny())
				p.RequestedExpiry = v
				_, ex, err := c.Authenticate(ctx, p)
				f.ExpectOAuthError(ex, err, Status400, "invalid_request")
			}
		}, Refs("CIBA-7.1"), Negative)

		// Testname: Overlong client_notification_token refused
		// Spec: CIBA-7.1
		// Description: A client_notification_token longer than 1024
		// characters MUST be refused with HTTP 400 invalid_request.
		fw.ConformanceIt("refuses a client_notification_token longer than 1024 characters", func(ctx context.Context, f *Fixture) {
			c := f.Client(ciba.ModePing, AnyAuth)
			p := f.Params(c, f.PendingUserOrAny())
			p.ClientNotificationToken = strings.Repeat("A", ciba.MaxClientNotificationTokenLength+1)
			_, ex, err := c.Authenticate(ctx, p)
			f.ExpectOAuthError(ex, err, Status400, "invalid_request")
		}, Refs("CIBA-7.1"), Modes(ciba.ModePing), Negative)

		// Testname: Long random client_notification_token accepted
		// Spec: CIBA-7.1
		// Description: A client_notification_token of 1024 characters of
		// the b64token syntax (RFC 6750 2.1: - . _ ~ + / and trailing =)
		// MUST be accepted and echoed exactly in the ping.
		fw.ConformanceIt("accepts and echoes a 1024-character client_notification_token", func(ctx context.Context, f *Fixture) {
			c := f.Client(ciba.ModePing, AnyAuth)
			var want string
			tr, _, ack := f.Approved(c, func(p *client.AuthParams) {
				// b64token (RFC 6750 2.1): "=" only as padding at the end.
				p.ClientNotificationToken = (p.ClientNotificationToken + "-._~+/" + strings.Repeat("Z", 1024))[:1023] + "="
				want = p.ClientNotificationToken
			})
			f.Expect(tr.AccessToken != "", nil, "expected tokens")
			n := f.Env().Receivers.For(c.ClientID()).NotificationsFor(ack.AuthReqID)
			f.Expect(firstBearer(n) == want, nil, "expected the 1024-character token echoed exactly in the ping, got %d characters", len(firstBearer(n)))
		}, Refs("CIBA-7.1"), Modes(ciba.ModePing), OIDF(ModHappy))

		// Testname: Client assertion with alg none refused
		// Spec: RFC7523-3, FAPI-RW-8.6
		// Description: An unsigned (alg none) client assertion MUST be
		// refused with invalid_client.
		fw.ConformanceIt("refuses a client assertion with alg none", func(ctx context.Context, f *Fixture) {
			expectAssertionRefused(ctx, f, client.AuthAssertionOptions(client.WithNoneAlg()))
		}, Refs("RFC7523-3", "FAPI-RW-8.6"), Auth(ciba.AuthPrivateKeyJWT), Negative)

		// Testname: HS256 client assertion keyed with the public key refused
		// Spec: RFC7523-3, FAPI-RW-8.6
		// Description: A client assertion signed with HS256 using the
		// client's public key as secret MUST be refused with invalid_client.
		fw.ConformanceIt("refuses an HS256 client assertion keyed with the client's public key", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, ciba.AuthPrivateKeyJWT)
			pub, _ := json.Marshal(c.PublicKey())
			expectAssertionRefused(ctx, f, client.AuthAssertionOptions(client.WithHS256Secret(pub)))
		}, Refs("RFC7523-3", "FAPI-RW-8.6"), Auth(ciba.AuthPrivateKeyJWT), Negative)

		// Testname: Expired client assertion refused
		// Spec: RFC7523-3
		// Description: A client assertion whose exp has passed MUST be
		// refused with invalid_client.
		fw.ConformanceIt("refuses an expired client assertion", func(ctx context.Context, f *Fixture) {
			exp := time.Now().Add(-10 * time.Minute).Unix()
			expectAssertionRefused(ctx, f, client.AuthAssertionOptions(client.WithClaim("exp", exp), client.WithClaim("iat", exp-60)))
		}, Refs("RFC7523-3"), Auth(ciba.AuthPrivateKeyJWT), Negative)

		// Testname: Replayed client assertion refused
		// Spec: OIDC-9, RFC7523-3
		// Description: A client assertion whose jti was already used MUST
		// be refused with invalid_client.
		fw.ConformanceIt("refuses a replayed client assertion", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, ciba.AuthPrivateKeyJWT)
			ack := f.Start(c, f.Params(c, f.PendingUserOrAny()))
			assertion, err := c.ClientAssertion(c.Metadata().TokenEndpoint)
			if err != nil {
				f.Failf(nil, "signing: %v", err)
			}
			_, ex, err := c.Token(ctx, ack.AuthReqID, client.WithAuth(client.AuthAssertion(assertion)))
			f.ExpectOAuthError(ex, err, Status400, "authorization_pending", "slow_down")
			_, ex, err = c.Token(ctx, ack.AuthReqID, client.WithAuth(client.AuthAssertion(assertion)))
			f.ExpectOAuthError(ex, err, StatusInvalidClient, "invalid_client")
		}, Refs("OIDC-9", "RFC7523-3"), Auth(ciba.AuthPrivateKeyJWT), Negative)

		// Testname: Client assertion for another server refused
		// Spec: RFC7523-3
		// Description: A client assertion whose aud is another server MUST
		// be refused with invalid_client.
		fw.ConformanceIt("refuses a client assertion whose aud is another server", func(ctx context.Context, f *Fixture) {
			expectAssertionRefused(ctx, f, client.AuthAudience("https://www.other1.example.com/token"))
		}, Refs("RFC7523-3"), Auth(ciba.AuthPrivateKeyJWT), Negative)

		// Testname: Client assertion with sub different from iss refused
		// Spec: RFC7523-3
		// Description: A client assertion whose sub differs from its iss
		// (the client_id) MUST be refused with invalid_client.
		fw.ConformanceIt("refuses a client assertion whose sub is not its iss", func(ctx context.Context, f *Fixture) {
			expectAssertionRefused(ctx, f, client.AuthAssertionOptions(client.WithClaim("sub", "ciba-check-someone-else")))
		}, Refs("RFC7523-3"), Auth(ciba.AuthPrivateKeyJWT), Negative)

		// Testname: Client assertion signed by another client refused
		// Spec: RFC7523-3
		// Description: A client assertion naming the caller but signed with
		// another client's key MUST be refused with invalid_client.
		fw.ConformanceIt("refuses a client assertion signed with another client's key", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, ciba.AuthPrivateKeyJWT)
			other := f.OtherClient(c, false)
			expectAssertionRefused(ctx, f, client.AuthAssertionOptions(client.WithSigningKey(f.SigningKey(other))))
		}, Refs("RFC7523-3"), Auth(ciba.AuthPrivateKeyJWT), Negative)

		// Testname: Wrong client_assertion_type refused
		// Spec: RFC7523-2.2
		// Description: A client_assertion_type other than the JWT bearer
		// URN MUST be refused with invalid_client or invalid_request.
		fw.ConformanceIt("refuses a wrong client_assertion_type", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, ciba.AuthPrivateKeyJWT)
			ack := f.Start(c, f.Params(c, f.PendingUserOrAny()))
			_, ex, err := c.Token(ctx, ack.AuthReqID, client.WithAuth(client.AuthAssertionType("urn:ietf:params:oauth:client-assertion-type:saml2-bearer")))
			f.ExpectOAuthError(ex, err, StatusInvalidClient, "invalid_client", "invalid_request")
		}, Refs("RFC7523-2.2"), Auth(ciba.AuthPrivateKeyJWT), Negative)

		// Testname: Altered auth_req_id refused
		// Spec: CIBA-11
		// Description: The client's own auth_req_id with a character
		// appended, or with SQL metacharacters, MUST be answered with
		// HTTP 400 invalid_grant, never a server error.
		fw.ConformanceIt("refuses an altered auth_req_id with invalid_grant", func(ctx context.Context, f *Fixture) {
			c := f.Client(ciba.ModePoll, AnyAuth)
			ack := f.Start(c, f.Params(c, f.PendingUserOrAny()))
			for _, id := range []string{ack.AuthReqID + "A", ack.AuthReqID[1:], "' OR '1'='1", `{"$ne":null}`} {
				_, ex, err := c.Token(ctx, id)
				f.ExpectOAuthError(ex, err, Status400, "invalid_grant")
			}
		}, Refs("CIBA-11"), Modes(ciba.ModePoll), Negative)

		// Testname: Unknown grant type refused
		// Spec: RFC6749-5.2
		// Description: A token request with an unknown grant_type MUST be
		// answered with HTTP 400 unsupported_grant_type.
		fw.ConformanceIt("refuses an unknown grant_type with unsupported_grant_type", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			_, ex, err := c.Token(ctx, "x", client.CallForm(ciba.ParamGrantType, "urn:ciba-check:no-such-grant"))
			f.ExpectOAuthError(ex, err, Status400, "unsupported_grant_type")
		}, Refs("RFC6749-5.2"), Negative)
	})
}

func firstBearer(ns []client.Notification) string {
	if len(ns) == 0 {
		return ""
	}
	return ns[0].BearerToken
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
