package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ciba-check/ciba-check/internal/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/clock"
	"github.com/ciba-check/ciba-check/internal/devenv"
	"github.com/ciba-check/ciba-check/internal/device"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/internal/targetclient"
	"github.com/ciba-check/ciba-check/reports"
	"github.com/ciba-check/ciba-check/suites/load"
)

// loadEnv is the OP a load run talks to: a target.yaml, or the embedded
// reference OP started for the run.
type loadEnv struct {
	t        *target.Target
	md       *ciba.ProviderMetadata
	embedded *devenv.Env
}

func (e *loadEnv) close() {
	if e.embedded != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.embedded.Close(ctx)
	}
}

func openLoadEnv(ctx context.Context, o *LoadOptions) (*loadEnv, error) {
	e := &loadEnv{}
	name := "load " + o.Scenario
	if o.TargetPath == "" {
		env, err := devenv.Start(ctx, devenv.Options{Interval: o.Interval})
		if err != nil {
			var cfgErr *devenv.ConfigError
			if errors.As(err, &cfgErr) {
				return nil, &UsageError{Err: fmt.Errorf("%s: %w", name, err)}
			}
			return nil, fmt.Errorf("%s: starting the embedded OP: %w", name, err)
		}
		e.embedded, e.t = env, env.Target
	} else {
		t, err := target.Load(o.TargetPath)
		if err != nil {
			return nil, &UsageError{Err: fmt.Errorf("%s: %w", name, err)}
		}
		e.t = t
	}
	md, err := targetclient.Discover(ctx, e.t)
	if err != nil {
		e.close()
		return nil, fmt.Errorf("%s: discovery at %s: %w", name, e.t.Issuer, err)
	}
	// https or nothing, as for run: checked before the first credential.
	if err := targetclient.CheckCredentialURLs(e.t, md); err != nil {
		e.close()
		return nil, &UsageError{Err: fmt.Errorf("%s: target %s: %w", name, e.t.Issuer, err)}
	}
	e.md = md
	return e, nil
}

// pickClient returns the client named by --client, or the first client in
// mode matching --auth.
func pickClient(t *target.Target, o *LoadOptions, mode ciba.DeliveryMode) (*target.Client, error) {
	name := "load " + o.Scenario
	if o.ClientID != "" {
		tc, ok := t.Client(o.ClientID)
		if !ok {
			return nil, usageErrorf("%s: --client %q is not in the target (clients: %s)", name, o.ClientID, clientIDs(t))
		}
		if tc.Mode != ciba.ModePoll && tc.Mode != ciba.ModePing {
			return nil, usageErrorf("%s: --client %q is a %s client; load runs use poll or ping clients", name, tc.Mode, o.ClientID)
		}
		return tc, nil
	}
	for i := range t.Clients {
		tc := &t.Clients[i]
		if tc.Mode != mode {
			continue
		}
		if !authMatches(o.Auth, tc.Auth) {
			continue
		}
		return tc, nil
	}
	return nil, usageErrorf("%s: the target has no %s client with --auth %s (clients: %s)", name, mode, o.Auth, clientIDs(t))
}

func clientIDs(t *target.Target) string {
	var ids []string
	for _, c := range t.Clients {
		ids = append(ids, c.ID+" ("+string(c.Mode)+", "+string(c.Auth)+")")
	}
	return strings.Join(ids, ", ")
}

// pickUser returns --user or the first user whose device never answers
// (CIBA: the request stays pending until the tool decides it).
func pickUser(t *target.Target, o *LoadOptions) (*target.User, error) {
	name := "load " + o.Scenario
	if o.User != "" {
		u, ok := t.User(o.User)
		if !ok {
			return nil, usageErrorf("%s: --user %q is not in the target", name, o.User)
		}
		return u, nil
	}
	for i := range t.Users {
		if t.Users[i].Outcome == target.OutcomeNever {
			return &t.Users[i], nil
		}
	}
	return nil, usageErrorf("%s: the target has no user with outcome never; name one whose requests stay pending with --user", name)
}

