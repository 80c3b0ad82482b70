package conformance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

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

func describeClientAuth(fw *Framework) {
	fw.Describe("Client authentication", func() {
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

		// Testname: RS256 client assertion refused at the backchannel endpoint
		// Spec: FAPI-RW-8.6
		// Description: A client assertion signed with RS256 MUST be
		// refused at the backchannel endpoint, once the same request with
		// the client's PS256/ES256 assertion was acknowledged.
		// Quote: FAPI-RW-8.6: "For JWS, both clients and authorization servers shall use PS256 or ES256 algorithms;"
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses a backchannel client assertion signed with RS256", func(ctx context.Context, f *Fixture) {
			c := f.ClientWhere("private_key_jwt client with an RSA key", func(tc *targetClientT) bool {
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
		// Quote: FAPI-RW-8.6: "For JWS, both clients and authorization servers shall use PS256 or ES256 algorithms;" RFC6749-5.2: "invalid_client Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method)."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses a token client assertion signed with RS256", func(ctx context.Context, f *Fixture) {
			c := f.ClientWhere("private_key_jwt client with an RSA key", func(tc *targetClientT) bool {
				return tc.Auth == ciba.AuthPrivateKeyJWT && isRSAKey(tc)
			})
			ack := f.ControlAck(c, f.Params(c, f.PendingUserOrAny()))
			_, ex, err := c.Token(ctx, ack.AuthReqID, client.WithAuth(client.AuthAssertionOptions(client.WithAlg(ciba.AlgRS256))))
			if err != nil && ex != nil && ex.Status != 0 {
				tokenAuthControl(ctx, f, c, ack.AuthReqID)
			}
			f.ExpectOAuthError(ex, err, StatusInvalidClient, ciba.ErrInvalidClient)
		}, Refs("FAPI-RW-8.6"), Auth(ciba.AuthPrivateKeyJWT), Negative, OIDF(ModAssertionRS256Token))

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

		// Testname: MTLS client_id differing from the request object's iss refused
		// Spec: CIBA-7.1, RFC8705-2
		// Description: Under mutual TLS, a backchannel request whose form
		// client_id names another client while the certificate and request
		// object are the caller's MUST be refused with invalid_client, once
		// the caller's own request was acknowledged. CIBA 13 lists 401 for
		// invalid_client and the OIDF suite requires it, but RFC 6749 5.2
		// also allows 400 and the CIBA working group agrees (openid/mobile
		// issue 218): 400 is a certification-level warning.
		// Quote: RFC8705-2: "The authorization server MUST enforce the binding between client and certificate, as described in either Section 2.1 or 2.2 below. If no certificate is presented, or that which is presented doesn't match that which is expected for the given client_id, the authorization server returns a normal OAuth 2.0 error response per Section 5.2 of RFC 6749 [RFC6749] with the invalid_client error code to indicate failed client authentication." FAPI-R-5.2.2-19: "shall return an invalid_client error as defined in 5.2 of [RFC6749] when mis-matched client identifiers were provided through the client authentication methods that permits sending the client identifier in more than one way;"
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses a backchannel request whose client_id differs from the request object's iss", func(ctx context.Context, f *Fixture) {
			c := f.ClientWhere("mutual-TLS client", func(tc *targetClientT) bool { return tc.Auth.UsesMTLS() })
			other := f.OtherClient(c, false)
			u := f.PendingUserOrAny()
			f.ControlAck(c, f.Params(c, u))
			_, ex, err := c.Authenticate(ctx, f.Params(c, u), client.WithAuth(client.AuthClientID(other.ClientID())))
			f.ExpectOAuthError(ex, err, StatusInvalidClient, ciba.ErrInvalidClient)
			f.ExpectCert(ex.Status == http.StatusUnauthorized, ex, "expected HTTP 401 with invalid_client (the OIDF suite requires it; RFC 6749 5.2 allows 400), got HTTP %d", ex.Status)
		}, Refs("CIBA-7.1", "RFC8705-2"), Auth(ciba.AuthTLSClient, ciba.AuthSelfSignedTLSClient), Negative, OIDF(ModDifferentClientIDIss))

		// Testname: Another client's client_id over the caller's certificate refused at the backchannel endpoint
		// Spec: RFC8705-2
		// Description: A backchannel request naming another client (form
		// client_id and request object iss) over the caller's TLS
		// certificate and signed with the caller's key MUST be refused,
		// once the caller's own request was acknowledged.
		// Quote: RFC8705-2: "The authorization server MUST enforce the binding between client and certificate, as described in either Section 2.1 or 2.2 below. If no certificate is presented, or that which is presented doesn't match that which is expected for the given client_id, the authorization server returns a normal OAuth 2.0 error response per Section 5.2 of RFC 6749 [RFC6749] with the invalid_client error code to indicate failed client authentication."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses a backchannel request naming another client over the caller's certificate", func(ctx context.Context, f *Fixture) {
			c := f.ClientWhere("mutual-TLS client", func(tc *targetClientT) bool { return tc.Auth.UsesMTLS() })
			other := f.OtherClient(c, false)
			u := f.PendingUserOrAny()
			f.ControlAck(c, f.Params(c, u))
			_, ex, err := c.Authenticate(ctx, f.Params(other, u),
				client.WithAuth(client.AuthClientID(other.ClientID())),
				client.CallRequestObject(client.WithClaim("iss", other.ClientID())))
			expectBackchannelAuthRefused(f, ex, err)
		}, Refs("RFC8705-2"), Auth(ciba.AuthTLSClient, ciba.AuthSelfSignedTLSClient), Negative, OIDF(ModWrongClientIDBC))

		// Testname: Another client's client_id over the caller's certificate refused at the token endpoint
		// Spec: RFC8705-2, CIBA-10.1
		// Description: A token request with another client's client_id
		// over the caller's certificate MUST be refused with
		// invalid_client. The other client's request it names must have
		// been acknowledged (else skipped), and its owner's valid token
		// request must then authenticate (the positive control).
		// Quote: RFC8705-2: "The authorization server MUST enforce the binding between client and certificate, as described in either Section 2.1 or 2.2 below. If no certificate is presented, or that which is presented doesn't match that which is expected for the given client_id, the authorization server returns a normal OAuth 2.0 error response per Section 5.2 of RFC 6749 [RFC6749] with the invalid_client error code to indicate failed client authentication."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses a token request naming another client over the caller's certificate", func(ctx context.Context, f *Fixture) {
			c := f.ClientWhere("mutual-TLS client", func(tc *targetClientT) bool { return tc.Auth.UsesMTLS() })
			other := f.OtherClient(c, false)
			ack := f.ControlAck(other, f.Params(other, f.PendingUser()))
			_, ex, err := c.Token(ctx, ack.AuthReqID, client.WithAuth(client.AuthClientID(other.ClientID())))
			if err != nil && ex != nil && ex.Status != 0 {
				tokenAuthControl(ctx, f, other, ack.AuthReqID)
			}
			f.ExpectOAuthError(ex, err, StatusInvalidClient, ciba.ErrInvalidClient)
		}, Refs("RFC8705-2", "CIBA-10.1"), Auth(ciba.AuthTLSClient, ciba.AuthSelfSignedTLSClient), Negative, OIDF(ModWrongClientIDToken))

		// Testname: Mutual-TLS client without a certificate refused
		// Spec: RFC8705-2
		// Description: A tls_client_auth or self_signed_tls_client_auth
		// client that presents no certificate MUST be refused at the
		// backchannel endpoint: with a TLS alert from the server or
		// invalid_client (invalid_request tolerated). The same request with
		// the certificate must be acknowledged first. Any other transport
		// failure (a timeout, a reset, a closed connection) proves nothing:
		// could not determine, never a pass. (The OIDF module
		// ensure-mtls-holder-of-key-required probes the token endpoint, so
		// it is mapped to the token-endpoint check, not this one.)
		// Quote: RFC8705-2: "The authorization server MUST enforce the binding between client and certificate, as described in either Section 2.1 or 2.2 below. If no certificate is presented, or that which is presented doesn't match that which is expected for the given client_id, the authorization server returns a normal OAuth 2.0 error response per Section 5.2 of RFC 6749 [RFC6749] with the invalid_client error code to indicate failed client authentication."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses a mutual-TLS client that presents no certificate", func(ctx context.Context, f *Fixture) {
			c := f.ClientWhere("mutual-TLS client", func(tc *targetClientT) bool { return tc.Auth.UsesMTLS() })
			u := f.PendingUserOrAny()
			f.ControlAck(c, f.Params(c, u))
			_, ex, err := c.Authenticate(ctx, f.Params(c, u), client.CallTLSCertificate(nil))
			if err != nil && !hadResponse(ex) {
				if tlsRefusal(err) {
					return // the server refused the handshake with an alert
				}
				f.Undetermined(ex, "expected a TLS alert from the server or invalid_client, got a transport failure: %v", err)
			}
			f.ExpectOAuthError(ex, err, StatusInvalidClient, ciba.ErrInvalidClient, ciba.ErrInvalidRequest)
		}, Refs("RFC8705-2"), Auth(ciba.AuthTLSClient, ciba.AuthSelfSignedTLSClient), Negative)

		// Testname: Wrong client secret refused
		// Spec: CIBA-7.2, RFC6749-2.3.1, RFC6749-5.2
		// Description: A client_secret_basic or client_secret_post client
		// (client_secret_basic first) sending a wrong client_secret MUST be
		// refused with invalid_client at the backchannel endpoint; after a
		// wrong secret in the Authorization header (client_secret_basic)
		// with HTTP 401 and a WWW-Authenticate header. The same request
		// with the right secret must be acknowledged first.
		// Quote: CIBA-7.2: "The OpenID Provider MUST validate the request received as follows: 1. Authenticate the Client per the authentication method registered or configured for its client_id." RFC6749-2.3.1: "The authorization server MUST support the HTTP Basic authentication scheme for authenticating clients that were issued a client password." RFC6749-5.2: "invalid_client Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method). The authorization server MAY return an HTTP 401 (Unauthorized) status code to indicate which HTTP authentication schemes are supported. If the client attempted to authenticate via the "Authorization" request header field, the authorization server MUST respond with an HTTP 401 (Unauthorized) status code and include the "WWW-Authenticate" response header field matching the authentication scheme used by the client."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses a wrong client secret with invalid_client", func(ctx context.Context, f *Fixture) {
			c := secretClient(f)
			u := f.PendingUserOrAny()
			f.ControlAck(c, f.Params(c, u))
			_, ex, err := c.Authenticate(ctx, f.Params(c, u), client.WithAuth(client.AuthSecret(wrongSecret)))
			if c.AuthMethod() != ciba.AuthClientSecretBasic {
				f.ExpectOAuthError(ex, err, StatusInvalidClient, ciba.ErrInvalidClient)
				return
			}
			f.ExpectOAuthError(ex, err, []int{http.StatusUnauthorized}, ciba.ErrInvalidClient)
			scheme, _, _ := strings.Cut(ex.ResponseHeader.Get("WWW-Authenticate"), " ")
			f.Expect(strings.EqualFold(scheme, "Basic"), ex, "expected a WWW-Authenticate header with the Basic scheme beside the 401 (RFC 6749 5.2: the client used the Authorization header), got %q", ex.ResponseHeader.Get("WWW-Authenticate"))
		}, Refs("CIBA-7.2", "RFC6749-2.3.1", "RFC6749-5.2"), Auth(ciba.AuthClientSecretBasic, ciba.AuthClientSecretPost), Negative)

		// Testname: Client secret sent both ways refused
		// Spec: RFC6749-2.3, RFC6749-5.2
		// Description: A request carrying the client secret both in the
		// Authorization header (client_secret_basic) and in the body
		// (client_secret_post) SHOULD be refused, with invalid_request (or
		// invalid_client). A warning only: the MUST NOT of RFC 6749 2.3
		// binds the client, and RFC 6749 5.2 names invalid_request for such
		// a request without obliging the server to refuse it. The same
		// request with one method must be acknowledged first.
		// Quote: RFC6749-2.3: "The client MUST NOT use more than one authentication method in each request." RFC6749-5.2: "invalid_request The request is missing a required parameter, includes an unsupported parameter value (other than grant type), repeats a parameter, includes multiple credentials, utilizes more than one mechanism for authenticating the client, or is otherwise malformed."
		// Duty: client
		// Level: SHOULD
		fw.ConformanceIt("refuses a client secret sent both in the Authorization header and the body", func(ctx context.Context, f *Fixture) {
			c := secretClient(f)
			u := f.PendingUserOrAny()
			f.ControlAck(c, f.Params(c, u))
			_, ex, err := c.Authenticate(ctx, f.Params(c, u), client.WithAuth(client.AuthSecretBothWays()))
			f.ExpectOAuthError(ex, err, []int{http.StatusBadRequest, http.StatusUnauthorized}, ciba.ErrInvalidRequest, ciba.ErrInvalidClient)
		}, Refs("RFC6749-2.3", "RFC6749-5.2"), Auth(ciba.AuthClientSecretBasic, ciba.AuthClientSecretPost), Negative, Should)

		// Testname: Replayed client_secret_jwt assertion refused
		// Spec: OIDC-9, RFC7523-3
		// Description: A client_secret_jwt (HS256) client assertion whose
		// jti was already used SHOULD be refused with invalid_client. A
		// warning only, as for private_key_jwt: "only used once" binds the
		// client that makes the assertion, and RFC 7523 leaves replay
		// detection to the server as a MAY. The first use must
		// authenticate (positive control).
		// Quote: OIDC-9: "jti REQUIRED. JWT ID. A unique identifier for the token, which can be used to prevent reuse of the token. These tokens MUST only be used once, unless conditions for reuse were negotiated between the parties; any such negotiation is beyond the scope of this specification." RFC7523-3: "The authorization server MAY ensure that JWTs are not replayed by maintaining the set of used "jti" values for the length of time for which the JWT would be considered valid based on the applicable "exp" instant."
		// Duty: client
		// Level: SHOULD
		fw.ConformanceIt("refuses a replayed client_secret_jwt assertion", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, ciba.AuthClientSecretJWT)
			u := f.PendingUser()
			form := url.Values{}
			if err := c.ApplyClientAuth(form, c.Metadata().TokenEndpoint); err != nil {
				f.fail(fmt.Sprintf("making the client_secret_jwt assertion of %s: %v", c.ClientID(), err))
			}
			assertion := form.Get(ciba.ParamClientAssertion)
			ack := tokenControl(ctx, f, c, u, client.WithAuth(client.AuthAssertion(assertion)))
			_, ex, err := c.Token(ctx, ack.AuthReqID, client.WithAuth(client.AuthAssertion(assertion)))
			f.ExpectOAuthError(ex, err, StatusInvalidClient, ciba.ErrInvalidClient)
		}, Refs("OIDC-9", "RFC7523-3"), Auth(ciba.AuthClientSecretJWT), Negative, Should)
	})
}

// wrongSecret is the client secret of the wrong-secret check: long enough
// for any secret rule, and no client's.
const wrongSecret = "ciba-check-wrong-client-secret-0123456789"

// secretClient is the target's client_secret_basic client, else its
// client_secret_post client, else the check is skipped.
func secretClient(f *Fixture) *client.Client {
	ginkgo.GinkgoHelper()
	if cs := f.Clients(AnyMode, ciba.AuthClientSecretBasic); len(cs) > 0 {
		return f.Client(AnyMode, ciba.AuthClientSecretBasic)
	}
	return f.Client(AnyMode, ciba.AuthClientSecretPost)
}
