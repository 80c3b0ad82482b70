package conformance

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/device"
)

// tokenCertificateRequiredChecks registers the check that a token request without the
// client's certificate gets no tokens (RFC 8705, FAPI-CIBA 5.2.2).
func tokenCertificateRequiredChecks(fw *Framework) {
	// Testname: Token request without a client certificate gets no tokens
	// Spec: RFC8705-3, FAPI-RW-5.2.2-5
	// Description: Access tokens MUST be certificate-bound, so a token
	// request for an approved request without a client certificate
	// MUST get no tokens, even for a private_key_jwt client: a TLS
	// alert from the server, or HTTP 400/401 with invalid_client,
	// invalid_grant or invalid_request once the request is decided
	// (authorization_pending is not a refusal). A timeout, a reset or
	// another transport error leaves the check undetermined. Skipped
	// when binding is not required (fapi: false and no
	// tls_client_certificate_bound_access_tokens). Positive control:
	// the same client's token request with its certificate is
	// accepted.
	// Quote: FAPI-RW-5.2.2-5: "shall only issue sender-constrained access tokens;" RFC8705-3: "When mutual TLS is used by the client on the connection to the token endpoint, the authorization server is able to bind the issued access token to the client certificate."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("issues no tokens to a token request without a client certificate", func(ctx context.Context, f *Fixture) {
		boundTokensRequired(f)
		// A private_key_jwt client is the telling case: it authenticates
		// without its certificate, so only the binding can refuse it.
		// An mTLS client fails authentication anyway; use one only when
		// the target has no private_key_jwt poll client.
		auth := AnyAuth
		if len(f.Clients(ciba.ModePoll, ciba.AuthPrivateKeyJWT)) > 0 {
			auth = ciba.AuthPrivateKeyJWT
		}
		c := boundTokenClient(f, ciba.ModePoll, auth)
		tokenControl(ctx, f, c, f.PendingUserOrAny())
		u := f.UserFor(device.ActionAllow)
		p := f.Params(c, u)
		ack := f.Start(c, p)
		f.Decide(c, ack, u, p, device.ActionAllow)
		_, ex, err := decidedAnswer(ctx, c, ack, client.CallTLSCertificate(nil))
		if noResponse(ex, err) {
			if tlsRefusal(err) {
				f.EnsureReachable()
				return // refused in the TLS handshake
			}
			f.Undetermined(ex, "the token request without a client certificate got no answer and no TLS alert: %v", err)
		}
		if undecided(ex, err) {
			f.Undetermined(ex, "the approved request was still pending (or the OP busy) when it expired: %v", err)
		}
		f.ExpectOAuthError(ex, err, []int{http.StatusBadRequest, http.StatusUnauthorized}, ciba.ErrInvalidClient, ciba.ErrInvalidRequest, ciba.ErrInvalidGrant)
	}, Refs("RFC8705-3", "FAPI-RW-5.2.2-5"), Modes(ciba.ModePoll), Negative, OIDF(ModMTLSHolderOfKeyRequired))
}

// tokenHolderOfKeyChecks registers the check that an access token works only
// over the certificate it is bound to (RFC 8705 3).
func tokenHolderOfKeyChecks(fw *Framework) {
	// Testname: Access token refused with another client's certificate
	// Spec: RFC8705-3, FAPI-RW-5.2.2-5
	// Description: The access token MUST be refused at userinfo over
	// another client's certificate with HTTP 401 invalid_token (or a
	// TLS alert from the server); another 4xx is a failure, a
	// transport error leaves the check undetermined. Positive
	// control: the token works at userinfo over the client's own
	// certificate. Skipped when binding is not required.
	// Quote: RFC8705-3: "The protected resource MUST obtain, from its TLS implementation layer, the client certificate used for mutual TLS and MUST verify that the certificate matches the certificate associated with the access token. If they do not match, the resource access attempt MUST be rejected with an error, per [RFC6750], using an HTTP 401 status code and the "invalid_token" error code." FAPI-RW-5.2.2-5: "shall only issue sender-constrained access tokens;"
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses the access token at userinfo over another client's certificate", func(ctx context.Context, f *Fixture) {
		c, otherCert, otherID := holderOfKeyProbe(f)
		tr, _, _ := f.Approved(c)
		expectBoundAtUserinfo(ctx, f, c, tr.AccessToken, otherCert, otherID)
	}, Refs("RFC8705-3", "FAPI-RW-5.2.2-5"), Negative, OIDF(ModHappy))
}

// boundTokensRequired skips a check of certificate-bound access tokens
// when nothing requires the OP to bind: FAPI-RW 5.2.2-5 ("shall only
// issue sender-constrained access tokens") applies only under FAPI, and
// RFC 8705 3 makes binding possible, not mandatory.
func boundTokensRequired(f *Fixture) {
	ginkgo.GinkgoHelper()
	if !f.Env().Target.FAPI && !f.Metadata().TLSClientCertificateBoundAccessTokens {
		f.Skipf("access tokens need not be certificate-bound: target.yaml says fapi: false (FAPI-RW 5.2.2-5 does not apply) and the OP does not advertise tls_client_certificate_bound_access_tokens (RFC 8705 3.3)")
	}
}

// holderOfKeyProbe prepares the probe of expectBoundAtUserinfo: skipped
// when the OP publishes no userinfo endpoint or does not require bound
// tokens; c is the client whose token is probed, otherCert and otherID
// the other client whose certificate it is presented over.
func holderOfKeyProbe(f *Fixture) (c *client.Client, otherCert *tls.Certificate, otherID string) {
	ginkgo.GinkgoHelper()
	if f.Metadata().UserinfoEndpoint == "" {
		f.Skipf("the OP publishes no userinfo_endpoint to present the token at")
	}
	boundTokensRequired(f)
	c = boundTokenClient(f, AnyMode, AnyAuth)
	other := f.OtherClient(c, false)
	return c, f.TLSCert(other), other.ClientID()
}

// expectBoundAtUserinfo is the holder-of-key probe of RFC 8705 3 at the
// userinfo endpoint: the access token must work over c's own certificate
// (positive control) and be refused over otherCert with HTTP 401
// invalid_token, or by a TLS alert from the server.
func expectBoundAtUserinfo(ctx context.Context, f *Fixture, c *client.Client, accessToken string, otherCert *tls.Certificate, otherID string) {
	ginkgo.GinkgoHelper()
	_, ex, err := c.UserInfo(ctx, accessToken)
	f.Control(err == nil, ex, "userinfo refused the access token over the client's own certificate: %v", err)
	_, ex, err = c.UserInfo(ctx, accessToken, client.CallTLSCertificate(otherCert))
	if noResponse(ex, err) {
		if tlsRefusal(err) {
			f.EnsureReachable()
			return // refused in the TLS handshake
		}
		f.Undetermined(ex, "userinfo over %s's certificate gave no answer and no TLS alert: %v", otherID, err)
	}
	f.Expect(err != nil, ex, "expected HTTP 401 invalid_token for the access token over %s's certificate (RFC 8705 3), got HTTP %d with claims", otherID, statusOf(ex))
	var ce *ciba.Error
	code := ""
	if errors.As(err, &ce) {
		code = ce.Code
	}
	f.Expect(ex.Status == http.StatusUnauthorized && code == ciba.ErrInvalidToken.Code, ex, "expected HTTP 401 invalid_token for the access token over %s's certificate (RFC 8705 3), got HTTP %d error %q", otherID, ex.Status, code)
}
