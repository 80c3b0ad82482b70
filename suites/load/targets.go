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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/target"
)

// PollTargets describes the token requests of the poll scenario (CIBA
// 10.1): one per hit, round-robin over pending auth_req_ids, each with a
// fresh client assertion under private_key_jwt (RFC 7523 2.2) and
// client_secret_jwt (OIDC Core 9), the client_id under mutual TLS (RFC
// 8705 2), an Authorization: Basic header under client_secret_basic or
// client_id and client_secret in the body under client_secret_post (RFC
// 6749 2.3.1).
type PollTargets struct {
	// Endpoint is the token endpoint posted to (its mTLS alias when the
	// OP publishes one, RFC 8705 5).
	Endpoint   string
	ClientID   string
	AuthMethod ciba.AuthMethod
	// Secret is the client secret of client_secret_basic and
	// client_secret_post.
	Secret     string
	AuthReqIDs []string
	// Assertions supplies the client assertions; required for
	// private_key_jwt and client_secret_jwt.
	Assertions AssertionSource
	// Ctx bounds waiting for an assertion; when it ends the targeter
	// fails, which stops the vegeta attack.
	Ctx context.Context
}

// Targeter returns the vegeta.Targeter of pt.
func (pt PollTargets) Targeter() (vegeta.Targeter, error) {
	if pt.Endpoint == "" {
		return nil, errors.New("load: PollTargets.Endpoint is empty")
	}
	if len(pt.AuthReqIDs) == 0 {
		return nil, errors.New("load: PollTargets has no auth_req_ids to poll")
	}
	jwt := pt.AuthMethod == ciba.AuthPrivateKeyJWT || pt.AuthMethod == ciba.AuthClientSecretJWT
	secret := pt.AuthMethod == ciba.AuthClientSecretBasic || pt.AuthMethod == ciba.AuthClientSecretPost
	if !jwt && !secret && !pt.AuthMethod.UsesMTLS() {
		return nil, fmt.Errorf("load: client authentication %q is not private_key_jwt, client_secret_basic, client_secret_post, client_secret_jwt or mutual TLS", pt.AuthMethod)
	}
	if jwt && pt.Assertions == nil {
		return nil, fmt.Errorf("load: a %s client needs PollTargets.Assertions", pt.AuthMethod)
	}
	if secret && pt.Secret == "" {
		return nil, fmt.Errorf("load: a %s client needs PollTargets.Secret", pt.AuthMethod)
	}
	ctx := pt.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	// The fixed part of every body, encoded once.
	prefix := make([]string, len(pt.AuthReqIDs))
	for i, id := range pt.AuthReqIDs {
		f := url.Values{ciba.ParamGrantType: {ciba.GrantTypeCIBA}, ciba.ParamAuthReqID: {id}}
		switch {
		case jwt:
			f.Set(ciba.ParamClientAssertionType, ciba.ClientAssertionTypeJWTBearer)
		case pt.AuthMethod == ciba.AuthClientSecretBasic:
		case pt.AuthMethod == ciba.AuthClientSecretPost:
			f.Set(ciba.ParamClientID, pt.ClientID)
			f.Set(ciba.ParamClientSecret, pt.Secret)
		default:
			f.Set(ciba.ParamClientID, pt.ClientID)
		}
		prefix[i] = f.Encode()
	}
	header := http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"},
		"Accept":       {"application/json"},
	}
	if pt.AuthMethod == ciba.AuthClientSecretBasic {
		header.Set("Authorization", client.BasicAuthorization(pt.ClientID, pt.Secret))
	}
	var next atomic.Uint64
	return func(t *vegeta.Target) error {
		if t == nil {
			return vegeta.ErrNilTarget
		}
		body := prefix[(next.Add(1)-1)%uint64(len(prefix))]
		if jwt {
			a, err := pt.Assertions.Take(ctx)
			if err != nil {
				return err
			}
			body += "&" + ciba.ParamClientAssertion + "=" + url.QueryEscape(a)
		}
		*t = vegeta.Target{Method: http.MethodPost, URL: pt.Endpoint, Body: []byte(body), Header: header}
		return nil
	}, nil
}

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
	// count as in flight) instead of dialling.
	MaxConns int
	// MaxInFlight is the run's in-flight cap (0: unknown, no cap derived).
	MaxInFlight int
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
}

