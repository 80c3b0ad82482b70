package load

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ciba-check/ciba-check/internal/client"
)

// TransportOptions choose the connection behaviour of a load run.
type TransportOptions struct {
	// NoKeepAlive makes a new connection (TCP and TLS handshake) for every
	// request: the handshake-per-request scenario.
	NoKeepAlive bool
	// HTTP1 turns HTTP/2 off; by default it is negotiated by ALPN.
	HTTP1 bool
	// MaxConns caps connections to the OP per host: 0 is DefaultMaxConnsHTTP2
	// with HTTP/2, and with HTTP/1.1 or NoKeepAlive (one request per
	// connection) MaxInFlight up to DefaultMaxConnsHTTP1; < 0 is no cap.
	// Requests beyond the connections wait in the client for one (they
	// count as in flight) instead of dialling. With HTTP/2 requests go
	// over the connection with the fewest in flight (connSpread).
	MaxConns int
	// MaxInFlight is the run's in-flight cap (0: unknown, no cap derived).
	MaxInFlight int
	// StreamsPerConn caps the requests on one HTTP/2 connection at once
	// (0: DefaultStreamsPerConn), and never above what the OP allows
	// (probed before the first request); more wait in the client, in
	// flight, for a stream. Only with HTTP/2 and keep-alive.
	StreamsPerConn int
	// MaxBody caps the body read of one answer: 0 is DefaultMaxBody, < 0
	// no cap. A longer answer fails with ErrBodyTooLarge, so it counts as
	// unexpected and never holds more than MaxBody+1 bytes in memory.
	MaxBody int64
	// SeqHeader keeps vegeta's X-Vegeta-Seq request header. It is unique
	// per request, so HPACK cannot index it and every request re-encodes
	// it; nothing in ciba-check reads it, so it is dropped by default.
	SeqHeader bool
	// Stats, when set, counts connections and TLS handshakes.
	Stats   *ConnStats
	Timeout time.Duration
}

// DefaultMaxConnsHTTP2 is the default per-host connection cap with HTTP/2:
// a few connections carry hundreds of concurrent streams (RFC 9113
// recommends allowing at least 100 per connection; Go's server allows
// 250). Without a cap, Go's client dials a new TLS connection whenever
// the in-flight requests exceed one connection's streams, and under a
// latency blip the handshakes swamp the OP.
const DefaultMaxConnsHTTP2 = 4

// DefaultStreamsPerConn is how many requests go over one HTTP/2
// connection at once, by the client's count, when the OP allows as many;
// requests past the budget of every connection wait in the client
// (connSpread), as they wait for a connection with HTTP/1.1.
//
// Before the first request, a connection of its own reads the OP's
// SETTINGS_MAX_CONCURRENT_STREAMS (probeMaxStreams), and the budget is
// at most that. Go's client is then told to wait for a stream rather than
// dial another connection (StrictMaxConcurrentRequests): it counts a
// stream until its goroutine has cleaned it up, which under load lags the
// answer, and without that setting it dialled past MaxConnsPerHost
// (measured, 4 connections, 5 ms answers, no budget: 700 at once stayed
// on 4 connections, 800 opened 5-9, 900 18-22; with a budget of 100 on
// Go's 250, a fifth connection at 1.2× of capacity in 2 runs of 4). The
// setting is only safe so: Go's waiting requests hold reservations that
// count as streams, and once as many wait as the server allows none ever
// goes (TestConnSpreadWithAServerAllowingFewerStreams); with the budget
// at most the server's limit, fewer can wait. When the probe learns
// nothing, the budget is at most 100 (what RFC 9113 5.1.2 recommends a
// server allow at least) and Go may dial.
const DefaultStreamsPerConn = 150

// unprobedStreamsPerConn caps the budget when the OP's limit is unknown.
const unprobedStreamsPerConn = 100

// DefaultMaxConnsHTTP1 caps connections by default with HTTP/1.1, where
// every request in flight holds one: each new one costs the OP a TLS
// handshake (an RSA signature with an RSA certificate), which at a few
// hundred at once is what makes an OP look collapsed.
const DefaultMaxConnsHTTP1 = 64

// DefaultMaxBody is the default cap on the body of one answer: a token
// response, even with a large ID token, is a few KiB.
const DefaultMaxBody int64 = 64 << 10

