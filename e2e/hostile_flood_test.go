package e2e

// A ping flood (issue 12 items 3 and 6): an OP that, once it pings a
// client, floods that client's notification endpoint with thousands of
// large pings over TLS, with and without the right bearer token and
// auth_req_id, while the run goes on. The OP is the embedded reference OP
// (so the run proceeds as against a correct OP); its pings go out through
// a flooding relay registered as the clients' notification endpoint,
// which forwards each real ping to the tool's receiver and, at the first,
// sends the flood. The test runs the built binary and asserts the run
// ends normally, with its verdict, and that its peak memory stays under
// 100 MB.

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/internal/devenv"
	"github.com/ciba-check/ciba-check/internal/pki"
	"github.com/ciba-check/ciba-check/internal/target"
)

// The flood (issue 12: "4,000 pings of 120 KB each took 1.14 GB").
const (
	floodPings = 4000
	floodBody  = 120 << 10
	// floodSenders is how many pings are in flight at once.
	floodSenders = 8
	// floodHold is how long the relay holds a real ping while the flood
	// goes out before it forwards it anyway: under the reference OP's
	// 10 s notification timeout, so the OP never sees a failed ping.
	floodHold = 7 * time.Second
)

// pingFlooder is the flooding relay: the clients' registered
// notification endpoint, in front of the tool's receiver.
type pingFlooder struct {
	// receiver is the tool's notification URL.
	receiver string
	// relay forwards the OP's pings and the receiver's answers; flood
	// sends the flood. Neither follows redirects.
	relay, flood *http.Client

	once     sync.Once
	flooded  chan struct{} // closed when the flood is over
	stop     chan struct{} // closed when the test ends
	senders  sync.WaitGroup
	srv      *http.Server
	done     chan error
	kinds    [4]atomic.Int64 // flood pings the receiver answered, per floodKind
	failed   atomic.Int64    // flood pings that got no answer
	firstErr atomic.Value    // string: the first of them
	real     atomic.Int64    // real pings forwarded
	floodFor atomic.Int64    // how long the flood took (ns), 0 until it is over
}

// floodKind is what one flood ping carries.
type floodKind int

const (
	noBearerRightID floodKind = iota
	wrongBearerOtherID
	rightBearerOtherID
	rightBearerRightID
)

func (k floodKind) String() string {
	return [...]string{"no bearer, the real auth_req_id", "a wrong bearer, other auth_req_ids", "the right bearer, other auth_req_ids", "the right bearer and auth_req_id"}[k]
}

// startPingFlooder serves the relay at listen (the notification address
// the reference OP registered) with dir's server certificate, forwarding
// to receiver, which it trusts through tgt's CA. It stops, its flood
// with it, when the test ends.
func startPingFlooder(t *testing.T, dir, listen, receiver string, tgt *target.Target) *pingFlooder {
	t.Helper()
	cert, err := pki.LoadCertificate(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	client := func(conns int) *http.Client {
		return &http.Client{
			Timeout: 30 * time.Second,
			Transport: &http.Transport{
				TLSClientConfig:     &tls.Config{RootCAs: targetRoots(t, tgt), MinVersion: tls.VersionTLS12},
				MaxIdleConnsPerHost: conns,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	f := &pingFlooder{receiver: receiver, relay: client(2), flood: client(floodSenders),
		flooded: make(chan struct{}), stop: make(chan struct{}), done: make(chan error, 1)}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatalf("the notification address %s the OP registered: %v", listen, err)
	}
	f.srv = &http.Server{
		Handler:           http.HandlerFunc(f.serve),
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go func() {
		err := f.srv.ServeTLS(ln, "", "")
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		f.done <- err
	}()
	t.Cleanup(func() {
		close(f.stop)
		f.senders.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := f.srv.Shutdown(ctx); err != nil {
			_ = f.srv.Close()
		}
		if err := <-f.done; err != nil {
			t.Errorf("the flooding relay: %v", err)
		}
		f.relay.CloseIdleConnections()
		f.flood.CloseIdleConnections()
	})
	return f
}

// serve forwards one real ping of the OP to the receiver and its answer
// back. The first starts the flood, with that ping's bearer token and
// auth_req_id, and every real ping waits for the flood to be over (at
// most floodHold), so the flood lands while the check awaits its ping.
func (f *pingFlooder) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var ping struct {
		AuthReqID string `json:"auth_req_id"`
	}
	_ = json.Unmarshal(body, &ping)
	f.once.Do(func() {
		f.senders.Add(1)
		go f.send(r.Header.Get("Authorization"), ping.AuthReqID)
	})
	hold := time.NewTimer(floodHold)
	defer hold.Stop()
	select {
	case <-f.flooded:
	case <-hold.C:
	case <-r.Context().Done():
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, f.receiver, bytes.NewReader(body))
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := f.relay.Do(req)
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	f.real.Add(1)
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, io.LimitReader(resp.Body, 1<<20))
}

// send sends the flood from floodSenders senders: floodPings pings of
// floodBody bytes, the kinds in turn; the pings for other requests each
// name another auth_req_id.
func (f *pingFlooder) send(bearer, authReqID string) {
	defer f.senders.Done()
	defer close(f.flooded)
	started := time.Now()
	bearers := [...]string{"", "Bearer wrong-" + strings.TrimPrefix(bearer, "Bearer "), bearer, bearer}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-f.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	next := make(chan int)
	var wg sync.WaitGroup
	for range floodSenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				id := authReqID
				if kind := floodKind(i % 4); kind == wrongBearerOtherID || kind == rightBearerOtherID {
					id = fmt.Sprintf("flood-%d", i)
				}
				f.ping(ctx, floodKind(i%4), bearers[i%4], floodPing(id))
			}
		}()
	}
	for i := range floodPings {
		select {
		case next <- i:
			continue
		case <-ctx.Done():
		}
		break
	}
	close(next)
	wg.Wait()
	f.floodFor.Store(int64(time.Since(started)))
}

