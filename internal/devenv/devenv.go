// Package devenv assembles the embedded default environment: the reference
// OP and the mock authentication device on loopback over HTTPS, with a PKI,
// registered clients and scripted users, described by an ordinary
// target.yaml. `ciba-check serve` runs it until interrupted; tests and
// `run` without a target start it in-process. Nothing here judges the OP:
// it only wires it up.
package devenv

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/clock"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/mockdevice"
	refop "github.com/ciba-check/ciba-check/reference-op"
)

// Options configure Start.
type Options struct {
	// Dir holds keys, certificates and target.yaml; reused when present.
	// Empty means a temporary directory removed by Close.
	Dir string
	// Listen addresses; empty means 127.0.0.1:0 (a free port).
	OPAddr     string
	DeviceAddr string
	// NotifyAddr is where ping and push clients' notification endpoints are
	// registered; the tool listens there during a run. Port 0 reserves a
	// free port now.
	NotifyAddr string
	// Interval is the poll interval in seconds handed to clients; 0 means 1.
	Interval int
	// Faults switches on reference-OP deviations by name.
	Faults []string
	// Allowances switches on spec-permitted behaviours by name: the
	// reference OP's (refop.Allowances) and this environment's own
	// (Allowances lists both).
	Allowances []string
	// PushAllowed turns FAPI off: push mode and a push client exist.
	PushAllowed bool
	// OPTimeouts replaces the OP server's client timeouts (tests of slow
	// clients); nil keeps refop.DefaultTimeouts.
	OPTimeouts *refop.Timeouts
	// DefaultExpiry is expires_in when a client asks for none; 0 means 60 s.
	DefaultExpiry time.Duration
	// StorePath selects the durable store (a bbolt file, created 0600 if
	// missing): pending requests, tokens and used jtis survive a restart,
	// and Start resumes the work in flight (refop.OP.Resume). Empty means
	// the in-memory store.
	StorePath string
	// Register are more clients to register at the OP besides the
	// built-in ones (serve --register): clients described by a target
	// file, e.g. the one `ciba-check init` writes (see Registration).
	Register []refop.Client
	Clock    clock.Clock
	Rand     io.Reader
	Logger   *slog.Logger
}

// Env is a running embedded environment.
type Env struct {
	// Issuer is the OP's issuer URL; DeviceURL the mock device's base URL.
	Issuer    string
	DeviceURL string
	// Target describes the OP; TargetPath is where it was written.
	Target     *target.Target
	TargetPath string
	// Written lists files this Start generated (empty when all were reused).
	Written []string
	// Tightened lists reused private key files group or others could
	// read, which Start made 0600.
	Tightened []string
	OP        *refop.OP
	Device    *mockdevice.Device
	// Resumed says what Start picked up from a durable store.
	Resumed refop.ResumeStats

	outbound     *http.Client
	opServer     *refop.Server
	deviceServer *http.Server
	deviceDone   chan error
	store        *refop.BoltStore
	memStore     *refop.MemoryStore
	tempDir      string
}

// users are the scripted test users: one per device outcome, one with a
// user_code (CIBA 7.1.2), and peers for parallel runs. Policy is what the
// mock device does for them; target.yaml says the same (its outcome and
// delay are the policy's).
type userSpec struct {
	Name     string
	Policy   mockdevice.Policy
	UserCode string
}

