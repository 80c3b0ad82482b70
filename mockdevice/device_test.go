package mockdevice

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ciba-check/ciba-check/ciba"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestPolicyOutcomesCallTheOPBack(t *testing.T) {
	tests := []struct {
		outcome   ciba.Outcome
		want      ciba.DeviceStatus
		wantState State
	}{
		{ciba.OutcomeApprove, ciba.DeviceSucceed, StateApproved},
		{ciba.OutcomeDeny, ciba.DeviceUnauthorized, StateDenied},
		{ciba.OutcomeCancel, ciba.DeviceCancelled, StateCancelled},
	}
	for _, tt := range tests {
		t.Run(string(tt.outcome), func(t *testing.T) {
			h := newHarness(t, func(c *Config) {
				c.Policies = map[string]Policy{"alice": {Outcome: tt.outcome}}
				c.Default = Policy{Outcome: ciba.OutcomeNever}
			})
			token := h.token(t, "req-1")
			w := h.do(http.MethodPost, PathChannel, "Bearer "+token, "application/json",
				`{"scope":"openid payments","binding_message":"W4SCT","login_hint":"alice","is_consent_required":false,"acr_values":"a b","user_code":"1234"}`)
			if w.Code != http.StatusCreated || w.Body.Len() != 0 {
				t.Fatalf("channel answered %d %q, want 201 with an empty body", w.Code, w.Body)
			}
			cb := h.op.next(t)
			if cb.Body.Status != tt.want {
				t.Errorf("callback status %q, want %q (raw %s)", cb.Body.Status, tt.want, cb.RawBody)
			}
			if cb.Authorization != "Bearer "+token {
				t.Errorf("callback Authorization %q, want the OP's own bearer token", cb.Authorization)
			}
			if cb.ContentType != "application/json" || cb.Path != "/ciba/auth/callback" {
				t.Errorf("callback went to %s as %q", cb.Path, cb.ContentType)
			}
			got, err := h.device.WaitSettled(waitCtx(t), "req-1")
			if err != nil {
				t.Fatal(err)
			}
			want := Request{
				ID: "req-1", Issuer: testIssuer, Subject: "user-sub-1", ClientID: "client-1",
				LoginHint: "alice", Scope: "openid payments", BindingMessage: "W4SCT", UserCode: "1234",
				ACRValues: "a b", Policy: Policy{Outcome: tt.outcome}, ReceivedAt: epoch,
				ResponseStatus: http.StatusCreated, State: tt.wantState, DecidedAt: epoch,
				CalledBackAt: epoch, CallbackStatus: http.StatusNoContent,
				ExpiresAt: epoch.Add(5 * time.Minute), // the token's exp
			}
			if got != want {
				t.Errorf("recorded\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestNeverWaitsForAHandDecision(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Default = Policy{Outcome: ciba.OutcomeNever} })
	h.send(t, "req-n", "bob", http.StatusCreated)
	if n := h.clock.Pending(); n != 0 {
		t.Fatalf("never scheduled %d timers", n)
	}
	h.clock.Advance(24 * time.Hour)
	h.op.expectNone(t)
	if r, _ := h.device.Request("req-n"); r.State != StatePending {
		t.Fatalf("state %s, want pending", r.State)
	}
	if err := h.device.Decide(waitCtx(t), "req-n", ciba.DeviceUnauthorized); err != nil {
		t.Fatal(err)
	}
	// Decide returns after the callback, so it is there without waiting.
	select {
	case cb := <-h.op.callbacks:
		if cb.Body.Status != ciba.DeviceUnauthorized {
			t.Fatalf("callback %q", cb.Body.Status)
		}
	default:
		t.Fatal("Decide returned before calling the OP back")
	}
	if r, _ := h.device.Request("req-n"); r.State != StateDenied || !r.Settled() {
		t.Fatalf("after Decide: %+v", r)
	}
}

func TestDelayedApproveFiresOnlyAfterTheDelay(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Policies = map[string]Policy{"slow": {Outcome: ciba.OutcomeApprove, Delay: 5 * time.Second}}
	})
	h.send(t, "req-d", "slow", http.StatusCreated)
	if n := h.clock.Pending(); n != 1 {
		t.Fatalf("pending timers %d, want 1", n)
	}
	h.clock.Advance(4*time.Second + 999*time.Millisecond)
	h.op.expectNone(t)
	if r, _ := h.device.Request("req-d"); r.State != StatePending {
		t.Fatalf("decided before the delay: %+v", r)
	}
	h.clock.Advance(time.Millisecond)
	if cb := h.op.next(t); cb.Body.Status != ciba.DeviceSucceed {
		t.Fatalf("callback %q", cb.Body.Status)
	}
	r, err := h.device.WaitSettled(waitCtx(t), "req-d")
	if err != nil {
		t.Fatal(err)
	}
	if want := epoch.Add(5 * time.Second); !r.DecidedAt.Equal(want) {
		t.Errorf("decided at %v, want %v", r.DecidedAt, want)
	}
}

func TestErrorPolicyRefusesTheOPAndRecords(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		want   int
	}{
		{"default status", Policy{Outcome: ciba.OutcomeError}, http.StatusServiceUnavailable},
		{"503", Policy{Outcome: ciba.OutcomeError, ErrorStatus: 503}, 503},
		{"400", Policy{Outcome: ciba.OutcomeError, ErrorStatus: 400}, 400},
		{"500", Policy{Outcome: ciba.OutcomeError, ErrorStatus: 500}, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.Policies = map[string]Policy{"eve": tt.policy} })
			w := h.send(t, "req-e", "eve", tt.want)
			if e := decodeError(t, w); e.Error != "scripted_error" {
				t.Errorf("error code %q", e.Error)
			}
			r, ok := h.device.Request("req-e")
			if !ok {
				t.Fatal("refused request was not recorded")
			}
			if r.State != StateFailed || r.ResponseStatus != tt.want || r.BindingMessage != "BM-req-e" || !r.Settled() {
				t.Errorf("recorded %+v", r)
			}
			if n := h.clock.Pending(); n != 0 {
				t.Errorf("%d timers scheduled for a refused request", n)
			}
			if err := h.device.Decide(waitCtx(t), "req-e", ciba.DeviceSucceed); !errors.Is(err, ErrAlreadyDecided) {
				t.Errorf("Decide on a failed request: %v, want ErrAlreadyDecided", err)
			}
			h.op.expectNone(t)
		})
	}
}

