package conformance

import (
	"fmt"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/target"
)

// SigningClient returns the first client (poll first) that signs its
// backchannel requests (a signing key, not signed: false), or skips: the
// request-object checks need one, and a CIBA Core target may have only
// clients that send plain form parameters (CIBA 7.1).
func (f *Fixture) SigningClient() *client.Client {
	ginkgo.GinkgoHelper()
	return f.ClientWhere("client that signs its backchannel requests (signing_key; every client sends unsigned requests, CIBA 7.1)", func(tc *target.Client) bool {
		return tc.SignsRequests()
	})
}

// boundTokenClient is the client whose tokens the certificate-binding
// checks judge. Under FAPI it is f.Client(mode, auth): every FAPI client
// presents a certificate. With fapi: false it is the first such client
// that presents one (tls_cert in target.yaml), or the check is skipped:
// RFC 8705 3 binds only tokens issued over mutual TLS, and CIBA Core
// clients authenticating with a secret often present none, so their
// unbound tokens prove nothing about the binding.
func boundTokenClient(f *Fixture, mode ciba.DeliveryMode, auth ciba.AuthMethod) *client.Client {
	ginkgo.GinkgoHelper()
	if f.Env().Target.FAPI {
		return f.Client(mode, auth)
	}
	for _, tc := range f.Clients(mode, auth) {
		if tc.TLSCert != "" {
			return f.clientFor(tc)
		}
	}
	what := "client"
	if mode != AnyMode || auth != AnyAuth {
		what = fmt.Sprintf("client (mode %s, auth %s)", orAny(string(mode)), orAny(string(auth)))
	}
	f.Skipf("with fapi: false only tokens issued over mutual TLS are certificate-bound (RFC 8705 3), and target.yaml has no %s that presents a TLS certificate (tls_cert)", what)
	return nil
}
