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
	started := time.Now()
	ids, granted, err := StartPending(ctx, c, user, scopeOf(tc), pending, 16, PendingLifetime(p.Duration))
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
// before the run and the polls still in flight after it. Not more: an OP
// keeps a request, and its device the request's bearer token, until it
// expires, so what a run leaves behind should lapse soon after it.
const PendingMargin = 15 * time.Second

// PendingLifetime is the requested_expiry of the pending requests of a
// poll run of duration d.
func PendingLifetime(d time.Duration) time.Duration { return d + PendingMargin }

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
	return fmt.Errorf("the OP granted the pending requests expires_in %s (requested_expiry %s), and %s of it went on the warm-up: they would expire during the %s run (expired_token); %s",
		granted, PendingLifetime(d), elapsed.Round(100*time.Millisecond), d, fix)
}
