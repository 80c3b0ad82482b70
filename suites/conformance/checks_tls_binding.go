package conformance

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net/http"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/device"
)

// tlsBindingChecks registers the check that an access token is bound to
// the client certificate's thumbprint (RFC 8705 3.1).
func tlsBindingChecks(fw *Framework) {
	// Testname: Introspection reports the certificate binding
	// Spec: RFC8705-3.2
	// Description: Introspecting a certificate-bound access token
	// SHOULD report cnf x5t#S256 equal to the thumbprint of the client
	// certificate it was issued over: RFC 8705 3.2 describes this
	// without a requirement keyword, and RFC 8705 3 allows other ways
	// to convey the binding; a warning. Introspection needs
	// authorization (RFC 7662 2.1) and may answer active:false to a
	// caller not allowed to see the token (RFC 7662 2.2): a refusal
	// (401, 403 or another OAuth error) or active:false skips the
	// check, as does a flow the OP does not complete, and plain CIBA
	// (fapi: false) without certificate-bound tokens advertised. The
	// OIDF CIBA plan does not introspect (no OIDF label).
	// Quote: RFC8705-3.2: "For a mutual-TLS client certificate-bound access token, the hash of the certificate to which the token is bound is conveyed to the protected resource as metainformation in a token introspection response. The hash is conveyed using the same cnf with x5t#S256 member structure as the certificate SHA-256 thumbprint confirmation method, described in Section 3.1, as a top-level member of the introspection response JSON." RFC7662-2.2: "If the introspection call is properly authorized but the token is not active, does not exist on this server, or the protected resource is not allowed to introspect this particular token, then the authorization server MUST return an introspection response with the 'active' field set to false."
	// Duty: OP
	// Level: SHOULD
	fw.ConformanceIt("reports cnf x5t#S256 of the client certificate at introspection", func(ctx context.Context, f *Fixture) {
		if f.Metadata().IntrospectionEndpoint == "" {
			f.Skipf("the OP publishes no introspection_endpoint")
		}
		if !f.Env().Target.FAPI && !f.Metadata().TLSClientCertificateBoundAccessTokens {
			f.Skipf("target.yaml says fapi: false and the OP does not advertise certificate-bound access tokens")
		}
		c := boundTokenClient(f, AnyMode, AnyAuth)
		cert := f.TLSCert(c)
		tr := sharedOrSkip(f, c)
		ir, ex, err := c.Introspect(ctx, tr.AccessToken, "access_token")
		if err != nil {
			var ce *ciba.Error
			switch {
			case !hadResponse(ex):
				f.Undetermined(ex, "expected an introspection response, got no response: %v", err)
			case ex.Status == http.StatusUnauthorized || ex.Status == http.StatusForbidden || errors.As(err, &ce):
				f.Skipf("the OP does not let %s introspect (RFC 7662 2.1 requires authorization; it answered HTTP %d: %v)%s", c.ClientID(), ex.Status, err, quoteIf(ex))
			}
			f.Failf(ex, "expected an introspection response (RFC 7662 2.2), got: %v", err)
		}
		if !ir.Active {
			f.Skipf("the OP answered active:false for the fresh access token, which RFC 7662 2.2 allows for a caller not allowed to introspect it%s", quoteIf(ex))
		}
		f.Expect(ir.CNF[ciba.ClaimX5TS256] == x5tS256(cert), ex, "expected cnf x5t#S256 %q, got %v", x5tS256(cert), ir.CNF)
	}, Refs("RFC8705-3.2"), Should, SharesFlow)
}

// x5tS256 is the RFC 8705 3.1 thumbprint of a certificate.
func x5tS256(cert *tls.Certificate) string {
	sum := sha256.Sum256(cert.Certificate[0])
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// approvedOrSkip runs a whole approved flow for c and returns its tokens;
// a flow the OP does not complete skips the check with the reason: it is
// preparation, outside the claim of the checks that use it.
func approvedOrSkip(ctx context.Context, f *Fixture, c *client.Client) *ciba.TokenResponse {
	ginkgo.GinkgoHelper()
	u := f.UserFor(device.ActionAllow)
	p := f.Params(c, u)
	ack, ex, err := c.Authenticate(ctx, p)
	if err != nil || ack == nil || ack.AuthReqID == "" {
		f.Skipf("preparation failed: the OP did not acknowledge the backchannel request of %s (%v)%s", c.ClientID(), err, quoteIf(ex))
	}
	f.Decide(c, ack, u, p, device.ActionAllow)
	tr, ex, err := f.Outcome(c, ack)
	if err != nil {
		f.Skipf("preparation failed: the approved request of %s gave no tokens (%v)%s", c.ClientID(), err, quoteIf(ex))
	}
	return tr
}

// sharedOrSkip is approvedOrSkip on client c's shared approved flow
// (sharedflow.go), for a check that only reads the tokens: each failed
// step is skipped with approvedOrSkip's words.
func sharedOrSkip(f *Fixture, c *client.Client) *ciba.TokenResponse {
	ginkgo.GinkgoHelper()
	if f.run == nil || f.run.noSharing {
		return approvedOrSkip(f.ctx, f, c)
	}
	fl := f.sharedFlow(c)
	switch fl.step {
	case flowParams:
		f.fail(fl.err.Error())
	case flowStart, flowNoAuthReqID:
		f.Skipf("preparation failed: the OP did not acknowledge the backchannel request of %s (%v)%s", c.ClientID(), fl.err, quoteIf(fl.ex))
	case flowDecide:
		f.decideFailed(fl.err, device.ActionAllow)
	case flowTokens:
		f.Skipf("preparation failed: the approved request of %s gave no tokens (%v)%s", c.ClientID(), fl.err, quoteIf(fl.ex))
	}
	return fl.tr
}
