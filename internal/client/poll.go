package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
)

// Poll calls the token endpoint for ack.AuthReqID until it answers with
// tokens, a terminal error (access_denied, expired_token, invalid_grant,
// ...: returned as *ciba.Error), a transport failure, or ctx ends.
//
// It waits ack.Interval seconds before each call (ciba.DefaultPollInterval
// when absent, CIBA 7.3), adds ciba.SlowDownIncrement after each slow_down
// (CIBA 11), and after a 503 waits the Retry-After seconds when they are
// longer than the interval (RFC 9110 10.2.3). Waits use Config.Clock.
func (c *Client) Poll(ctx context.Context, ack *ciba.AuthenticationResponse, opts ...CallOption) (*ciba.TokenResponse, error) {
	if ack == nil || ack.AuthReqID == "" {
		return nil, errors.New("client: Poll needs an acknowledgement with an auth_req_id")
	}
	interval := time.Duration(ack.Interval) * time.Second
	if ack.Interval <= 0 {
		interval = ciba.DefaultPollInterval * time.Second
	}
	wait := interval
	for {
		if err := c.sleep(ctx, wait); err != nil {
			return nil, err
		}
		wait = interval
		tr, ex, err := c.Token(ctx, ack.AuthReqID, opts...)
		if err == nil {
			return tr, nil
		}
		if ex != nil && ex.Status == http.StatusServiceUnavailable {
			if ra := retryAfter(ex.ResponseHeader.Get("Retry-After"), c.cfg.Clock.Now()); ra > wait {
				wait = ra
			}
			continue
		}
		switch {
		case errors.Is(err, ciba.ErrAuthorizationPending):
		case errors.Is(err, ciba.ErrSlowDown):
			interval += ciba.SlowDownIncrement * time.Second
			wait = interval
		default:
			return nil, err
		}
	}
}

// sleep waits d on the client's clock or until ctx ends.
func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	done := make(chan struct{})
	t := c.cfg.Clock.AfterFunc(d, func() { close(done) })
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	}
}

// retryAfter reads a Retry-After value: delay-seconds or an HTTP date
// (RFC 9110 10.2.3). Unreadable or past values give 0; longer ones than
// maxRetryAfter give maxRetryAfter.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		if secs > int(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}

// maxRetryAfter caps an OP's Retry-After so absurd values cannot overflow
// a time.Duration; a caller's context bounds the wait in any case.
const maxRetryAfter = 24 * time.Hour

// Discover reads the OP's discovery document from issuer +
// /.well-known/openid-configuration (OIDC Discovery 4). It reports the
// document as published; checking it is the suite's job.
func Discover(ctx context.Context, hc *http.Client, issuer string) (*ciba.ProviderMetadata, error) {
	if hc == nil {
		return nil, errors.New("client: Discover needs an HTTP client")
	}
	if issuer == "" {
		return nil, errors.New("client: Discover needs an issuer")
	}
	u := strings.TrimSuffix(issuer, "/") + ciba.DiscoveryPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("client: discovery URL %q: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	started := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: fetching discovery document: %w", NoAnswer(req.Method, u, time.Since(started), err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody+1))
	if err != nil {
		return nil, fmt.Errorf("client: reading discovery document from %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("client: discovery document %s: HTTP %d", u, resp.StatusCode)
	}
	if len(body) > MaxResponseBody {
		return nil, fmt.Errorf("client: discovery document %s: %s", u, TooLargeReason)
	}
	var md ciba.ProviderMetadata
	if err := json.Unmarshal(body, &md); err != nil {
		return nil, fmt.Errorf("client: discovery document %s does not parse: %w", u, err)
	}
	return &md, nil
}
