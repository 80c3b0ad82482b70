// Package client is the CIBA relying party ciba-check drives OPs with: it
// makes correct FAPI-CIBA requests (signed request objects, private_key_jwt
// or mutual-TLS client authentication, polling, a ping/push receiver) and,
// through options, deliberately broken ones for the suite's attack probes.
//
// It makes no verdicts about the OP. Every call reports what happened as an
// *Exchange (secrets redacted) beside the parsed result, and an OAuth error
// answer comes back as a *ciba.Error carrying the HTTP status.
package client

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/clock"
)

// Timeouts of the HTTP client New builds. An OP that takes longer than
// requestTimeout to answer one request is reported as a transport error.
const (
	requestTimeout      = 30 * time.Second
	dialTimeout         = 10 * time.Second
	tlsHandshakeTimeout = 10 * time.Second
	// idleConnTimeout is below the 5 s keep-alive of Node.js servers
	// (oidc-provider) and the CIBA 7.3 default poll interval of 5 s: a
	// poll after a 5 s wait reused a connection the server was closing,
	// and the POST failed with "connection reset by peer" (Go does not
	// retry a written POST; seen in the interop test's denied flow and
	// in the exactly-once check). A connection idle that long is
	// dialled afresh instead.
	idleConnTimeout = 4 * time.Second
)

// Config describes one registered client of the OP under test.
type Config struct {
	ClientID   string
	AuthMethod ciba.AuthMethod
	Mode       ciba.DeliveryMode
	// SigningKey is the private key request objects and client assertions
	// are signed with; KeyID and an asymmetric Algorithm (FAPI: PS256 or
	// ES256, FAPI-RW 8.6) must be set. It may be empty when the client
	// neither uses private_key_jwt nor signs requests (Unsigned).
	SigningKey jose.JSONWebKey
	// Secret is the client secret of client_secret_basic, client_secret_post
	// and client_secret_jwt. It never appears in an Exchange.
	Secret string
	// Unsigned makes Authenticate send the request parameters as plain
	// form fields (CIBA 7.1) unless a call asks for a request object.
	Unsigned bool
	// TLSCert is presented on every connection (RFC 8705 2); nil presents none.
	TLSCert *tls.Certificate
	// RootCAs are trusted for the OP's server certificate; nil means the
	// system pool.
	RootCAs  *x509.CertPool
	Metadata *ciba.ProviderMetadata
	// Clock defaults to clock.Real{}; Rand to crypto/rand.Reader.
	Clock clock.Clock
	Rand  io.Reader
	// RequestObjectLifetime is exp-nbf of the request objects Authenticate
	// signs; 0 means RequestObjectLifetime (5 min). The OP remembers each
	// one's jti until its exp (CIBA 7.1.1), so a load generator, which
	// sends them at once, signs them short-lived.
	RequestObjectLifetime time.Duration
	// AssertionLifetime is exp-iat of the client assertions the client
	// signs (private_key_jwt, client_secret_jwt); 0 means
	// AssertionLifetime (60 s). The OP remembers each jti until its exp
	// (RFC 7523 3, OIDC Core 9), so a load generator signs them shorter.
	AssertionLifetime time.Duration
	// Transport replaces the transport New builds (tests, load generators).
	// WithTLSCertificate can only change the certificate of an
	// *http.Transport.
	Transport http.RoundTripper
}

// Client is one registered client. It is safe for concurrent use; the
// With* methods return modified copies and leave the receiver unchanged.
type Client struct {
	cfg Config
	hc  *http.Client
}