// floodPing is a ping body of floodBody bytes for id: JSON that parses
// only when read whole.
func floodPing(id string) []byte {
	b := fmt.Appendf(nil, `{"auth_req_id":%q,"padding":"`, id)
	b = append(b, bytes.Repeat([]byte("x"), floodBody-len(b)-2)...)
	return append(b, `"}`...)
}

// ping sends one flood ping.
func (f *pingFlooder) ping(ctx context.Context, kind floodKind, bearer string, body []byte) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.receiver, bytes.NewReader(body))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		if bearer != "" {
			req.Header.Set("Authorization", bearer)
		}
		var resp *http.Response
		if resp, err = f.flood.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			f.kinds[kind].Add(1)
			return
		}
	}
	f.failed.Add(1)
	f.firstErr.CompareAndSwap(nil, err.Error())
}

// String says what the relay did (read after the run).
func (f *pingFlooder) String() string {
	var parts []string
	total := int64(0)
	for k := range f.kinds {
		n := f.kinds[k].Load()
		total += n
		parts = append(parts, fmt.Sprintf("%d with %s", n, floodKind(k)))
	}
	s := fmt.Sprintf("%d flood pings of %d KiB answered by the receiver in %s (%s), %d not answered; %d real pings forwarded",
		total, floodBody>>10, time.Duration(f.floodFor.Load()).Round(time.Millisecond), strings.Join(parts, ", "), f.failed.Load(), f.real.Load())
	if e, ok := f.firstErr.Load().(string); ok {
		s += "; first failure: " + e
	}
	return s
}

// answered is how many flood pings the receiver answered.
func (f *pingFlooder) answered() int64 {
	var n int64
	for k := range f.kinds {
		n += f.kinds[k].Load()
	}
	return n
}

// floodTarget is env's target with the tool's receiver moved to a free
// address, the OP's registered endpoint left where it was: the flooding
// relay's address and the receiver's URL.
func floodTarget(t *testing.T, env *devenv.Env) (tgt *target.Target, relay, receiver string) {
	t.Helper()
	cp := *env.Target
	cp.Clients = append([]target.Client(nil), env.Target.Clients...)
	listen := freeAddr(t)
	for i, c := range cp.Clients {
		if c.Notification == nil {
			continue
		}
		n := *c.Notification
		u, err := url.Parse(n.URL)
		if err != nil {
			t.Fatal(err)
		}
		relay = u.Host
		n.Listen = listen
		u.Host = listen
		receiver = u.String()
		cp.Clients[i].Notification = &n
	}
	if relay == "" {
		t.Fatal("the environment has no ping client")
	}
	return &cp, relay, receiver
}

// TestPingFloodLeavesRunMemoryBounded: an OP flooding the notification
// endpoint with 4,000 pings of 120 KB during `run` neither stops the run
// from ending with its verdict nor takes its peak memory to 100 MB.
func TestPingFloodLeavesRunMemoryBounded(t *testing.T) {
	bin := longBinaryTest(t, "floods the receiver of a run with 480 MB of pings")
	env, dir := startCopiedEnv(t)
	tgt, relay, receiver := floodTarget(t, env)
	f := startPingFlooder(t, dir, relay, receiver, tgt)
	r := runAgainst(t, bin, dir, tgt, 150*time.Second, "--timeout", "120s", "--label-filter", "CIBA-10.2")
	t.Logf("exit %d; %s", r.code, f)
	wantPeakUnderLimit(t, r)
	if r.code != 0 {
		t.Errorf("exit %d, want 0 (the OP is the reference OP; a flood of pings it did not send for the checks' requests changes no verdict)\nstdout:\n%s\nstderr:\n%s", r.code, tail(r.stdout, 40), r.stderr)
	}
	if f.real.Load() == 0 {
		t.Error("no real ping went through the relay: the run never reached a ping flow")
	}
	if n := f.answered(); n < floodPings/2 {
		t.Errorf("the receiver answered %d of %d flood pings: the flood proved little", n, floodPings)
	}
}
