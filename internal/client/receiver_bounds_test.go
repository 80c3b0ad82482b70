package client

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/clock"
)

// boundedReceiver is a receiver with small bounds, driven through
// ServeHTTP without a listener.
func boundedReceiver(t *testing.T, maxN, maxBytes, perRequest int) *NotificationReceiver {
	t.Helper()
	cert, _ := selfSignedCert(t, "receiver")
	r, err := NewNotificationReceiver(ReceiverConfig{Listen: "127.0.0.1:0", TLSCert: cert, Path: "/cb",
		Clock: clock.NewFake(testStart), MaxNotifications: maxN, MaxBytes: maxBytes, MaxPerRequest: perRequest})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// ping delivers {"auth_req_id": id} (plus pad bytes) and returns the status.
func ping(r *NotificationReceiver, id string, pad int) int {
	body := `{"auth_req_id":"` + id + `","pad":"` + strings.Repeat("x", pad) + `"}`
	req := httptest.NewRequest(http.MethodPost, "/cb", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer tok-"+id)
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	return w.Code
}

func keptIDs(r *NotificationReceiver) []string {
	var ids []string
	for _, n := range r.Notifications() {
		ids = append(ids, n.AuthReqID)
	}
	return ids
}

// TestReceiverCaps: what a full receiver keeps, drops and counts. Step
// strings: "w:ID" waits for ID (Expect), "m:ID" watches ID (Watch, as at
// the acknowledgement), "s:ID" scripts answers for ID,
// "p:ID" pings ID, "f:N" floods N pings of unknown ids f-0..f-N-1.
func TestReceiverCaps(t *testing.T) {
	tests := []struct {
		name                 string
		maxN, maxBytes, perR int
		pad                  int
		steps                []string
		want                 []string
		wantStats            ReceiverStats
	}{
		{
			name: "others: the oldest are dropped and counted", maxN: 3, perR: 10,
			steps:     []string{"f:5"},
			want:      []string{"f-2", "f-3", "f-4"},
			wantStats: ReceiverStats{Kept: 3, Evicted: 2},
		},
		{
			name: "a flood of others never pushes out a watched request's ping", maxN: 3, perR: 10,
			steps:     []string{"w:mine", "p:mine", "f:10"},
			want:      []string{"mine", "f-7", "f-8", "f-9"},
			wantStats: ReceiverStats{Kept: 4, Evicted: 7},
		},
		{
			name: "scripted answers watch too, before and after the ping", maxN: 2, perR: 10,
			steps:     []string{"s:a", "p:a", "p:late", "f:4", "s:late"},
			want:      []string{"a", "f-2", "f-3"},
			wantStats: ReceiverStats{Kept: 3, Evicted: 3},
		},
		{
			name: "watching an id already kept moves it out of reach of the flood", maxN: 2, perR: 10,
			steps:     []string{"p:early", "w:early", "f:5"},
			want:      []string{"early", "f-3", "f-4"},
			wantStats: ReceiverStats{Kept: 3, Evicted: 3},
		},
		{
			name: "watched at the ack: a ping before Wait survives the flood", maxN: 2, perR: 10,
			steps:     []string{"m:acked", "p:acked", "f:5", "w:acked"},
			want:      []string{"acked", "f-3", "f-4"},
			wantStats: ReceiverStats{Kept: 3, Evicted: 3},
		},
		{
			name: "not watched before Wait: a flood may push the ping out", maxN: 2, perR: 10,
			steps:     []string{"p:unacked", "f:5", "w:unacked"},
			want:      []string{"f-3", "f-4"},
			wantStats: ReceiverStats{Kept: 2, Evicted: 4},
		},
		{
			name: "watched pool is bounded too, oldest first", maxN: 2, perR: 10,
			steps:     []string{"w:a", "w:b", "w:c", "p:a", "p:b", "p:c"},
			want:      []string{"b", "c"},
			wantStats: ReceiverStats{Kept: 2, Evicted: 1},
		},
		{
			name: "per-request cap: later pings answered, not kept, counted", maxN: 100, perR: 2,
			steps:     []string{"w:a", "p:a", "p:a", "p:a", "p:a", "p:b"},
			want:      []string{"a", "a", "b"},
			wantStats: ReceiverStats{Kept: 3, OverPerRequest: 2},
		},
		{
			name: "byte cap drops the oldest", maxN: 100, maxBytes: 3 * (entryOverhead + 2*2000 + 400), perR: 10, pad: 2000,
			steps:     []string{"f:5"},
			want:      []string{"f-2", "f-3", "f-4"},
			wantStats: ReceiverStats{Kept: 3, Evicted: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := boundedReceiver(t, tt.maxN, tt.maxBytes, tt.perR)
			for _, step := range tt.steps {
				kind, arg, _ := strings.Cut(step, ":")
				switch kind {
				case "w":
					r.Expect(arg, "")
				case "m":
					r.Watch(arg)
				case "s":
					if err := r.SetAnswers(arg, AnswerStatus(http.StatusOK, "")); err != nil {
						t.Fatal(err)
					}
				case "p":
					if code := ping(r, arg, tt.pad); code >= 300 {
						t.Fatalf("ping %s answered %d", arg, code)
					}
				case "f":
					var n int
					fmt.Sscan(arg, &n)
					for i := range n {
						if code := ping(r, fmt.Sprintf("f-%d", i), tt.pad); code != http.StatusNoContent {
							t.Fatalf("flood ping answered %d: nothing is refused", code)
						}
					}
				}
			}
			if got := keptIDs(r); !slices.Equal(got, tt.want) {
				t.Errorf("kept %v, want %v", got, tt.want)
			}
			st := r.Stats()
			st.KeptBytes = 0
			if st != tt.wantStats {
				t.Errorf("stats %+v, want %+v", st, tt.wantStats)
			}
			// The indexes agree with the pools.
			for _, id := range tt.want {
				if len(r.NotificationsFor(id)) == 0 {
					t.Errorf("%s kept but not found by auth_req_id", id)
				}
			}
		})
	}
}

// TestReceiverKeptBytesStayWithinBound floods with large bodies and checks
// the accounted bytes never exceed the two pools' bound.
func TestReceiverKeptBytesStayWithinBound(t *testing.T) {
	const maxBytes = 1 << 20
	r := boundedReceiver(t, 0, maxBytes, 0)
	r.Expect("w-1", "")
	for i := range 200 {
		id := fmt.Sprintf("x-%d", i)
		if i%50 == 0 {
			id = "w-1"
		}
		ping(r, id, 60<<10) // parsed: below MaxNotificationBody
		if b := r.Stats().KeptBytes; b > 2*maxBytes {
			t.Fatalf("after %d pings %d bytes kept, bound %d", i+1, b, 2*maxBytes)
		}
	}
	if st := r.Stats(); st.Evicted == 0 {
		t.Fatalf("nothing evicted: %+v", st)
	}
	if len(r.NotificationsFor("w-1")) != 4 {
		t.Fatalf("the watched request kept %d pings, want 4", len(r.NotificationsFor("w-1")))
	}
}

// TestReceiverRoutesConcurrentWaitersByAuthReqID: many waiters on
// different auth_req_ids, pings in reverse order among others; each
// waiter gets its own ping, and nothing is left registered.
func TestReceiverRoutesConcurrentWaitersByAuthReqID(t *testing.T) {
	r := boundedReceiver(t, 0, 0, 0)
	const n = 50
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // failure deadline
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	ready := make(chan struct{}, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("id-%d", i)
			ch := r.Expect(id, "")
			ready <- struct{}{}
			select {
			case got := <-ch:
				if got.AuthReqID != id {
					errs <- fmt.Errorf("waiter of %s got %s", id, got.AuthReqID)
				}
			case <-ctx.Done():
				errs <- fmt.Errorf("waiter of %s: %v", id, ctx.Err())
			}
		}()
	}
	for range n {
		<-ready
	}
	for i := n - 1; i >= 0; i-- {
		ping(r, fmt.Sprintf("other-%d", i), 0)
		ping(r, fmt.Sprintf("id-%d", i), 0)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// A cancelled wait leaves nothing behind.
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if _, err := r.Wait(cctx, "abandoned"); err == nil {
		t.Fatal("Wait on a cancelled context returned no error")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.waitByID) != 0 || len(r.waitByBearer) != 0 {
		t.Errorf("waiters left: %d by id, %d by bearer", len(r.waitByID), len(r.waitByBearer))
	}
	if _, ok := r.byID["abandoned"]; ok {
		t.Error("an abandoned wait left its auth_req_id behind")
	}
}

// TestReceiverExpectByBearer: a broken body is found by its bearer token,
// before and after it arrives.
func TestReceiverExpectByBearer(t *testing.T) {
	r := boundedReceiver(t, 0, 0, 0)
	ch := r.Expect("id-b", "tok-id-b")
	req := httptest.NewRequest(http.MethodPost, "/cb", strings.NewReader("not json"))
	req.Header.Set("Authorization", "Bearer tok-id-b")
	r.ServeHTTP(httptest.NewRecorder(), req)
	select {
	case n := <-ch:
		if n.BearerToken != "tok-id-b" || n.AuthReqID != "" {
			t.Fatalf("got %+v", n)
		}
	default:
		t.Fatal("the broken ping did not reach its waiter by bearer token")
	}
	select {
	case n := <-r.Expect("", "tok-id-b"):
		if string(n.Body) != "not json" {
			t.Fatalf("got %+v", n)
		}
	default:
		t.Fatal("a kept ping was not found by bearer token")
	}
}

// TestReceiverWatchMarksAreBounded watches many requests nothing arrives
// for: the receiver remembers a bounded number of them, the latest.
func TestReceiverWatchMarksAreBounded(t *testing.T) {
	const maxN = 2
	r := boundedReceiver(t, maxN, 0, 0)
	for i := range 100 {
		r.Watch(fmt.Sprintf("acked-%d", i))
	}
	r.mu.Lock()
	ids, marks := len(r.byID), r.marks.Len()
	_, latest := r.byID["acked-99"]
	_, earliest := r.byID["acked-0"]
	r.mu.Unlock()
	if bound := marksPerNotification * maxN; ids != bound || marks != bound || !latest || earliest {
		t.Fatalf("%d ids and %d marks remembered (latest %v, earliest %v), want the latest %d",
			ids, marks, latest, earliest, bound)
	}
	// The latest watched still keeps its ping from a flood.
	ping(r, "acked-99", 0)
	for i := range 10 {
		ping(r, fmt.Sprintf("f-%d", i), 0)
	}
	if len(r.NotificationsFor("acked-99")) != 1 {
		t.Fatal("the ping of a watched request was pushed out")
	}
}
