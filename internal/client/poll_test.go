package client

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/clock"
)

// scriptedToken answers successive token requests with replies in order,
// repeating the last.
func scriptedToken(replies ...reply) func(seen) reply {
	var mu sync.Mutex
	n := 0
	return func(seen) reply {
		mu.Lock()
		defer mu.Unlock()
		r := replies[min(n, len(replies)-1)]
		n++
		return r
	}
}

var (
	pending  = jsonReply(400, `{"error":"authorization_pending"}`)
	slowDown = jsonReply(400, `{"error":"slow_down"}`)
	tokens   = jsonReply(200, `{"access_token":"at-1234567","token_type":"Bearer","id_token":"x.y.z"}`)
)

type pollResult struct {
	tr  *ciba.TokenResponse
	err error
}

func startPoll(ctx context.Context, c *Client, ack *ciba.AuthenticationResponse) <-chan pollResult {
	done := make(chan pollResult, 1)
	go func() {
		tr, err := c.Poll(ctx, ack)
		done <- pollResult{tr, err}
	}()
	return done
}

// advanceExpectingNoCall moves the clock by d and checks that the wait did
// not fire: its timer is still pending and no request arrived (a wrong
// fire shows as one or the other, whichever the poller reached).
func advanceExpectingNoCall(t *testing.T, op *fakeOP, fc *clock.Fake, d time.Duration) {
	t.Helper()
	fc.Advance(d)
	if fc.Pending() != 1 || len(op.arrived) != 0 {
		t.Fatalf("the poll fired after only %v more", d)
	}
}

// advanceExpectingCall moves the clock by d, which must fire the wait, and
// returns the token request it made.
func advanceExpectingCall(t *testing.T, op *fakeOP, fc *clock.Fake, d time.Duration) seen {
	t.Helper()
	fc.Advance(d)
	select {
	case s := <-op.arrived:
		if s.Path != "/token" || s.Form.Get(ciba.ParamGrantType) != ciba.GrantTypeCIBA || s.Form.Get(ciba.ParamAuthReqID) != "req-1" {
			t.Fatalf("unexpected token request %s %v", s.Path, s.Form)
		}
		return s
	case <-time.After(5 * time.Second): // a failure deadline, not synchronisation
		t.Fatalf("the poll did not fire after %v", d)
		return seen{}
	}
}

func TestPollHonoursIntervalAndSlowDown(t *testing.T) {
	op := newFakeOP(t, false, scriptedToken(pending, slowDown, pending, tokens))
	c, fc := testClient(t, op, ecJWK(t, "ec"), nil)
	done := startPoll(context.Background(), c, &ciba.AuthenticationResponse{AuthReqID: "req-1", ExpiresIn: 60, Interval: 2})

	waitPending(t, fc, 1)
	advanceExpectingNoCall(t, op, fc, time.Second)
	advanceExpectingCall(t, op, fc, time.Second) // pending at t=2
	waitPending(t, fc, 1)
	advanceExpectingNoCall(t, op, fc, time.Second)
	advanceExpectingCall(t, op, fc, time.Second) // slow_down at t=4: interval 2 -> 7
	waitPending(t, fc, 1)
	advanceExpectingNoCall(t, op, fc, 6*time.Second)
	advanceExpectingCall(t, op, fc, time.Second) // pending at t=11
	waitPending(t, fc, 1)
	advanceExpectingNoCall(t, op, fc, 6*time.Second) // the raised interval stays
	advanceExpectingCall(t, op, fc, time.Second)     // tokens at t=18
	res := <-done
	if res.err != nil || res.tr.AccessToken != "at-1234567" || res.tr.IDToken != "x.y.z" {
		t.Fatalf("poll = %+v, %v", res.tr, res.err)
	}
	if n := len(op.requests()); n != 4 {
		t.Errorf("%d token requests, want 4", n)
	}
}

func TestPollDefaultIntervalAndRetryAfter(t *testing.T) {
	unavailable := reply{Status: http.StatusServiceUnavailable, Header: http.Header{"Retry-After": {"12"}}}
	op := newFakeOP(t, false, scriptedToken(unavailable, tokens))
	c, fc := testClient(t, op, ecJWK(t, "ec"), nil)
	done := startPoll(context.Background(), c, &ciba.AuthenticationResponse{AuthReqID: "req-1", ExpiresIn: 60})

	waitPending(t, fc, 1)
	advanceExpectingNoCall(t, op, fc, (ciba.DefaultPollInterval-1)*time.Second)
	advanceExpectingCall(t, op, fc, time.Second) // 503, Retry-After 12
	waitPending(t, fc, 1)
	advanceExpectingNoCall(t, op, fc, 11*time.Second)
	advanceExpectingCall(t, op, fc, time.Second)
	if res := <-done; res.err != nil {
		t.Fatal(res.err)
	}
}

func TestPollStopsOnTerminalErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		rep  reply
		want *ciba.Error
	}{
		{"access_denied", jsonReply(400, `{"error":"access_denied"}`), ciba.ErrAccessDenied},
		{"expired_token", jsonReply(400, `{"error":"expired_token"}`), ciba.ErrExpiredToken},
		{"invalid_grant", jsonReply(400, `{"error":"invalid_grant"}`), ciba.ErrInvalidGrant},
		{"invalid_client", jsonReply(401, `{"error":"invalid_client"}`), ciba.ErrInvalidClient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := newFakeOP(t, false, scriptedToken(pending, tc.rep, tokens))
			c, fc := testClient(t, op, ecJWK(t, "ec"), nil)
			done := startPoll(context.Background(), c, &ciba.AuthenticationResponse{AuthReqID: "req-1", Interval: 1})
			waitPending(t, fc, 1)
			advanceExpectingCall(t, op, fc, time.Second)
			waitPending(t, fc, 1)
			advanceExpectingCall(t, op, fc, time.Second)
			res := <-done
			if !errors.Is(res.err, tc.want) || res.tr != nil {
				t.Fatalf("poll = %+v, %v; want %v", res.tr, res.err, tc.want)
			}
			if fc.Pending() != 0 || len(op.requests()) != 2 {
				t.Errorf("poll went on: %d timers, %d requests", fc.Pending(), len(op.requests()))
			}
		})
	}
}

func TestPollStopsWhenContextEnds(t *testing.T) {
	op := newFakeOP(t, false, scriptedToken(pending))
	c, fc := testClient(t, op, ecJWK(t, "ec"), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := startPoll(ctx, c, &ciba.AuthenticationResponse{AuthReqID: "req-1", Interval: 1})
	waitPending(t, fc, 1)
	advanceExpectingCall(t, op, fc, time.Second)
	waitPending(t, fc, 1)
	cancel()
	res := <-done
	if !errors.Is(res.err, context.Canceled) {
		t.Fatalf("err = %v", res.err)
	}
	if fc.Pending() != 0 {
		t.Error("the wait timer was not stopped")
	}
	if _, err := c.Poll(context.Background(), &ciba.AuthenticationResponse{}); err == nil {
		t.Error("Poll without auth_req_id accepted")
	}
}

func TestRetryAfter(t *testing.T) {
	now := testStart
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"7", 7 * time.Second}, {"-3", 0}, {"soon", 0}, {"9227000000", maxRetryAfter},
		{now.Add(30 * time.Second).UTC().Format(http.TimeFormat), 30 * time.Second},
		{now.Add(-30 * time.Second).UTC().Format(http.TimeFormat), 0},
	} {
		if got := retryAfter(tc.in, now); got != tc.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
