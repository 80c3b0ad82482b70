package conformance

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/target"
)

// backchannelAuthErrors are the answers the OIDF suite accepts for a
// failed client authentication at the backchannel endpoint (CIBA.md
// §2.4): invalid_client (400/401), invalid_request (400), access_denied
// (403).
var backchannelAuthErrorStatuses = []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden}

func expectBackchannelAuthRefused(f *Fixture, ex *client.Exchange, err error) {
	ginkgo.GinkgoHelper()
	f.ExpectOAuthError(ex, err, backchannelAuthErrorStatuses, ciba.ErrInvalidClient, ciba.ErrInvalidRequest, ciba.ErrAccessDeniedBackchannel)
	if oe := ex.OAuthError(); oe != nil {
		want := map[string][]int{ciba.ErrInvalidClient.Code: StatusInvalidClient, ciba.ErrInvalidRequest.Code: Status400, ciba.ErrAccessDeniedBackchannel.Code: {http.StatusForbidden}}[oe.Code]
		f.ExpectOAuthError(ex, err, want, oe)
	}
}

// grantStateErrors are the token errors of CIBA 11 an OP gives only once it
// has authenticated the client and recognised the auth_req_id.
var grantStateErrors = []*ciba.Error{ciba.ErrAuthorizationPending, ciba.ErrSlowDown, ciba.ErrAccessDenied, ciba.ErrExpiredToken}

// clientAuthenticated reports whether a token request's answer shows the
// OP authenticated the client: tokens, or an error about the grant's state.
func clientAuthenticated(err error) bool {
	var ce *ciba.Error
	return err == nil || (errors.As(err, &ce) && slices.Contains(ciba.Codes(grantStateErrors...), ce.Code))
}

// tokenAuthControl is the positive control of a negative token-endpoint check:
// c's valid token request for authReqID must authenticate (tokens or a
// CIBA 11 state error), else the check is skipped. It runs after the
// request under test: run first, a valid poll would make the next one too
// fast (slow_down) or redeem the tokens.
func tokenAuthControl(ctx context.Context, f *Fixture, c *client.Client, authReqID string) {
	ginkgo.GinkgoHelper()
	_, ex, err := c.Token(ctx, authReqID)
	f.Control(clientAuthenticated(err), ex, "the valid token request of %s was answered: %v", c.ClientID(), err)
}

// acknowledgedOrControl sends a valid request of c for u with opts (the
// option under test) and returns when the OP acknowledges it. Otherwise it
// sends the same request with the suite's defaults (the positive
// control): refused too,
// the refusal is not about the option and the check is skipped; accepted,
// the check fails. No answer at all is undetermined.
func acknowledgedOrControl(ctx context.Context, f *Fixture, c *client.Client, u *target.User, what string, opts ...client.CallOption) {
	ginkgo.GinkgoHelper()
	ack, ex, err := c.Authenticate(ctx, f.Params(c, u), opts...)
	if err == nil && ack != nil && ack.AuthReqID != "" {
		return
	}
	if !hadResponse(ex) {
		f.Undetermined(ex, "expected the backchannel request with %s to be acknowledged, got no response: %v", what, err)
	}
	f.ControlAck(c, f.Params(c, u))
	f.Failf(ex, "expected the backchannel request with %s to be acknowledged (CIBA 7.3) as the same request with the default assertion was, got: %v", what, err)
}

