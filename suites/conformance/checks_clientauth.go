package conformance

import (
	"context"
	"net/http"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/internal/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
)

// backchannelAuthErrors are the answers the OIDF suite accepts for a
// failed client authentication at the backchannel endpoint (CIBA.md
// §2.4): invalid_client (400/401), invalid_request (400), access_denied
// (403).
var backchannelAuthErrorStatuses = []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden}

func expectBackchannelAuthRefused(f *Fixture, ex *client.Exchange, err error) {
	ginkgo.GinkgoHelper()
	f.ExpectOAuthError(ex, err, backchannelAuthErrorStatuses, "invalid_client", "invalid_request", "access_denied")
	if oe := ex.OAuthError(); oe != nil {
		want := map[string][]int{"invalid_client": StatusInvalidClient, "invalid_request": Status400, "access_denied": {http.StatusForbidden}}[oe.Code]
		f.ExpectOAuthError(ex, err, want, oe.Code)
	}
}

func describeClientAuth(fw *Framework) {
	fw.Describe("Client authentication", func() {
		// Testname: Client assertion with aud = issuer accepted at the backchannel endpoint
		// Spec: CIBA-7.1
		// Description: At the backchannel endpoint the OP MUST accept a
		// private_key_jwt assertion whose aud is its issuer identifier.
		fw.ConformanceIt("accepts a backchannel client assertion with aud = issuer", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, ciba.AuthPrivateKeyJWT)
			f.Start(c, f.Params(c, f.PendingUserOrAny()), client.WithAuth(client.AuthAudience(c.Metadata().Issuer)))
		}, Refs("CIBA-7.1"), Auth(ciba.AuthPrivateKeyJWT), OIDF(ModHappy))

		// Testname: Client assertion with aud = token endpoint accepted at the backchannel endpoint
		// Spec: CIBA-7.1
		// Description: At the backchannel endpoint the OP MUST accept a
		// private_key_jwt assertion whose aud is its token endpoint URL.
		fw.ConformanceIt("accepts a backchannel client assertion with aud = token endpoint", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, ciba.AuthPrivateKeyJWT)
			f.Start(c, f.Params(c, f.PendingUserOrAny()), client.WithAuth(client.AuthAudience(c.Metadata().TokenEndpoint)))
		}, Refs("CIBA-7.1"), Auth(ciba.AuthPrivateKeyJWT), OIDF(ModHappy))

		// Testname: Client assertion with aud = [backchannel endpoint] accepted
		// Spec: CIBA-7.1, RFC7519-4.1.3
		// Description: At the backchannel endpoint the OP MUST accept a
		// private_key_jwt assertion whose aud is the backchannel
		// authentication endpoint URL, also as a JSON array holding it
		// (RFC 7519 4.1.3: aud is in general an array). The plain string
		// form is what every private_key_jwt request of the suite sends.
		fw.ConformanceIt("accepts a backchannel client assertion with aud = [backchannel endpoint] as an array", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, ciba.AuthPrivateKeyJWT)
			aud := []string{c.Metadata().BackchannelAuthenticationEndpoint}
			f.Start(c, f.Params(c, f.PendingUserOrAny()), client.WithAuth(client.AuthAssertionOptions(client.WithClaim("aud", aud))))
		}, Refs("CIBA-7.1", "RFC7519-4.1.3"), Auth(ciba.AuthPrivateKeyJWT))

		// Testname: Backchannel request without client assertion refused
		// Spec: CIBA-7.1, FAPI-RW-5.2.2-14
		// Description: A private_key_jwt client that sends only client_id
		// at the backchannel endpoint MUST be refused (invalid_client 401
		// or 400, invalid_request 400, or access_denied 403).
		fw.ConformanceIt("refuses a backchannel request with client_id but no client assertion", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, ciba.AuthPrivateKeyJWT)
			_, ex, err := c.Authenticate(ctx, f.Params(c, f.PendingUserOrAny()), client.WithAuth(client.AuthClientIDOnly()))
			expectBackchannelAuthRefused(f, ex, err)
		}, Refs("CIBA-7.1", "FAPI-RW-5.2.2-14"), Auth(ciba.AuthPrivateKeyJWT), Negative, OIDF(ModNoAssertionBC))

		// Testname: Token request without client assertion refused
		// Spec: CIBA-10.1, FAPI-RW-5.2.2-14
		// Description: A private_key_jwt client that sends only client_id
		// at the token endpoint MUST be refused with invalid_client or
		// invalid_request.
		fw.ConformanceIt("refuses a token request with client_id but no client assertion", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, ciba.AuthPrivateKeyJWT)
			ack := f.Start(c, f.Params(c, f.PendingUserOrAny()))
			_, ex, err := c.Token(ctx, ack.AuthReqID, client.WithAuth(client.AuthClientIDOnly()))
			f.ExpectOAuthError(ex, err, StatusInvalidClient, "invalid_client", "invalid_request")
		}, Refs("CIBA-10.1", "FAPI-RW-5.2.2-14"), Auth(ciba.AuthPrivateKeyJWT), Negative, OIDF(ModNoAssertionToken))

		// Testname: RS256 client assertion refused at the backchannel endpoint
		// Spec: FAPI-RW-8.6
		// Description: A client assertion signed with RS256 MUST be
		// refused at the backchannel endpoint.
		fw.ConformanceIt("refuses a backchannel client assertion signed with RS256", func(ctx context.Context, f *Fixture) {
			c := f.ClientWhere("private_key_jwt client with an RSA key", func(tc *targetClientT) bool {
				return tc.Auth == ciba.AuthPrivateKeyJWT && isRSAKey(tc)
			})
			_, ex, err := c.Authenticate(ctx, f.Params(c, f.PendingUserOrAny()), client.WithAuth(client.AuthAssertionOptions(client.WithAlg(ciba.AlgRS256))))
			expectBackchannelAuthRefused(f, ex, err)
		}, Refs("FAPI-RW-8.6"), Auth(ciba.AuthPrivateKeyJWT), Negative, OIDF(ModAssertionRS256BC))

		// Testname: RS256 client assertion refused at the token endpoint
		// Spec: FAPI-RW-8.6
		// Description: A client assertion signed with RS256 MUST be
		// refused at the token endpoint with invalid_client.
		fw.ConformanceIt("refuses a token client assertion signed with RS256", func(ctx context.Context, f *Fixture) {
			c := f.ClientWhere("private_key_jwt client with an RSA key", func(tc *targetClientT) bool {
				return tc.Auth == ciba.AuthPrivateKeyJWT && isRSAKey(tc)
			})
			ack := f.Start(c, f.Params(c, f.PendingUserOrAny()))
			_, ex, err := c.Token(ctx, ack.AuthReqID, client.WithAuth(client.AuthAssertionOptions(client.WithAlg(ciba.AlgRS256))))
			f.ExpectOAuthError(ex, err, StatusInvalidClient, "invalid_client")
		}, Refs("FAPI-RW-8.6"), Auth(ciba.AuthPrivateKeyJWT), Negative, OIDF(ModAssertionRS256Token))

		// Testname: Client assertion with aud = issuer accepted at the token endpoint
		// Spec: CIBA-10.1, RFC7523-3
		// Description: At the token endpoint the OP SHOULD accept a client
		// assertion whose aud is its issuer identifier; a pending request
		// then answers authorization_pending, not invalid_client. RFC 7523
		// 3 lets the OP name the token endpoint URL as the one aud it
		// accepts there, and the OIDF suite only warns: a warning.
		fw.ConformanceIt("accepts a token client assertion with aud = issuer", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, ciba.AuthPrivateKeyJWT)
			ack := f.Start(c, f.Params(c, f.PendingUser()))
			_, ex, err := c.Token(ctx, ack.AuthReqID, client.WithAuth(client.AuthAudience(c.Metadata().Issuer)))
			f.ExpectOAuthError(ex, err, Status400, "authorization_pending", "slow_down")
		}, Refs("CIBA-10.1", "RFC7523-3"), Auth(ciba.AuthPrivateKeyJWT), OIDF(ModAssertionIssAudToken), Should)

		// Testname: MTLS client_id differing from the request object's iss refused
		// Spec: CIBA-7.1, RFC8705-2
		// Description: Under mutual TLS, a backchannel request whose form
		// client_id names another client while the certificate and request
		// object are the caller's MUST be refused with HTTP 401
		// invalid_client.
		fw.ConformanceIt("refuses a backchannel request whose client_id differs from the request object's iss", func(ctx context.Context, f *Fixture) {
			c := f.ClientWhere("mutual-TLS client", func(tc *targetClientT) bool { return tc.Auth.UsesMTLS() })
			other := f.OtherClient(c, false)
			_, ex, err := c.Authenticate(ctx, f.Params(c, f.PendingUserOrAny()), client.WithAuth(client.AuthClientID(other.ClientID())))
			f.ExpectOAuthError(ex, err, []int{http.StatusUnauthorized}, "invalid_client")
		}, Refs("CIBA-7.1", "RFC8705-2"), Auth(ciba.AuthTLSClient, ciba.AuthSelfSignedTLSClient), Negative, OIDF(ModDifferentClientIDIss))

		// Testname: Another client's client_id over the caller's certificate refused at the backchannel endpoint
		// Spec: RFC8705-2
		// Description: A backchannel request naming another client (form
		// client_id and request object iss) over the caller's TLS
		// certificate and signed with the caller's key MUST be refused.
		fw.ConformanceIt("refuses a backchannel request naming another client over the caller's certificate", func(ctx context.Context, f *Fixture) {
			c := f.ClientWhere("mutual-TLS client", func(tc *targetClientT) bool { return tc.Auth.UsesMTLS() })
			other := f.OtherClient(c, false)
			_, ex, err := c.Authenticate(ctx, f.Params(other, f.PendingUserOrAny()),
				client.WithAuth(client.AuthClientID(other.ClientID())),
				client.CallRequestObject(client.WithClaim("iss", other.ClientID())))
			expectBackchannelAuthRefused(f, ex, err)
		}, Refs("RFC8705-2"), Auth(ciba.AuthTLSClient, ciba.AuthSelfSignedTLSClient), Negative, OIDF(ModWrongClientIDBC))

		// Testname: Another client's client_id over the caller's certificate refused at the token endpoint
		// Spec: RFC8705-2, CIBA-10.1
		// Description: A token request with another client's client_id
		// over the caller's certificate MUST be refused with
		// invalid_client, and must not reach the other client's request.
		fw.ConformanceIt("refuses a token request naming another client over the caller's certificate", func(ctx context.Context, f *Fixture) {
			c := f.ClientWhere("mutual-TLS client", func(tc *targetClientT) bool { return tc.Auth.UsesMTLS() })
			other := f.OtherClient(c, false)
			ack := f.Start(other, f.Params(other, f.PendingUser()))
			_, ex, err := c.Token(ctx, ack.AuthReqID, client.WithAuth(client.AuthClientID(other.ClientID())))
			f.ExpectOAuthError(ex, err, StatusInvalidClient, "invalid_client")
		}, Refs("RFC8705-2", "CIBA-10.1"), Auth(ciba.AuthTLSClient, ciba.AuthSelfSignedTLSClient), Negative, OIDF(ModWrongClientIDToken))

		// Testname: Mutual-TLS client without a certificate refused
		// Spec: RFC8705-2
		// Description: A tls_client_auth or self_signed_tls_client_auth
		// client that presents no certificate MUST be refused at the
		// backchannel endpoint (TLS failure or invalid_client).
		fw.ConformanceIt("refuses a mutual-TLS client that presents no certificate", func(ctx context.Context, f *Fixture) {
			c := f.ClientWhere("mutual-TLS client", func(tc *targetClientT) bool { return tc.Auth.UsesMTLS() })
			_, ex, err := c.Authenticate(ctx, f.Params(c, f.PendingUserOrAny()), client.CallTLSCertificate(nil))
			if ex != nil && ex.Status == 0 && err != nil {
				f.EnsureReachable()
				return // refused in the TLS handshake
			}
			f.ExpectOAuthError(ex, err, StatusInvalidClient, "invalid_client", "invalid_request")
		}, Refs("RFC8705-2"), Auth(ciba.AuthTLSClient, ciba.AuthSelfSignedTLSClient), Negative, OIDF(ModMTLSHolderOfKeyRequired))
	})
}
