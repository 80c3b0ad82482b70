package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/clock"
	"github.com/ciba-check/ciba-check/internal/device"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/internal/targetclient"
)

// Env is what every check of one run shares: the target, its discovery
// document, the device driver and the notification receivers.
type Env struct {
	Target   *target.Target
	Metadata *ciba.ProviderMetadata
	Driver   device.Driver
	// Receivers serve the notification endpoints of ping and push clients.
	Receivers *targetclient.Receivers
	// HTTP trusts the target's CA and presents no client certificate
	// (discovery, JWKS).
	HTTP  *http.Client
	Clock clock.Clock
	// OffHost names the endpoints the OP's discovery document puts on
	// another host than the issuer ("name URL"): credentials go there,
	// so the run's output and report name them.
	OffHost []string

	mu   sync.Mutex
	lost error
}

// probeTimeout bounds the reachability probe after a failed exchange.
const probeTimeout = 5 * time.Second

// probe checks, after an exchange got no response, whether the OP can
// still be reached at all; when it cannot, the target is recorded as
// lost and the error returned.
func (e *Env) probe(ctx context.Context) error {
	return e.probeURL(ctx, "OP", e.Target.Issuer)
}

// probeDevice is probe for the authentication device the driver calls
// over HTTP (mockdevice, approval_url).
func (e *Env) probeDevice(ctx context.Context) error {
	switch e.Target.Device.Kind {
	case target.DeviceMock:
		return e.probeURL(ctx, "authentication device", e.Target.Device.URL)
	case target.DeviceApprovalURL:
		return e.probeURL(ctx, "approval URL", e.Target.Device.ApprovalURL)
	}
	return nil
}

func (e *Env) probeURL(ctx context.Context, what, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil
	}
	host := u.Host
	if u.Port() == "" {
		port := "443"
		if u.Scheme == "http" {
			port = "80"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	// A caller out of time (the check's or the run's deadline) learns
	// nothing about the OP from a dial it cannot make: an OP that does
	// not answer in time is not an unreachable one.
	if ctx.Err() != nil {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(pctx, "tcp", host)
	if err != nil && ctx.Err() != nil {
		return nil
	}
	if err != nil {
		e.mu.Lock()
		if e.lost == nil {
			e.lost = fmt.Errorf("the %s at %s became unreachable: %w", what, u.Host, err)
		}
		err = e.lost
		e.mu.Unlock()
		return err
	}
	conn.Close()
	return nil
}

// Lost reports why the target became unreachable during the run, or nil.
func (e *Env) Lost() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lost
}

// EnvOptions are the caller's parts of an Env.
type EnvOptions struct {
	// In and Out are the operator's terminal, for the manual driver.
	In  io.Reader
	Out io.Writer
	// Clock defaults to the wall clock.
	Clock clock.Clock
}

// TargetError reports a target that cannot be tested at all (discovery
// fails, a key does not load, a notification port is taken): a
// configuration or target error, not a failed check.
type TargetError struct{ Err error }

func (e *TargetError) Error() string { return e.Err.Error() }
func (e *TargetError) Unwrap() error { return e.Err }

// NewEnv opens the target's session (targetclient.Open: discovery, the
// https check, the device driver, every client once, the notification
// receivers). Close releases it.
func NewEnv(ctx context.Context, t *target.Target, o EnvOptions) (*Env, error) {
	if t == nil {
		return nil, errors.New("conformance: no target")
	}
	s, err := targetclient.Open(ctx, t, targetclient.SessionOptions{
		Device: true, In: o.In, Out: o.Out, Receivers: true, LoadClients: true, Clock: o.Clock,
	})
	if err != nil {
		return nil, &TargetError{Err: err}
	}
	return EnvOf(s), nil
}

// EnvOf is the Env of an open session; closing either closes both.
func EnvOf(s *targetclient.Session) *Env {
	return &Env{Target: s.Target, Metadata: s.Metadata, Driver: s.Driver, Receivers: s.Receivers, HTTP: s.HTTP, Clock: s.Clock, OffHost: s.OffHost}
}

// Close stops the receivers and idle connections.
func (e *Env) Close() error {
	if e == nil {
		return nil
	}
	e.HTTP.CloseIdleConnections()
	return e.Receivers.Close()
}
