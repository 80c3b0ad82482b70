package refop_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ciba-check/ciba-check/ciba"
	refop "github.com/ciba-check/ciba-check/reference-op"
)

// TestPingDelivery is CIBA 10.2 / CIBA.md 4.1: ping on approval and on
// denial, exact request shape, no redirects, no retry after 4xx, bounded
// retry after 5xx on the configured clock.
func TestPingDelivery(t *testing.T) {
	for _, tc := range []struct {
		status ciba.DeviceStatus
		token  string
	}{
		{ciba.DeviceSucceed, ""},
		{ciba.DeviceUnauthorized, "access_denied"},
		{ciba.DeviceCancelled, "access_denied"},
	} {
		t.Run(string(tc.status), func(t *testing.T) {
			h := newHarness(t)
			notifToken := "ping+/~._-" + strings.Repeat("Z", 40) + "=="
			id := h.start(cPing, map[string]any{"client_notification_token": notifToken})
			wantError(t, h.poll(cPing, id), 400, "authorization_pending") // ping clients may poll
			if r := h.decide(id, tc.status); r.status != 200 {
				t.Fatalf("callback: %d %s", r.status, r.raw)
			}
			n := h.ping.next(t)
			if n.path != "/cb/"+cPing || n.auth != "Bearer "+notifToken || n.contentType != "application/json" {
				t.Errorf("ping request %+v", n)
			}
			var body map[string]any
			if err := json.Unmarshal([]byte(n.body), &body); err != nil || len(body) != 1 || body["auth_req_id"] != id {
				t.Errorf("ping body %s", n.body)
			}
			r := h.poll(cPing, id)
			if tc.token == "" {
				if r.status != 200 {
					t.Fatalf("token after ping: %d %s", r.status, r.raw)
				}
			} else {
				wantError(t, r, 400, tc.token)
			}
			if logs := h.logs.all(); strings.Contains(logs, notifToken) || strings.Contains(logs, id) {
				t.Errorf("secrets logged in clear:\n%s", logs)
			}
		})
	}
}

func TestPingResponses(t *testing.T) {
	tests := []struct {
		name     string
		answer   func(path string, n int) (int, string)
		attempts int // notifications expected at the endpoint
	}{
		{"204", func(string, int) (int, string) { return 204, "" }, 1},
		{"200 with body", func(string, int) (int, string) { return 200, "" }, 1},
		{"401 not retried", func(string, int) (int, string) { return 401, "" }, 1},
		{"403 not retried", func(string, int) (int, string) { return 403, "" }, 1},
		{"301 not followed", func(p string, _ int) (int, string) {
			if p == "/elsewhere" {
				return 204, ""
			}
			return 301, "/elsewhere"
		}, 1},
		{"503 retried up to 3 attempts", func(string, int) (int, string) { return 503, "" }, 3},
		{"503 then 204", func(_ string, n int) (int, string) {
			if n == 0 {
				return 503, ""
			}
			return 204, ""
		}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.ping.setAnswer(tt.answer)
			id := h.start(cPing, nil)
			h.approve(id)
			for i := 1; i <= tt.attempts; i++ {
				n := h.ping.next(t)
				if n.path != "/cb/"+cPing {
					t.Fatalf("attempt %d went to %s", i, n.path)
				}
				rec := h.logs.waitFor(t, "notification sent", i)
				wantRetry := i < tt.attempts
				if rec.attrs["retry"] != map[bool]string{true: "true", false: "false"}[wantRetry] {
					t.Fatalf("attempt %d: retry=%s, want %v", i, rec.attrs["retry"], wantRetry)
				}
				if wantRetry {
					if p := h.clock.Pending(); p != 1 {
						t.Fatalf("attempt %d: %d timers pending, want 1", i, p)
					}
					h.clock.Advance(time.Duration(1<<(i-1)) * time.Second)
				}
			}
			if p := h.clock.Pending(); p != 0 {
				t.Fatalf("%d retries still pending", p)
			}
			// The redirect target, or a further retry, would have arrived
			// before the last log record.
			h.ping.none(t)
			if r := h.poll(cPing, id); r.status != 200 {
				t.Errorf("token after ping: %d %s", r.status, r.raw)
			}
		})
	}
}