// clientAuthAudienceChecks registers the checks that the backchannel
// endpoint accepts each audience a client assertion may name (CIBA 7.1,
// RFC 7523 3).
func clientAuthAudienceChecks(fw *Framework) {
	// Testname: Client assertion with aud = issuer accepted at the backchannel endpoint
	// Spec: CIBA-7.1
	// Description: At the backchannel endpoint the OP MUST accept a
	// private_key_jwt assertion whose aud is its issuer identifier.
	// When refused, the same request with the default aud (the
	// backchannel endpoint URL) must be acknowledged, else the check is
	// skipped: the refusal is then not about aud.
	// Quote: CIBA-7.1: "the OP MUST accept its Issuer Identifier, Token Endpoint URL, or Backchannel Authentication Endpoint URL as values that identify it as an intended audience."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("accepts a backchannel client assertion with aud = issuer", func(ctx context.Context, f *Fixture) {
		c := f.Client(AnyMode, ciba.AuthPrivateKeyJWT)
		acknowledgedOrControl(ctx, f, c, f.PendingUserOrAny(), "assertion aud = issuer", client.WithAuth(client.AuthAudience(c.Metadata().Issuer)))
	}, Refs("CIBA-7.1"), Auth(ciba.AuthPrivateKeyJWT), OIDF(ModHappy))

	// Testname: Client assertion with aud = token endpoint accepted at the backchannel endpoint
	// Spec: CIBA-7.1
	// Description: At the backchannel endpoint the OP MUST accept a
	// private_key_jwt assertion whose aud is its token endpoint URL
	// (refused, the default request is the positive control).
	// Quote: CIBA-7.1: "the OP MUST accept its Issuer Identifier, Token Endpoint URL, or Backchannel Authentication Endpoint URL as values that identify it as an intended audience."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("accepts a backchannel client assertion with aud = token endpoint", func(ctx context.Context, f *Fixture) {
		c := f.Client(AnyMode, ciba.AuthPrivateKeyJWT)
		acknowledgedOrControl(ctx, f, c, f.PendingUserOrAny(), "assertion aud = token endpoint", client.WithAuth(client.AuthAudience(c.Metadata().TokenEndpoint)))
	}, Refs("CIBA-7.1"), Auth(ciba.AuthPrivateKeyJWT), OIDF(ModHappy))

	// Testname: Client assertion with aud = [backchannel endpoint] accepted
	// Spec: CIBA-7.1, RFC7519-4.1.3
	// Description: At the backchannel endpoint the OP MUST accept a
	// private_key_jwt assertion whose aud is the backchannel
	// authentication endpoint URL, also as a JSON array holding it
	// (RFC 7519 4.1.3: aud is in general an array). The plain string
	// form is what every private_key_jwt request of the suite sends,
	// and the positive control when the array is refused.
	// Quote: CIBA-7.1: "the OP MUST accept its Issuer Identifier, Token Endpoint URL, or Backchannel Authentication Endpoint URL as values that identify it as an intended audience." RFC7519-4.1.3: "In the general case, the 'aud' value is an array of case-sensitive strings, each containing a StringOrURI value."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("accepts a backchannel client assertion with aud = [backchannel endpoint] as an array", func(ctx context.Context, f *Fixture) {
		c := f.Client(AnyMode, ciba.AuthPrivateKeyJWT)
		aud := []string{c.Metadata().BackchannelAuthenticationEndpoint}
		acknowledgedOrControl(ctx, f, c, f.PendingUserOrAny(), "assertion aud = [backchannel endpoint]", client.WithAuth(client.AuthAssertionOptions(client.WithClaim("aud", aud))))
	}, Refs("CIBA-7.1", "RFC7519-4.1.3"), Auth(ciba.AuthPrivateKeyJWT))
}

