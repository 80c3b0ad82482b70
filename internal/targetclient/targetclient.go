// Package targetclient turns a target.yaml description into working CIBA
// clients: the OP's discovery document with the target's endpoint
// overrides applied, a client.Config per registered client, and the
// notification receivers ping and push clients need. The conformance
// suite, the end-to-end tests and the load runner share it so a target
// means the same thing everywhere.
package targetclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/clock"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/target"
)

// Discover reads the OP's discovery document from the target's issuer,
// trusting the target's CA, and applies the endpoint overrides of
// target.yaml (they replace the discovered URL and its mutual-TLS alias,
// RFC 8705 5, since the user named the URL to use).
func Discover(ctx context.Context, t *target.Target) (*ciba.ProviderMetadata, error) {
	// A session that only reads the document: nothing is sent with
	// credentials, so the https check is the caller's.
	s, err := Open(ctx, t, SessionOptions{Inspect: true})
	if err != nil {
		var de *DiscoveryError
		if errors.As(err, &de) {
			return nil, de.Err
		}
		return nil, err
	}
	defer s.Close()
	return s.Metadata, nil
}

// discover reads t's discovery document with hc and applies the
// overrides.
func discover(ctx context.Context, hc *http.Client, t *target.Target) (*ciba.ProviderMetadata, error) {
	md, err := client.Discover(ctx, hc, t.Issuer)
	if err != nil {
		return nil, ExplainDiscoveryError(t, err)
	}
	ApplyOverrides(md, t.Endpoints)
	return md, nil
}

// ExplainDiscoveryError adds to a failed discovery the likely setup
// mistake, on the same line: nothing listening (is the OP running?), a
// host that does not resolve or a document that is not there (check
// issuer: in the target file).
func ExplainDiscoveryError(t *target.Target, err error) error {
	issuerAt := "issuer: in " + t.IssuerWhere()
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w (is the OP running at %s? nothing accepts connections there; check %s)", err, hostOf(t.Issuer), issuerAt)
	case errors.As(err, &dnsErr):
		return fmt.Errorf("%w (the host of the issuer does not resolve: check %s)", err, issuerAt)
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return fmt.Errorf("%w (is the OP running and reachable at %s? check %s)", err, hostOf(t.Issuer), issuerAt)
	case strings.Contains(err.Error(), ": HTTP 404"):
		return fmt.Errorf("%w (no discovery document there: check %s, which must be the OP's issuer exactly as it publishes it)", err, issuerAt)
	}
	return err
}

func hostOf(issuer string) string {
	if u, err := url.Parse(issuer); err == nil && u.Host != "" {
		return u.Host
	}
	return issuer
}

// ApplyOverrides writes the non-empty endpoint overrides into md.
func ApplyOverrides(md *ciba.ProviderMetadata, e target.Endpoints) {
	if e.BackchannelAuthentication != "" {
		md.BackchannelAuthenticationEndpoint = e.BackchannelAuthentication
		if md.MTLSEndpointAliases != nil {
			md.MTLSEndpointAliases.BackchannelAuthenticationEndpoint = ""
		}
	}
	if e.Token != "" {
		md.TokenEndpoint = e.Token
		if md.MTLSEndpointAliases != nil {
			md.MTLSEndpointAliases.TokenEndpoint = ""
		}
	}
	if e.Userinfo != "" {
		md.UserinfoEndpoint = e.Userinfo
		if md.MTLSEndpointAliases != nil {
			md.MTLSEndpointAliases.UserinfoEndpoint = ""
		}
	}
}

// Config builds the client.Config of the registered client tc: its
// signing key, TLS certificate, client secret, whether it signs its
// backchannel requests, the target's CA and the OP metadata md.
// A nil clk means the wall clock.
func Config(t *target.Target, tc *target.Client, md *ciba.ProviderMetadata, clk clock.Clock) (client.Config, error) {
	if t == nil || tc == nil || md == nil {
		return client.Config{}, errors.New("targetclient: Config needs a target, a client and metadata")
	}
	key, err := tc.LoadSigningKey()
	if err != nil {
		return client.Config{}, err
	}
	cert, err := tc.LoadTLSCertificate()
	if err != nil {
		return client.Config{}, err
	}
	roots, err := t.RootCAs()
	if err != nil {
		return client.Config{}, err
	}
	if clk == nil {
		clk = clock.Real{}
	}
	return client.Config{
		ClientID: tc.ID, AuthMethod: tc.Auth, Mode: tc.Mode,
		SigningKey: key, TLSCert: cert, RootCAs: roots,
		Secret: tc.Secret.Value(), Unsigned: !tc.SignsRequests(),
		Metadata: md, Clock: clk,
	}, nil
}