func userSpecs() []userSpec {
	return []userSpec{
		{Name: "alice", Policy: mockdevice.Policy{Outcome: ciba.OutcomeApprove}},
		{Name: "bob", Policy: mockdevice.Policy{Outcome: ciba.OutcomeDeny}},
		{Name: "carol", Policy: mockdevice.Policy{Outcome: ciba.OutcomeNever}},
		{Name: "dave", Policy: mockdevice.Policy{Outcome: ciba.OutcomeApprove, Delay: 2 * time.Second}},
		{Name: "erin", Policy: mockdevice.Policy{Outcome: ciba.OutcomeCancel}},
		{Name: "frank", Policy: mockdevice.Policy{Outcome: ciba.OutcomeError, ErrorStatus: http.StatusServiceUnavailable}},
		{Name: "grace", UserCode: "4711", Policy: mockdevice.Policy{Outcome: ciba.OutcomeApprove}},
		// Peers of the busiest users, so that run --parallel has room:
		// no two running checks share a test user (their leases).
		{Name: "carol2", Policy: mockdevice.Policy{Outcome: ciba.OutcomeNever}},
		{Name: "carol3", Policy: mockdevice.Policy{Outcome: ciba.OutcomeNever}},
		{Name: "carol4", Policy: mockdevice.Policy{Outcome: ciba.OutcomeNever}},
		{Name: "alice2", Policy: mockdevice.Policy{Outcome: ciba.OutcomeApprove}},
		{Name: "alice3", Policy: mockdevice.Policy{Outcome: ciba.OutcomeApprove}},
		{Name: "bob2", Policy: mockdevice.Policy{Outcome: ciba.OutcomeDeny}},
	}
}

// Start generates or reuses the material in o.Dir, starts the OP and the
// device, and writes target.yaml. Close stops everything.
func Start(ctx context.Context, o Options) (env *Env, err error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	env = &Env{}
	defer func() {
		if err != nil {
			closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err = errors.Join(err, env.Close(closeCtx))
			env = nil
		}
	}()
	if o.Dir == "" {
		if env.tempDir, err = os.MkdirTemp("", "ciba-check-*"); err != nil {
			return env, err
		}
		o.Dir = env.tempDir
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return env, err
	}
	specs := clientSpecs(o.PushAllowed)
	m, err := loadOrCreateMaterial(o.Dir, specs, o.Rand, o.Clock.Now())
	if err != nil {
		return env, err
	}
	env.Written = m.Written
	env.Tightened = m.Tightened

	opLn, err := net.Listen("tcp", o.OPAddr)
	if err != nil {
		return env, &target.ConfigError{Err: fmt.Errorf("OP address %s: %w", o.OPAddr, err)}
	}
	deviceLn, err := net.Listen("tcp", o.DeviceAddr)
	if err != nil {
		opLn.Close()
		return env, &target.ConfigError{Err: fmt.Errorf("device address %s: %w", o.DeviceAddr, err)}
	}
	notifyAddr, err := reserve(o.NotifyAddr)
	if err != nil {
		opLn.Close()
		deviceLn.Close()
		return env, &target.ConfigError{Err: fmt.Errorf("notification address %s: %w", o.NotifyAddr, err)}
	}
	env.Issuer = "https://" + opLn.Addr().String()
	env.DeviceURL = "https://" + deviceLn.Addr().String()

	outbound := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: m.CA.Pool(), MinVersion: tls.VersionTLS12},
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 16,
		},
	}
	env.outbound = outbound
	var store refop.Store
	if o.StorePath != "" {
		if env.store, err = refop.NewBoltStore(o.StorePath); err != nil {
			opLn.Close()
			deviceLn.Close()
			return env, &target.ConfigError{Err: err}
		}
		store = env.store
	} else {
		env.memStore = refop.NewMemoryStore()
		store = env.memStore
	}
	users := userSpecs()
	op, err := refop.New(refop.Config{
		Issuer:         env.Issuer,
		SigningKeys:    m.OPKeys,
		ChannelKeyID:   channelKeyID(m.OPKeys),
		ClientCAs:      m.CA.Pool(),
		Clients:        append(registrations(m, notifyAddr, o.Allowances), o.Register...),
		Users:          refopUsers(users),
		DeviceEndpoint: env.DeviceURL + mockdevice.PathChannel,
		HTTPClient:     outbound,
		Clock:          o.Clock,
		Rand:           o.Rand,
		PushAllowed:    o.PushAllowed,
		Interval:       o.Interval,
		DefaultExpiry:  o.DefaultExpiry,
		Faults:         o.Faults,
		Allowances:     opAllowances(o.Allowances),
		Store:          store,
		Logger:         o.Logger.With("component", "op"),
	})
	if err != nil {
		opLn.Close()
		deviceLn.Close()
		return env, &target.ConfigError{Err: err}
	}
	env.OP = op
	env.opServer = refop.NewServer(op, opLn.Addr().String(), m.Server)
	if o.OPTimeouts != nil {
		env.opServer.Timeouts = *o.OPTimeouts
	}
	env.opServer.StartOn(opLn)

	opKeys := jose.JSONWebKeySet{}
	for _, k := range m.OPKeys {
		opKeys.Keys = append(opKeys.Keys, k.Public())
	}
	policies := map[string]mockdevice.Policy{}
	for _, u := range users {
		policies[u.Name] = u.Policy
	}
	device, err := mockdevice.New(mockdevice.Config{
		CallbackURL: env.Issuer + refop.PathDeviceCallback,
		HTTPClient:  outbound,
		Clock:       o.Clock,
		Policies:    policies,
		Default:     mockdevice.Policy{Outcome: ciba.OutcomeNever},
		VerifyKeys:  mockdevice.StaticKeys(&opKeys),
		Issuer:      env.Issuer,
		Logger:      o.Logger.With("component", "device"),
	})
	if err != nil {
		deviceLn.Close()
		return env, err
	}
	env.Device = device
	env.deviceServer = &http.Server{
		Handler:           device.Handler(),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{m.Server}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		// Longer than the clients' idle timeout, as the OP's: without it
		// the server closed connections idle for ReadTimeout (15 s), and
		// a driver call that reused one at that moment failed ("write
		// tcp ...": seen once in the parallel allowance matrix).
		IdleTimeout: 120 * time.Second,
	}
	env.deviceDone = make(chan error, 1)
	go func(srv *http.Server, ln net.Listener, done chan<- error) {
		err := srv.ServeTLS(ln, "", "")
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		done <- err
	}(env.deviceServer, deviceLn, env.deviceDone)

	// Both servers are up: the device can take re-offered requests.
	if env.Resumed, err = op.Resume(ctx); err != nil {
		return env, err
	}

	env.Target = describe(env, m, users, notifyAddr, o.PushAllowed, o.Allowances)
	env.TargetPath = filepath.Join(o.Dir, "target.yaml")
	if err := env.Target.Write(env.TargetPath); err != nil {
		return env, err
	}
	// Read it back: what we hand to a suite is exactly what a user's file
	// would give, resolved paths included. The client secret, which the
	// file names as ${DevSecretVar}, comes from the environment or else
	// from the folder's SecretFile.
	if env.Target, err = target.LoadWithEnv(env.TargetPath, devSecretEnv(m.Secret)); err != nil {
		return env, fmt.Errorf("the generated target.yaml does not load: %w", err)
	}
	return env, nil
}

