package refop_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ciba-check/ciba-check/ciba"
	refop "github.com/ciba-check/ciba-check/reference-op"
)

// TestResume: what OP.Resume picks up from a store a previous process
// left behind (see its doc comment for the policy).
func TestResume(t *testing.T) {
	future := time.Now().Add(time.Hour)
	past := time.Now().Add(-time.Hour)
	base := func(id string, mode ciba.DeliveryMode, client string, st refop.AuthStatus) refop.AuthRequest {
		return refop.AuthRequest{ID: id, ClientID: client, Subject: "sub-alice", Scope: "openid",
			DeliveryMode: string(mode), Status: st, ExpiresAt: future, Interval: 2,
			ClientNotificationToken: "notif-" + id}
	}
	tests := []struct {
		name       string
		stored     refop.AuthRequest
		offered    bool // the device gets the request again
		pings      int  // ping attempts expected (the endpoint answers 503)
		firstTried int  // attempt number logged first
		want       refop.ResumeStats
	}{
		{"pending is offered to the device", base("p1", ciba.ModePoll, cPoll, refop.StatusPending), true, 0, 0,
			refop.ResumeStats{Pending: 1, DeviceOffers: 1}},
		{"pending already acknowledged is offered again", func() refop.AuthRequest {
			r := base("p2", ciba.ModePoll, cPoll, refop.StatusPending)
			r.DeviceCalledAt = time.Now()
			return r
		}(), true, 0, 0, refop.ResumeStats{Pending: 1, DeviceOffers: 1}},
		{"expired pending is left alone", func() refop.AuthRequest {
			r := base("p3", ciba.ModePoll, cPoll, refop.StatusPending)
			r.ExpiresAt = past
			return r
		}(), false, 0, 0, refop.ResumeStats{}},
		{"approved ping never sent: three attempts", base("a1", ciba.ModePing, cPing, refop.StatusApproved), false, 3, 1,
			refop.ResumeStats{Notifications: 1}},
		{"denied ping after one attempt: two more", func() refop.AuthRequest {
			r := base("d1", ciba.ModePing, cPing, refop.StatusDenied)
			r.NotifyAttempts = 1
			return r
		}(), false, 2, 2, refop.ResumeStats{Notifications: 1}},
		{"ping attempts exhausted: none", func() refop.AuthRequest {
			r := base("a2", ciba.ModePing, cPing, refop.StatusApproved)
			r.NotifyAttempts = 3
			return r
		}(), false, 0, 0, refop.ResumeStats{}},
		{"ping delivered: none", func() refop.AuthRequest {
			r := base("a3", ciba.ModePing, cPing, refop.StatusApproved)
			r.NotifyAttempts, r.NotifyDone = 1, true
			return r
		}(), false, 0, 0, refop.ResumeStats{}},
		{"approved poll request: nothing to send", base("a4", ciba.ModePoll, cPoll, refop.StatusApproved), false, 0, 0,
			refop.ResumeStats{}},
		{"redeemed push never delivered is reported lost", base("r1", ciba.ModePush, cPush, refop.StatusRedeemed), false, 0, 0,
			refop.ResumeStats{LostPushes: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := refop.NewMemoryStore()
			if err := store.CreateAuthRequest(ctx(t), tt.stored); err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, func(c *refop.Config) { c.Store = store })
			h.ping.setAnswer(func(string, int) (int, string) { return 503, "" })
			got, err := h.op.Resume(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("stats %+v, want %+v", got, tt.want)
			}
			if tt.offered {
				dr := h.device.await(t, tt.stored.ID)
				if dr.body.LoginHint != "alice" {
					t.Errorf("device got login_hint %q", dr.body.LoginHint)
				}
				// The re-offered request can be decided and redeemed.
				h.approve(tt.stored.ID)
				if r := h.poll(cPoll, tt.stored.ID); r.status != 200 {
					t.Fatalf("redeeming a resumed request: %d %s", r.status, r.raw)
				}
			}
			for i := range tt.pings {
				n := h.ping.next(t)
				if n.auth != "Bearer "+tt.stored.ClientNotificationToken {
					t.Fatalf("ping %d auth %q", i, n.auth)
				}
				rec := h.logs.waitFor(t, "notification sent", i+1)
				if want := tt.firstTried + i; rec.attrs["attempt"] != itoa(want) {
					t.Fatalf("ping %d logged attempt %s, want %d", i, rec.attrs["attempt"], want)
				}
				if i < tt.pings-1 {
					h.clock.Advance(time.Duration(1<<(tt.firstTried+i-1)) * time.Second)
				}
			}
			if tt.pings > 0 {
				stored, _ := store.GetAuthRequest(ctx(t), tt.stored.ID)
				if !stored.NotifyDone || stored.NotifyAttempts != 3 {
					t.Errorf("after giving up: attempts=%d done=%v, want 3 and done", stored.NotifyAttempts, stored.NotifyDone)
				}
			}
			// Nothing more comes, however long we wait.
			if err := h.op.Close(); err != nil {
				t.Fatal(err)
			}
			h.clock.Advance(time.Hour)
			h.ping.none(t)
			if !tt.offered {
				h.device.mu.Lock()
				_, seen := h.device.seen[tt.stored.ID]
				h.device.mu.Unlock()
				if seen {
					t.Error("the device was offered a request it should not get")
				}
			}
		})
	}
}

func itoa(n int) string {
	b, _ := jsonMarshal(n)
	return string(b)
}