// TestDeviceCallback covers the callback's validation and decide-once.
func TestDeviceCallback(t *testing.T) {
	h := newHarness(t)
	id := h.start(cPoll, nil)
	dr := h.device.await(t, id)
	idToken := h.tokens(cPoll).str("id_token")
	clientSigned := signJWT(t, h.ids[cPoll].key, "ES256", h.ids[cPoll].kid, map[string]any{"iss": h.issuer, "aud": h.issuer, "jti": id, "exp": h.clock.Now().Unix() + 60}, nil)
	tests := []struct {
		name, token, status string
		code                string
		want                int
	}{
		{"no token", "", "SUCCEED", "invalid_token", 401},
		{"garbage token", "abc", "SUCCEED", "invalid_token", 401},
		{"token signed by a client", clientSigned, "SUCCEED", "invalid_token", 401},
		{"ID token as channel token", idToken, "SUCCEED", "invalid_token", 401},
		{"bad status", dr.token, "MAYBE", "invalid_request", 400},
		{"deny", dr.token, "UNAUTHORIZED", "", 200},
		{"second decision", dr.token, "SUCCEED", "invalid_request", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.callback(tt.token, tt.status)
			if tt.want == 200 {
				if r.status != 200 {
					t.Fatalf("%d %s", r.status, r.raw)
				}
				return
			}
			wantError(t, r, tt.want, tt.code)
		})
	}
	// The second decision did not change the first.
	wantError(t, h.poll(cPoll, id), 400, "access_denied")
	t.Run("malformed body", func(t *testing.T) {
		id := h.start(cPoll, nil)
		dr := h.device.await(t, id)
		req, _ := http.NewRequest(http.MethodPost, h.issuer+refop.PathDeviceCallback, strings.NewReader("{"))
		req.Header.Set("Authorization", "Bearer "+dr.token)
		wantError(t, h.do("", req), 400, "invalid_request")
	})
}

// TestDecideAPI: the in-process Decide approves like the callback.
func TestDecideAPI(t *testing.T) {
	h := newHarness(t, func(c *refop.Config) { c.DeviceEndpoint = "" })
	id := h.start(cPoll, nil)
	if err := h.op.Decide(ctx(t), id, ciba.DeviceSucceed); err != nil {
		t.Fatal(err)
	}
	if err := h.op.Decide(ctx(t), id, ciba.DeviceSucceed); err == nil {
		t.Fatal("second Decide succeeded")
	}
	if err := h.op.Decide(ctx(t), "unknown", ciba.DeviceSucceed); err == nil {
		t.Fatal("Decide of unknown id succeeded")
	}
	if r := h.poll(cPoll, id); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
}

// TestCloseStopsBackgroundWork: Close cancels a hanging device call and a
// pending ping retry, waits for them, and leaks no goroutine.
func TestCloseStopsBackgroundWork(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // runs after the harness cleanup
	h := newHarness(t)
	h.ping.setAnswer(func(string, int) (int, string) { return 503, "" })
	id := h.start(cPing, nil)
	h.approve(id)
	h.ping.next(t)
	h.logs.waitFor(t, "notification sent", 1)
	if h.clock.Pending() != 1 {
		t.Fatalf("want a pending retry, have %d", h.clock.Pending())
	}
	h.device.mu.Lock()
	h.device.block = true
	h.device.mu.Unlock()
	hanging := h.start(cPoll, nil)
	h.device.await(t, hanging)

	done := make(chan error, 1)
	go func() { done <- h.op.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	if p := h.clock.Pending(); p != 0 {
		t.Errorf("%d timers still pending after Close", p)
	}
	h.clock.Advance(time.Minute)
	h.ping.none(t)
}
