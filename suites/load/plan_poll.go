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

// runPollPlan starts the pending requests, pre-signs the assertions the
// client's method needs, sizes the in-flight cap and polls.
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
	pending := p.Shard.Split(p.Pending)
	p.logf("starting %d pending requests for %s with client %s", pending, user.Name, tc.ID)
	// The requests must outlive the run: requested_expiry (CIBA 7.1).
	ids, err := StartPending(ctx, c, user, scopeOf(tc), pending, 16, p.Duration+2*time.Minute)
	if err != nil {
		return nil, err
	}
	targets := PollTargets{Endpoint: c.TokenEndpoint(), ClientID: tc.ID, AuthMethod: tc.Auth, Secret: tc.Secret.Value(), AuthReqIDs: ids}
	pool, err := p.assertionPool(ctx, s, c, tc)
	if err != nil {
		return nil, err
	}
	if pool != nil {
		defer pool.Close()
		targets.Assertions = pool
	}
	maxInFlight, warm, err := p.pollInFlight(ctx, targets, c)
	if err != nil {
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
		Lifetime:     client.AssertionLifetime,
		MinRemaining: client.AssertionLifetime / 3,
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
