package load

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
)

// fakeTokenEndpoint is an httptest TLS server (HTTP/2 when h2) whose
// handler answers every poll; it records the requests' sequence headers.
type fakeTokenEndpoint struct {
	srv     *httptest.Server
	seqSeen atomic.Uint64
	polls   atomic.Uint64
}

func startFakeTokenEndpoint(t *testing.T, h2 bool, answer http.HandlerFunc) *fakeTokenEndpoint {
	t.Helper()
	if h2 {
		return startFakeTokenEndpointWith(t, &http.HTTP2Config{}, answer)
	}
	return startFakeTokenEndpointWith(t, nil, answer)
}

// startFakeTokenEndpointWith is startFakeTokenEndpoint over HTTP/2 with
// h2's settings (nil: HTTP/1.1).
func startFakeTokenEndpointWith(t *testing.T, h2 *http.HTTP2Config, answer http.HandlerFunc) *fakeTokenEndpoint {
	t.Helper()
	f := &fakeTokenEndpoint{}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.polls.Add(1)
		if r.Header.Get(headerSeq) != "" {
			f.seqSeen.Add(1)
		}
		answer(w, r)
	}))
	f.srv.EnableHTTP2 = h2 != nil
	f.srv.Config.HTTP2 = h2
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeTokenEndpoint) client(o TransportOptions) *http.Client {
	roots := x509.NewCertPool()
	roots.AddCert(f.srv.Certificate())
	return NewHTTPClient(roots, nil, o)
}

func (f *fakeTokenEndpoint) targets() PollTargets {
	return PollTargets{Endpoint: f.srv.URL + "/token", ClientID: "c", AuthMethod: ciba.AuthTLSClient, AuthReqIDs: []string{"a", "b"}}
}

func slowDown(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write([]byte(`{"error":"slow_down"}`))
}

// TestRunPollCountsConnectionsAndCapsThem: many polls in flight over
// HTTP/2 share at most DefaultMaxConnsHTTP2 connections, each counted with
// its handshake, and the sequence header is not sent unless asked for.
func TestRunPollCountsConnectionsAndCapsThem(t *testing.T) {
	for _, tt := range []struct {
		name      string
		h2        bool
		seqHeader bool
		maxConns  uint64
	}{
		{"http2, default cap, no seq header", true, false, DefaultMaxConnsHTTP2},
		{"http1.1, seq header kept", false, true, DefaultMaxConnsHTTP1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := startFakeTokenEndpoint(t, tt.h2, slowDown)
			stats := &ConnStats{}
			sum, err := RunPoll(t.Context(), PollConfig{
				RunOptions: RunOptions{Rate: Rate{Max: true}, Duration: 300 * time.Millisecond, Conns: stats},
				Targets:    f.targets(),
				HTTPClient: f.client(TransportOptions{HTTP1: !tt.h2, SeqHeader: tt.seqHeader, Stats: stats, MaxInFlight: 64}),
				// More in flight than one HTTP/2 connection of this server
				// carries (Go's default: 250 streams).
				MaxInFlight: 64,
			})
			if err != nil {
				t.Fatal(err)
			}
			g := sum.Generator
			if sum.Requests.Sent == 0 || g == nil || g.Connections == nil {
				t.Fatalf("requests %+v generator %+v", sum.Requests, g)
			}
			c := g.Connections
			// A dial cut short by the end of the run has no handshake.
			// The cap bounds connections open at once; one closed and dialled
			// again counts twice in Opened.
			if c.PeakOpen == 0 || c.PeakOpen > tt.maxConns || c.PeakOpen > c.Opened || c.TLSHandshakes == 0 || c.TLSHandshakes > c.Opened {
				t.Fatalf("connections %+v, want 1..%d open at once, at most one handshake each", c, tt.maxConns)
			}
			if g.MaxInFlight != 64 || g.PeakInFlight == 0 || g.PeakInFlight > 64 {
				t.Fatalf("in flight: peak %d of cap %d", g.PeakInFlight, g.MaxInFlight)
			}
			if seen := f.seqSeen.Load(); (seen > 0) != tt.seqHeader {
				t.Fatalf("%d of %d polls carried %s, want them to only with SeqHeader", seen, f.polls.Load(), headerSeq)
			}
		})
	}
}

