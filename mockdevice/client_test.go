package mockdevice

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
)

// remote serves h's device over HTTP and returns a Client for it.
func remote(t *testing.T, h *harness) *Client {
	t.Helper()
	srv := httptest.NewServer(h.device.Handler())
	t.Cleanup(srv.Close)
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	c, err := NewClient(srv.URL+"/", &http.Client{Transport: transport})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientDrivesARemoteDevice(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Default = Policy{Outcome: ciba.OutcomeNever} })
	c := remote(t, h)
	ctx := waitCtx(t)

	if err := c.SetPolicy(ctx, "alice@example.com", Policy{Outcome: ciba.OutcomeApprove, Delay: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if byHint, _ := h.device.Policies(); byHint["alice@example.com"] != (Policy{Outcome: ciba.OutcomeApprove, Delay: 3 * time.Second}) {
		t.Fatalf("policies on the device: %v", byHint)
	}
	arrived := make(chan Request, 1)
	settled := make(chan Request, 1)
	errs := make(chan error, 2)
	go func() {
		r, err := c.Wait(ctx, "r1")
		arrived <- r
		errs <- err
	}()
	go func() {
		r, err := c.WaitSettled(ctx, "r1")
		settled <- r
		errs <- err
	}()
	h.send(t, "r1", "alice@example.com", http.StatusCreated)
	if r := <-arrived; r.ID != "r1" || r.LoginHint != "alice@example.com" {
		t.Fatalf("Wait returned %+v", r)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(3 * time.Second)
	if r := <-settled; r.State != StateApproved || r.CallbackStatus != http.StatusNoContent {
		t.Fatalf("WaitSettled returned %+v", r)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	h.op.next(t)

	h.send(t, "r2", "bob", http.StatusCreated)
	list, err := c.Requests(ctx)
	if err != nil || len(list) != 2 || list[1].ID != "r2" {
		t.Fatalf("Requests: %+v, %v", list, err)
	}
	if r, err := c.Request(ctx, "r2"); err != nil || r.State != StatePending {
		t.Fatalf("Request: %+v, %v", r, err)
	}
	if r, err := c.Decide(ctx, "r2", ciba.DeviceCancelled); err != nil || r.State != StateCancelled {
		t.Fatalf("Decide: %+v, %v", r, err)
	}
	if cb := h.op.next(t); cb.Body.Status != ciba.DeviceCancelled {
		t.Fatalf("callback %q", cb.Body.Status)
	}

	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"decide twice", func() error { _, err := c.Decide(ctx, "r2", ciba.DeviceSucceed); return err }, ErrAlreadyDecided},
		{"decide unknown", func() error { _, err := c.Decide(ctx, "nope", ciba.DeviceSucceed); return err }, ErrUnknownRequest},
		{"decide bad status", func() error { _, err := c.Decide(ctx, "r2", "LATER"); return err }, ErrInvalidDecision},
		{"get unknown", func() error { _, err := c.Request(ctx, "nope"); return err }, ErrUnknownRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}

	if err := c.SetPolicy(ctx, "x", Policy{Outcome: "maybe"}); err == nil {
		t.Fatal("SetPolicy sent an invalid policy")
	}
	if err := c.SetDefaultPolicy(ctx, Policy{Outcome: ciba.OutcomeDeny}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeletePolicy(ctx, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	if byHint, def := h.device.Policies(); len(byHint) != 0 || def.Outcome != ciba.OutcomeDeny {
		t.Fatalf("policies %v default %v", byHint, def)
	}

	h.op.setStatus(http.StatusBadRequest)
	if err := c.SetDefaultPolicy(ctx, Policy{Outcome: ciba.OutcomeNever}); err != nil {
		t.Fatal(err)
	}
	h.send(t, "r3", "carol", http.StatusCreated)
	if _, err := c.Decide(ctx, "r3", ciba.DeviceSucceed); !errors.Is(err, ErrCallbackFailed) {
		t.Fatalf("Decide with a refusing OP: %v", err)
	}
	h.op.next(t)
}

func TestClientWaitEndsWithItsContext(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Default = Policy{Outcome: ciba.OutcomeNever} })
	c := remote(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Wait(ctx, "never-arrives"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait: %v, want DeadlineExceeded", err)
	}
	h.send(t, "pending", "u", http.StatusCreated)
	// The device is asked to answer at 9/10 of the deadline; 2 s leaves
	// the answer 200 ms to arrive on a loaded machine (100 ms left 10 ms,
	// and CI once saw the deadline first, with no state).
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	if r, err := c.WaitSettled(ctx2, "pending"); !errors.Is(err, context.DeadlineExceeded) || r.ID != "pending" {
		t.Fatalf("WaitSettled: %+v, %v; want the pending request and DeadlineExceeded", r, err)
	}
	h.device.Close()
	if _, err := c.WaitSettled(waitCtx(t), "pending"); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitSettled on a closed device: %v, want ErrClosed", err)
	}
}

func TestClientErrors(t *testing.T) {
	for _, bad := range []string{"", "127.0.0.1:9444", "ftp://host/", "http://"} {
		if _, err := NewClient(bad, nil); err == nil {
			t.Errorf("NewClient(%q) accepted", bad)
		}
	}
	h := newHarness(t, nil)
	srv := httptest.NewServer(h.device.Handler())
	defer srv.Close()
	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	wrong, err := NewClient(srv.URL+"/not-the-device", &http.Client{Transport: transport})
	if err != nil {
		t.Fatal(err)
	}
	// A wrong base URL is a plain error, not "unknown request" (which
	// would make Wait poll forever).
	if _, err := wrong.Request(context.Background(), "x"); err == nil || errors.Is(err, ErrUnknownRequest) {
		t.Fatalf("wrong base URL: %v", err)
	}
}

func TestLongPollParameters(t *testing.T) {
	h := newHarness(t, nil)
	tests := []struct {
		target string
		want   int
	}{
		{"/requests/x?wait=forever", 400},
		{"/requests/x?wait=arrival&timeout=soon", 400},
		{"/requests/x?wait=arrival&timeout=-1s", 400},
		{"/requests/x?wait=arrival&timeout=1ms", 404},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			w := h.do(http.MethodGet, tt.target, "", "", "")
			if w.Code != tt.want {
				t.Fatalf("%d, want %d: %s", w.Code, tt.want, w.Body)
			}
			decodeError(t, w)
		})
	}
}