// newLoadClient builds the CIBA client of tc whose HTTP transport is the
// load generator's (keep-alive, HTTP version, connection and body caps),
// counting its connections into stats; newHC builds another such client
// (the poll attack's, once its in-flight cap is known).
func newLoadClient(e *loadEnv, tc *target.Client, o *LoadOptions, stats *load.ConnStats) (c *client.Client, newHC func(maxInFlight int, stats *load.ConnStats) *http.Client, err error) {
	cfg, err := targetclient.Config(e.t, tc, e.md, nil)
	if err != nil {
		return nil, nil, &UsageError{Err: fmt.Errorf("load %s: client %s: %w", o.Scenario, tc.ID, err)}
	}
	newHC = func(maxInFlight int, stats *load.ConnStats) *http.Client {
		return load.NewHTTPClient(cfg.RootCAs, cfg.TLSCert, load.TransportOptions{
			NoKeepAlive: o.NoKeepAlive, HTTP1: o.HTTP1, Timeout: o.Timeout,
			MaxConns: o.MaxConns, MaxInFlight: maxInFlight, MaxBody: o.MaxBody, SeqHeader: o.SeqHeader, Stats: stats,
		})
	}
	cfg.Transport = newHC(o.MaxInFlight, stats).Transport
	if c, err = client.New(cfg); err != nil {
		return nil, nil, &UsageError{Err: fmt.Errorf("load %s: client %s: %w", o.Scenario, tc.ID, err)}
	}
	return c, newHC, nil
}

// waitStart holds the run until --start-at (all shards begin together).
func waitStart(ctx context.Context, o *LoadOptions) error {
	if o.StartAt.IsZero() {
		return nil
	}
	d := time.Until(o.StartAt)
	if d <= 0 {
		return nil
	}
	if !o.Quiet {
		fmt.Fprintf(o.IO.ErrOut, "waiting %s until %s\n", d.Round(time.Second), o.StartAt.Format(time.RFC3339))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// outputs are the files of one run.
type outputs struct {
	results *os.File
	buf     *bufio.Writer
}

func openOutputs(path string) (*outputs, error) {
	out := &outputs{}
	if path == "" {
		return out, nil
	}
	// Results hold the OP's answers: owner-only, like a key file. An
	// existing file keeps its mode under O_CREATE, so it is tightened.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err == nil {
		if err = f.Chmod(0o600); err != nil {
			_ = f.Close()
		}
	}
	if err != nil {
		return nil, &UsageError{Err: fmt.Errorf("--output: %w", err)}
	}
	out.results, out.buf = f, bufio.NewWriterSize(f, 1<<20)
	return out, nil
}

func (o *outputs) writer() io.Writer {
	if o.buf == nil {
		return nil
	}
	return o.buf
}

func (o *outputs) close() error {
	if o.results == nil {
		return nil
	}
	return errors.Join(o.buf.Flush(), o.results.Close())
}

func writeSummaryJSON(path string, s *load.Summary) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	return errors.Join(s.WriteJSON(f), f.Close())
}

func (o *LoadOptions) progress() *load.Progress {
	if o.Quiet {
		return nil
	}
	return &load.Progress{W: o.IO.ErrOut, TTY: o.IO.IsStderrTTY()}
}

func (o *LoadOptions) runOptions(e *loadEnv, clientID string, out io.Writer, conns *load.ConnStats) load.RunOptions {
	return load.RunOptions{
		Rate:        o.Rate.Split(o.Shard.Count),
		Duration:    o.Duration,
		Shard:       o.Shard,
		Thresholds:  o.Thresholds,
		AbortOnFail: o.AbortOnFail,
		Output:      out,
		KeepSecrets: o.KeepSecrets,
		Conns:       conns,
		Progress:    o.progress(),
		Info: load.RunInfo{
			Target: e.t.Issuer, ClientID: clientID, ToolVersion: o.Version,
			CPU: &load.CPUSummary{IncludesTarget: e.embedded != nil},
		},
	}
}

// jtiPrefix makes this run's and shard's jtis unique among all runs.
func jtiPrefix(s load.Shard) (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return fmt.Sprintf("load-s%d-%s-", s.Index, hex.EncodeToString(b)), nil
}

func runLoad(ctx context.Context, o *LoadOptions) error {
	e, err := openLoadEnv(ctx, o)
	if err != nil {
		return err
	}
	defer e.close()
	if o.Scenario == "poll" {
		return runLoadPoll(ctx, o, e)
	}
	return runLoadFlow(ctx, o, e)
}