func (o *Options) defaults() error {
	for _, a := range []*string{&o.OPAddr, &o.DeviceAddr, &o.NotifyAddr} {
		if *a == "" {
			*a = "127.0.0.1:0"
		}
	}
	if o.Interval == 0 {
		o.Interval = 1
	}
	if o.Interval < 0 {
		return &target.ConfigError{Err: fmt.Errorf("interval %d: must be a positive number of seconds", o.Interval)}
	}
	if o.DefaultExpiry == 0 {
		o.DefaultExpiry = 60 * time.Second
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	known := map[string]bool{}
	var names []string
	for _, f := range refop.Faults() {
		known[f.Name] = true
		names = append(names, f.Name)
	}
	for _, f := range o.Faults {
		if !known[f] {
			return &target.ConfigError{Err: fmt.Errorf("unknown fault %q (known: %s)", f, strings.Join(names, ", "))}
		}
	}
	if err := refop.ValidateAllowances(o.Allowances, Allowances()); err != nil {
		return &target.ConfigError{Err: err}
	}
	return nil
}

// reserve returns a concrete host:port for addr, picking a free port for
// port 0. The port is released again: the tool binds it later, during a
// run, and a race with another process is reported then.
func reserve(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if port != "0" {
		return addr, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// NotifyPath is the path of every ping and push client's notification
// endpoint. One path serves them all: the tool runs one receiver per
// listen address and tells notifications apart by auth_req_id.
const NotifyPath = "/notify"

func notificationURL(notifyAddr string) string {
	return "https://" + notifyAddr + NotifyPath
}

// registrations are the clients as the OP registers them (CIBA 4).
func registrations(m *material, notifyAddr string, allowances []string) []refop.Client {
	var out []refop.Client
	for _, c := range m.Clients {
		reg := refop.Client{
			ID:                c.Spec.ID,
			AuthMethod:        c.Spec.Auth,
			DeliveryMode:      c.Spec.Mode,
			JWKS:              jose.JSONWebKeySet{Keys: c.registeredKeys()},
			RequestSigningAlg: c.Spec.Alg,
			Scopes:            []string{"openid", "profile", "email"},
			UserCodeParameter: registersUserCode(c.Spec.ID, allowances),
		}
		if c.Spec.Auth == ciba.AuthTLSClient {
			reg.TLSSubjectDN = c.TLSCert.Leaf.Subject.String()
		}
		if c.Spec.usesSecret() {
			reg.Secret = m.Secret
		}
		if c.Spec.Mode != ciba.ModePoll {
			reg.NotificationEndpoint = notificationURL(notifyAddr)
		}
		out = append(out, reg)
	}
	return out
}

func refopUsers(users []userSpec) []refop.User {
	var out []refop.User
	for _, u := range users {
		out = append(out, refop.User{
			Subject:   "user-" + u.Name,
			LoginHint: u.Name,
			UserCode:  u.UserCode,
			Claims: map[string]any{
				"name":  strings.ToUpper(u.Name[:1]) + u.Name[1:],
				"email": u.Name + "@example.com",
			},
		})
	}
	return out
}

// describe is the target.yaml of this environment.
func describe(env *Env, m *material, users []userSpec, notifyAddr string, pushAllowed bool, allowances []string) *target.Target {
	t := &target.Target{
		Issuer: env.Issuer,
		CA:     m.CAFile,
		FAPI:   !pushAllowed,
		Device: target.Device{Kind: target.DeviceMock, URL: env.DeviceURL},
		// No resource: the reference OP serves no protected resource
		// besides userinfo, where the resource checks run as a stand-in.
		// acr: ACRMultiFactor is what its device performs, unless the OP
		// supports no acr at all.
		ACR: refop.ACRMultiFactor,
	}
	if slices.Contains(allowances, refop.AllowACRUnsupported) {
		t.ACR = ""
	}
	for _, c := range m.Clients {
		tc := target.Client{
			ID:         c.Spec.ID,
			Auth:       c.Spec.Auth,
			Secret:     secretOf(c.Spec, m.Secret),
			Mode:       c.Spec.Mode,
			SigningKey: c.KeyFile,
			Alg:        c.Spec.Alg,
			TLSCert:    c.CertFile,
			TLSKey:     c.CertKey,
			Scope:      "openid profile",
			// As registrations registered it (CIBA 4).
			UserCodeParameter: registersUserCode(c.Spec.ID, allowances),
		}
		if c.Spec.usesSecret() {
			// A secret client authenticates with its secret alone; no
			// certificate, so its tokens are unbound (FAPI off).
			tc.TLSCert, tc.TLSKey = "", ""
		}
		if c.Spec.Mode != ciba.ModePoll {
			tc.Notification = &target.Notification{
				Listen:  notifyAddr,
				URL:     notificationURL(notifyAddr),
				TLSCert: m.ServerCert,
				TLSKey:  m.ServerKey,
			}
		}
		t.Clients = append(t.Clients, tc)
	}
	for _, u := range users {
		t.Users = append(t.Users, target.User{
			Name:      u.Name,
			LoginHint: u.Name,
			UserCode:  u.UserCode,
			Outcome:   u.Policy.Outcome,
			Delay:     target.Duration(u.Policy.Delay),
		})
	}
	slices.SortStableFunc(t.Clients, func(a, b target.Client) int { return strings.Compare(a.ID, b.ID) })
	return t
}

// secretOf is the target.yaml secret of a client: a reference to
// DevSecretVar for the secret clients, none for the others.
func secretOf(s clientSpec, secret string) target.Secret {
	if !s.usesSecret() {
		return target.Secret{}
	}
	return target.NewSecret("${"+DevSecretVar+"}", secret)
}

// devSecretEnv looks names up in the process environment, except
// DevSecretVar, which is the environment's own secret (the one the OP
// registered).
func devSecretEnv(secret string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		if name == DevSecretVar && secret != "" {
			return secret, true
		}
		return os.LookupEnv(name)
	}
}

// shutdownGrace is how long Close lets each server finish its requests
// before it closes the connections left.
const shutdownGrace = 3 * time.Second

// shutdownWithin runs shutdown with a context that ends once grace has
// passed (or ctx ends), then, if the grace ran out, forcibly closes
// what is left with forceClose (nil when shutdown does that itself at
// its deadline, as refop.Server does). Go's HTTP/2 server can miss a
// connection accepted just as Shutdown starts (the OP dialling the
// device with a request in hand, a client polling the OP): it never gets
// a GOAWAY, stays active, and would otherwise hold Shutdown until ctx
// ends. Seen about once in 40 closes on a busy machine. Our grace
// running out is not an error: the requests have had their time.
func shutdownWithin(ctx context.Context, grace time.Duration, shutdown func(context.Context) error, forceClose func() error) error {
	graceCtx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	err := shutdown(graceCtx)
	if err == nil || ctx.Err() != nil {
		return err
	}
	var rest []error
	for _, e := range unjoin(err) {
		if graceCtx.Err() == nil || !errors.Is(e, context.DeadlineExceeded) {
			rest = append(rest, e)
		}
	}
	if forceClose != nil {
		rest = append(rest, forceClose())
	}
	return errors.Join(rest...)
}

// unjoin lists the errors of an errors.Join tree, leaves only.
func unjoin(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, unjoin(e)...)
	}
	return out
}