// headerSeq is the per-request sequence header vegeta sets.
const headerSeq = "X-Vegeta-Seq"

// ConnStats counts what a load client's transport did; safe for
// concurrent use.
type ConnStats struct {
	dials, handshakes, resumed atomic.Uint64
	// waited counts requests that waited for a stream (connSpread).
	waited atomic.Uint64
	// open counts connections dialled and not yet closed; peakOpen is its
	// highest value: what a per-host cap bounds (a connection closed and
	// dialled again counts twice in dials, once here).
	open, peakOpen atomic.Int64
}

// opened records a new connection.
func (s *ConnStats) opened() {
	s.dials.Add(1)
	n := s.open.Add(1)
	for {
		peak := s.peakOpen.Load()
		if n <= peak || s.peakOpen.CompareAndSwap(peak, n) {
			return
		}
	}
}

// countedConn takes itself out of ConnStats.open when closed, once.
type countedConn struct {
	net.Conn
	st     *ConnStats
	closed atomic.Bool
}

func (c *countedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.st.open.Add(-1)
	}
	return c.Conn.Close()
}

// ConnCounts are a snapshot of ConnStats.
type ConnCounts struct {
	// Opened counts TCP connections dialled; Handshakes TLS handshakes
	// completed, Resumed those of them that resumed a session.
	Opened, Handshakes, Resumed uint64
	// PeakOpen is the most connections open at once.
	PeakOpen uint64
	// WaitedForStream counts requests that found every connection's
	// streams in use (StreamsPerConn each) and waited in the client.
	WaitedForStream uint64
}

// Counts reads the counters.
func (s *ConnStats) Counts() ConnCounts {
	if s == nil {
		return ConnCounts{}
	}
	return ConnCounts{Opened: s.dials.Load(), Handshakes: s.handshakes.Load(), Resumed: s.resumed.Load(),
		PeakOpen: uint64(max(s.peakOpen.Load(), 0)), WaitedForStream: s.waited.Load()}
}

// ErrBodyTooLarge is the error of an answer longer than the body cap.
var ErrBodyTooLarge = errors.New("answer body over the --max-body cap")