// TestRunPollDropsAtTheCapAndSaysGeneratorSaturated: an OP that never
// answers holds the only in-flight slot; every other hit is dropped and
// counted, none fires late, and the verdict names the generator.
func TestRunPollDropsAtTheCapAndSaysGeneratorSaturated(t *testing.T) {
	f := startFakeTokenEndpoint(t, true, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	sum, err := RunPoll(t.Context(), PollConfig{
		RunOptions:  RunOptions{Rate: Rate{Freq: 100, Per: time.Second}, Duration: 300 * time.Millisecond},
		Targets:     f.targets(),
		HTTPClient:  f.client(TransportOptions{Timeout: time.Second}),
		MaxInFlight: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	g := sum.Generator
	if sum.Requests.Sent != 1 || sum.Requests.Dropped == 0 || g.DroppedAtCap == 0 || g.PeakInFlight != 1 {
		t.Fatalf("requests %+v generator %+v: want the one slot taken and every other hit dropped", sum.Requests, g)
	}
	if !g.Saturated || len(g.Reasons) != 2 {
		t.Fatalf("saturated %v reasons %q: want drops and the cap named", g.Saturated, g.Reasons)
	}
	if text := summaryText(t, sum); !strings.Contains(text, "verdict       "+SaturatedVerdict) || strings.Contains(text, "OP collapsed") {
		t.Fatalf("summary does not say the generator saturated:\n%s", text)
	}
}

// TestRunPollBodyCapAndRedaction: an answer over --max-body is unexpected
// and never held whole; token values never reach the results file unless
// KeepSecrets.
func TestRunPollBodyCapAndRedaction(t *testing.T) {
	huge := bytes.Repeat([]byte("x"), 1<<20)
	var answers sync.Map // auth_req_id -> body
	answers.Store("big", append(append([]byte(`{"access_token":"`), huge...), `"}`...))
	answers.Store("tok", []byte(`{"access_token":"AT-secret","refresh_token":"RT-secret","id_token":"ID-secret","token_type":"Bearer"}`))
	f := startFakeTokenEndpoint(t, true, func(w http.ResponseWriter, r *http.Request) {
		body, _ := answers.Load(r.FormValue(ciba.ParamAuthReqID))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body.([]byte))
	})
	for _, keep := range []bool{false, true} {
		var out bytes.Buffer
		tg := f.targets()
		tg.AuthReqIDs = []string{"big", "tok"}
		sum, err := RunPoll(t.Context(), PollConfig{
			RunOptions:  RunOptions{Rate: Rate{Freq: 40, Per: time.Second}, Duration: 200 * time.Millisecond, Output: &out, KeepSecrets: keep},
			Targets:     tg,
			HTTPClient:  f.client(TransportOptions{MaxBody: 4096}),
			MaxInFlight: 4,
		})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Requests.Unexpected == 0 || sum.Requests.OK == 0 || sum.Requests.Unexpected+sum.Requests.OK != sum.Requests.Sent {
			t.Fatalf("keep %v: requests %+v errors %+v: the big answers must be unexpected, the token answers ok", keep, sum.Requests, sum.Errors)
		}
		if len(sum.Errors) != 1 || !strings.Contains(sum.Errors[0].Error, ErrBodyTooLarge.Error()) {
			t.Fatalf("errors %+v", sum.Errors)
		}
		for _, res := range decodeAll(t, &out) {
			if len(res.Body) > 4096 {
				t.Fatalf("a result holds %d bytes of body, over the 4096 cap", len(res.Body))
			}
			if res.Code == http.StatusOK && strings.Contains(string(res.Body), "secret") != keep {
				t.Fatalf("keep %v: results file body %s", keep, res.Body)
			}
		}
	}
}

func TestRedactBody(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		changed  bool
	}{
		{`{"access_token":"a","token_type":"Bearer","expires_in":60}`, `{"access_token":"[redacted]","expires_in":60,"token_type":"Bearer"}`, true},
		{`{"id_token":"x.y.z","refresh_token":"r"}`, `{"id_token":"[redacted]","refresh_token":"[redacted]"}`, true},
		{`{"error":"invalid_grant","error_description":"bad refresh_token"}`, ``, false},
		{`access_token"=abc`, `"[redacted] (unparsed body naming a token)"`, true},
	} {
		got, changed := redactBody([]byte(tt.in))
		if changed != tt.changed || (changed && string(got) != tt.want) {
			t.Errorf("redactBody(%s) = %s, %v; want %s, %v", tt.in, got, changed, tt.want, tt.changed)
		}
	}
}

// TestNewHTTPClientSpreadsRequestsOverItsConnections: with HTTP/2 the
// client sends requests in turn over its capped connections, instead of
// Go's pool putting them all on the first connection with a free stream;
// with one connection allowed, or HTTP/1.1 one request at a time, one
// connection carries them.
func TestNewHTTPClientSpreadsRequestsOverItsConnections(t *testing.T) {
	for _, tt := range []struct {
		name  string
		h2    bool
		o     TransportOptions
		conns int
	}{
		{"http2, default cap", true, TransportOptions{}, DefaultMaxConnsHTTP2},
		{"http2, --max-conns 2", true, TransportOptions{MaxConns: 2}, 2},
		{"http2, --max-conns 1", true, TransportOptions{MaxConns: 1}, 1},
		{"http1.1", false, TransportOptions{HTTP1: true}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			peers := map[string]bool{}
			f := startFakeTokenEndpoint(t, tt.h2, func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				peers[r.RemoteAddr] = true
				mu.Unlock()
				slowDown(w, r)
			})
			hc := f.client(tt.o)
			defer hc.CloseIdleConnections()
			for range 4 * DefaultMaxConnsHTTP2 {
				resp, err := hc.Post(f.srv.URL+"/token", "application/x-www-form-urlencoded", nil)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
			if len(peers) != tt.conns {
				t.Fatalf("%d requests one at a time went over %d connections, want %d", 4*DefaultMaxConnsHTTP2, len(peers), tt.conns)
			}
		})
	}
}

