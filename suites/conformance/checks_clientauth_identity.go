package conformance

import (
	"context"
	"net/http"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/target"
)

// clientAuthIssuerChecks registers the check that a request object from
// another issuer than the authenticated client is refused (CIBA 7.1.1).
func clientAuthIssuerChecks(fw *Framework) {
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
		c := f.ClientWhere("mutual-TLS client", func(tc *target.Client) bool { return tc.Auth.UsesMTLS() })
		other := f.OtherClient(c, false)
		u := f.PendingUserOrAny()
		f.ControlAck(c, f.Params(c, u))
		_, ex, err := c.Authenticate(ctx, f.Params(c, u), client.WithAuth(client.AuthClientID(other.ClientID())))
		f.ExpectOAuthError(ex, err, StatusInvalidClient, ciba.ErrInvalidClient)
		f.ExpectCert(ex.Status == http.StatusUnauthorized, ex, "expected HTTP 401 with invalid_client (the OIDF suite requires it; RFC 6749 5.2 allows 400), got HTTP %d", ex.Status)
	}, Refs("CIBA-7.1", "RFC8705-2"), Auth(ciba.AuthTLSClient, ciba.AuthSelfSignedTLSClient), Negative, OIDF(ModDifferentClientIDIss))
}

// clientAuthCertificateIdentityChecks registers the checks that a client cannot name
// another client over its own certificate, at both endpoints (RFC 8705 2).
func clientAuthCertificateIdentityChecks(fw *Framework) {
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
		c := f.ClientWhere("mutual-TLS client", func(tc *target.Client) bool { return tc.Auth.UsesMTLS() })
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
		c := f.ClientWhere("mutual-TLS client", func(tc *target.Client) bool { return tc.Auth.UsesMTLS() })
		other := f.OtherClient(c, false)
		ack := f.ControlAck(other, f.Params(other, f.PendingUser()))
		_, ex, err := c.Token(ctx, ack.AuthReqID, client.WithAuth(client.AuthClientID(other.ClientID())))
		if err != nil && ex != nil && ex.Status != 0 {
			tokenAuthControl(ctx, f, other, ack.AuthReqID)
		}
		f.ExpectOAuthError(ex, err, StatusInvalidClient, ciba.ErrInvalidClient)
	}, Refs("RFC8705-2", "CIBA-10.1"), Auth(ciba.AuthTLSClient, ciba.AuthSelfSignedTLSClient), Negative, OIDF(ModWrongClientIDToken))
}

// clientAuthMTLSChecks registers the check that a mutual-TLS client without
// its certificate is refused (RFC 8705 2).
func clientAuthMTLSChecks(fw *Framework) {
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
		c := f.ClientWhere("mutual-TLS client", func(tc *target.Client) bool { return tc.Auth.UsesMTLS() })
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
}