// New builds the client of tc (see Config).
func New(t *target.Target, tc *target.Client, md *ciba.ProviderMetadata, clk clock.Clock) (*client.Client, error) {
	cfg, err := Config(t, tc, md, clk)
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("targetclient: client %q: %w", tc.ID, err)
	}
	return c, nil
}

// Receivers are the started notification receivers of a target, one per
// listen address: clients sharing an address share a receiver, which
// tells notifications apart by auth_req_id.
type Receivers struct {
	byClient map[string]*client.NotificationReceiver
	all      []*client.NotificationReceiver
}

// ReceiverLabelKey and ReceiverLabel are the pprof label every goroutine
// of the receivers StartReceivers starts carries (the server's, each
// connection's).
const (
	ReceiverLabelKey = "ciba-check"
	ReceiverLabel    = "notification-receiver"
)

// StartReceivers starts a receiver for every distinct notification listen
// address of the target's ping and push clients. The path served is the
// path of the client's registered notification URL.
func StartReceivers(t *target.Target, clk clock.Clock) (*Receivers, error) {
	rs := &Receivers{byClient: map[string]*client.NotificationReceiver{}}
	byListen := map[string]*client.NotificationReceiver{}
	for i := range t.Clients {
		tc := &t.Clients[i]
		n := tc.Notification
		if n == nil {
			continue
		}
		if r, ok := byListen[n.Listen]; ok {
			rs.byClient[tc.ID] = r
			continue
		}
		cert, err := tc.LoadNotificationCertificate()
		if err != nil {
			_ = rs.Close()
			return nil, err
		}
		if cert == nil {
			_ = rs.Close()
			return nil, fmt.Errorf("targetclient: client %q: notification.tls_cert is needed to serve the notification endpoint over HTTPS (CIBA 10.2)", tc.ID)
		}
		path := "/"
		if u, err := url.Parse(n.URL); err == nil && u.Path != "" {
			path = u.Path
		}
		r, err := client.NewNotificationReceiver(client.ReceiverConfig{Listen: n.Listen, TLSCert: *cert, Path: path, Clock: clk})
		if err != nil {
			_ = rs.Close()
			return nil, err
		}
		// Labelled so that a CPU profile tells the receivers' work
		// apart (load flow charges it to ping).
		pprof.Do(context.Background(), pprof.Labels(ReceiverLabelKey, ReceiverLabel), func(context.Context) { _, err = r.Start() })
		if err != nil {
			_ = rs.Close()
			return nil, fmt.Errorf("targetclient: client %q: %w", tc.ID, err)
		}
		byListen[n.Listen] = r
		rs.byClient[tc.ID] = r
		rs.all = append(rs.all, r)
	}
	return rs, nil
}

// For returns the receiver of the client with id, nil when it has none.
func (rs *Receivers) For(clientID string) *client.NotificationReceiver {
	if rs == nil {
		return nil
	}
	return rs.byClient[clientID]
}

// Close stops every receiver.
func (rs *Receivers) Close() error {
	if rs == nil {
		return nil
	}
	var errs []error
	for _, r := range rs.all {
		errs = append(errs, r.Close())
	}
	rs.all = nil
	return errors.Join(errs...)
}

// DiscoverIssuer reads the discovery document of issuer with hc, before
// there is a target (init), and checks that it names issuer: OIDC
// Discovery 4.3, the issuer in the document must be the one the document
// was fetched for.
func DiscoverIssuer(ctx context.Context, hc *http.Client, issuer string) (*ciba.ProviderMetadata, error) {
	md, err := client.Discover(ctx, hc, issuer)
	if err != nil {
		return nil, err
	}
	if md.Issuer != issuer {
		return nil, fmt.Errorf("the discovery document names issuer %q, not %q (OIDC Discovery 4.3)", md.Issuer, issuer)
	}
	return md, nil
}