func TestDecideErrors(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Default = Policy{Outcome: ciba.OutcomeNever} })
	h.send(t, "req-1", "u", http.StatusCreated)
	ctx := waitCtx(t)
	if err := h.device.Decide(ctx, "req-1", ciba.DeviceSucceed); err != nil {
		t.Fatal(err)
	}
	h.op.next(t)
	tests := []struct {
		name   string
		id     string
		status ciba.DeviceStatus
		want   error
	}{
		{"twice", "req-1", ciba.DeviceUnauthorized, ErrAlreadyDecided},
		{"unknown id", "nope", ciba.DeviceSucceed, ErrUnknownRequest},
		{"bad status", "req-1", "MAYBE", ErrInvalidDecision},
		{"empty status", "req-1", "", ErrInvalidDecision},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := h.device.Decide(ctx, tt.id, tt.status); !errors.Is(err, tt.want) {
				t.Fatalf("Decide: %v, want %v", err, tt.want)
			}
		})
	}
	h.op.expectNone(t)
	if r, _ := h.device.Request("req-1"); r.State != StateApproved {
		t.Fatalf("a refused second decision changed the state to %s", r.State)
	}
}

func TestCallbackFailureIsRecorded(t *testing.T) {
	tests := []struct {
		name      string
		opStatus  int
		wantState State
	}{
		{"OP refuses", http.StatusBadRequest, StateApproved},
		{"OP redirects", http.StatusFound, StateApproved},
		{"OP fails", http.StatusInternalServerError, StateApproved},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.Default = Policy{Outcome: ciba.OutcomeNever} })
			h.op.setStatus(tt.opStatus)
			h.send(t, "req-f", "u", http.StatusCreated)
			err := h.device.Decide(waitCtx(t), "req-f", ciba.DeviceSucceed)
			if !errors.Is(err, ErrCallbackFailed) {
				t.Fatalf("Decide: %v, want ErrCallbackFailed", err)
			}
			h.op.next(t)
			r, _ := h.device.Request("req-f")
			if r.State != tt.wantState || r.CallbackStatus != tt.opStatus || r.CallbackError == "" || r.CalledBackAt.IsZero() {
				t.Fatalf("recorded %+v", r)
			}
		})
	}
}