// TestResumeTreatsConflictAsAcknowledged: a device that survived the
// restart answers 409 to the redelivery; the request stays pending.
func TestResumeTreatsConflictAsAcknowledged(t *testing.T) {
	store := refop.NewMemoryStore()
	ar := refop.AuthRequest{ID: "p", ClientID: cPoll, Subject: "sub-alice", Scope: "openid",
		DeliveryMode: string(ciba.ModePoll), Status: refop.StatusPending, ExpiresAt: time.Now().Add(time.Hour)}
	if err := store.CreateAuthRequest(ctx(t), ar); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(c *refop.Config) { c.Store = store })
	h.device.setStatus(http.StatusConflict)
	if _, err := h.op.Resume(ctx(t)); err != nil {
		t.Fatal(err)
	}
	h.device.await(t, "p")
	h.logs.waitFor(t, "authentication device acknowledged", 1)
	if err := h.op.Close(); err != nil { // waits for the device call to finish
		t.Fatal(err)
	}
	got, _ := store.GetAuthRequest(ctx(t), "p")
	if got.Status != refop.StatusPending || got.DeviceCalledAt.IsZero() {
		t.Fatalf("after a 409 redelivery: status %s, acknowledged %v", got.Status, !got.DeviceCalledAt.IsZero())
	}
}

// TestRestartOnBoltStore runs two OPs one after the other on the same
// store file: what the first accepted, decided, issued and saw, the second
// honours. (The e2e durability test does the same with SIGKILL.)
func TestRestartOnBoltStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "op.db")
	store, err := refop.NewBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	h1 := newHarness(t, func(c *refop.Config) { c.Store = store })
	pending := h1.start(cPoll, nil)
	h1.device.await(t, pending)
	approved := h1.start(cPoll, nil)
	h1.approve(approved)
	redeemed := h1.start(cPoll, nil)
	h1.approve(redeemed)
	if r := h1.poll(cPoll, redeemed); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if err := h1.op.Close(); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	store, err = refop.NewBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	// New process, new client keys: the stored state is what carries over.
	h2 := newHarness(t, func(c *refop.Config) { c.Store = store })
	st, err := h2.op.Resume(ctx(t))
	if err != nil || st.Pending != 1 || st.DeviceOffers != 1 {
		t.Fatalf("resume: %+v %v", st, err)
	}
	wantError(t, h2.poll(cPoll, redeemed), 400, "invalid_grant")
	if r := h2.poll(cPoll, approved); r.status != 200 {
		t.Fatalf("approved before the restart: %d %s", r.status, r.raw)
	}
	wantError(t, h2.poll(cPoll, pending), 400, "authorization_pending")
	h2.approve(pending)
	h2.clock.Advance(5 * time.Second)
	if r := h2.poll(cPoll, pending); r.status != 200 {
		t.Fatalf("pending before the restart: %d %s", r.status, r.raw)
	}
	wantError(t, h2.poll(cPoll, pending), 400, "invalid_grant")
}

// TestPingUnreachableEndpoint: CIBA 10.2 asks nothing of an OP whose ping
// cannot be delivered, but the client may still poll (CIBA 10.2, 11); the
// OP retries a bounded number of times and leaks nothing on Close.
func TestPingUnreachableEndpoint(t *testing.T) {
	var slowCalls atomic.Int32
	release := make(chan struct{})
	slow := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slowCalls.Add(1)
		// Take the connection from net/http so no response can ever be
		// written, then hold it until the OP's timeout closes it.
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		closed := make(chan struct{})
		go func() {
			select {
			case <-release:
			case <-closed:
			}
			conn.Close()
		}()
		_, _ = io.Copy(io.Discard, conn)
		close(closed)
	}))
	slow.StartTLS()
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downURL := "https://" + down.Addr().String() + "/cb"
	down.Close() // nothing listens there any more: connection refused

	tests := []struct {
		name     string
		endpoint string
		calls    func() int32
	}{
		{"endpoint down", downURL, nil},
		{"endpoint hangs", slow.URL + "/cb", slowCalls.Load},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
			slowCalls.Store(0)
			h := newHarness(t, func(c *refop.Config) {
				for i := range c.Clients {
					if c.Clients[i].ID == cPing {
						c.Clients[i].NotificationEndpoint = tt.endpoint
					}
				}
				hc := *c.HTTPClient
				hc.Timeout = 200 * time.Millisecond
				tr := hc.Transport.(*http.Transport).Clone()
				tr.TLSClientConfig.RootCAs.AddCert(slow.Certificate())
				hc.Transport = tr
				c.HTTPClient = &hc
				t.Cleanup(tr.CloseIdleConnections)
			})
			id := h.start(cPing, nil)
			h.approve(id)
			for attempt := 1; attempt <= 3; attempt++ {
				rec := h.logs.waitFor(t, "notification sent", attempt)
				if rec.attrs["err"] == "" {
					t.Fatalf("attempt %d did not fail: %v", attempt, rec.attrs)
				}
				if attempt < 3 {
					h.clock.Advance(time.Duration(1<<(attempt-1)) * time.Second)
				}
			}
			if rec := h.logs.waitFor(t, "notification sent", 3); rec.attrs["retry"] != "false" {
				t.Fatalf("third attempt still retries: %v", rec.attrs)
			}
			if p := h.clock.Pending(); p != 0 {
				t.Fatalf("%d timers pending after the last attempt", p)
			}
			// The ping is lost; polling still redeems (CIBA 10.2: ping
			// clients use the token endpoint as poll clients do).
			if r := h.poll(cPing, id); r.status != 200 {
				t.Fatalf("poll after failed pings: %d %s", r.status, r.raw)
			}
			if tt.calls != nil && tt.calls() != 3 {
				t.Errorf("endpoint saw %d calls, want 3", tt.calls())
			}
		})
	}
}
