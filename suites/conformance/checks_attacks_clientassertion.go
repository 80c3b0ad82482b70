package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
)

// attackAssertionSignatureChecks registers the probes of forged assertion signatures:
// alg none and HS256 keyed with the public key (RFC 7523 3, OIDC Core 9).
func attackAssertionSignatureChecks(fw *Framework) {
	// Testname: Client assertion with alg none refused
	// Spec: RFC7523-3, FAPI-RW-8.6
	// Description: An unsigned (alg none) client assertion MUST be
	// refused with invalid_client.
	// Quote: RFC7523-3: "the authorization server MUST validate the
	// JWT according to the criteria below." "The JWT MUST be digitally
	// signed or have a Message Authentication Code (MAC) applied by the
	// issuer. The authorization server MUST reject JWTs with an
	// invalid signature or MAC." FAPI-RW-8.6: "For JWS, both clients and authorization servers: 1. shall use PS256 or ES256 algorithms; 2. should not use algorithms that use RSASSA-PKCS1-v1_5 (e.g. RS256); 3. shall not use none;"
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
	// or MAC." FAPI-RW-8.6: "For JWS, both clients and authorization servers: 1. shall use PS256 or ES256 algorithms; 2. should not use algorithms that use RSASSA-PKCS1-v1_5 (e.g. RS256); 3. shall not use none;"
	// RFC7523-3.2: "The value of the "error" parameter MUST be the
	// "invalid_client" error code."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses an HS256 client assertion keyed with the client's public key", func(ctx context.Context, f *Fixture) {
		c := f.Client(AnyMode, ciba.AuthPrivateKeyJWT)
		pub, _ := json.Marshal(c.PublicKey())
		expectAssertionRefused(ctx, f, c, client.AuthAssertionOptions(client.WithHS256Secret(pub)))
	}, Refs("RFC7523-3", "FAPI-RW-8.6"), Auth(ciba.AuthPrivateKeyJWT), Negative)
}

// attackAssertionLifetimeChecks registers the probes of an expired and a replayed
// assertion (RFC 7523 3).
func attackAssertionLifetimeChecks(fw *Framework) {
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
}

// attackAssertionClaimChecks registers the probes of misaddressed assertions: aud
// another server, sub not its iss (RFC 7523 3).
func attackAssertionClaimChecks(fw *Framework) {
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
}

// attackAssertionKeyTypeChecks registers the probes of an assertion signed with another
// client's key and of a wrong client_assertion_type (RFC 7523 2.2, 3).
func attackAssertionKeyTypeChecks(fw *Framework) {
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