// clientAuthMissingAssertionChecks registers the checks that a
// private_key_jwt client naming itself without an assertion is refused at
// both endpoints (CIBA 7.1, 10.1).
func clientAuthMissingAssertionChecks(fw *Framework) {
	// Testname: Backchannel request without client assertion refused
	// Spec: CIBA-7.1, FAPI-RW-5.2.2-14
	// Description: A private_key_jwt client that sends only client_id
	// at the backchannel endpoint MUST be refused (invalid_client 401
	// or 400, invalid_request 400, or access_denied 403), once the same
	// request with its assertion was acknowledged.
	// Quote: CIBA-7.2: "The OpenID Provider MUST validate the request received as follows: 1. Authenticate the Client per the authentication method registered or configured for its client_id." FAPI-RW-5.2.2-14: "shall authenticate the confidential client using one of the following methods ...: tls_client_auth or self_signed_tls_client_auth as specified in section 2 of [RFC8705], or private_key_jwt as specified in section 9 of [OIDC];" RFC6749-5.2: "invalid_client Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method)."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses a backchannel request with client_id but no client assertion", func(ctx context.Context, f *Fixture) {
		c := f.Client(AnyMode, ciba.AuthPrivateKeyJWT)
		u := f.PendingUserOrAny()
		f.ControlAck(c, f.Params(c, u))
		_, ex, err := c.Authenticate(ctx, f.Params(c, u), client.WithAuth(client.AuthClientIDOnly()))
		expectBackchannelAuthRefused(f, ex, err)
	}, Refs("CIBA-7.1", "FAPI-RW-5.2.2-14"), Auth(ciba.AuthPrivateKeyJWT), Negative, OIDF(ModNoAssertionBC))

	// Testname: Token request without client assertion refused
	// Spec: CIBA-10.1, FAPI-RW-5.2.2-14
	// Description: A private_key_jwt client that sends only client_id
	// at the token endpoint MUST be refused with invalid_client or
	// invalid_request; the same token request with the assertion must
	// then authenticate (pending or tokens), else the check is skipped.
	// Quote: FAPI-RW-5.2.2-14: "shall authenticate the confidential client using one of the following methods ...: tls_client_auth or self_signed_tls_client_auth as specified in section 2 of [RFC8705], or private_key_jwt as specified in section 9 of [OIDC];" RFC6749-5.2: "invalid_client Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method)."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses a token request with client_id but no client assertion", func(ctx context.Context, f *Fixture) {
		c := f.Client(AnyMode, ciba.AuthPrivateKeyJWT)
		ack := f.ControlAck(c, f.Params(c, f.PendingUserOrAny()))
		_, ex, err := c.Token(ctx, ack.AuthReqID, client.WithAuth(client.AuthClientIDOnly()))
		if err != nil && ex != nil && ex.Status != 0 {
			tokenAuthControl(ctx, f, c, ack.AuthReqID)
		}
		f.ExpectOAuthError(ex, err, StatusInvalidClient, ciba.ErrInvalidClient, ciba.ErrInvalidRequest)
	}, Refs("CIBA-10.1", "FAPI-RW-5.2.2-14"), Auth(ciba.AuthPrivateKeyJWT), Negative, OIDF(ModNoAssertionToken))
}

