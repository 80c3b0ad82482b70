package load

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/clock"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/devenv"
	"github.com/ciba-check/ciba-check/internal/device"
	"github.com/ciba-check/ciba-check/internal/pki"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/internal/targetclient"
	"github.com/ciba-check/ciba-check/reports"
)

// world is the embedded OP with one load client built as the CLI builds it.
type world struct {
	env  *devenv.Env
	md   *ciba.ProviderMetadata
	c    *client.Client
	hc   *http.Client
	user *target.User
}

func startWorld(t *testing.T, clientID string) *world {
	t.Helper()
	env, err := devenv.Start(t.Context(), devenv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Generous: a busy machine slows the servers' graceful shutdown.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := env.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return newWorld(t, env, clientID)
}

func newWorld(t *testing.T, env *devenv.Env, clientID string) *world {
	t.Helper()
	md, err := targetclient.Discover(t.Context(), env.Target)
	if err != nil {
		t.Fatal(err)
	}
	tc, ok := env.Target.Client(clientID)
	if !ok {
		t.Fatalf("no client %s", clientID)
	}
	cfg, err := targetclient.Config(env.Target, tc, md, nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := NewHTTPClient(cfg.RootCAs, cfg.TLSCert, TransportOptions{})
	cfg.Transport = hc.Transport
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	user, ok := env.Target.User("carol") // never answers
	if !ok {
		t.Fatal("no user carol")
	}
	return &world{env: env, md: md, c: c, hc: hc, user: user}
}

func (w *world) pending(t *testing.T, n int) []string {
	t.Helper()
	ids, granted, err := StartPending(t.Context(), w.c, w.user, "openid", n, 4, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// The reference OP grants requested_expiry up to its MaxExpiry.
	if granted != time.Minute {
		t.Fatalf("StartPending reports expires_in %v granted, want the 1m0s requested", granted)
	}
	return ids
}

func decodeAll(t *testing.T, r io.Reader) []vegeta.Result {
	t.Helper()
	dec := vegeta.NewDecoder(r)
	var out []vegeta.Result
	for {
		var res vegeta.Result
		if err := dec.Decode(&res); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatal(err)
		}
		out = append(out, res)
	}
}

func TestRunPollMTLS(t *testing.T) {
	w := startWorld(t, "poll-mtls")
	var out bytes.Buffer
	ts, _ := ParseThresholds([]string{"errors==0"})
	sum, err := RunPoll(t.Context(), PollConfig{
		RunOptions:  RunOptions{Rate: Rate{Freq: 200, Per: time.Second}, Duration: 500 * time.Millisecond, Output: &out, Thresholds: ts},
		Targets:     PollTargets{Endpoint: w.c.TokenEndpoint(), ClientID: "poll-mtls", AuthMethod: ciba.AuthTLSClient, AuthReqIDs: w.pending(t, 5)},
		HTTPClient:  w.hc,
		MaxInFlight: 10, // the warm-up polls only connect
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Requests.Sent == 0 || sum.Requests.Unexpected != 0 || sum.Requests.Expected != sum.Requests.Sent {
		t.Fatalf("requests %+v errors %+v: every poll should be answered pending or slow_down", sum.Requests, sum.Errors)
	}
	// Every hit due in the run was sent or dropped for a reason.
	if g := sum.Generator; sum.Requests.Intended != 100 || sum.Requests.Dropped != g.DroppedAtCap+g.DroppedLate {
		t.Fatalf("requests %+v, dropped at the cap %d, late %d: want 100 intended, each one not sent dropped at the cap or late",
			sum.Requests, g.DroppedAtCap, g.DroppedLate)
	}
	// 5 requests polled 100 times a second each with interval 1 s: the
	// first poll of each is pending, the rest slow_down (CIBA 11). The
	// first of each was one of the warm-up's WarmUpPolls, which connect
	// the client before the run and are not part of it.
	if sum.OAuthErrors["authorization_pending"] != 0 || sum.OAuthErrors["slow_down"] != sum.Requests.Sent {
		t.Fatalf("OAuth errors %v of %d polls", sum.OAuthErrors, sum.Requests.Sent)
	}
	if !sum.Passed || sum.CPU == nil || sum.CPU.Seconds <= 0 {
		t.Fatalf("passed %v cpu %+v", sum.Passed, sum.CPU)
	}
	if got := decodeAll(t, &out); uint64(len(got)) != sum.Requests.Sent || got[0].Attack == "" {
		t.Fatalf("%d results written, %d sent", len(got), sum.Requests.Sent)
	}
}

func TestRunPollPrivateKeyJWTWithPool(t *testing.T) {
	w := startWorld(t, "poll-pkjwt-es256")
	pool, err := NewAssertionPool(PoolConfig{
		Sign:     func(jti string) (string, error) { return w.c.ClientAssertion(w.md.TokenEndpoint, client.WithJTI(jti)) },
		Lifetime: client.AssertionLifetime, MinRemaining: 20 * time.Second, Size: 64, JTIPrefix: "test-",
	})
	if err != nil {
		t.Fatal(err)
	}
	pool.Start(t.Context())
	defer pool.Close()
	sum, err := RunPoll(t.Context(), PollConfig{
		RunOptions: RunOptions{Rate: Rate{Freq: 100, Per: time.Second}, Duration: 500 * time.Millisecond},
		Targets: PollTargets{Endpoint: w.c.TokenEndpoint(), AuthMethod: ciba.AuthPrivateKeyJWT,
			AuthReqIDs: w.pending(t, 3), Assertions: pool},
		HTTPClient:  w.hc,
		MaxInFlight: 10, // the warm-up polls only connect
		Pool:        pool,
	})
	if err != nil {
		t.Fatal(err)
	}
	// A reused or stale assertion is invalid_client (OIDC Core 9).
	if sum.Requests.Sent == 0 || sum.Requests.Unexpected != 0 {
		t.Fatalf("requests %+v errors %+v", sum.Requests, sum.Errors)
	}
	// Every assertion taken is a poll sent, the warm-up's included.
	if sum.Pool == nil || sum.Pool.Taken != sum.Requests.Sent+WarmUpPolls {
		t.Fatalf("pool %+v for %d requests", sum.Pool, sum.Requests.Sent)
	}
}

// cancelAfterWrite cancels a context when the first result is written.
type cancelAfterWrite struct {
	cancel context.CancelFunc
	once   sync.Once
	buf    bytes.Buffer
}

func (c *cancelAfterWrite) Write(p []byte) (int, error) {
	c.once.Do(c.cancel)
	return c.buf.Write(p)
}

func TestRunPollInterruptedStillReports(t *testing.T) {
	w := startWorld(t, "poll-mtls")
	ids := w.pending(t, 2)
	ctx, cancel := context.WithCancel(t.Context())
	out := &cancelAfterWrite{cancel: cancel}
	sum, err := RunPoll(ctx, PollConfig{
		RunOptions: RunOptions{Rate: Rate{Freq: 50, Per: time.Second}, Duration: time.Minute, Output: out},
		Targets:    PollTargets{Endpoint: w.c.TokenEndpoint(), ClientID: "poll-mtls", AuthMethod: ciba.AuthTLSClient, AuthReqIDs: ids},
		HTTPClient: w.hc,
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Aborted != AbortInterrupted || sum.Requests.Sent == 0 {
		t.Fatalf("aborted %q after %d requests", sum.Aborted, sum.Requests.Sent)
	}
	// No threshold broke, but an interrupted run is no pass.
	if sum.Passed {
		t.Error("an interrupted run says passed")
	}
	if got := decodeAll(t, &out.buf); uint64(len(got)) != sum.Requests.Sent {
		t.Fatalf("%d results written, %d counted", len(got), sum.Requests.Sent)
	}
}

func TestRunPollAbortOnFail(t *testing.T) {
	w := startWorld(t, "poll-mtls")
	ids := w.pending(t, 2)
	clk := clock.NewFake(time.Now())
	ts, _ := ParseThresholds([]string{"rate>1000000"})
	type outcome struct {
		sum *reports.LoadRun
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		sum, err := RunPoll(t.Context(), PollConfig{
			RunOptions: RunOptions{Rate: Rate{Freq: 20, Per: time.Second}, Duration: time.Minute,
				Thresholds: ts, AbortOnFail: true, Clock: clk},
			Targets:    PollTargets{Endpoint: w.c.TokenEndpoint(), ClientID: "poll-mtls", AuthMethod: ciba.AuthTLSClient, AuthReqIDs: ids},
			HTTPClient: w.hc,
		})
		done <- outcome{sum, err}
	}()
	// The first check (after AbortGrace on the run's clock) finds the
	// breach and stops the minute-long run.
	waitPending(t, clk)
	clk.Advance(AbortGrace + time.Second)
	got := <-done
	if got.err != nil {
		t.Fatal(got.err)
	}
	if got.sum.Aborted != AbortThreshold || got.sum.Passed {
		t.Fatalf("aborted %q passed %v", got.sum.Aborted, got.sum.Passed)
	}
}

// flowWorld is an embedded environment with what flows need: the
// device driver and the notification receivers.
type flowWorld struct {
	env       *devenv.Env
	driver    device.Driver
	receivers *targetclient.Receivers
}

func startFlowWorld(t *testing.T) *flowWorld {
	t.Helper()
	return startFlowWorldWith(t, devenv.Options{})
}

// startFlowWorldWith is startFlowWorld with the environment's options
// (PushAllowed: the OP without FAPI, with push and secret clients).
func startFlowWorldWith(t *testing.T, o devenv.Options) *flowWorld {
	t.Helper()
	env, err := devenv.Start(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = env.Close(ctx)
	})
	roots, err := env.Target.RootCAs()
	if err != nil {
		t.Fatal(err)
	}
	dhc, err := client.NewHTTPClient(client.Config{RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	driver, err := device.New(env.Target, device.Options{HTTPClient: dhc})
	if err != nil {
		t.Fatal(err)
	}
	receivers, err := targetclient.StartReceivers(env.Target, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = receivers.Close() })
	return &flowWorld{env: env, driver: driver, receivers: receivers}
}

func TestRunFlows(t *testing.T) {
	// One environment per profile, shared by its cases: FAPI-CIBA, and
	// CIBA Core without FAPI for push and the secret clients.
	worlds := map[bool]*flowWorld{}
	for _, tt := range []struct {
		clientID string
		scenario Scenario
		noFAPI   bool
	}{
		{"poll-mtls", ScenarioFlowPoll, false}, {"ping-mtls", ScenarioFlowPing, false},
		{"push-pkjwt-es256", ScenarioFlowPush, true},
		{"poll-secret-basic", ScenarioFlowPoll, true}, {"ping-secret-post", ScenarioFlowPing, true},
	} {
		if worlds[tt.noFAPI] == nil {
			worlds[tt.noFAPI] = startFlowWorldWith(t, devenv.Options{PushAllowed: tt.noFAPI})
		}
		fw := worlds[tt.noFAPI]
		t.Run(string(tt.scenario)+"/"+tt.clientID, func(t *testing.T) {
			w := newWorld(t, fw.env, tt.clientID)
			var out bytes.Buffer
			sum, err := RunFlows(t.Context(), FlowConfig{
				RunOptions: RunOptions{Rate: Rate{Freq: 6, Per: time.Second}, Duration: 500 * time.Millisecond, Output: &out},
				Client:     w.c, Receiver: fw.receivers.For(tt.clientID), Device: fw.driver, User: w.user,
			})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Scenario != string(tt.scenario) || sum.Requests.Sent == 0 || sum.Requests.OK != sum.Requests.Sent {
				t.Fatalf("%s: requests %+v errors %+v", sum.Scenario, sum.Requests, sum.Errors)
			}
			if sum.ApprovalToTokenMS == nil || sum.ApprovalToTokenMS.Max <= 0 || sum.ApprovalToTokenMS.Max > sum.LatencyMS.Max {
				t.Fatalf("approval-to-token %+v, end to end %+v", sum.ApprovalToTokenMS, sum.LatencyMS)
			}
			res := decodeAll(t, &out)
			if uint64(len(res)) != sum.Requests.Sent || res[0].Method != MethodFlow || res[0].Headers.Get(HeaderApprovalToToken) == "" {
				t.Fatalf("%d flow results written for %d flows: %+v", len(res), sum.Requests.Sent, res)
			}
			if tt.scenario != ScenarioFlowPush {
				return
			}
			// Completed by push: one token delivery per flow reached the
			// client's receiver, and the client never called the token
			// endpoint for it.
			var pushes uint64
			for _, n := range fw.receivers.For(tt.clientID).Notifications() {
				if tok, _, err := n.PushPayload(); err == nil && tok != nil && tok.AccessToken != "" {
					pushes++
				}
			}
			if pushes < sum.Requests.OK {
				t.Fatalf("%d token pushes received for %d completed flows", pushes, sum.Requests.OK)
			}
		})
	}
}

// TestRunFlowsPushNotDelivered: a push that never reaches the client's
// receiver by the flow's deadline is a failed flow, not a hang.
func TestRunFlowsPushNotDelivered(t *testing.T) {
	fw := startFlowWorldWith(t, devenv.Options{PushAllowed: true})
	w := newWorld(t, fw.env, "push-pkjwt-es256")
	// A receiver the OP does not push to: nothing ever arrives.
	cert, err := pki.SelfSignedClient(rand.Reader, time.Now(), "deaf")
	if err != nil {
		t.Fatal(err)
	}
	deaf, err := client.NewNotificationReceiver(client.ReceiverConfig{Listen: "127.0.0.1:0", TLSCert: cert})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := RunFlows(t.Context(), FlowConfig{
		RunOptions: RunOptions{Rate: Rate{Freq: 6, Per: time.Second}, Duration: 300 * time.Millisecond},
		Client:     w.c, Receiver: deaf, Device: fw.driver, User: w.user, FlowTimeout: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Scenario != string(ScenarioFlowPush) || sum.Requests.Sent == 0 || sum.Requests.OK != 0 || len(sum.Errors) == 0 || !strings.Contains(sum.Errors[0].Error, "push delivery") {
		t.Fatalf("requests %+v errors %+v: want every flow failed at the push delivery", sum.Requests, sum.Errors)
	}
}

func TestRunFlowsDropsWhenAllSlotsAreBusy(t *testing.T) {
	w := startWorld(t, "poll-mtls")
	roots, err := w.env.Target.RootCAs()
	if err != nil {
		t.Fatal(err)
	}
	dhc, err := client.NewHTTPClient(client.Config{RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	driver, err := device.New(w.env.Target, device.Options{HTTPClient: dhc})
	if err != nil {
		t.Fatal(err)
	}
	// One slot; a poll flow takes about the 1 s interval, so of the ten
	// flows due in half a second at 20/s only the first can start.
	sum, err := RunFlows(t.Context(), FlowConfig{
		RunOptions: RunOptions{Rate: Rate{Freq: 20, Per: time.Second}, Duration: 500 * time.Millisecond},
		Client:     w.c, Device: driver, User: w.user, MaxInFlight: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Requests.Sent != 1 || sum.Requests.OK != 1 || sum.Requests.Dropped < 8 || sum.Requests.Intended != sum.Requests.Sent+sum.Requests.Dropped {
		t.Fatalf("requests %+v: want 1 flow sent and the others dropped", sum.Requests)
	}
}

// A poll run's pending requests ask to live for the run, the margin and
// the rest of their own start at the pace of the first (startPendingFor):
// the shortest granted is the run plus the margin plus a little, not the
// first one's minute of allowance.
func TestStartPendingForAsksForTheRunAndItsStart(t *testing.T) {
	w := startWorld(t, "poll-mtls")
	const n, run = 33, 10 * time.Second // the first, then two rounds of 16
	ids, granted, started, err := startPendingFor(t.Context(), w.c, w.user, "openid", n, run)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != n || len(slices.Compact(slices.Sorted(slices.Values(ids)))) != n {
		t.Fatalf("%d ids, want %d distinct", len(ids), n)
	}
	// The OP grants requested_expiry in whole seconds, rounded.
	spent := time.Since(started)
	lo, hi := run+PendingMargin-time.Second, run+PendingMargin+2*2*spent+time.Second
	if granted < lo || granted > hi || granted >= run+probeExtra {
		t.Fatalf("shortest expires_in %v, want within [%v, %v] (the start took %v)", granted, lo, hi, spent)
	}
}
