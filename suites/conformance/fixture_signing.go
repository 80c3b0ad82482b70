package conformance

import (
	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/internal/client"
)

// SigningClient returns the first client (poll first) that signs its
// backchannel requests (a signing key, not signed: false), or skips: the
// request-object checks need one, and a CIBA Core target may have only
// clients that send plain form parameters (CIBA 7.1).
func (f *Fixture) SigningClient() *client.Client {
	ginkgo.GinkgoHelper()
	return f.ClientWhere("client that signs its backchannel requests (signing_key; every client sends unsigned requests, CIBA 7.1)", func(tc *targetClientT) bool {
		return tc.SignsRequests()
	})
}
