package e2e

import (
	"context"
	"crypto/tls"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/clock"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/devenv"
	"github.com/ciba-check/ciba-check/internal/targetclient"
)

// world is one running embedded environment on a fake clock, with a client
// per registered client id and a receiver for ping and push notifications.
type world struct {
	t        *testing.T
	env      *devenv.Env
	clock    *clock.Fake
	md       *ciba.ProviderMetadata
	receiver *client.NotificationReceiver
	// receivers owns every notification receiver of the target.
	receivers *targetclient.Receivers

	mu      sync.Mutex
	clients map[string]*client.Client
}

// newWorld starts the environment; edit may change the options.
func newWorld(t *testing.T, edit func(*devenv.Options)) *world {
	t.Helper()
	fc := clock.NewFake(time.Now().Truncate(time.Second))
	opts := devenv.Options{Dir: t.TempDir(), Clock: fc, Interval: 1}
	copyMaterial(t, opts.Dir)
	if edit != nil {
		edit(&opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	env, err := devenv.Start(ctx, opts)
	if err != nil {
		t.Fatalf("starting the embedded environment: %v", err)
	}
	w := &world{t: t, env: env, clock: fc, clients: map[string]*client.Client{}}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w.mu.Lock()
		for _, c := range w.clients {
			c.CloseIdleConnections()
		}
		w.mu.Unlock()
		if err := env.Close(ctx); err != nil {
			t.Errorf("closing environment: %v", err)
		}
		if err := w.receivers.Close(); err != nil {
			t.Errorf("closing receivers: %v", err)
		}
	})

	if w.md, err = targetclient.Discover(ctx, env.Target); err != nil {
		t.Fatalf("discovery: %v", err)
	}
	receivers, err := targetclient.StartReceivers(env.Target, fc)
	if err != nil {
		t.Fatalf("starting notification receivers: %v", err)
	}
	w.receivers = receivers
	// Every ping and push client of the embedded environment shares one
	// notification address, hence one receiver.
	for _, c := range env.Target.Clients {
		if r := receivers.For(c.ID); r != nil {
			w.receiver = r
			break
		}
	}
	return w
}

// client returns the CIBA client registered as id, built from target.yaml.
func (w *world) client(id string) *client.Client {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if c, ok := w.clients[id]; ok {
		return c
	}
	tc, ok := w.env.Target.Client(id)
	if !ok {
		w.t.Fatalf("no client %q in target.yaml", id)
	}
	c, err := targetclient.New(w.env.Target, tc, w.md, w.clock)
	if err != nil {
		w.t.Fatal(err)
	}
	w.clients[id] = c
	return c
}

// params is a valid authentication request for the named user.
func (w *world) params(c *client.Client, user string) client.AuthParams {
	p := client.AuthParams{Scope: "openid profile", LoginHint: user, BindingMessage: "1234"}
	if c.Mode() != ciba.ModePoll {
		p.ClientNotificationToken = "notify-" + randomSuffix(w.t)
	}
	return p
}

// authenticate starts a request and fails the test unless it is acknowledged.
func (w *world) authenticate(c *client.Client, p client.AuthParams, opts ...client.CallOption) *ciba.AuthenticationResponse {
	w.t.Helper()
	ack, ex, err := c.Authenticate(w.ctx(), p, opts...)
	if err != nil {
		w.t.Fatalf("%s: backchannel request refused: %v\n%s", c.ClientID(), err, dump(ex))
	}
	return ack
}

// settled waits until the device has decided the request and called the
// OP back.
func (w *world) settled(authReqID string) {
	w.t.Helper()
	req, err := w.env.Device.WaitSettled(w.ctx(), authReqID)
	if err != nil {
		w.t.Fatalf("device never settled %s: %v", authReqID, err)
	}
	if req.CallbackError != "" || (req.CallbackStatus != http.StatusOK && req.CallbackStatus != http.StatusNoContent && req.CallbackStatus != 0) {
		w.t.Fatalf("device callback failed: status %d %s", req.CallbackStatus, req.CallbackError)
	}
}

// arrived waits until the device has received the request.
func (w *world) arrived(authReqID string) {
	w.t.Helper()
	if _, err := w.env.Device.Wait(w.ctx(), authReqID); err != nil {
		w.t.Fatalf("device never received %s: %v", authReqID, err)
	}
}

func (w *world) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	w.t.Cleanup(cancel)
	return ctx
}

// withCert returns a copy of c presenting cert (nil: none); its
// connections are closed when the test ends, so servers shut down at once.
func (w *world) withCert(c *client.Client, cert *tls.Certificate) *client.Client {
	cc := c.WithTLSCertificate(cert)
	w.t.Cleanup(cc.CloseIdleConnections)
	return cc
}

// certOf returns the TLS certificate of client id.
func (w *world) certOf(id string) *tls.Certificate {
	tc, _ := w.env.Target.Client(id)
	cert, err := tc.LoadTLSCertificate()
	if err != nil {
		w.t.Fatal(err)
	}
	return cert
}

// withoutCert returns a copy of c presenting no TLS certificate.
func withoutCert(c *client.Client) *client.Client { return c.WithTLSCertificate(nil) }

// watchAdvance bounds how far watchFor moves the fake clock: far past
// any timer the OP sets for a decided request (ping and push retries come
// within seconds: reference-op notify.go), and far inside the validity of
// the environment's certificates (2 years). Unbounded, it moved a minute
// per loop iteration for 300 ms at a time, which on a fast idle machine
// can add up to months per call; CI once saw the OP refuse the client
// certificate ("does not chain to a trusted CA") in the fourth such call
// of one test, which is what an expired certificate gives.
const watchAdvance = time.Hour

// watchFor checks that violation stays "" for d of real time while the
// fake clock moves a minute at a time, up to watchAdvance, so timers the
// OP may have set (retries) come due. It is for asserting that something
// does NOT happen, which no event can signal.
func (w *world) watchFor(d time.Duration, violation func() string) {
	w.t.Helper()
	deadline := time.Now().Add(d)
	for moved := time.Duration(0); time.Now().Before(deadline); {
		if v := violation(); v != "" {
			w.t.Fatal(v)
		}
		if moved < watchAdvance {
			w.clock.Advance(time.Minute)
			moved += time.Minute
		}
		runtime.Gosched()
	}
	if v := violation(); v != "" {
		w.t.Fatal(v)
	}
}

// noTokensLater advances the clock 2 s and asks again for the tokens of a
// request that must stay without them (the test fails with "tokens
// <after>").
func (w *world) noTokensLater(t *testing.T, c *client.Client, authReqID, after string) {
	t.Helper()
	w.clock.Advance(2 * time.Second)
	_, ex, err := c.Token(w.ctx(), authReqID)
	if err == nil {
		t.Fatalf("tokens %s: %s", after, dump(ex))
	}
}

// answersAfter advances the clock by d, then expects the token request
// for authReqID to be answered with the OAuth error want.
func (w *world) answersAfter(t *testing.T, c *client.Client, authReqID string, d time.Duration, want string) {
	t.Helper()
	w.clock.Advance(d)
	_, ex, err := c.Token(w.ctx(), authReqID)
	wantOAuthError(t, ex, err, want)
}