// StoreCounts reports how many requests, tokens and used jtis the OP's
// store holds.
func (e *Env) StoreCounts() (refop.StoreCounts, error) {
	if e.store != nil {
		return e.store.Counts()
	}
	if e.memStore != nil {
		return e.memStore.Counts(), nil
	}
	return refop.StoreCounts{}, nil
}

// Close stops the servers, the device and the OP, and removes a temporary
// directory. It is safe on a partly started Env.
func (e *Env) Close(ctx context.Context) error {
	var errs []error
	if e.outbound != nil {
		// Idle keep-alive (HTTP/2) connections from the OP and the device
		// would otherwise hold each server's Shutdown for its poll period.
		e.outbound.CloseIdleConnections()
	}
	if e.deviceServer != nil {
		errs = append(errs, shutdownWithin(ctx, shutdownGrace, e.deviceServer.Shutdown, e.deviceServer.Close), <-e.deviceDone)
		e.deviceServer = nil
	}
	if e.Device != nil {
		e.Device.Close()
		e.Device = nil
	}
	if e.opServer != nil {
		// refop.Server.Shutdown closes the connections left at its
		// deadline itself.
		errs = append(errs, shutdownWithin(ctx, shutdownGrace, e.opServer.Shutdown, nil))
		e.opServer = nil
		e.OP = nil
	} else if e.OP != nil {
		errs = append(errs, e.OP.Close())
		e.OP = nil
	}
	if e.store != nil {
		// After the OP: its background work may still write.
		errs = append(errs, e.store.Close())
		e.store = nil
	}
	if e.tempDir != "" {
		errs = append(errs, os.RemoveAll(e.tempDir))
		e.tempDir = ""
	}
	return errors.Join(errs...)
}

// channelKeyID is the kid of the OP's ES256 key, which signs its channel
// tokens to the mock device (it verifies ES256): a pending request's
// device record holds the token's 64-byte signature, where the first
// key's PS256 made it 256, and signing one per request costs far less.
// Empty (the first key) when there is none.
func channelKeyID(keys []jose.JSONWebKey) string {
	for _, k := range keys {
		if k.Algorithm == ciba.AlgES256 {
			return k.KeyID
		}
	}
	return ""
}