func runLoadPoll(ctx context.Context, o *LoadOptions, e *loadEnv) error {
	tc, err := pickClient(e.t, o, ciba.ModePoll)
	if err != nil {
		return err
	}
	user, err := pickUser(e.t, o)
	if err != nil {
		return err
	}
	c, newHC, err := newLoadClient(e, tc, o, nil)
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	if err := waitStart(ctx, o); err != nil {
		return err
	}
	pending := o.Shard.Split(o.Pending)
	if !o.Quiet {
		fmt.Fprintf(o.IO.ErrOut, "starting %d pending requests for %s with client %s\n", pending, user.Name, tc.ID)
	}
	// The requests must outlive the run: requested_expiry (CIBA 7.1).
	ids, err := load.StartPending(ctx, c, user, scopeOf(tc), pending, 16, o.Duration+2*time.Minute)
	if err != nil {
		return fmt.Errorf("load poll: %w", err)
	}
	targets := load.PollTargets{Endpoint: c.TokenEndpoint(), ClientID: tc.ID, AuthMethod: tc.Auth, Secret: tc.Secret.Value(), AuthReqIDs: ids}
	var pool *load.AssertionPool
	if tc.Auth == ciba.AuthPrivateKeyJWT || tc.Auth == ciba.AuthClientSecretJWT {
		prefix, err := jtiPrefix(o.Shard)
		if err != nil {
			return err
		}
		// aud is the token endpoint's canonical URL (RFC 7523 3, CIBA 7.1).
		aud := e.md.TokenEndpoint
		pool, err = load.NewAssertionPool(load.PoolConfig{
			Sign:         func(jti string) (string, error) { return signAssertion(c, aud, jti) },
			Lifetime:     client.AssertionLifetime,
			MinRemaining: client.AssertionLifetime / 3,
			Size:         load.PoolSize(o.Rate.Split(o.Shard.Count)),
			JTIPrefix:    prefix,
			Clock:        clock.Real{},
		})
		if err != nil {
			return err
		}
		pool.Start(ctx)
		defer pool.Close()
		if !o.Quiet {
			fmt.Fprintln(o.IO.ErrOut, "pre-signing client assertions")
		}
		if err := pool.Fill(ctx); err != nil {
			return fmt.Errorf("load poll: %w", err)
		}
		targets.Assertions = pool
	}
	// The in-flight cap, unless given: sized from the rate and the
	// latency of a few polls sent one by one (load.DefaultMaxInFlight).
	rate := o.Rate.Split(o.Shard.Count)
	maxInFlight, warm := o.MaxInFlight, time.Duration(0)
	if maxInFlight == 0 {
		if !rate.Max {
			if warm, err = load.WarmUp(ctx, targets, c.HTTPClient(), load.WarmUpPolls); err != nil {
				return fmt.Errorf("load poll: warm-up: %w", err)
			}
		}
		maxInFlight = load.DefaultMaxInFlight(rate, warm)
	}
	// The attack gets its own client, its connection cap following the
	// in-flight cap, so its connections and handshakes are counted alone.
	stats := &load.ConnStats{}
	hc := newHC(maxInFlight, stats)
	defer hc.CloseIdleConnections()
	out, err := openOutputs(o.Output)
	if err != nil {
		return err
	}
	sum, runErr := load.RunPoll(ctx, load.PollConfig{
		RunOptions:    o.runOptions(e, tc.ID, out.writer(), stats),
		Targets:       targets,
		HTTPClient:    hc,
		MaxInFlight:   maxInFlight,
		WarmUpLatency: warm,
		Pool:          pool,
	})
	return finishRun(o, []*load.Summary{sum}, []string{o.JSONPath}, errors.Join(runErr, out.close()))
}

// authMatches reports whether a client registered with m fits --auth.
func authMatches(auth string, m ciba.AuthMethod) bool {
	switch auth {
	case authAny:
		return true
	case authMTLS:
		return m.UsesMTLS()
	case authSecret:
		return m.UsesSecret()
	}
	return string(m) == auth
}

// signAssertion makes the client assertion with jti the client's method
// asks for: private_key_jwt (RFC 7523 2.2) or client_secret_jwt (HS256,
// OIDC Core 9).
func signAssertion(c *client.Client, aud, jti string) (string, error) {
	form := url.Values{}
	if err := c.ApplyClientAuth(form, aud, client.AuthAssertionOptions(client.WithJTI(jti))); err != nil {
		return "", err
	}
	return form.Get(ciba.ParamClientAssertion), nil
}

func scopeOf(tc *target.Client) string {
	if tc.Scope != "" {
		return tc.Scope
	}
	return "openid"
}

// finishRun prints the summaries, writes the JSON files and maps the
// verdict to the exit code.
func finishRun(o *LoadOptions, sums []*load.Summary, jsonPaths []string, runErr error) error {
	passed, interrupted := true, false
	for i, s := range sums {
		if s == nil {
			continue
		}
		interrupted = interrupted || s.Aborted == load.AbortInterrupted
		if len(sums) > 1 {
			fmt.Fprintln(o.IO.Out)
		}
		if err := s.WriteText(o.IO.Out); err != nil {
			return err
		}
		if err := writeSummaryJSON(jsonPaths[i], s); err != nil {
			return &UsageError{Err: err}
		}
		passed = passed && s.Passed
	}
	if len(sums) == 2 && sums[0] != nil && sums[1] != nil {
		writeComparison(o.IO.Out, sums[0], sums[1])
	}
	if err := writeLoadReports(o, sums); err != nil {
		return err
	}
	if runErr != nil {
		return fmt.Errorf("load %s: %w", o.Scenario, runErr)
	}
	if interrupted {
		// Not a pass: the run measured less than it was asked to.
		fmt.Fprintln(o.IO.ErrOut, "ciba-check: load: interrupted before the end of the run: no verdict (exit 130)")
		return ErrInterrupted
	}
	if !passed {
		return ErrChecksFailed
	}
	return nil
}

// writeLoadReports renders the summaries into the HTML and Markdown
// reports (reports/), poll and ping side by side when both ran, and
// appends the Markdown to $GITHUB_STEP_SUMMARY when that is set.
func writeLoadReports(o *LoadOptions, sums []*load.Summary) error {
	stepSummary := o.Getenv != nil && o.Getenv(envStepSummary) != ""
	if o.HTMLPath == "" && o.MDPath == "" && !stepSummary {
		return nil
	}
	var models []*reports.Model
	for _, s := range sums {
		if s == nil {
			continue
		}
		var doc bytes.Buffer
		if err := s.WriteJSON(&doc); err != nil {
			return fmt.Errorf("load %s: encoding the summary: %w", o.Scenario, err)
		}
		m, err := reports.FromLoadJSON(&doc)
		if err != nil {
			return fmt.Errorf("load %s: %w", o.Scenario, err)
		}
		models = append(models, m)
	}
	if len(models) == 0 {
		return nil
	}
	return writeReportOutputs(o.IO, o.Getenv, reports.Merge(models...), ReportOutputs{
		HTML: o.HTMLPath, Markdown: o.MDPath, StepSummary: stepSummary,
	})
}

// writeComparison prints poll and ping flows side by side.
func writeComparison(w io.Writer, a, b *load.Summary) {
	fmt.Fprintf(w, "\n%-24s %14s %14s\n", "", a.Scenario, b.Scenario)
	row := func(name string, f func(*load.Summary) string) {
		fmt.Fprintf(w, "%-24s %14s %14s\n", name, f(a), f(b))
	}
	ms := func(v float64) string { return fmt.Sprintf("%.1fms", v) }
	att := func(s *load.Summary) *load.LatencySummary {
		if s.ApprovalToToken == nil {
			return &load.LatencySummary{}
		}
		return s.ApprovalToToken
	}
	row("flows/s achieved", func(s *load.Summary) string { return fmt.Sprintf("%.1f", s.Rate.Achieved) })
	row("approval→token p50", func(s *load.Summary) string { return ms(att(s).P50) })
	row("approval→token p99", func(s *load.Summary) string { return ms(att(s).P99) })
	row("end-to-end p50", func(s *load.Summary) string { return ms(s.Latency.P50) })
	row("end-to-end p99", func(s *load.Summary) string { return ms(s.Latency.P99) })
	row("unexpected", func(s *load.Summary) string { return fmt.Sprintf("%d", s.Requests.Unexpected) })
}