// Counts reads the counters.
func (s *ConnStats) Counts() ConnCounts {
	if s == nil {
		return ConnCounts{}
	}
	return ConnCounts{Opened: s.dials.Load(), Handshakes: s.handshakes.Load(), Resumed: s.resumed.Load(),
		PeakOpen: uint64(max(s.peakOpen.Load(), 0))}
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
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	dial := dialer.DialContext
	if st := o.Stats; st != nil {
		dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			st.opened()
			return &countedConn{Conn: conn, st: st}, nil
		}
		// VerifyConnection runs once per handshake, full or resumed
		// (the transport clones this config for every connection).
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			st.handshakes.Add(1)
			if cs.DidResume {
				st.resumed.Add(1)
			}
			return nil
		}
	}
	maxConns := o.MaxConns
	switch {
	case maxConns < 0:
		maxConns = 0
	case maxConns == 0 && (o.HTTP1 || o.NoKeepAlive):
		maxConns = DefaultMaxConnsHTTP1
		if o.MaxInFlight > 0 {
			maxConns = min(o.MaxInFlight, DefaultMaxConnsHTTP1)
		}
	case maxConns == 0:
		maxConns = DefaultMaxConnsHTTP2
	}
	maxBody := o.MaxBody
	if maxBody == 0 {
		maxBody = DefaultMaxBody
	}
	// transport makes a transport of at most maxConns connections that
	// may hold 1/share of the HTTP/2 receive buffer (4 MiB in all).
	transport := func(maxConns, share int) *http.Transport {
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
	var base roundTripCloser = transport(maxConns, 1)
	if !o.HTTP1 && !o.NoKeepAlive && maxConns > 1 {
		// One connection per transport, used in turn (connSpread).
		sp := &connSpread{trs: make([]*http.Transport, maxConns)}
		for i := range sp.trs {
			sp.trs[i] = transport(1, maxConns)
		}
		base = sp
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

// connSpread sends requests in turn over transports of one connection
// each. Go's HTTP/2 client puts each request on the first connection with
// a free stream, so with a cap of 4 connections one carried most of a
// run: its read loop, and the OP's serve loop for it, one goroutine each.
// Measured against the reference OP in its own process (2 cores, polls at
// --rate max): 10,375/s over Go's pool vs 12,876/s spread over 4 with 32
// in flight; 10,602/s vs 15,355/s with 256.
type connSpread struct {
	trs  []*http.Transport
	next atomic.Uint64
}

func (s *connSpread) RoundTrip(req *http.Request) (*http.Response, error) {
	return s.trs[(s.next.Add(1)-1)%uint64(len(s.trs))].RoundTrip(req)
}

func (s *connSpread) CloseIdleConnections() {
	for _, t := range s.trs {
		t.CloseIdleConnections()
	}
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

// AuthParamsFor are the authentication request parameters for user
// (CIBA 7.1): its hint, the scope, and for ping and push clients a fresh
// client_notification_token.
func AuthParamsFor(c *client.Client, user *target.User, scope string, expiry time.Duration) (client.AuthParams, error) {
	p := client.AuthParams{Scope: scope, UserCode: user.UserCode}
	switch param, v := user.Hint(); param {
	case ciba.ParamLoginHintToken:
		p.LoginHintToken = v
	case ciba.ParamIDTokenHint:
		p.IDTokenHint = v
	default:
		p.LoginHint = v
	}
	if expiry > 0 {
		p.RequestedExpiry = int(expiry.Round(time.Second) / time.Second)
	}
	if c.Mode() != ciba.ModePoll {
		tok, err := c.NewJTI()
		if err != nil {
			return p, err
		}
		p.ClientNotificationToken = tok
	}
	return p, nil
}

// StartPending makes n backchannel authentication requests for user (one
// who never answers) with requested_expiry expiry, parallel at a time, and
// returns their auth_req_ids (CIBA 7.3).
func StartPending(ctx context.Context, c *client.Client, user *target.User, scope string, n, parallel int, expiry time.Duration) ([]string, error) {
	if n < 1 {
		return nil, fmt.Errorf("load: %d pending requests asked for; need at least 1", n)
	}
	parallel = max(1, min(parallel, n))
	ids := make([]string, n)
	var (
		wg       sync.WaitGroup
		next     atomic.Int64
		firstErr atomic.Pointer[error]
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				p, err := AuthParamsFor(c, user, scope, expiry)
				if err == nil {
					var ack *ciba.AuthenticationResponse
					ack, _, err = c.Authenticate(ctx, p)
					if err == nil {
						ids[i] = ack.AuthReqID
						continue
					}
				}
				err = fmt.Errorf("load: starting pending request %d of %d: %w", i+1, n, err)
				if firstErr.CompareAndSwap(nil, &err) {
					cancel()
				}
				return
			}
		}()
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		return nil, *e
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return ids, nil
}

// AttackName encodes what merge needs to know about a shard into vegeta's
// attack name, which every encoded result carries: the scenario, shard,
// rate, planned duration and the OP's issuer (target; empty when unknown).
func AttackName(s Scenario, shard Shard, r Rate, planned time.Duration, target string) string {
	v := url.Values{"rate": {r.String()}, "duration": {planned.String()}}
	if shard.Count > 1 {
		v.Set("shard", shard.String())
	}
	if target != "" {
		v.Set("target", target)
	}
	return "ciba-check/" + string(s) + "?" + v.Encode()
}

// attackInfo is what AttackName encoded.
type attackInfo struct {
	Scenario Scenario
	Shard    string
	Rate     Rate
	Planned  time.Duration
	Target   string
}

func parseAttackName(name string) (attackInfo, error) {
	rest, ok := strings.CutPrefix(name, "ciba-check/")
	if !ok {
		return attackInfo{}, fmt.Errorf("attack %q was not written by ciba-check load", name)
	}
	sc, q, _ := strings.Cut(rest, "?")
	v, err := url.ParseQuery(q)
	if err != nil {
		return attackInfo{}, fmt.Errorf("attack %q: %w", name, err)
	}
	info := attackInfo{Scenario: Scenario(sc), Shard: v.Get("shard"), Target: v.Get("target")}
	if !info.Scenario.valid() {
		return attackInfo{}, fmt.Errorf("attack %q: unknown scenario %q", name, sc)
	}
	if info.Rate, err = ParseRate(v.Get("rate")); err != nil {
		return attackInfo{}, fmt.Errorf("attack %q: %w", name, err)
	}
	if info.Planned, err = time.ParseDuration(v.Get("duration")); err != nil {
		return attackInfo{}, fmt.Errorf("attack %q: duration: %w", name, err)
	}
	return info, nil
}