// NewHTTPClient builds the load generator's HTTP client: TLS 1.2+ trusting
// roots and presenting cert on every connection (the token endpoint needs
// the client certificate: certificate-bound tokens, RFC 8705 3), never
// following redirects, with per-host connections capped, answer bodies
// capped, and connections and handshakes counted into o.Stats.
func NewHTTPClient(roots *x509.CertPool, cert *tls.Certificate, o TransportOptions) *http.Client {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	if cert != nil {
		c := cert
		// Present the certificate even when the server's CA list does not
		// name its issuer (self-signed clients, RFC 8705 2.2).
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return c, nil }
	}
	dial := countedDial(tc, o.Stats)
	maxConns := o.maxConns()
	maxBody := o.MaxBody
	if maxBody == 0 {
		maxBody = DefaultMaxBody
	}
	var base roundTripCloser = o.transport(dial, tc, maxBody, maxConns, 1)
	if !o.HTTP1 && !o.NoKeepAlive && maxConns >= 1 {
		// One connection per transport, used in turn (connSpread).
		trs := make([]*http.Transport, maxConns)
		for i := range trs {
			trs[i] = o.transport(dial, tc, maxBody, 1, maxConns)
		}
		streams := o.StreamsPerConn
		if streams <= 0 {
			streams = DefaultStreamsPerConn
		}
		probe := func(ctx context.Context, addr string) (uint32, bool) { return probeMaxStreams(ctx, dial, tc, addr) }
		base = newConnSpread(trs, streams, o.Stats, probe)
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &http.Client{
		Transport: &loadTransport{base: base, maxBody: maxBody, seqHeader: o.SeqHeader},
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

type dialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

// countedDial is the client's dialer; with st it counts connections, and
// handshakes through tc (the transports clone tc for every connection).
func countedDial(tc *tls.Config, st *ConnStats) dialFunc {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if st == nil {
		return dialer.DialContext
	}
	// VerifyConnection runs once per handshake, full or resumed.
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		st.handshakes.Add(1)
		if cs.DidResume {
			st.resumed.Add(1)
		}
		return nil
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		st.opened()
		return &countedConn{Conn: conn, st: st}, nil
	}
}

// maxConns is the per-host connection cap MaxConns asks for (0: none).
func (o TransportOptions) maxConns() int {
	switch {
	case o.MaxConns < 0:
		return 0
	case o.MaxConns == 0 && (o.HTTP1 || o.NoKeepAlive):
		if o.MaxInFlight > 0 {
			return min(o.MaxInFlight, DefaultMaxConnsHTTP1)
		}
		return DefaultMaxConnsHTTP1
	case o.MaxConns == 0:
		return DefaultMaxConnsHTTP2
	}
	return o.MaxConns
}

// transport makes a transport of at most maxConns connections that may
// hold 1/share of the HTTP/2 receive buffer (4 MiB in all).
func (o TransportOptions) transport(dial dialFunc, tc *tls.Config, maxBody int64, maxConns, share int) *http.Transport {
	tr := &http.Transport{
		DialContext: dial,
		// Its own copy: a transport sets NextProtos on it at first use.
		TLSClientConfig:     tc.Clone(),
		ForceAttemptHTTP2:   !o.HTTP1,
		DisableKeepAlives:   o.NoKeepAlive,
		MaxIdleConns:        10000,
		MaxIdleConnsPerHost: 10000,
		MaxConnsPerHost:     maxConns,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	if o.HTTP1 {
		// A non-nil empty map is how net/http is told not to use HTTP/2.
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	} else if maxBody > 0 {
		// HTTP/2 flow control: without this, each stream may buffer 4 MiB
		// the OP pushed before the body cap reads a byte of it.
		perStream := int(min(max(maxBody+1, 64<<10), 4<<20))
		tr.HTTP2 = &http.HTTP2Config{
			MaxReceiveBufferPerStream:     perStream,
			MaxReceiveBufferPerConnection: max(perStream, (4<<20)/share),
		}
	}
	return tr
}

// loadTransport refuses non-https URLs, caps answer bodies and drops
// vegeta's sequence header.
type loadTransport struct {
	base      roundTripCloser
	maxBody   int64
	seqHeader bool
}

func (t *loadTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// Every poll carries a credential (a client assertion, the client's
	// certificate): never over plain HTTP, as the CIBA client refuses too.
	if err := client.RefuseInsecureRequest(req); err != nil {
		return nil, err
	}
	if !t.seqHeader && req.Header.Get(headerSeq) != "" {
		// A RoundTripper must not modify its request: send a shallow
		// copy without the header.
		r := *req
		r.Header = req.Header.Clone()
		r.Header.Del(headerSeq)
		req = &r
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil || t.maxBody < 0 {
		return resp, err
	}
	resp.Body = &cappedBody{rc: resp.Body, left: t.maxBody, max: t.maxBody, status: resp.StatusCode}
	return resp, nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// transport.
func (t *loadTransport) CloseIdleConnections() { t.base.CloseIdleConnections() }

// roundTripCloser is an http.Transport or a connSpread of them.
type roundTripCloser interface {
	http.RoundTripper
	CloseIdleConnections()
}

// connSpread sends each request over the transport (of one connection
// each) with the fewest requests in flight, in turn among equals, and
// holds at most streams requests on each: a request finding every
// connection's budget used waits in RoundTrip (in flight: its latency
// counts the wait) until one of them ends, instead of Go's client
// dialling another connection. Go's HTTP/2 client puts each request on
// the first connection with a free stream, so with a cap of 4
// connections one carried most of a run: its read loop, and the OP's
// serve loop for it, one goroutine each. Measured against the reference
// OP in its own process (2 cores, polls at --rate max): 10,375/s over
// Go's pool vs 12,876/s spread over 4 with 32 in flight; 10,602/s vs
// 15,355/s with 256. Plain turns were not enough under load: a
// connection whose answers lag (its read loop not scheduled) kept getting
// its share, reached the server's 250 streams, and Go's client then
// dialled another connection despite MaxConnsPerHost (which for HTTP/2
// only bounds dials in progress): 10-20 connections and as many TLS
// handshakes at the OP in a run at 1.2× its capacity. The fewest in
// flight keeps each connection within one stream of the budget.
type connSpread struct {
	trs      []*http.Transport
	inFlight []atomic.Int64
	next     atomic.Uint64
	// streams is the budget asked for; probe reads the OP's limit once,
	// before the first request (setUp).
	streams int
	probe   func(ctx context.Context, addr string) (limit uint32, known bool)
	once    sync.Once
	// slots holds one token per request on a connection: at most
	// len(trs) × the budget.
	slots chan struct{}
	stats *ConnStats // nil: not counted
}

func newConnSpread(trs []*http.Transport, streams int, stats *ConnStats, probe func(context.Context, string) (uint32, bool)) *connSpread {
	return &connSpread{trs: trs, inFlight: make([]atomic.Int64, len(trs)), streams: streams, probe: probe, stats: stats}
}

// setUp sizes the budget from the OP's stream limit, read over a
// connection of its own before any transport has one, and when it is
// known tells the transports to wait for a stream instead of dialling
// (see DefaultStreamsPerConn).
func (s *connSpread) setUp(req *http.Request) {
	budget := min(s.streams, unprobedStreamsPerConn)
	ctx, cancel := context.WithTimeout(req.Context(), 10*time.Second)
	defer cancel()
	if limit, known := s.probe(ctx, canonicalAddr(req.URL)); known {
		budget = int(min(uint32(s.streams), max(limit, 1)))
		for _, t := range s.trs {
			if t.HTTP2 == nil {
				t.HTTP2 = &http.HTTP2Config{}
			}
			t.HTTP2.StrictMaxConcurrentRequests = true
		}
	}
	s.slots = make(chan struct{}, len(s.trs)*budget)
}

// canonicalAddr is u's host:port, 443 when u names none.
func canonicalAddr(u *url.URL) string {
	if port := u.Port(); port != "" {
		return net.JoinHostPort(u.Hostname(), port)
	}
	return net.JoinHostPort(u.Hostname(), "443")
}

// pick is the transport with the fewest requests in flight, scanning from
// the next in turn so equals take turns.
func (s *connSpread) pick() int {
	n := uint64(len(s.trs))
	start := (s.next.Add(1) - 1) % n
	best, fewest := int(start), s.inFlight[start].Load()
	for k := uint64(1); k < n && fewest > 0; k++ {
		i := int((start + k) % n)
		if f := s.inFlight[i].Load(); f < fewest {
			best, fewest = i, f
		}
	}
	return best
}

func (s *connSpread) RoundTrip(req *http.Request) (*http.Response, error) {
	s.once.Do(func() { s.setUp(req) })
	select {
	case s.slots <- struct{}{}:
	default:
		// Every connection has its budget in flight: wait for a stream,
		// or until the request is given up (http.Client.Timeout, the
		// run's end).
		if s.stats != nil {
			s.stats.waited.Add(1)
		}
		select {
		case s.slots <- struct{}{}:
		case <-req.Context().Done():
			if req.Body != nil {
				_ = req.Body.Close() // a RoundTripper closes the body, even on error
			}
			return nil, req.Context().Err()
		}
	}
	i := s.pick()
	s.inFlight[i].Add(1)
	resp, err := s.trs[i].RoundTrip(req)
	if err != nil {
		s.release(i)
		return resp, err
	}
	// In flight until its body is closed (the stream's end).
	resp.Body = &spreadBody{ReadCloser: resp.Body, s: s, conn: i}
	return resp, nil
}

// release ends a request on connection i.
func (s *connSpread) release(i int) {
	s.inFlight[i].Add(-1)
	<-s.slots
}

func (s *connSpread) CloseIdleConnections() {
	for _, t := range s.trs {
		t.CloseIdleConnections()
	}
}

// spreadBody ends its request on its connection when closed, once.
type spreadBody struct {
	io.ReadCloser
	s      *connSpread
	conn   int
	closed atomic.Bool
}

func (b *spreadBody) Close() error {
	if b.closed.CompareAndSwap(false, true) {
		b.s.release(b.conn)
	}
	return b.ReadCloser.Close()
}

// cappedBody fails a read past max bytes. Close then closes the
// connection's stream (HTTP/2 RST_STREAM) or the connection (HTTP/1.1)
// instead of draining the rest.
type cappedBody struct {
	rc        io.ReadCloser
	left, max int64
	status    int
	err       error
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.left {
		n = int(b.left)
		b.err = fmt.Errorf("HTTP %d: %w (%d bytes)", b.status, ErrBodyTooLarge, b.max)
		b.left = 0
		return n, b.err
	}
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }
