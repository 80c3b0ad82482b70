package load

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/clock"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/internal/targetclient"
	"github.com/ciba-check/ciba-check/reports"
)

// jtiPrefix makes this run's and shard's jtis unique among all runs.
func jtiPrefix(s Shard) (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return fmt.Sprintf("load-s%d-%s-", s.Index, hex.EncodeToString(b)), nil
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

// runPollPlan pre-signs the assertions the client's method needs, starts
// the pending requests, sizes the in-flight cap and polls.
func runPollPlan(ctx context.Context, s *targetclient.Session, p *Plan) (*reports.LoadRun, error) {
	tc, err := p.pickClient(s.Target, ciba.ModePoll)
	if err != nil {
		return nil, err
	}
	user, err := p.pickUser(s.Target)
	if err != nil {
		return nil, err
	}
	c, cfg, err := p.newClient(s, tc, nil)
	if err != nil {
		return nil, err
	}
	defer c.CloseIdleConnections()
	if err := p.waitStart(ctx); err != nil {
		return nil, err
	}
	// The assertions are signed first, so the pending requests need to
	// outlive only the warm-up, the run and its drain.
	pool, err := p.assertionPool(ctx, s, c, tc)
	if err != nil {
		return nil, err
	}
	if pool != nil {
		defer pool.Close()
	}
	pending := p.Shard.Split(p.Pending)
	p.logf("starting %d pending requests for %s with client %s", pending, user.Name, tc.ID)
	ids, granted, started, err := startPendingFor(ctx, c, user, scopeOf(tc), pending, p.Duration)
	if err != nil {
		return nil, err
	}
	targets := PollTargets{Endpoint: c.TokenEndpoint(), ClientID: tc.ID, AuthMethod: tc.Auth, Secret: tc.Secret.Value(), AuthReqIDs: ids}
	if pool != nil {
		targets.Assertions = pool
	}
	maxInFlight, warm, err := p.pollInFlight(ctx, targets, c)
	if err != nil {
		return nil, err
	}
	if err := pendingOutlivesRun(granted, time.Since(started), p.Duration); err != nil {
		return nil, err
	}
	// The attack gets its own client, its connection cap following the
	// in-flight cap, so its connections and handshakes are counted alone.
	stats := &ConnStats{}
	hc := NewHTTPClient(cfg.RootCAs, cfg.TLSCert, p.transport(maxInFlight, stats))
	defer hc.CloseIdleConnections()
	out, err := CreateResults(p.Output)
	if err != nil {
		return nil, err
	}
	sum, runErr := RunPoll(ctx, PollConfig{
		RunOptions:    p.runOptions(s, tc.ID, out.Writer(), stats),
		Targets:       targets,
		HTTPClient:    hc,
		MaxInFlight:   maxInFlight,
		WarmUpLatency: warm,
		Pool:          pool,
	})
	return sum, errors.Join(runErr, out.Close())
}

// assertionPool pre-signs the client assertions of a private_key_jwt or
// client_secret_jwt client (nil for other methods).
func (p *Plan) assertionPool(ctx context.Context, s *targetclient.Session, c *client.Client, tc *target.Client) (*AssertionPool, error) {
	if tc.Auth != ciba.AuthPrivateKeyJWT && tc.Auth != ciba.AuthClientSecretJWT {
		return nil, nil
	}
	prefix, err := jtiPrefix(p.Shard)
	if err != nil {
		return nil, err
	}
	// aud is the token endpoint's canonical URL (RFC 7523 3, CIBA 7.1).
	aud := s.Metadata.TokenEndpoint
	pool, err := NewAssertionPool(PoolConfig{
		Sign:         func(jti string) (string, error) { return signAssertion(c, aud, jti) },
		Lifetime:     AssertionLifetime,
		MinRemaining: AssertionMinRemaining,
		Size:         PoolSize(p.Rate.Split(p.Shard.Count)),
		JTIPrefix:    prefix,
		Clock:        clock.Real{},
	})
	if err != nil {
		return nil, err
	}
	pool.Start(ctx)
	p.logf("pre-signing client assertions")
	if err := pool.Fill(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// pollInFlight is the in-flight cap, unless given: sized from the rate
// and the latency of a few polls sent one by one (DefaultMaxInFlight).
func (p *Plan) pollInFlight(ctx context.Context, targets PollTargets, c *client.Client) (int, time.Duration, error) {
	if p.MaxInFlight != 0 {
		return p.MaxInFlight, 0, nil
	}
	rate := p.Rate.Split(p.Shard.Count)
	var warm time.Duration
	if !rate.Max {
		var err error
		if warm, err = WarmUp(ctx, targets, c.HTTPClient(), WarmUpPolls); err != nil {
			return 0, 0, fmt.Errorf("warm-up: %w", err)
		}
	}
	return DefaultMaxInFlight(rate, warm), warm, nil
}

// PendingMargin is how long a poll run's pending requests are asked to
// outlive its end (requested_expiry, CIBA 7.1): room for the warm-up
// polls, sent one at a time before the run, and for the polls still in
// flight after it. Not more: an OP keeps a request, and its device the
// request's bearer token, until it expires, so what a run leaves behind
// should lapse soon after it (in the soak, TestSoakServe, 15 s held about
// 1,500 of them at the OP and the device through back-to-back runs).
const PendingMargin = 5 * time.Second

// pendingParallel is how many pending requests are made at a time.
const pendingParallel = 16

// probeExtra is the first pending request's allowance for the start of
// the others, made before their pace is known: one request held a little
// longer.
const probeExtra = time.Minute

// PendingLifetime is the requested_expiry of the pending requests of a
// poll run of duration d whose start still has start to go: they must
// outlive the rest of the start, the warm-up, the run and its drain.
func PendingLifetime(d, start time.Duration) time.Duration { return d + start + PendingMargin }

// startPendingFor starts the n pending requests of a poll run of duration
// d: one first, whose round trip paces the others, then the rest,
// pendingParallel at a time, each asked to live for the run plus twice
// the time the rest should take at that pace (PendingLifetime). It
// returns their ids, the shortest expires_in granted and when the first
// was requested.
func startPendingFor(ctx context.Context, c *client.Client, user *target.User, scope string, n int, d time.Duration) (ids []string, granted time.Duration, started time.Time, err error) {
	started = time.Now()
	ids, granted, err = StartPending(ctx, c, user, scope, 1, 1, PendingLifetime(d, probeExtra))
	if err != nil || n == 1 {
		return ids, granted, started, err
	}
	rounds := (n - 1 + pendingParallel - 1) / pendingParallel
	rest := 2 * time.Duration(rounds) * time.Since(started)
	more, g, err := StartPending(ctx, c, user, scope, n-1, pendingParallel, PendingLifetime(d, rest))
	if err != nil {
		return nil, 0, started, err
	}
	if g > 0 && (granted == 0 || g < granted) {
		granted = g
	}
	return append(ids, more...), granted, started, nil
}

// pendingOutlivesRun refuses a run whose pending requests would expire
// while it polls them: their polls would be answered expired_token
// (CIBA 11), which is the run's setup, not the OP's answer under load.
// granted is the shortest expires_in the OP gave (0: unknown), elapsed
// the time since they were requested.
func pendingOutlivesRun(granted, elapsed, d time.Duration) error {
	left := granted - elapsed
	if granted <= 0 || left >= d {
		return nil
	}
	fix := "the OP's expiry is too short for a poll run"
	if most := (left - time.Second).Truncate(time.Second); most >= time.Second {
		fix = "run for at most " + most.String()
	}
	return fmt.Errorf("the OP granted the pending requests expires_in %s (requested_expiry at least %s), and %s of it went on their start and the warm-up: they would expire during the %s run (expired_token); %s",
		granted, PendingLifetime(d, 0), elapsed.Round(100*time.Millisecond), d, fix)
}