// clientAuthAlgorithmChecks registers the checks of the assertion's signing
// algorithm at both endpoints: PS256 or ES256 only (FAPI-RW 8.6).
func clientAuthAlgorithmChecks(fw *Framework) {
	// Testname: RS256 client assertion refused at the backchannel endpoint
	// Spec: FAPI-RW-8.6
	// Description: A client assertion signed with RS256 MUST be
	// refused at the backchannel endpoint, once the same request with
	// the client's PS256/ES256 assertion was acknowledged.
	// Quote: FAPI-RW-8.6: "For JWS, both clients and authorization servers: 1. shall use PS256 or ES256 algorithms; 2. should not use algorithms that use RSASSA-PKCS1-v1_5 (e.g. RS256); 3. shall not use none;"
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses a backchannel client assertion signed with RS256", func(ctx context.Context, f *Fixture) {
		c := f.ClientWhere("private_key_jwt client with an RSA key", func(tc *target.Client) bool {
			return tc.Auth == ciba.AuthPrivateKeyJWT && isRSAKey(tc)
		})
		u := f.PendingUserOrAny()
		f.ControlAck(c, f.Params(c, u))
		_, ex, err := c.Authenticate(ctx, f.Params(c, u), client.WithAuth(client.AuthAssertionOptions(client.WithAlg(ciba.AlgRS256))))
		expectBackchannelAuthRefused(f, ex, err)
	}, Refs("FAPI-RW-8.6"), Auth(ciba.AuthPrivateKeyJWT), Negative, OIDF(ModAssertionRS256BC))

	// Testname: RS256 client assertion refused at the token endpoint
	// Spec: FAPI-RW-8.6
	// Description: A client assertion signed with RS256 MUST be
	// refused at the token endpoint with invalid_client; the same
	// token request with the client's PS256/ES256 assertion must then
	// authenticate, else the check is skipped.
	// Quote: FAPI-RW-8.6: "For JWS, both clients and authorization servers: 1. shall use PS256 or ES256 algorithms; 2. should not use algorithms that use RSASSA-PKCS1-v1_5 (e.g. RS256); 3. shall not use none;" RFC6749-5.2: "invalid_client Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method)."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses a token client assertion signed with RS256", func(ctx context.Context, f *Fixture) {
		c := f.ClientWhere("private_key_jwt client with an RSA key", func(tc *target.Client) bool {
			return tc.Auth == ciba.AuthPrivateKeyJWT && isRSAKey(tc)
		})
		ack := f.ControlAck(c, f.Params(c, f.PendingUserOrAny()))
		_, ex, err := c.Token(ctx, ack.AuthReqID, client.WithAuth(client.AuthAssertionOptions(client.WithAlg(ciba.AlgRS256))))
		if err != nil && ex != nil && ex.Status != 0 {
			tokenAuthControl(ctx, f, c, ack.AuthReqID)
		}
		f.ExpectOAuthError(ex, err, StatusInvalidClient, ciba.ErrInvalidClient)
	}, Refs("FAPI-RW-8.6"), Auth(ciba.AuthPrivateKeyJWT), Negative, OIDF(ModAssertionRS256Token))
}

// clientAuthTokenAudienceChecks registers the check that the token endpoint accepts
// an assertion naming the issuer as its audience (RFC 7523 3).
func clientAuthTokenAudienceChecks(fw *Framework) {
	// Testname: Client assertion with aud = issuer accepted at the token endpoint
	// Spec: CIBA-10.1, RFC7523-3
	// Description: At the token endpoint the OP SHOULD accept a client
	// assertion whose aud is its issuer identifier; a pending request
	// then answers authorization_pending, not invalid_client. RFC 7523
	// 3 lets the OP name the token endpoint URL as the one aud it
	// accepts there, and the OIDF suite only warns: a warning. When it
	// is refused, the same token request with the default aud (the
	// token endpoint URL) must authenticate, else the check is skipped.
	// Quote: RFC7523-3: "The JWT MUST contain an 'aud' (audience) claim containing a value that identifies the authorization server as an intended audience. The token endpoint URL of the authorization server MAY be used as a value for an 'aud' element to identify the authorization server as an intended audience of the JWT." CIBA-7.1: "the Issuer Identifier of the OP SHOULD be used as the value of the audience."
	// Duty: OP
	// Level: SHOULD
	fw.ConformanceIt("accepts a token client assertion with aud = issuer", func(ctx context.Context, f *Fixture) {
		c := f.Client(AnyMode, ciba.AuthPrivateKeyJWT)
		ack := f.ControlAck(c, f.Params(c, f.PendingUser()))
		_, ex, err := c.Token(ctx, ack.AuthReqID, client.WithAuth(client.AuthAudience(c.Metadata().Issuer)))
		if clientAuthenticated(err) {
			return
		}
		if !hadResponse(ex) {
			f.Undetermined(ex, "expected authorization_pending for the assertion with aud = issuer, got no response: %v", err)
		}
		tokenAuthControl(ctx, f, c, ack.AuthReqID)
		f.Failf(ex, "expected the token request with assertion aud = issuer to authenticate (authorization_pending) as the one with aud = token endpoint did, got: %v", err)
	}, Refs("CIBA-10.1", "RFC7523-3"), Auth(ciba.AuthPrivateKeyJWT), OIDF(ModAssertionIssAudToken), Should)
}