func runLoadFlow(ctx context.Context, o *LoadOptions, e *loadEnv) error {
	user, err := pickUser(e.t, o)
	if err != nil {
		return err
	}
	modes := []ciba.DeliveryMode{ciba.DeliveryMode(o.Mode)}
	if o.Mode == flowModeBoth {
		modes = []ciba.DeliveryMode{ciba.ModePoll, ciba.ModePing}
	}
	roots, err := e.t.RootCAs()
	if err != nil {
		return &UsageError{Err: fmt.Errorf("load flow: %w", err)}
	}
	deviceHC, err := client.NewHTTPClient(client.Config{RootCAs: roots})
	if err != nil {
		return err
	}
	driver, err := device.New(e.t, device.Options{HTTPClient: deviceHC, In: o.IO.In, Out: o.IO.ErrOut})
	if err != nil {
		return &UsageError{Err: fmt.Errorf("load flow: %w", err)}
	}
	if !driver.Capabilities().Hold || !driver.Capabilities().Approve {
		return usageErrorf("load flow: the target's %s device cannot hold a request and approve it on demand", driver.Kind())
	}
	type run struct {
		cfg  load.FlowConfig
		out  *outputs
		json string
	}
	var runs []*run
	var receivers *targetclient.Receivers
	defer func() { _ = receivers.Close() }()
	for _, mode := range modes {
		tc, err := pickClient(e.t, o, mode)
		if err != nil {
			return err
		}
		stats := &load.ConnStats{}
		c, _, err := newLoadClient(e, tc, o, stats)
		if err != nil {
			return err
		}
		defer c.CloseIdleConnections()
		r := &run{json: o.JSONPath}
		outPath := o.Output
		if len(modes) > 1 {
			outPath, r.json = suffixed(o.Output, string(mode)), suffixed(o.JSONPath, string(mode))
		}
		if r.out, err = openOutputs(outPath); err != nil {
			return err
		}
		r.cfg = load.FlowConfig{
			RunOptions:   o.runOptions(e, tc.ID, r.out.writer(), stats),
			Client:       c,
			Device:       driver,
			User:         user,
			Scope:        scopeOf(tc),
			ApproveDelay: o.ApproveDelay,
			MaxInFlight:  o.MaxInFlight,
		}
		if mode == ciba.ModePing {
			if receivers == nil {
				if receivers, err = targetclient.StartReceivers(e.t, nil); err != nil {
					return fmt.Errorf("load flow: notification endpoint: %w", err)
				}
			}
			if r.cfg.Receiver = receivers.For(tc.ID); r.cfg.Receiver == nil {
				return usageErrorf("load flow: ping client %s has no notification section in the target", tc.ID)
			}
		}
		runs = append(runs, r)
	}
	if len(runs) > 1 {
		// One progress line for the two runs side by side would interleave.
		runs[1].cfg.Progress = nil
	}
	if err := waitStart(ctx, o); err != nil {
		return err
	}
	// Both modes run at once, under the same conditions, so the
	// comparison is fair. Their CPU is then one process's: measured once
	// around both and reported as one combined figure (load.ShareCPU).
	cpu0, cpuOK := load.ProcessCPU()
	sums := make([]*load.Summary, len(runs))
	errs := make([]error, len(runs))
	var wg sync.WaitGroup
	for i, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sums[i], errs[i] = load.RunFlows(ctx, r.cfg)
			errs[i] = errors.Join(errs[i], r.out.close())
		}()
	}
	wg.Wait()
	if cpu1, ok := load.ProcessCPU(); ok && cpuOK && len(runs) > 1 {
		load.ShareCPU(sums, cpu1-cpu0)
	}
	jsonPaths := make([]string, len(runs))
	for i, r := range runs {
		jsonPaths[i] = r.json
	}
	return finishRun(o, sums, jsonPaths, errors.Join(errs...))
}

func runLoadMerge(o *LoadOptions) error {
	var inputs []load.MergeInput
	for _, path := range o.Inputs {
		f, err := os.Open(path)
		if err != nil {
			return &UsageError{Err: fmt.Errorf("load merge: %w", err)}
		}
		defer f.Close()
		inputs = append(inputs, load.MergeInput{Name: path, R: bufio.NewReaderSize(f, 1<<20)})
	}
	out, err := openOutputs(o.Output)
	if err != nil {
		return err
	}
	sum, err := load.Merge(inputs, load.MergeOptions{Thresholds: o.Thresholds, Output: out.writer(), ToolVersion: o.Version})
	if cerr := out.close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return &UsageError{Err: fmt.Errorf("load merge: %w", err)}
	}
	return finishRun(o, []*load.Summary{sum}, []string{o.JSONPath}, nil)
}