func TestCallbackToUnreachableOP(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Default = Policy{Outcome: ciba.OutcomeNever}
		c.CallbackURL = "http://127.0.0.1:1/callback" // port 1: connection refused
	})
	h.send(t, "req-u", "u", http.StatusCreated)
	if err := h.device.Decide(waitCtx(t), "req-u", ciba.DeviceCancelled); !errors.Is(err, ErrCallbackFailed) {
		t.Fatalf("Decide: %v, want ErrCallbackFailed", err)
	}
	if r, _ := h.device.Request("req-u"); r.CallbackStatus != 0 || r.CallbackError == "" || r.State != StateCancelled {
		t.Fatalf("recorded %+v", r)
	}
}

func TestHandDecisionCancelsTheScheduledOne(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Default = Policy{Outcome: ciba.OutcomeApprove, Delay: time.Minute} })
	h.send(t, "req-c", "u", http.StatusCreated)
	if n := h.clock.Pending(); n != 1 {
		t.Fatalf("pending %d, want 1", n)
	}
	if err := h.device.Decide(waitCtx(t), "req-c", ciba.DeviceUnauthorized); err != nil {
		t.Fatal(err)
	}
	if cb := h.op.next(t); cb.Body.Status != ciba.DeviceUnauthorized {
		t.Fatalf("callback %q", cb.Body.Status)
	}
	if n := h.clock.Pending(); n != 0 {
		t.Fatalf("scheduled approval still pending (%d timers)", n)
	}
	h.clock.Advance(time.Hour)
	h.op.expectNone(t)
}

func TestSetPolicyAppliesToLaterRequests(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Default = Policy{Outcome: ciba.OutcomeNever} })
	h.send(t, "before", "carol", http.StatusCreated)
	if err := h.device.SetPolicy("carol", Policy{Outcome: ciba.OutcomeDeny}); err != nil {
		t.Fatal(err)
	}
	h.send(t, "after", "carol", http.StatusCreated)
	if cb := h.op.next(t); cb.Body.Status != ciba.DeviceUnauthorized {
		t.Fatalf("callback %q", cb.Body.Status)
	}
	if r, _ := h.device.Request("before"); r.State != StatePending {
		t.Fatalf("earlier request changed: %+v", r)
	}
	if err := h.device.SetPolicy("carol", Policy{Outcome: "sometimes"}); err == nil {
		t.Fatal("SetPolicy accepted an unknown outcome")
	}
	if err := h.device.SetDefaultPolicy(Policy{Outcome: ciba.OutcomeNever, Delay: time.Second}); err == nil {
		t.Fatal("SetDefaultPolicy accepted a delay on never")
	}
	h.device.DeletePolicy("carol")
	if byHint, def := h.device.Policies(); len(byHint) != 0 || def.Outcome != ciba.OutcomeNever {
		t.Fatalf("policies after delete: %v, default %v", byHint, def)
	}
}

func TestWaitWakesOnArrivalAndHonoursContext(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Default = Policy{Outcome: ciba.OutcomeNever} })
	got := make(chan Request, 1)
	errc := make(chan error, 1)
	go func() {
		r, err := h.device.WaitMatch(waitCtx(t), Match{LoginHint: "dave"})
		got <- r
		errc <- err
	}()
	h.send(t, "other", "zed", http.StatusCreated)
	h.send(t, "req-w", "dave", http.StatusCreated)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if r := <-got; r.ID != "req-w" {
		t.Fatalf("woke for %q", r.ID)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.device.Wait(ctx, "never-arrives"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on a cancelled context: %v", err)
	}
}

