package targetclient

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/clock"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/device"
	"github.com/ciba-check/ciba-check/internal/target"
)

// Session is one target made ready to talk to, built once by Open and
// shared by whatever runs against it (the conformance suite, a load run,
// target check): the target's CA, an HTTP client trusting it, the OP's
// discovery document with the target's overrides, and on request the
// device driver and the notification receivers.
type Session struct {
	Target *target.Target
	// CA is the target's CA bundle (nil: the system roots).
	CA *x509.CertPool
	// HTTP trusts CA and presents no client certificate (discovery,
	// JWKS, the device driver).
	HTTP     *http.Client
	Metadata *ciba.ProviderMetadata
	// Driver is the target's device driver (SessionOptions.Device).
	Driver device.Driver
	// Receivers serve the notification endpoints of ping and push
	// clients (SessionOptions.Receivers).
	Receivers *Receivers
	Clock     clock.Clock
	// OffHost names the credential URLs the OP's discovery document puts
	// on another host than the issuer ("name URL"), for the output.
	OffHost []string
	// Insecure is the first credential URL that is not https, in an
	// Inspect session only (any other session refuses to open then).
	// Such a session builds no client: nothing sends credentials.
	Insecure error
}

// SessionOptions say what Open builds beyond discovery.
type SessionOptions struct {
	// Device builds the target's device driver; In and Out are the
	// operator's terminal, for the manual driver.
	Device bool
	In     io.Reader
	Out    io.Writer
	// Receivers starts the notification receivers of the target's ping
	// and push clients.
	Receivers bool
	// LoadClients builds every client once, so a broken key is an error
	// of Open and not the same failure at every use.
	LoadClients bool
	// Inspect opens the session even when a credential URL is not https,
	// recording it in Session.Insecure (target check, which lists them).
	Inspect bool
	// Clock defaults to the wall clock.
	Clock clock.Clock
}

// DiscoveryError is a discovery document that could not be read.
type DiscoveryError struct {
	Issuer string
	Err    error
}

func (e *DiscoveryError) Error() string { return fmt.Sprintf("discovery at %s: %v", e.Issuer, e.Err) }
func (e *DiscoveryError) Unwrap() error { return e.Err }

// Open builds the session of t: CA, HTTP client, discovery, then the
// https-or-nothing check of every URL a credential would be sent to
// (CheckCredentialURLs) before anything else is built, then what o asks
// for. Close releases it. Every error is the target's (exit 2).
func Open(ctx context.Context, t *target.Target, o SessionOptions) (*Session, error) {
	if t == nil {
		return nil, errors.New("targetclient: no target")
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	roots, err := t.RootCAs()
	if err != nil {
		return nil, err
	}
	hc, err := client.NewHTTPClient(client.Config{RootCAs: roots})
	if err != nil {
		return nil, err
	}
	s := &Session{Target: t, CA: roots, HTTP: hc, Clock: o.Clock}
	if err := s.open(ctx, o); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Session) open(ctx context.Context, o SessionOptions) error {
	t := s.Target
	md, err := discover(ctx, s.HTTP, t)
	if err != nil {
		return &DiscoveryError{Issuer: t.Issuer, Err: err}
	}
	s.Metadata, s.OffHost = md, OffHost(t, md)
	// https or nothing: a URL that would carry a credential in cleartext
	// stops here, before the first credential leaves.
	if err := CheckCredentialURLs(t, md); err != nil {
		if !o.Inspect {
			return err
		}
		s.Insecure = err
	}
	if o.Device {
		if s.Driver, err = device.New(t, device.Options{HTTPClient: s.HTTP, In: o.In, Out: o.Out}); err != nil {
			return err
		}
	}
	if o.LoadClients {
		for i := range t.Clients {
			if _, err := s.Client(&t.Clients[i]); err != nil {
				return err
			}
		}
	}
	if o.Receivers {
		if s.Receivers, err = StartReceivers(t, s.Clock); err != nil {
			return err
		}
	}
	return nil
}

// Config is the client.Config of the target's client tc (see Config).
func (s *Session) Config(tc *target.Client) (client.Config, error) {
	if s.Insecure != nil {
		return client.Config{}, s.Insecure
	}
	return Config(s.Target, tc, s.Metadata, s.Clock)
}

// Client builds the client of tc.
func (s *Session) Client(tc *target.Client) (*client.Client, error) {
	if s.Insecure != nil {
		return nil, s.Insecure
	}
	return New(s.Target, tc, s.Metadata, s.Clock)
}

// Close stops the receivers and closes idle connections.
func (s *Session) Close() error {
	if s == nil {
		return nil
	}
	s.HTTP.CloseIdleConnections()
	return s.Receivers.Close()
}

// JWKSError is a key set that could not be fetched or read; Transport
// is set when no answer came (a TLS or connection failure).
type JWKSError struct {
	URI       string
	Err       error
	Transport bool
}

func (e *JWKSError) Error() string { return e.Err.Error() }
func (e *JWKSError) Unwrap() error { return e.Err }

// FetchJWKS reads the OP's key set from jwks_uri (OIDC Discovery 3),
// its body bounded like every answer, keys the tool cannot read left out
// (ParseJWKS).
func (s *Session) FetchJWKS(ctx context.Context) (jose.JSONWebKeySet, error) {
	uri := s.Metadata.JWKSURI
	fail := func(format string, args ...any) (jose.JSONWebKeySet, error) {
		return jose.JSONWebKeySet{}, &JWKSError{URI: uri, Err: fmt.Errorf(format, args...)}
	}
	if uri == "" {
		return fail("jwks_uri is missing from discovery (OIDC Discovery 3)")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return fail("jwks_uri %q: %w", uri, err)
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return jose.JSONWebKeySet{}, &JWKSError{URI: uri, Err: err, Transport: true}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, client.MaxResponseBody+1))
	switch {
	case err != nil:
		return fail("%s: reading: %w", uri, err)
	case len(body) > client.MaxResponseBody:
		return fail("%s: %s", uri, client.TooLargeReason)
	case resp.StatusCode != http.StatusOK:
		return fail("%s answered HTTP %d", uri, resp.StatusCode)
	}
	set, err := ParseJWKS(body)
	if err != nil {
		return fail("%s is not a JWK Set: %w", uri, err)
	}
	if len(set.Keys) == 0 {
		return fail("%s holds no keys the tool can read", uri)
	}
	return set, nil
}

// ParseJWKS reads a JWK Set key by key, leaving out the keys it cannot
// read: RFC 7517 5 says implementations "SHOULD ignore JWKs within a JWK
// Set that use kty values that are not understood" (an OKP or X25519 key
// beside the signing keys). Only a body that is no JWK Set is an error.
func ParseJWKS(body []byte) (jose.JSONWebKeySet, error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return jose.JSONWebKeySet{}, err
	}
	if raw.Keys == nil {
		return jose.JSONWebKeySet{}, fmt.Errorf("no \"keys\" array")
	}
	var set jose.JSONWebKeySet
	for _, k := range raw.Keys {
		var key jose.JSONWebKey
		if json.Unmarshal(k, &key) == nil {
			set.Keys = append(set.Keys, key)
		}
	}
	return set, nil
}
