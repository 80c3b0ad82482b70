package targetclient

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/device"
	"github.com/ciba-check/ciba-check/internal/pki"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/mockdevice"
)

// DiscoveryURL is where issuer publishes its discovery document (OIDC
// Discovery 4).
func DiscoveryURL(issuer string) string {
	return strings.TrimSuffix(issuer, "/") + ciba.DiscoveryPath
}

// DiscoverWithCA reads issuer's discovery document within timeout
// (DiscoverIssuer), before there is a target (init): with hc when set,
// else with a client trusting the CA bundle in caFile ("": the system
// roots).
func DiscoverWithCA(ctx context.Context, hc *http.Client, issuer, caFile string, timeout time.Duration) (*ciba.ProviderMetadata, error) {
	if hc == nil {
		var roots *x509.CertPool
		if caFile != "" {
			pool, err := pki.LoadCAPool(caFile)
			if err != nil {
				return nil, err
			}
			roots = pool
		}
		var err error
		if hc, err = client.NewHTTPClient(client.Config{RootCAs: roots}); err != nil {
			return nil, err
		}
		defer hc.CloseIdleConnections()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return DiscoverIssuer(ctx, hc, issuer)
}

// Handshake is a TLS handshake a client made with its certificate.
type Handshake struct {
	// Host is the token endpoint's host.
	Host                 string
	Version, CipherSuite uint16
}

// HandshakeClientTLS makes one HTTPS request to the token endpoint (its
// mTLS alias when published, RFC 8705 5) presenting cert: any HTTP answer
// proves the handshake, including TLS 1.3 servers that refuse a
// certificate only after the handshake. Nil without an error when the OP
// names no token endpoint. An endpoint that is not https is refused
// before any connection: no certificate is presented there.
func (s *Session) HandshakeClientTLS(ctx context.Context, cert *tls.Certificate) (*Handshake, error) {
	md := s.Metadata
	endpoint := md.TokenEndpoint
	if md.MTLSEndpointAliases != nil && md.MTLSEndpointAliases.TokenEndpoint != "" {
		endpoint = md.MTLSEndpointAliases.TokenEndpoint
	}
	if endpoint == "" {
		return nil, nil
	}
	if client.RequireHTTPS(endpoint) != nil {
		return nil, fmt.Errorf("no TLS handshake: the token endpoint %q is not an https URL, and ciba-check presents no certificate and sends no credentials there", endpoint)
	}
	hc, err := client.NewHTTPClient(client.Config{RootCAs: s.CA, TLSCert: cert})
	if err != nil {
		return nil, err
	}
	defer hc.CloseIdleConnections()
	// An empty token request: the OP answers 400 or 401, which is fine;
	// only the handshake matters here.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(""))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	host := hostOf(endpoint)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s with the client certificate: %w", host, err)
	}
	resp.Body.Close()
	if resp.TLS == nil {
		// Only a handshake that took place is reported as one.
		return nil, fmt.Errorf("%s answered without TLS", host)
	}
	return &Handshake{Host: host, Version: resp.TLS.Version, CipherSuite: resp.TLS.CipherSuite}, nil
}

// CheckDevice checks that t's device can be driven, without driving it:
// the mock device answers, the approval URL template is valid, the
// command can be run. hc trusts t's CA (a session's HTTP); nil builds one,
// for when there is no session (discovery failed). It says what it found.
func CheckDevice(ctx context.Context, t *target.Target, hc *http.Client) (string, error) {
	if hc == nil {
		roots, err := t.RootCAs()
		if err != nil {
			return "", err
		}
		if hc, err = client.NewHTTPClient(client.Config{RootCAs: roots}); err != nil {
			return "", err
		}
		defer hc.CloseIdleConnections()
	}
	d := t.Device
	switch d.Kind {
	case target.DeviceMock:
		mc, err := mockdevice.NewClient(d.URL, hc)
		if err != nil {
			return "", err
		}
		if _, err := mc.Requests(ctx); err != nil {
			return "", fmt.Errorf("%s: %w", d.URL, err)
		}
		return d.URL + " answers", nil
	case target.DeviceApprovalURL:
		if _, err := device.NewApprovalURL(d.ApprovalURL, hc); err != nil {
			return "", err
		}
		return "template " + d.ApprovalURL + " (called only during a run)", nil
	case target.DeviceCommand:
		c, err := device.NewCommand(d.Command, t.BaseDir, 0)
		if err != nil {
			return "", err
		}
		// The command runs in the target file's folder.
		if _, err := exec.LookPath(c.ProgramPath()); err != nil {
			return "", fmt.Errorf("%q cannot be run: %v", c.Program(), err)
		}
		return "runs " + d.Command + " in " + t.BaseDir + " (without a shell)", nil
	case target.DeviceHints:
		return "the OP decides by login_hint; nothing to reach", nil
	case target.DeviceManual:
		return "you approve or deny each request by hand during a run", nil
	}
	return "", errors.New("unknown device kind")
}

// SecretVerdict is what the OP's answer to a token request for an
// auth_req_id nobody issued says of a client's secret.
type SecretVerdict int

// The verdicts of ProveSecret.
const (
	// SecretUnknown: the OP issued tokens, or gave another answer.
	SecretUnknown SecretVerdict = iota
	// SecretAccepted: invalid_grant, the client was authenticated and
	// then the auth_req_id refused.
	SecretAccepted
	// SecretRefused: invalid_client or unauthorized_client.
	SecretRefused
)

// ProveSecret proves tc's client secret with a token request that cannot
// succeed: an auth_req_id nobody issued. The OP authenticates the client
// before it looks the auth_req_id up (RFC 6749 5.2: a failed client
// authentication is invalid_client), so invalid_grant means the secret is
// right and invalid_client that it is wrong. answer is the OP's OAuth
// error (nil when it issued tokens); err a request that could not be made
// or failed otherwise. The secret is never in an error.
func (s *Session) ProveSecret(ctx context.Context, tc *target.Client) (verdict SecretVerdict, answer *ciba.Error, err error) {
	c, err := s.Client(tc)
	if err != nil {
		return SecretUnknown, nil, err
	}
	defer c.CloseIdleConnections()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return SecretUnknown, nil, err
	}
	_, _, err = c.Token(ctx, "ciba-check-unknown-"+hex.EncodeToString(b))
	switch {
	case err == nil:
		return SecretUnknown, nil, nil
	case !errors.As(err, &answer):
		return SecretUnknown, nil, fmt.Errorf("the token request failed: %w", err)
	case answer.Code == ciba.ErrInvalidGrant.Code:
		return SecretAccepted, answer, nil
	case answer.Code == ciba.ErrInvalidClient.Code || answer.Code == ciba.ErrUnauthorizedClient.Code:
		return SecretRefused, answer, nil
	}
	return SecretUnknown, answer, nil
}