func TestCloseStopsTimersWaitsForCallbacksAndRefusesWork(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	h := newHarness(t, func(c *Config) {
		c.Policies = map[string]Policy{
			"late": {Outcome: ciba.OutcomeApprove, Delay: time.Hour},
			"hand": {Outcome: ciba.OutcomeNever},
		}
	})
	d := h.device
	h.send(t, "late-1", "late", http.StatusCreated)
	h.send(t, "hand-1", "hand", http.StatusCreated)
	decided := make(chan error, 1)
	go func() { decided <- d.Decide(context.Background(), "hand-1", ciba.DeviceSucceed) }()
	h.op.next(t) // the OP has answered; the device may not have recorded it yet
	d.Close()
	if r, _ := d.Request("hand-1"); !r.Settled() {
		t.Fatalf("Close returned before the in-flight callback finished: %+v", r)
	}
	if err := <-decided; err != nil {
		t.Fatal(err)
	}
	if n := h.clock.Pending(); n != 0 {
		t.Fatalf("Close left %d timers", n)
	}
	h.clock.Advance(2 * time.Hour)
	h.op.expectNone(t)
	if r, _ := d.Request("late-1"); r.State != StatePending {
		t.Fatalf("Close let the scheduled approval run: %+v", r)
	}
	if err := d.Decide(context.Background(), "late-1", ciba.DeviceSucceed); !errors.Is(err, ErrClosed) {
		t.Fatalf("Decide after Close: %v", err)
	}
	w := h.send(t, "after-close", "late", http.StatusServiceUnavailable)
	decodeError(t, w)
	if _, err := d.Wait(context.Background(), "x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait after Close: %v", err)
	}
	d.Close() // idempotent
	h.op.server.Close()
	goleak.VerifyNone(t, ignore)
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no callback", Config{}},
		{"relative callback", Config{CallbackURL: "/ciba/auth/callback"}},
		{"ftp callback", Config{CallbackURL: "ftp://op/cb"}},
		{"bad default", Config{CallbackURL: "https://op/cb", Default: Policy{Outcome: "maybe"}}},
		{"bad user policy", Config{CallbackURL: "https://op/cb", Policies: map[string]Policy{"u": {Outcome: ciba.OutcomeError, ErrorStatus: 201}}}},
		{"negative max", Config{CallbackURL: "https://op/cb", MaxRequests: -1}},
		{"issuer without keys", Config{CallbackURL: "https://op/cb", Issuer: testIssuer}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d, err := New(tt.cfg); err == nil {
				d.Close()
				t.Fatal("New accepted a bad config")
			}
		})
	}
}

func TestConcurrentRequestsAndDecisions(t *testing.T) {
	const n = 40
	h := newHarness(t, func(c *Config) {
		c.Policies = map[string]Policy{"auto": {Outcome: ciba.OutcomeApprove}, "hand": {Outcome: ciba.OutcomeNever}}
	})
	// Tokens are minted up front: t.Fatal must stay on the test goroutine.
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = h.token(t, fmt.Sprintf("c-%d", i))
	}
	var wg sync.WaitGroup
	statuses := make(chan int, 2*n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hint := "auto"
			if i%2 == 1 {
				hint = "hand"
			}
			w := h.do(http.MethodPost, PathChannel, "Bearer "+tokens[i], "application/json", `{"login_hint":"`+hint+`"}`)
			statuses <- w.Code
			if hint == "hand" {
				// Two racing hand decisions: exactly one may win.
				errs := make(chan error, 2)
				for _, s := range []ciba.DeviceStatus{ciba.DeviceSucceed, ciba.DeviceUnauthorized} {
					go func() { errs <- h.device.Decide(context.Background(), fmt.Sprintf("c-%d", i), s) }()
				}
				e1, e2 := <-errs, <-errs
				if (e1 == nil) == (e2 == nil) || !(errors.Is(e1, ErrAlreadyDecided) || errors.Is(e2, ErrAlreadyDecided)) {
					statuses <- -1
				}
			}
		}()
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusCreated {
			t.Fatalf("a concurrent request or decision went wrong (status %d)", s)
		}
	}
	for i := range n {
		if _, err := h.device.WaitSettled(waitCtx(t), fmt.Sprintf("c-%d", i)); err != nil {
			t.Fatalf("c-%d: %v", i, err)
		}
	}
	for range n {
		h.op.next(t)
	}
	h.op.expectNone(t)
	if got := len(h.device.Requests()); got != n {
		t.Fatalf("%d requests recorded, want %d", got, n)
	}
}

func TestRecordForgetsOldestSettledBeyondMax(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.MaxRequests = 3
		c.Policies = map[string]Policy{"wait": {Outcome: ciba.OutcomeNever}}
	})
	h.send(t, "p1", "wait", http.StatusCreated) // pending: never forgotten
	for _, id := range []string{"s1", "s2", "s3"} {
		h.send(t, id, "auto", http.StatusCreated)
		h.op.next(t)
		if _, err := h.device.WaitSettled(waitCtx(t), id); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	for _, r := range h.device.Requests() {
		ids = append(ids, r.ID)
	}
	if want := []string{"p1", "s2", "s3"}; !slices.Equal(ids, want) {
		t.Fatalf("kept %v, want %v", ids, want)
	}
	if _, ok := h.device.Request("s1"); ok {
		t.Fatal("s1 still findable")
	}
}