// TestConnSpreadAvoidsALaggingConnection: over HTTP/2 a request goes to
// the connection with the fewest in flight, so while one connection's
// request hangs, the others carry every later one (in plain turns every
// second request would queue behind it, and a connection that lags under
// load would fill up to the server's stream limit, when Go's client dials
// beyond the cap).
func TestConnSpreadAvoidsALaggingConnection(t *testing.T) {
	var (
		mu        sync.Mutex
		stuckPeer string
		onStuck   int
	)
	release := make(chan struct{})
	stuck := make(chan struct{})
	f := startFakeTokenEndpoint(t, true, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		first := stuckPeer == ""
		if first {
			stuckPeer = r.RemoteAddr
		} else if r.RemoteAddr == stuckPeer {
			onStuck++
		}
		mu.Unlock()
		if first {
			close(stuck)
			<-release
		}
		slowDown(w, r)
	})
	hc := f.client(TransportOptions{MaxConns: 2})
	defer hc.CloseIdleConnections()
	post := func() error {
		resp, err := hc.Post(f.srv.URL+"/token", "application/x-www-form-urlencoded", nil)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
	firstDone := make(chan error, 1)
	go func() { firstDone <- post() }()
	<-stuck
	const later = 8
	for range later {
		if err := post(); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if onStuck != 0 {
		t.Fatalf("%d of %d requests sent while a connection's request hung went over that connection, want 0", onStuck, later)
	}
}

// TestConnSpreadWaitsPastTheStreamBudget: over HTTP/2, once every
// connection carries StreamsPerConn requests, the next requests wait in
// the client (counted) instead of reaching the OP or dialling another
// connection; one given up while waiting fails with its context's error
// and frees nothing it did not take; when answers come, the waiting ones
// go, and every stream is handed back.
func TestConnSpreadWaitsPastTheStreamBudget(t *testing.T) {
	const conns, streams = 2, 2
	var active, maxActive atomic.Int64
	arrived := make(chan struct{}, 16)
	release := make(chan struct{})
	f := startFakeTokenEndpoint(t, true, func(w http.ResponseWriter, r *http.Request) {
		n := active.Add(1)
		for m := maxActive.Load(); n > m && !maxActive.CompareAndSwap(m, n); m = maxActive.Load() {
		}
		arrived <- struct{}{}
		<-release
		active.Add(-1)
		slowDown(w, r)
	})
	st := &ConnStats{}
	hc := f.client(TransportOptions{MaxConns: conns, StreamsPerConn: streams, Stats: st})
	defer hc.CloseIdleConnections()
	spread := hc.Transport.(*loadTransport).base.(*connSpread)
	post := func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.srv.URL+"/token", strings.NewReader("grant_type=x"))
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
	const budget, extra = conns * streams, 2
	done := make(chan error, budget+extra)
	for range budget + extra {
		go func() { done <- post(context.Background()) }()
	}
	for range budget {
		<-arrived
	}
	// The two past the budget are waiting, not sent: none arrives.
	waitFor := func(waited uint64) {
		t.Helper()
		for st.Counts().WaitedForStream < waited {
			select {
			case <-arrived:
				t.Fatalf("a request past the budget of %d reached the server", budget)
			default:
				runtime.Gosched()
			}
		}
	}
	waitFor(extra)
	ctx, cancel := context.WithCancel(context.Background())
	givenUp := make(chan error, 1)
	go func() { givenUp <- post(ctx) }()
	waitFor(extra + 1)
	cancel()
	if err := <-givenUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("a request given up while waiting for a stream: %v, want context.Canceled", err)
	}
	close(release)
	for range budget + extra {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if got := maxActive.Load(); got > budget {
		t.Errorf("the server saw %d requests at once, want at most %d", got, budget)
	}
	// One connection more: the probe of the server's stream limit.
	c := st.Counts()
	if c.Opened != conns+1 || c.WaitedForStream != extra+1 {
		t.Errorf("opened %d connections, %d requests waited; want %d and %d", c.Opened, c.WaitedForStream, conns+1, extra+1)
	}
	if n := len(spread.slots); n != 0 {
		t.Errorf("%d streams still held after every answer was read", n)
	}
}