// New checks cfg and builds the client's HTTP client.
func New(cfg Config) (*Client, error) {
	if cfg.ClientID == "" {
		return nil, errors.New("client: Config.ClientID is empty")
	}
	if !cfg.AuthMethod.Valid() && !usesSecret(cfg.AuthMethod) {
		return nil, fmt.Errorf("client: Config.AuthMethod %q is not private_key_jwt, tls_client_auth, self_signed_tls_client_auth, client_secret_basic, client_secret_post or client_secret_jwt", cfg.AuthMethod)
	}
	if usesSecret(cfg.AuthMethod) && cfg.Secret == "" {
		return nil, fmt.Errorf("client: Config.AuthMethod %s needs Config.Secret", cfg.AuthMethod)
	}
	if !cfg.Mode.Valid() {
		return nil, fmt.Errorf("client: Config.Mode %q is not poll, ping or push", cfg.Mode)
	}
	needKey := cfg.AuthMethod == ciba.AuthPrivateKeyJWT || !cfg.Unsigned
	if cfg.SigningKey.Key != nil || needKey {
		if err := checkSigningKey(cfg.SigningKey); err != nil {
			return nil, fmt.Errorf("client: Config.SigningKey: %w", err)
		}
	}
	if cfg.Metadata == nil {
		return nil, errors.New("client: Config.Metadata is nil (use Discover)")
	}
	if cfg.Metadata.Issuer == "" {
		return nil, errors.New("client: Config.Metadata has no issuer")
	}
	if cfg.RequestObjectLifetime < 0 || time.Duration(ciba.MaxRequestObjectLifetimeSeconds)*time.Second < cfg.RequestObjectLifetime {
		return nil, fmt.Errorf("client: Config.RequestObjectLifetime %v is not within (0, %ds] (FAPI-CIBA 5.2.2-9)", cfg.RequestObjectLifetime, ciba.MaxRequestObjectLifetimeSeconds)
	}
	if cfg.RequestObjectLifetime == 0 {
		cfg.RequestObjectLifetime = RequestObjectLifetime
	}
	if cfg.AssertionLifetime < 0 || cfg.AssertionLifetime > MaxAssertionLifetime {
		return nil, fmt.Errorf("client: Config.AssertionLifetime %v is not within (0, %v]", cfg.AssertionLifetime, MaxAssertionLifetime)
	}
	if cfg.AssertionLifetime == 0 {
		cfg.AssertionLifetime = AssertionLifetime
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	// Serialise reads: the client is used from many goroutines and a
	// test's deterministic reader need not be safe for that.
	cfg.Rand = &lockedReader{r: cfg.Rand}
	hc, err := NewHTTPClient(cfg)
	if err != nil {
		return nil, err
	}
	hc.Transport = requireHTTPSTransport(hc.Transport)
	return &Client{cfg: cfg, hc: hc}, nil
}

// checkSigningKey insists on a private asymmetric key with a kid and an
// asymmetric algorithm: the client's default output must be correct;
// broken signatures are asked for with JWTOptions.
func checkSigningKey(k jose.JSONWebKey) error {
	if k.Key == nil {
		return errors.New("no key")
	}
	if k.IsPublic() {
		return errors.New("key is public; a private key is needed to sign")
	}
	if !k.Valid() {
		return errors.New("key is not a valid JWK")
	}
	if k.KeyID == "" {
		return errors.New("key has no KeyID (kid)")
	}
	// Any asymmetric JWS algorithm a client may register (FAPI allows only
	// PS256 and ES256, FAPI-RW 8.6; target.yaml enforces that under fapi: true).
	if algs := ciba.PlainAlgs(); !slices.Contains(algs, k.Algorithm) {
		return fmt.Errorf("algorithm %q is not one of %s", k.Algorithm, strings.Join(algs, ", "))
	}
	return nil
}

// NewHTTPClient builds the HTTP client New uses for cfg: TLS 1.2 or later
// trusting cfg.RootCAs, presenting cfg.TLSCert, never following redirects
// (an OP's redirect is reported, not obeyed), with bounded timeouts. Use it
// to call Discover before the metadata needed by New exists.
func NewHTTPClient(cfg Config) (*http.Client, error) {
	if cfg.TLSCert != nil && (len(cfg.TLSCert.Certificate) == 0 || cfg.TLSCert.PrivateKey == nil) {
		return nil, errors.New("client: Config.TLSCert has no certificate or no private key")
	}
	rt := cfg.Transport
	if rt == nil {
		rt = newTransport(cfg.RootCAs, cfg.TLSCert)
	}
	return &http.Client{
		Transport: rt,
		Timeout:   requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}

func newTransport(roots *x509.CertPool, cert *tls.Certificate) *http.Transport {
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tlsConfig(roots, cert),
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   100,
		IdleConnTimeout:       idleConnTimeout,
		TLSHandshakeTimeout:   tlsHandshakeTimeout,
		ExpectContinueTimeout: time.Second,
	}
}

func tlsConfig(roots *x509.CertPool, cert *tls.Certificate) *tls.Config {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	if cert != nil {
		c := cert
		// Always present the certificate: Go's default selection sends
		// none when the server's acceptable-CA list does not name our
		// issuer, which is normal for self_signed_tls_client_auth
		// (RFC 8705 2.2) and for servers that send no list.
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return c, nil
		}
	}
	return tc
}

// WithTLSCertificate returns a copy of c presenting cert instead (nil: no
// certificate), with its own connections; for holder-of-key and
// cross-client probes. With a Config.Transport that is not an
// *http.Transport the copy shares that transport and its certificate.
func (c *Client) WithTLSCertificate(cert *tls.Certificate) *Client {
	cp := *c
	cp.cfg.TLSCert = cert
	hc := *c.hc
	switch t := c.cfg.Transport.(type) {
	case nil:
		hc.Transport = newTransport(c.cfg.RootCAs, cert)
	case *http.Transport:
		nt := t.Clone()
		base := nt.TLSClientConfig
		if base == nil {
			base = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		nc := base.Clone()
		nc.Certificates = nil
		nc.GetClientCertificate = tlsConfig(nil, cert).GetClientCertificate
		nt.TLSClientConfig = nc
		hc.Transport = nt
	}
	hc.Transport = requireHTTPSTransport(hc.Transport)
	cp.hc = &hc
	return &cp
}

// CloseIdleConnections closes the idle connections of c's HTTP client.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// HTTPClient is the client's HTTP client (for load generators that send
// their own requests over the client's TLS identity).
func (c *Client) HTTPClient() *http.Client { return c.hc }

// ClientID is the client's registered client_id.
func (c *Client) ClientID() string { return c.cfg.ClientID }

// Metadata is the OP's discovery document the client was built with.
func (c *Client) Metadata() *ciba.ProviderMetadata { return c.cfg.Metadata }

// Mode is the client's registered token delivery mode.
func (c *Client) Mode() ciba.DeliveryMode { return c.cfg.Mode }

// AuthMethod is the client's registered token_endpoint_auth_method.
func (c *Client) AuthMethod() ciba.AuthMethod { return c.cfg.AuthMethod }

// SignsRequests reports whether Authenticate sends a signed request
// object by default (CIBA 7.1.1).
func (c *Client) SignsRequests() bool { return !c.cfg.Unsigned }

// PublicKey is the public half of the signing key, for registering the
// client or verifying what it signed.
func (c *Client) PublicKey() jose.JSONWebKey { return c.cfg.SigningKey.Public() }

type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}
