package conformance

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/target"
)

// attackerKey is a fresh ES256 key no client registered: what an
// attacker signs with when it hopes the OP trusts keys named in headers.
func attackerKey(f *Fixture) jose.JSONWebKey {
	ginkgo.GinkgoHelper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.fail(fmt.Sprintf("generating a key: %v", err))
	}
	return jose.JSONWebKey{Key: k, KeyID: "ciba-check-attacker", Algorithm: ciba.AlgES256, Use: "sig"}
}

// otherClientKey is the signing key of a second registered client, or
// skips when the target has none or both clients share one key (then a
// signature by "the other client" is the client's own).
func otherClientKey(f *Fixture, c *client.Client) jose.JSONWebKey {
	ginkgo.GinkgoHelper()
	k := f.SigningKey(f.OtherClient(c, false))
	mine, theirs := c.PublicKey(), k.Public()
	a, err1 := mine.Thumbprint(crypto.SHA256)
	b, err2 := theirs.Thumbprint(crypto.SHA256)
	if err1 == nil && err2 == nil && string(a) == string(b) {
		f.Skipf("the second client signs with the same key as %s", c.ClientID())
	}
	return k
}

// tokenRequestHonoured reports whether a valid token request for an
// acknowledged request got an answer of the protocol: tokens, or
// authorization_pending / slow_down while the user has not decided.
func tokenRequestHonoured(tr *ciba.TokenResponse, err error) bool {
	if err == nil {
		return tr != nil
	}
	return errors.Is(err, ciba.ErrAuthorizationPending) || errors.Is(err, ciba.ErrSlowDown)
}

// tokenControl is the positive control of a token-endpoint probe: c
// starts a request for u and makes the valid token request for it
// (opts changing it, e.g. a fixed assertion), which must be honoured
// (tokenRequestHonoured); otherwise the probe is skipped. It returns the
// acknowledgement the probe then uses.
func tokenControl(ctx context.Context, f *Fixture, c *client.Client, u *target.User, opts ...client.CallOption) *ciba.AuthenticationResponse {
	ginkgo.GinkgoHelper()
	ack := f.ControlAck(c, f.Params(c, u))
	tr, ex, err := c.Token(ctx, ack.AuthReqID, opts...)
	if !hadResponse(ex) {
		f.Undetermined(ex, "the valid token request of %s got no answer: %v", c.ClientID(), err)
	}
	f.Control(tokenRequestHonoured(tr, err), ex, "the valid token request of %s for its own pending request was answered: %v", c.ClientID(), err)
	return ack
}

// expectAssertionRefused makes the valid token request of c, a
// private_key_jwt client, for a request it started (the control), then
// the same request with its assertion built by opts, and expects
// invalid_client (RFC 7523 3.2).
func expectAssertionRefused(ctx context.Context, f *Fixture, c *client.Client, opts ...client.AuthOption) {
	ginkgo.GinkgoHelper()
	ack := tokenControl(ctx, f, c, f.PendingUserOrAny())
	_, ex, err := c.Token(ctx, ack.AuthReqID, client.WithAuth(opts...))
	f.ExpectOAuthError(ex, err, StatusInvalidClient, ciba.ErrInvalidClient)
}

// inAuthReqIDCharset reports whether s is made only of the characters
// CIBA 7.3 allows in an auth_req_id: A-Z a-z 0-9 . - _ (empty: false).
// A value outside it is "otherwise malformed" (RFC 6749 5.2), so
// invalid_request is a fair answer to it as well as invalid_grant.
func inAuthReqIDCharset(s string) bool { return ciba.ValidAuthReqID(s) }

// oversizedPadding is the size of the claim that makes a request object
// oversized: more than 64 KiB, a common limit of request bodies.
const oversizedPadding = 70 << 10

