// Package refoptest starts the reference OP and the mock authentication
// device on loopback for a test, as net/http/httptest starts a server: an
// RP developer tests a CIBA client with `go test` against a strict
// FAPI-CIBA OP whose users approve or deny as scripted, with no network and
// no setup.
//
//	op := refoptest.Start(t)
//	c := op.Client("poll", "private_key_jwt")
//	hc := op.HTTPClient(c)
//	// POST a signed request to op.Discovery.BackchannelAuthenticationEndpoint
//	// naming op.User("approve").LoginHint, then poll op.Discovery.TokenEndpoint.
//
// Everything it returns is standard library, go-jose or package ciba
// types, so a module outside ciba-check can name all of it.
package refoptest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/devenv"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/internal/targetclient"
)

// TB is the part of testing.TB that Start uses; *testing.T, *testing.B
// and *testing.F satisfy it.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

// Options change what Start starts. The zero value is a strict FAPI-CIBA
// OP polling at a 1 s interval.
type Options struct {
	// Interval is the poll interval in seconds the OP hands out (CIBA 7.3);
	// 0 means 1.
	Interval int
	// NoFAPI runs the OP as a plain CIBA Core OP: push mode is allowed and
	// a push client is registered (FAPI-CIBA 5.2.2-3 forbids push).
	NoFAPI bool
	// Faults switch on named deviations of the reference OP (see
	// `ciba-check serve --list-faults`), to test that a client notices.
	Faults []string
}

// OP is a running reference OP and mock device. Stop is registered with
// the test's Cleanup.
type OP struct {
	// Issuer is the OP's issuer URL (https, loopback).
	Issuer string
	// Discovery is the OP's metadata as its discovery document publishes
	// it (OIDC Discovery 3, CIBA 4).
	Discovery ciba.ProviderMetadata
	// RootCAs trusts the OP's and the device's server certificates;
	// CACertPEM is the same CA in PEM.
	RootCAs   *x509.CertPool
	CACertPEM []byte
	// Clients are registered at the OP, with their private keys.
	Clients []Client
	// Users are the OP's test users and what their device does.
	Users []User

	env *devenv.Env
}

// Client is a client registered at the OP (CIBA 4) and its secrets.
type Client struct {
	ID string
	// AuthMethod is the token_endpoint_auth_method: private_key_jwt,
	// tls_client_auth or self_signed_tls_client_auth.
	AuthMethod string
	// DeliveryMode is poll, ping or push.
	DeliveryMode string
	// SigningKey is the client's private key for request objects and
	// private_key_jwt assertions; Alg is its JWS algorithm (PS256, ES256).
	SigningKey jose.JSONWebKey
	Alg        string
	// TLSCertificate is the client's mTLS certificate (FAPI requires mTLS
	// for certificate-bound tokens whatever the auth method).
	TLSCertificate tls.Certificate
	// NotificationEndpoint is where the OP pings or pushes, for ping and
	// push clients: the test must listen there (TLS, trusted by RootCAs).
	NotificationEndpoint string
}

// User is a test user: the login_hint that names them and what their
// authentication device does when asked.
type User struct {
	LoginHint string
	// Outcome is approve, deny, never, cancel or error.
	Outcome string
	// Delay is how long the device waits before deciding.
	Delay time.Duration
	// UserCode is the user's user_code (CIBA 7.1), when they have one.
	UserCode string
}

// Start starts the reference OP and the mock device on loopback with a
// fresh PKI in a temporary folder of t, and stops them when the test ends.
func Start(t TB, opts ...Options) *OP {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	op, err := New(t.TempDir(), o)
	if err != nil {
		t.Fatalf("refoptest: %v", err)
	}
	t.Cleanup(func() {
		if err := op.Stop(); err != nil {
			t.Errorf("refoptest: stopping the OP: %v", err)
		}
	})
	return op
}

// New is Start without a test: it keeps its keys and certificates in dir
// (created if missing; reused when it already holds them), and the caller
// stops the OP with Stop. Use it from TestMain or an Example.
func New(dir string, o Options) (*OP, error) {
	env, err := devenv.Start(context.Background(), devenv.Options{
		Dir:         dir,
		Interval:    o.Interval,
		Faults:      o.Faults,
		PushAllowed: o.NoFAPI,
	})
	if err != nil {
		return nil, err
	}
	op := &OP{Issuer: env.Issuer, env: env}
	if err := op.describe(env.Target); err != nil {
		return nil, errors.Join(err, op.Stop())
	}
	md, err := targetclient.Discover(context.Background(), env.Target)
	if err != nil {
		return nil, errors.Join(err, op.Stop())
	}
	op.Discovery = *md
	return op, nil
}

// describe copies what target.yaml says into types any module can name.
func (op *OP) describe(t *target.Target) error {
	var err error
	if op.CACertPEM, err = os.ReadFile(t.CA); err != nil {
		return err
	}
	if op.RootCAs, err = t.RootCAs(); err != nil {
		return err
	}
	for i := range t.Clients {
		tc := &t.Clients[i]
		key, err := tc.LoadSigningKey()
		if err != nil {
			return fmt.Errorf("client %s: %w", tc.ID, err)
		}
		c := Client{
			ID:           tc.ID,
			AuthMethod:   string(tc.Auth),
			DeliveryMode: string(tc.Mode),
			SigningKey:   key,
			Alg:          tc.Alg,
		}
		if tc.TLSCert != "" {
			cert, err := tc.LoadTLSCertificate()
			if err != nil {
				return fmt.Errorf("client %s: %w", tc.ID, err)
			}
			c.TLSCertificate = *cert
		}
		if tc.Notification != nil {
			c.NotificationEndpoint = tc.Notification.URL
		}
		op.Clients = append(op.Clients, c)
	}
	for _, u := range t.Users {
		op.Users = append(op.Users, User{
			LoginHint: u.LoginHint,
			Outcome:   string(u.Outcome),
			Delay:     u.Delay.Std(),
			UserCode:  u.UserCode,
		})
	}
	return nil
}

// Client returns the first registered client with the delivery mode and
// auth method given ("" matches any). It panics when there is none: the
// set of clients is fixed, so that is a mistake in the test.
func (op *OP) Client(mode, authMethod string) Client {
	for _, c := range op.Clients {
		if (mode == "" || c.DeliveryMode == mode) && (authMethod == "" || c.AuthMethod == authMethod) {
			return c
		}
	}
	panic(fmt.Sprintf("refoptest: no client with mode %q and auth %q", mode, authMethod))
}

// User returns the first user whose device has the outcome given, with no
// delay (approve, deny, never, cancel, error). It panics when there is
// none.
func (op *OP) User(outcome string) User {
	for _, u := range op.Users {
		if u.Outcome == outcome && u.Delay == 0 && u.UserCode == "" {
			return u
		}
	}
	panic(fmt.Sprintf("refoptest: no user with outcome %q", outcome))
}

// HTTPClient is an HTTP client that trusts the OP and presents c's TLS
// certificate (mTLS), as a FAPI client must.
func (op *OP) HTTPClient(c Client) *http.Client {
	cfg := &tls.Config{RootCAs: op.RootCAs, MinVersion: tls.VersionTLS12}
	if len(c.TLSCertificate.Certificate) > 0 {
		cfg.Certificates = []tls.Certificate{c.TLSCertificate}
	}
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true},
	}
}

// Stop stops the OP and the device. Start registers it with Cleanup;
// calling it again does nothing.
func (op *OP) Stop() error {
	if op.env == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := op.env.Close(ctx)
	op.env = nil
	return err
}