// TestConnSpreadWithAServerAllowingFewerStreams: an OP whose connections
// allow fewer streams than the budget asked for (nginx allows 128, Apache
// 100) still answers every request: the budget is cut to the limit the
// probe read. With Go's StrictMaxConcurrentRequests and the budget above
// the limit, requests stalled until their timeout once as many waited as
// the server allows (this test, 3 runs of 3; and a limit of 100 under a
// budget of 150, 300 workers: 259 timeouts in 4 s).
func TestConnSpreadWithAServerAllowingFewerStreams(t *testing.T) {
	const serverStreams, budget, workers, each = 2, 8, 16, 50
	f := startFakeTokenEndpointWith(t, &http.HTTP2Config{MaxConcurrentStreams: serverStreams}, slowDown)
	hc := f.client(TransportOptions{MaxConns: 1, StreamsPerConn: budget, Timeout: 5 * time.Second})
	defer hc.CloseIdleConnections()
	errs := make(chan error, workers)
	for range workers {
		go func() {
			for range each {
				resp, err := hc.Post(f.srv.URL+"/token", "application/x-www-form-urlencoded", strings.NewReader("grant_type=x"))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					err = resp.Body.Close()
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := cap(hc.Transport.(*loadTransport).base.(*connSpread).slots); got != serverStreams {
		t.Errorf("a budget of %d streams, want the server's %d", got, serverStreams)
	}
}