func describeAttacks(fw *Framework) {
	fw.Describe("Attack probes", func() {
		// Testname: Request object with an unknown crit header refused
		// Spec: RFC7515-4.1.11, CIBA-7.1.1, CIBA-7.2
		// Description: A request object whose crit header names an
		// extension the OP does not understand is not a valid JWS; the OP
		// MUST refuse it with HTTP 400 invalid_request.
		// Quote: RFC7515-4.1.11: "If any of the listed extension Header
		// Parameters are not understood and supported by the recipient,
		// then the JWS is invalid." "This Header Parameter MUST be
		// understood and processed by implementations." CIBA-7.2: "The
		// OpenID Provider MUST validate the request received as follows"
		// ... "If the authentication request is signed, validate the JWT
		// sent with the request parameter, which includes verifying the
		// signature and ensuring that the JWT is valid in all other
		// respects per [RFC7519]."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses a request object with an unknown crit header", func(ctx context.Context, f *Fixture) {
			expectRequestObjectRefused(ctx, f, f.SigningClient(),
				client.WithHeader("crit", []string{"urn:ciba-check:unknown"}), client.WithHeader("urn:ciba-check:unknown", true))
		}, Refs("RFC7515-4.1.11", "CIBA-7.1.1", "CIBA-7.2"), Negative)

		// Testname: Request object signed by a key embedded in its header refused
		// Spec: CIBA-7.1.1, CIBA-7.2, RFC7515-4.1.3
		// Description: A request object signed by an unregistered key that
		// its own jwk header carries MUST be refused with HTTP 400
		// invalid_request: verifying the signature of a signed request
		// means verifying it with a key the client registered, not with
		// one the request brings along.
		// Quote: CIBA-7.2: "The OpenID Provider MUST validate the request
		// received as follows" ... "If the authentication request is
		// signed, validate the JWT sent with the request parameter, which
		// includes verifying the signature and ensuring that the JWT is
		// valid in all other respects per [RFC7519]." CIBA-7.1.1: "The JWT MUST be
		// secured with an asymmetric signature and follow the guidance
		// from Section 10.1 of [OpenID.Core] regarding asymmetric
		// signatures."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses a request object signed by a key from its own jwk header", func(ctx context.Context, f *Fixture) {
			k := attackerKey(f)
			expectRequestObjectRefused(ctx, f, f.SigningClient(), client.WithSigningKey(k), client.WithHeader("jwk", k.Public()))
		}, Refs("CIBA-7.1.1", "CIBA-7.2", "RFC7515-4.1.3"), Negative)

		// Testname: Request object signed by a key behind a jku header refused
		// Spec: CIBA-7.1.1, CIBA-7.2, RFC7515-4.1.2
		// Description: A request object signed by an unregistered key and
		// pointing at it with jku (an unresolvable URL) MUST be refused
		// with HTTP 400 invalid_request: only the client's registered keys
		// verify its requests. (Whether the OP fetched the URL is not
		// observed.)
		// Quote: CIBA-7.2: "The OpenID Provider MUST validate the request
		// received as follows" ... "If the authentication request is
		// signed, validate the JWT sent with the request parameter, which
		// includes verifying the signature and ensuring that the JWT is
		// valid in all other respects per [RFC7519]." CIBA-7.1.1: "The JWT MUST be
		// secured with an asymmetric signature and follow the guidance
		// from Section 10.1 of [OpenID.Core] regarding asymmetric
		// signatures."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses a request object signed by a key behind a jku header", func(ctx context.Context, f *Fixture) {
			k := attackerKey(f)
			expectRequestObjectRefused(ctx, f, f.Client(AnyMode, AnyAuth), client.WithSigningKey(k), client.WithHeader("jku", "https://attacker.example/jwks.json"))
		}, Refs("CIBA-7.1.1", "CIBA-7.2", "RFC7515-4.1.2"), Negative)

		// Testname: Request object without kid signed by another client refused
		// Spec: CIBA-7.1.1, CIBA-7.2
		// Description: A request object without a kid header MUST still be
		// verified only against the sending client's registered keys: one
		// signed by another registered client's key MUST be refused with
		// HTTP 400 invalid_request (an OP that "tries every key" when the
		// kid is missing lets any client speak for any other).
		// Quote: CIBA-7.2: "The OpenID Provider MUST validate the request
		// received as follows" ... "If the authentication request is
		// signed, validate the JWT sent with the request parameter, which
		// includes verifying the signature and ensuring that the JWT is
		// valid in all other respects per [RFC7519]." CIBA-7.1.1: "The JWT MUST be
		// secured with an asymmetric signature and follow the guidance
		// from Section 10.1 of [OpenID.Core] regarding asymmetric
		// signatures."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses a request object without kid signed by another client's key", func(ctx context.Context, f *Fixture) {
			c := f.SigningClient()
			expectRequestObjectRefused(ctx, f, c, client.WithSigningKey(otherClientKey(f, c)), client.WithoutKid())
		}, Refs("CIBA-7.1.1", "CIBA-7.2"), Negative)

		// Testname: Request object signed by an unknown key refused
		// Spec: CIBA-7.1.1, CIBA-7.2
		// Description: A request object signed by a key the client never
		// registered, under an unknown kid, MUST be refused with HTTP 400
		// invalid_request.
		// Quote: CIBA-7.2: "The OpenID Provider MUST validate the request
		// received as follows" ... "If the authentication request is
		// signed, validate the JWT sent with the request parameter, which
		// includes verifying the signature and ensuring that the JWT is
		// valid in all other respects per [RFC7519]." CIBA-13: "invalid_request
		// The request is missing a required parameter, includes an invalid
		// parameter value, includes a parameter more than once, contains
		// more than one of the hints, or is otherwise malformed."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses a request object signed by an unregistered key", func(ctx context.Context, f *Fixture) {
			expectRequestObjectRefused(ctx, f, f.SigningClient(), client.WithSigningKey(attackerKey(f)))
		}, Refs("CIBA-7.1.1", "CIBA-7.2"), Negative)

		// Testname: Request object with exp as a string refused
		// Spec: CIBA-7.1.1, CIBA-7.2, RFC7519-4.1.4
		// Description: exp MUST be a NumericDate (a JSON number); a request
		// object with exp as a string is not a valid JWT and MUST be
		// refused with HTTP 400 invalid_request.
		// Quote: RFC7519-4.1.4: "Its value MUST be a number containing a
		// NumericDate value." CIBA-7.2: "The OpenID Provider MUST validate
		// the request received as follows" ... "If the authentication
		// request is signed, validate the JWT sent with the request
		// parameter, which includes verifying the signature and ensuring
		// that the JWT is valid in all other respects per [RFC7519]."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses a request object whose exp is a string", func(ctx context.Context, f *Fixture) {
			exp := time.Now().Add(5 * time.Minute).Unix()
			expectRequestObjectRefused(ctx, f, f.SigningClient(), client.WithClaim("exp", itoa(exp)))
		}, Refs("CIBA-7.1.1", "CIBA-7.2", "RFC7519-4.1.4"), Negative)

		// Testname: Request object nested in a request object refused
		// Spec: CIBA-7.1.1, OIDC-6.1
		// Description: A request object carrying its own request claim
		// SHOULD be refused with HTTP 400 invalid_request. OIDC 6.1
		// forbids the nesting to the sender (the client); that the OP
		// refuses it is judgement (CIBA.md 7.1), so a warning.
		// Quote: OIDC-6.1: "The request and request_uri parameters MUST
		// NOT be included in Request Objects."
		// Duty: client
		// Level: SHOULD
		fw.ConformanceIt("refuses a request object that contains a request claim", func(ctx context.Context, f *Fixture) {
			expectRequestObjectRefused(ctx, f, f.SigningClient(), client.WithClaim(ciba.ParamRequest, "eyJhbGciOiJub25lIn0.e30."))
		}, Refs("CIBA-7.1.1", "OIDC-6.1"), Negative, Should)

		// Testname: Malformed request object refused
		// Spec: CIBA-7.1.1, CIBA-7.2, CIBA-13
		// Description: A request parameter that is not a compact JWS (two
		// segments, bad base64url, one segment) MUST be refused with HTTP
		// 400 invalid_request, not a server error.
		// Quote: CIBA-7.2: "The OpenID Provider MUST validate the request
		// received as follows" ... "If the authentication request is
		// signed, validate the JWT sent with the request parameter".
		// CIBA-13: "error REQUIRED. A single ASCII error code from one
		// present in the list below." "invalid_request The request is
		// missing a required parameter, includes an invalid parameter
		// value, includes a parameter more than once, contains more than
		// one of the hints, or is otherwise malformed."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses a malformed request object with invalid_request", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			f.ControlAck(c, f.Params(c, f.PendingUserOrAny()))
			for _, bad := range []string{"eyJhbGciOiJQUzI1NiJ9.e30", "!!.??.**", strings.Repeat("a", 300)} {
				_, ex, err := c.Authenticate(ctx, f.Params(c, f.PendingUserOrAny()), client.CallRequestObjectJWT(bad))
				f.ExpectOAuthError(ex, err, Status400, ciba.ErrInvalidRequest)
			}
		}, Refs("CIBA-7.1.1", "CIBA-7.2", "CIBA-13"), Negative)

		// Testname: Two request objects refused
		// Spec: RFC6749-3.1, CIBA-7.1, CIBA-13
		// Description: A backchannel request with the request parameter
		// twice MUST be refused with HTTP 400 invalid_request.
		// Quote: RFC6749-3.1: "Request and response parameters MUST NOT be
		// included more than once." CIBA-7.2: "The OpenID Provider MUST
		// verify that all the REQUIRED parameters are present and their
		// usage conforms to this specification." CIBA-13: "invalid_request
		// The request is missing a required parameter, includes an invalid
		// parameter value, includes a parameter more than once, contains
		// more than one of the hints, or is otherwise malformed."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses a backchannel request with the request parameter twice", func(ctx context.Context, f *Fixture) {
			c := f.SigningClient()
			p := f.Params(c, f.PendingUserOrAny())
			f.ControlAck(c, p)
			jwt, err := c.RequestObject(p)
			if err != nil {
				f.fail(fmt.Sprintf("signing the request object of %s: %v", c.ClientID(), err))
			}
			_, ex, err := c.Authenticate(ctx, p, client.CallForm(ciba.ParamRequest, jwt, jwt))
			f.ExpectOAuthError(ex, err, Status400, ciba.ErrInvalidRequest)
		}, Refs("RFC6749-3.1", "CIBA-7.1", "CIBA-13"), Negative)

		// Testname: Oversized request object answered without a server error
		// Spec: CIBA-13
		// Description: A request object of more than 64 KiB (an unknown
		// claim of 70 KiB) MUST NOT get a server error: no spec sets a size
		// limit, so the OP may accept it or refuse it with a 4xx answer
		// (400 invalid_request, or 413 from its HTTP layer), but a 5xx is
		// none of the errors CIBA 13 lists. No answer at all is not
		// judged.
		// Quote: CIBA-13: "error REQUIRED. A single ASCII error code from
		// one present in the list below." "List of authentication error
		// codes associated with HTTP Errors: HTTP 400 Bad Request" ...
		// "HTTP 401 Unauthorized" ... "HTTP 403 Forbidden"
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("answers an oversized request object without a server error", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			p := f.Params(c, f.PendingUserOrAny())
			f.ControlAck(c, p)
			p.Extra = map[string]any{"ciba_check_padding": strings.Repeat("x", oversizedPadding)}
			_, ex, err := c.Authenticate(ctx, p)
			if ex == nil {
				f.fail(fmt.Sprintf("building the request of %s: %v", c.ClientID(), err))
			}
			if ex.Status == 0 {
				f.Undetermined(ex, "expected an answer other than a server error to a request object of %d KiB, got none: %v", oversizedPadding>>10, err)
			}
			f.Expect(ex.Status < http.StatusInternalServerError, ex,
				"expected the oversized request object accepted or refused with a 4xx answer (CIBA 13 lists 400, 401 and 403 errors), got HTTP %d", ex.Status)
		}, Refs("CIBA-13"), Negative)

		// Testname: Non-positive or fractional requested_expiry refused
		// Spec: CIBA-7.1
		// Description: requested_expiry is a positive integer; the OP
		// SHOULD refuse 0, -5, "abc" and 3.5 with HTTP 400 invalid_request.
		// A warning only: the positive integer is what the client sends,
		// and the server MAY use the value or not, so an OP that ignores a
		// bad one breaks no MUST. ("30" as a string must be accepted: a
		// check of its own.)
		// Quote: CIBA-7.1: "requested_expiry OPTIONAL. A positive integer
		// allowing the client to request the expires_in value for the
		// auth_req_id the server will return. The server MAY use this
		// value to influence the lifetime of the authentication request
		// and is encouraged to do so where it will improve the user
		// experience, for example by terminating the authentication when
		// it knows the client is no longer interested in the result."
		// Duty: client
		// Level: SHOULD
		fw.ConformanceIt("refuses a requested_expiry that is not a positive integer", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			u := f.PendingUserOrAny()
			valid := f.Params(c, u)
			valid.RequestedExpiry = 60
			f.ControlAck(c, valid)
			for _, v := range []any{0, -5, "abc", 3.5} {
				p := f.Params(c, u)
				p.RequestedExpiry = v
				_, ex, err := c.Authenticate(ctx, p)
				f.ExpectOAuthError(ex, err, Status400, ciba.ErrInvalidRequest)
			}
		}, Refs("CIBA-7.1"), Negative, Should)

		// Testname: Overlong client_notification_token refused
		// Spec: CIBA-7.1
		// Description: The OP SHOULD refuse a client_notification_token
		// longer than 1024 characters with HTTP 400 invalid_request. A
		// warning only: the 1024-character limit binds the client that
		// makes the token; no sentence tells the OP to enforce it.
		// Quote: CIBA-7.1: "It is a bearer token provided by the Client
		// that will be used by the OpenID Provider to authenticate the
		// callback request to the Client. The length of the token MUST NOT
		// exceed 1024 characters and it MUST conform to the syntax for
		// Bearer credentials as defined in Section 2.1 of [RFC6750]."
		// Duty: client
		// Level: SHOULD
		fw.ConformanceIt("refuses a client_notification_token longer than 1024 characters", func(ctx context.Context, f *Fixture) {
			c := f.Client(ciba.ModePing, AnyAuth)
			p := f.Params(c, f.PendingUserOrAny())
			f.ControlAck(c, p)
			p.ClientNotificationToken = strings.Repeat("A", ciba.MaxClientNotificationTokenLength+1)
			_, ex, err := c.Authenticate(ctx, p)
			f.ExpectOAuthError(ex, err, Status400, ciba.ErrInvalidRequest)
		}, Refs("CIBA-7.1"), Modes(ciba.ModePing), Negative, Should)

		// Testname: Long random client_notification_token accepted
		// Spec: CIBA-7.1, CIBA-10.2
		// Description: The OIDF suite's happy flow sends a long random
		// client_notification_token and MUST get it back in the ping: a
		// token of 1024 characters of the b64token syntax (RFC 6750 2.1:
		// - . _ ~ + / and trailing =) is accepted and echoed exactly. CERT
		// level: CIBA describes the echo ("the OP sends") but words no MUST
		// on the OP for it (the MUSTs of 7.1 bind the token the client
		// makes).
		// Quote: CIBA-7.1: "It is a bearer token provided by the Client
		// that will be used by the OpenID Provider to authenticate the
		// callback request to the Client. The length of the token MUST NOT
		// exceed 1024 characters and it MUST conform to the syntax for
		// Bearer credentials as defined in Section 2.1 of [RFC6750]."
		// CIBA-10.2: "In this mode the OP sends the
		// client_notification_token as a bearer token in the Authorization
		// header field and sends only the auth_req_id in the body of the
		// request."
		// Duty: OP
		// Level: CERT
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
		}, Refs("CIBA-7.1", "CIBA-10.2"), Modes(ciba.ModePing), OIDF(ModHappy), Cert)

		// Testname: Client assertion with alg none refused
		// Spec: RFC7523-3, FAPI-RW-8.6
		// Description: An unsigned (alg none) client assertion MUST be
		// refused with invalid_client.
		// Quote: RFC7523-3: "the authorization server MUST validate the
		// JWT according to the criteria below." "The JWT MUST be digitally
		// signed or have a Message Authentication Code (MAC) applied by the
		// issuer. The authorization server MUST reject JWTs with an
		// invalid signature or MAC." FAPI-RW-8.6: "shall not use none"
		// RFC7523-3.2: "The value of the "error" parameter MUST be the
		// "invalid_client" error code."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses a client assertion with alg none", func(ctx context.Context, f *Fixture) {
			expectAssertionRefused(ctx, f, f.Client(AnyMode, ciba.AuthPrivateKeyJWT), client.AuthAssertionOptions(client.WithNoneAlg()))
		}, Refs("RFC7523-3", "FAPI-RW-8.6"), Auth(ciba.AuthPrivateKeyJWT), Negative)

		// Testname: HS256 client assertion keyed with the public key refused
		// Spec: RFC7523-3, FAPI-RW-8.6
		// Description: A client assertion signed with HS256 using the
		// client's public key as secret MUST be refused with
		// invalid_client.
		// Quote: RFC7523-3: "The JWT MUST be digitally signed or have a
		// Message Authentication Code (MAC) applied by the issuer. The
		// authorization server MUST reject JWTs with an invalid signature
		// or MAC." FAPI-RW-8.6: "shall use PS256 or ES256 algorithms"
		// RFC7523-3.2: "The value of the "error" parameter MUST be the
		// "invalid_client" error code."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses an HS256 client assertion keyed with the client's public key", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, ciba.AuthPrivateKeyJWT)
			pub, _ := json.Marshal(c.PublicKey())
			expectAssertionRefused(ctx, f, c, client.AuthAssertionOptions(client.WithHS256Secret(pub)))
		}, Refs("RFC7523-3", "FAPI-RW-8.6"), Auth(ciba.AuthPrivateKeyJWT), Negative)

		// Testname: Expired client assertion refused
		// Spec: RFC7523-3
		// Description: A client assertion whose exp has passed (ten
		// minutes ago) MUST be refused with invalid_client.
		// Quote: RFC7523-3: "The authorization server MUST reject any JWT
		// with an expiration time that has passed, subject to allowable
		// clock skew between systems." RFC7523-3.2: "The value of the
		// "error" parameter MUST be the "invalid_client" error code."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses an expired client assertion", func(ctx context.Context, f *Fixture) {
			exp := time.Now().Add(-10 * time.Minute).Unix()
			expectAssertionRefused(ctx, f, f.Client(AnyMode, ciba.AuthPrivateKeyJWT),
				client.AuthAssertionOptions(client.WithClaim("exp", exp), client.WithClaim("iat", exp-60)))
		}, Refs("RFC7523-3"), Auth(ciba.AuthPrivateKeyJWT), Negative)

		// Testname: Replayed client assertion refused
		// Spec: OIDC-9, RFC7523-3
		// Description: A client assertion whose jti was already used
		// SHOULD be refused with invalid_client. A warning only: "only used
		// once" binds the client that makes the assertion, and RFC 7523
		// leaves replay detection to the server as a MAY; the OIDF suite
		// does not test it.
		// Quote: OIDC-9: "jti REQUIRED. JWT ID. A unique identifier for the
		// token, which can be used to prevent reuse of the token. These
		// tokens MUST only be used once, unless conditions for reuse were
		// negotiated between the parties; any such negotiation is beyond
		// the scope of this specification." RFC7523-3: "The authorization
		// server MAY ensure that JWTs are not replayed by maintaining the
		// set of used "jti" values for the length of time for which the
		// JWT would be considered valid based on the applicable "exp"
		// instant."
		// Duty: client
		// Level: SHOULD
		fw.ConformanceIt("refuses a replayed client assertion", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, ciba.AuthPrivateKeyJWT)
			// A user whose request stays pending: the first use of the
			// assertion must not end the request with tokens.
			u := f.PendingUser()
			assertion, err := c.ClientAssertion(c.Metadata().TokenEndpoint)
			if err != nil {
				f.fail(fmt.Sprintf("signing the client assertion of %s: %v", c.ClientID(), err))
			}
			ack := tokenControl(ctx, f, c, u, client.WithAuth(client.AuthAssertion(assertion)))
			_, ex, err := c.Token(ctx, ack.AuthReqID, client.WithAuth(client.AuthAssertion(assertion)))
			f.ExpectOAuthError(ex, err, StatusInvalidClient, ciba.ErrInvalidClient)
		}, Refs("OIDC-9", "RFC7523-3"), Auth(ciba.AuthPrivateKeyJWT), Negative, Should)

		// Testname: Client assertion for another server refused
		// Spec: RFC7523-3, OIDC-9
		// Description: A client assertion whose aud is another server MUST
		// be refused with invalid_client.
		// Quote: RFC7523-3: "The authorization server MUST reject any JWT
		// that does not contain its own identity as the intended
		// audience." OIDC-9: "The Authorization Server MUST verify that it
		// is an intended audience for the token." RFC7523-3.2: "The value
		// of the "error" parameter MUST be the "invalid_client" error
		// code."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses a client assertion whose aud is another server", func(ctx context.Context, f *Fixture) {
			expectAssertionRefused(ctx, f, f.Client(AnyMode, ciba.AuthPrivateKeyJWT), client.AuthAudience("https://www.other1.example.com/token"))
		}, Refs("RFC7523-3", "OIDC-9"), Auth(ciba.AuthPrivateKeyJWT), Negative)

		// Testname: Client assertion with sub different from iss refused
		// Spec: RFC7523-3
		// Description: A client assertion whose sub differs from its iss
		// (the client_id) MUST be refused with invalid_client.
		// Quote: RFC7523-3: "the authorization server MUST validate the
		// JWT according to the criteria below." "For client
		// authentication, the subject MUST be the "client_id" of the OAuth
		// client." RFC7523-3.2: "The value of the "error" parameter MUST be
		// the "invalid_client" error code."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses a client assertion whose sub is not its iss", func(ctx context.Context, f *Fixture) {
			expectAssertionRefused(ctx, f, f.Client(AnyMode, ciba.AuthPrivateKeyJWT), client.AuthAssertionOptions(client.WithClaim("sub", "ciba-check-someone-else")))
		}, Refs("RFC7523-3"), Auth(ciba.AuthPrivateKeyJWT), Negative)

		// Testname: Client assertion signed by another client refused
		// Spec: RFC7523-3
		// Description: A client assertion naming the caller but signed with
		// another client's key MUST be refused with invalid_client.
		// Quote: RFC7523-3: "The JWT MUST be digitally signed or have a
		// Message Authentication Code (MAC) applied by the issuer. The
		// authorization server MUST reject JWTs with an invalid signature
		// or MAC." RFC7523-3.2: "The value of the "error" parameter MUST be
		// the "invalid_client" error code."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses a client assertion signed with another client's key", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, ciba.AuthPrivateKeyJWT)
			expectAssertionRefused(ctx, f, c, client.AuthAssertionOptions(client.WithSigningKey(otherClientKey(f, c))))
		}, Refs("RFC7523-3"), Auth(ciba.AuthPrivateKeyJWT), Negative)

		// Testname: Wrong client_assertion_type refused
		// Spec: RFC7523-2.2, RFC7521-4.2.1
		// Description: A client_assertion_type other than the JWT bearer
		// URN (here the SAML one, with the JWT as assertion) MUST be
		// refused with invalid_client (invalid_request is tolerated, as
		// the OIDF suite does).
		// Quote: RFC7521-4.2.1: "If an assertion is invalid for any reason
		// or if more than one client authentication mechanism is used, the
		// authorization server constructs an error response as defined in
		// OAuth 2.0 [RFC6749]. The value of the "error" parameter MUST be
		// the "invalid_client" error code."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses a wrong client_assertion_type", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, ciba.AuthPrivateKeyJWT)
			ack := tokenControl(ctx, f, c, f.PendingUserOrAny())
			_, ex, err := c.Token(ctx, ack.AuthReqID, client.WithAuth(client.AuthAssertionType("urn:ietf:params:oauth:client-assertion-type:saml2-bearer")))
			f.ExpectOAuthError(ex, err, StatusInvalidClient, ciba.ErrInvalidClient, ciba.ErrInvalidRequest)
		}, Refs("RFC7523-2.2", "RFC7521-4.2.1"), Auth(ciba.AuthPrivateKeyJWT), Negative)

		// Testname: Altered auth_req_id refused
		// Spec: CIBA-11, CIBA-7.3, RFC6749-5.2
		// Description: The client's own auth_req_id with a character
		// appended or removed MUST be answered with HTTP 400
		// invalid_grant, never a server error. Values outside the
		// auth_req_id character set of CIBA 7.3 (SQL and NoSQL
		// metacharacters) are also malformed, so invalid_request is
		// accepted for them.
		// Quote: CIBA-11: "If the auth_req_id is invalid or was issued to
		// another Client, an invalid_grant error MUST be returned as
		// described in Section 5.2 of [RFC6749]." CIBA-7.3: "The OpenID
		// Provider MUST restrict the characters used to 'A'-'Z', 'a'-'z',
		// '0'-'9', '.', '-' and '_'" RFC6749-5.2: "invalid_request The
		// request is missing a required parameter, includes an unsupported
		// parameter value (other than grant type), repeats a parameter,
		// includes multiple credentials, utilizes more than one mechanism
		// for authenticating the client, or is otherwise malformed."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses an altered auth_req_id with invalid_grant", func(ctx context.Context, f *Fixture) {
			c := f.Client(ciba.ModePoll, AnyAuth)
			ack := tokenControl(ctx, f, c, f.PendingUserOrAny())
			for _, id := range []string{ack.AuthReqID + "A", ack.AuthReqID[1:], "' OR '1'='1", `{"$ne":null}`} {
				codes := []*ciba.Error{ciba.ErrInvalidGrant}
				if !inAuthReqIDCharset(id) {
					codes = append(codes, ciba.ErrInvalidRequest)
				}
				_, ex, err := c.Token(ctx, id)
				f.ExpectOAuthError(ex, err, Status400, codes...)
			}
		}, Refs("CIBA-11", "CIBA-7.3", "RFC6749-5.2"), Modes(ciba.ModePoll), Negative)

		// Testname: Unknown grant type refused
		// Spec: RFC6749-5.2
		// Description: A token request with an unknown grant_type MUST be
		// answered with HTTP 400 unsupported_grant_type (invalid_request
		// is for unsupported values "other than grant type").
		// Quote: RFC6749-5.2: "The authorization server responds with an
		// HTTP 400 (Bad Request) status code (unless specified otherwise)
		// and includes the following parameters with the response: error
		// REQUIRED. A single ASCII [USASCII] error code from the
		// following:" ... "unsupported_grant_type The authorization grant
		// type is not supported by the authorization server."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses an unknown grant_type with unsupported_grant_type", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			ack := tokenControl(ctx, f, c, f.PendingUserOrAny())
			_, ex, err := c.Token(ctx, ack.AuthReqID, client.CallForm(ciba.ParamGrantType, "urn:ciba-check:no-such-grant"))
			f.ExpectOAuthError(ex, err, Status400, ciba.ErrUnsupportedGrantType)
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
