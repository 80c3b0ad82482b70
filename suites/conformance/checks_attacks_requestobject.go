package conformance

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
)

// attackRequestObjectCritChecks registers the probe of a crit header the OP does not
// understand (RFC 7515 4.1.11, CIBA 7.2).
func attackRequestObjectCritChecks(fw *Framework) {
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
}

// attackRequestObjectNamedKeyChecks registers the probes of request objects that bring
// their own key, in a jwk or behind a jku header (CIBA 7.1.1, 7.2).
func attackRequestObjectNamedKeyChecks(fw *Framework) {
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
}

// attackRequestObjectForeignKeyChecks registers the probes of request objects signed by a key
// the sending client did not register (CIBA 7.1.1, 7.2).
func attackRequestObjectForeignKeyChecks(fw *Framework) {
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
}

// attackRequestObjectMalformedChecks registers the probes of request objects that are no
// valid JWT or nest a request (RFC 7519, OIDC Core 6.1, CIBA 7.2).
func attackRequestObjectMalformedChecks(fw *Framework) {
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
}

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

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
