package conformance

import (
	"crypto/tls"
	"fmt"
	"slices"

	"github.com/go-jose/go-jose/v4"
	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/target"
)

// clientFor returns the (cached) client registered as tc.
func (f *Fixture) clientFor(tc *target.Client) *client.Client {
	ginkgo.GinkgoHelper()
	if c, ok := f.clients[tc.ID]; ok {
		return c
	}
	cfgClient, err := newTargetClient(f.env, tc)
	if err != nil {
		f.fail(fmt.Sprintf("building client %q from target.yaml: %v", tc.ID, err))
	}
	f.clients[tc.ID] = cfgClient
	return cfgClient
}

// modePreference orders clients for AnyMode: poll first (the simplest
// flow), then ping; push only when asked for by name.
func modeRank(m ciba.DeliveryMode) int {
	switch m {
	case ciba.ModePoll:
		return 0
	case ciba.ModePing:
		return 1
	}
	return 2
}

// Clients returns every registered client matching mode and auth (Any*
// match all; AnyMode leaves push clients out), poll clients first.
func (f *Fixture) Clients(mode ciba.DeliveryMode, auth ciba.AuthMethod) []*target.Client {
	return clientsOf(f.env.Target, mode, auth)
}

// clientsOf is Clients for target t.
func clientsOf(t *target.Target, mode ciba.DeliveryMode, auth ciba.AuthMethod) []*target.Client {
	var out []*target.Client
	for i := range t.Clients {
		tc := &t.Clients[i]
		if mode == AnyMode && tc.Mode == ciba.ModePush {
			continue
		}
		if (mode == AnyMode || tc.Mode == mode) && (auth == AnyAuth || tc.Auth == auth) {
			out = append(out, tc)
		}
	}
	slices.SortStableFunc(out, func(a, b *target.Client) int { return modeRank(a.Mode) - modeRank(b.Mode) })
	return out
}

// Client returns a client registered with mode and auth, or skips the
// check when the target has none.
func (f *Fixture) Client(mode ciba.DeliveryMode, auth ciba.AuthMethod) *client.Client {
	ginkgo.GinkgoHelper()
	cs := f.Clients(mode, auth)
	if len(cs) == 0 {
		f.Skipf("target.yaml has no client with mode %s and auth %s", orAny(string(mode)), orAny(string(auth)))
	}
	return f.clientFor(cs[0])
}

// ClientWhere returns the first client (poll first) for which ok holds,
// or skips with "target.yaml has no <what>".
func (f *Fixture) ClientWhere(what string, ok func(*target.Client) bool) *client.Client {
	ginkgo.GinkgoHelper()
	for _, tc := range f.Clients(AnyMode, AnyAuth) {
		if ok(tc) {
			return f.clientFor(tc)
		}
	}
	f.Skipf("target.yaml has no %s", what)
	return nil
}

// OtherClient returns a second client, other than c; with sameAuth its
// authentication method must be c's (CIBA.md pitfall 7: the mix-up
// probes need two clients).
func (f *Fixture) OtherClient(c *client.Client, sameAuth bool) *client.Client {
	ginkgo.GinkgoHelper()
	for _, tc := range f.Clients(AnyMode, AnyAuth) {
		if tc.ID == c.ClientID() || (sameAuth && tc.Auth != c.AuthMethod()) {
			continue
		}
		return f.clientFor(tc)
	}
	if sameAuth {
		f.Skipf("target.yaml has no second client with auth %s", c.AuthMethod())
	}
	f.Skipf("target.yaml has only one client")
	return nil
}

// TargetClient is c's entry in target.yaml.
func (f *Fixture) TargetClient(c *client.Client) *target.Client {
	tc, _ := f.env.Target.Client(c.ClientID())
	return tc
}

// SigningKey is the private signing key of client c (for probes that sign
// with another client's key).
func (f *Fixture) SigningKey(c *client.Client) jose.JSONWebKey {
	ginkgo.GinkgoHelper()
	k, err := f.TargetClient(c).LoadSigningKey()
	if err != nil {
		f.fail(err.Error())
	}
	return k
}

// TLSCert is client c's TLS certificate, or skips when it has none.
func (f *Fixture) TLSCert(c *client.Client) *tls.Certificate {
	ginkgo.GinkgoHelper()
	cert, err := f.TargetClient(c).LoadTLSCertificate()
	if err != nil {
		f.fail(err.Error())
	}
	if cert == nil {
		f.Skipf("client %s has no TLS certificate in target.yaml", c.ClientID())
	}
	return cert
}
