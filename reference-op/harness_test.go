package refop_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/clock"
	refop "github.com/ciba-check/ciba-check/reference-op"
)

// Client names of the harness.
const (
	cPoll       = "pkjwt-poll"
	cPoll2      = "pkjwt-poll-2"
	cPing       = "pkjwt-ping"
	cMTLS       = "mtls-poll"
	cSelfSigned = "selfsigned-poll"
	cPush       = "pkjwt-push"
	cUserCode   = "pkjwt-usercode"
)

// rsaKey is generated once: 2048-bit generation is slow under -race.
var rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// identity is one client's credentials.
type identity struct {
	id   string
	key  crypto.Signer // request objects, assertions
	alg  string
	kid  string
	cert tls.Certificate // TLS client certificate
}

type harness struct {
	t       *testing.T
	op      *refop.OP
	srv     *httptest.Server
	issuer  string
	clock   *clock.Fake
	ids     map[string]*identity
	roots   *x509.CertPool
	device  *fakeDevice
	ping    *pingServer
	clients map[string]*http.Client
	logs    *logSink
	// outbound is the OP's HTTP client, for closing idle connections.
	outbound *http.Client
}

type option func(*refop.Config)

func withFaults(f ...string) option {
	return func(c *refop.Config) { c.Faults = append(c.Faults, f...) }
}

// newHarness starts an OP over TLS with a fake device and ping server.
func newHarness(t *testing.T, opts ...option) *harness {
	t.Helper()
	now := time.Now().Truncate(time.Second)
	h := &harness{t: t, clock: clock.NewFake(now), ids: map[string]*identity{}, clients: map[string]*http.Client{}, logs: newLogSink()}

	h.device = newFakeDevice(t)
	h.ping = newPingServer(t)
	outboundRoots := x509.NewCertPool()
	outboundRoots.AddCert(h.device.srv.Certificate())
	outboundRoots.AddCert(h.ping.srv.Certificate())
	outbound := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: outboundRoots}}, Timeout: 5 * time.Second}
	h.outbound = outbound

	// OP server certificate: RSA, as FAPI TLS 1.2 suites need (DESIGN.md).
	serverCert, serverX509 := selfSignedCert(t, rsaKey(), "refop", now, true, nil, nil)
	h.roots = x509.NewCertPool()
	h.roots.AddCert(serverX509)

	caKey := ecKey(t)
	_, caCert := selfSignedCert(t, caKey, "test-ca", now, false, nil, nil)
	caPool := x509.NewCertPool()
	caPool.AddCert(caCert)

	h.srv = httptest.NewUnstartedServer(nil)
	h.issuer = "https://" + h.srv.Listener.Addr().String()

	var clients []refop.Client
	add := func(id string, method ciba.AuthMethod, mode ciba.DeliveryMode, mut func(*refop.Client)) {
		key := ecKey(t)
		ident := &identity{id: id, key: key, alg: "ES256", kid: id + "-key"}
		var x *x509.Certificate
		if method == ciba.AuthTLSClient {
			ident.cert, x = selfSignedCert(t, ecKey(t), id, now, false, caKey, caCert)
		} else {
			ident.cert, x = selfSignedCert(t, key, id, now, false, nil, nil)
		}
		h.ids[id] = ident
		jwk := jose.JSONWebKey{Key: key.Public(), KeyID: ident.kid, Algorithm: "ES256", Use: "sig"}
		if method == ciba.AuthSelfSignedTLSClient {
			jwk.Certificates = []*x509.Certificate{x}
		}
		c := refop.Client{ID: id, AuthMethod: method, DeliveryMode: mode, JWKS: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk}}, Scopes: []string{"accounts", "payments"}}
		if method == ciba.AuthTLSClient {
			c.TLSSubjectDN = x.Subject.String()
		}
		if mode != ciba.ModePoll {
			c.NotificationEndpoint = h.ping.srv.URL + "/cb/" + id
		}
		if id == cPoll2 {
			// A second, RSA key (no alg pinned) to test PS256 and RS256.
			c.JWKS.Keys = append(c.JWKS.Keys, jose.JSONWebKey{Key: rsaKey().Public(), KeyID: id + "-rsa", Use: "sig"})
		}
		if mut != nil {
			mut(&c)
		}
		clients = append(clients, c)
	}
	add(cPoll, ciba.AuthPrivateKeyJWT, ciba.ModePoll, nil)
	add(cPoll2, ciba.AuthPrivateKeyJWT, ciba.ModePoll, nil)
	add(cPing, ciba.AuthPrivateKeyJWT, ciba.ModePing, nil)
	add(cMTLS, ciba.AuthTLSClient, ciba.ModePoll, nil)
	add(cSelfSigned, ciba.AuthSelfSignedTLSClient, ciba.ModePoll, nil)
	add(cPush, ciba.AuthPrivateKeyJWT, ciba.ModePush, nil)
	add(cUserCode, ciba.AuthPrivateKeyJWT, ciba.ModePoll, func(c *refop.Client) { c.UserCodeParameter = true })

	cfg := refop.Config{
		Issuer:         h.issuer,
		SigningKeys:    []jose.JSONWebKey{{Key: ecKey(t), KeyID: "op-es256", Algorithm: "ES256", Use: "sig"}},
		ClientCAs:      caPool,
		Clients:        clients,
		Users:          []refop.User{{Subject: "sub-alice", LoginHint: "alice", Claims: map[string]any{"name": "Alice"}}, {Subject: "sub-bob", LoginHint: "bob", UserCode: "4321"}},
		DeviceEndpoint: h.device.srv.URL + "/device",
		HTTPClient:     outbound,
		Clock:          h.clock,
		Interval:       2,
		Logger:         slog.New(h.logs),
	}
	for _, o := range opts {
		o(&cfg)
	}
	op, err := refop.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.op = op
	h.srv.Config.Handler = op.Handler()
	h.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	h.srv.TLS = op.TLSConfig(serverCert)
	h.srv.TLS.NextProtos = []string{"http/1.1"}
	h.srv.StartTLS()
	t.Cleanup(func() {
		if err := op.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		h.srv.Close()
		for _, c := range h.clients {
			c.CloseIdleConnections()
		}
		outbound.CloseIdleConnections()
	})
	h.device.callback = h.issuer + refop.PathDeviceCallback
	return h
}

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// selfSignedCert makes a certificate for key, signed by caKey/caCert when
// given (a client certificate), else self-signed.
func selfSignedCert(t *testing.T, key crypto.Signer, cn string, now time.Time, server bool, caKey crypto.Signer, caCert *x509.Certificate) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"ciba-check"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	if server {
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	}
	parent, signer := tmpl, key
	if caCert == nil {
		tmpl.IsCA = true
		tmpl.BasicConstraintsValid = true
	} else {
		parent, signer = caCert, caKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	x, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: x}, x
}

// httpClient returns a client presenting the named identity's certificate
// ("" for none).
func (h *harness) httpClient(id string) *http.Client {
	if c, ok := h.clients[id]; ok {
		return c
	}
	cfg := &tls.Config{RootCAs: h.roots}
	if id != "" {
		cfg.Certificates = []tls.Certificate{h.ids[id].cert}
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	h.clients[id] = c
	return c
}

// signJWT signs claims with key/alg; headers are extra protected headers.
func signJWT(t *testing.T, key crypto.Signer, alg, kid string, claims map[string]any, headers map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	for k, v := range headers {
		opts.WithHeader(jose.HeaderKey(k), v)
	}
	if kid != "" {
		opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// unsignedJWT is an alg none JWT.
func unsignedJWT(claims map[string]any) string {
	hdr, _ := json.Marshal(map[string]any{"alg": "none"})
	payload, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
}

func newJTI() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// requestClaims are the claims of a valid signed authentication request
// for id; overrides replace claims, a nil value deletes one.
func (h *harness) requestClaims(id string, overrides map[string]any) map[string]any {
	now := h.clock.Now().Unix()
	c := map[string]any{
		"iss": id, "aud": h.issuer, "iat": now, "nbf": now, "exp": now + 300, "jti": newJTI(),
		"scope": "openid accounts", "login_hint": "alice", "binding_message": "1234",
	}
	if id == cPing || id == cPush {
		c["client_notification_token"] = "notif-" + newJTI()
	}
	for k, v := range overrides {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func (h *harness) requestObject(id string, overrides map[string]any) string {
	ident := h.ids[id]
	return signJWT(h.t, ident.key, ident.alg, ident.kid, h.requestClaims(id, overrides), nil)
}

// assertion is a private_key_jwt client assertion for id with aud.
func (h *harness) assertion(id, aud string) string {
	ident := h.ids[id]
	now := h.clock.Now().Unix()
	return signJWT(h.t, ident.key, ident.alg, ident.kid, map[string]any{
		"iss": id, "sub": id, "aud": aud, "iat": now, "exp": now + 60, "jti": newJTI(),
	}, nil)
}

// authForm is the client authentication part of a form for id.
func (h *harness) authForm(id, aud string) url.Values {
	v := url.Values{}
	switch id {
	case cMTLS, cSelfSigned:
		v.Set("client_id", id)
	default:
		v.Set("client_assertion_type", ciba.ClientAssertionTypeJWTBearer)
		v.Set("client_assertion", h.assertion(id, aud))
	}
	return v
}

// response is a decoded HTTP answer.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r response) str(k string) string { s, _ := r.body[k].(string); return s }

// post sends a form over TLS with the given client certificate identity.
func (h *harness) post(certID, path string, form url.Values) response {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return h.do(certID, req)
}

func (h *harness) do(certID string, req *http.Request) response {
	h.t.Helper()
	resp, err := h.httpClient(certID).Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// backchannel sends a signed request for id (client auth + request).
func (h *harness) backchannel(id string, overrides map[string]any) response {
	h.t.Helper()
	form := h.authForm(id, h.issuer+refop.PathBackchannel)
	form.Set("request", h.requestObject(id, overrides))
	return h.post(id, refop.PathBackchannel, form)
}

// start makes a successful backchannel request and returns auth_req_id.
func (h *harness) start(id string, overrides map[string]any) string {
	h.t.Helper()
	r := h.backchannel(id, overrides)
	if r.status != http.StatusOK || r.str("auth_req_id") == "" {
		h.t.Fatalf("backchannel for %s: %d %s", id, r.status, r.raw)
	}
	return r.str("auth_req_id")
}

// poll calls the token endpoint for id with authReqID over id's certificate.
func (h *harness) poll(id, authReqID string) response {
	h.t.Helper()
	form := h.authForm(id, h.issuer+refop.PathToken)
	form.Set("grant_type", ciba.GrantTypeCIBA)
	form.Set("auth_req_id", authReqID)
	return h.post(id, refop.PathToken, form)
}

// decide answers the device request for authReqID through the callback.
func (h *harness) decide(authReqID string, status ciba.DeviceStatus) response {
	h.t.Helper()
	dr := h.device.await(h.t, authReqID)
	return h.callback(dr.token, string(status))
}

func (h *harness) callback(token, status string) response {
	h.t.Helper()
	body, _ := json.Marshal(map[string]string{"status": status})
	req, _ := http.NewRequest(http.MethodPost, h.issuer+refop.PathDeviceCallback, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return h.do("", req)
}

// approve runs the device approval for authReqID and expects 200.
func (h *harness) approve(authReqID string) {
	h.t.Helper()
	if r := h.decide(authReqID, ciba.DeviceSucceed); r.status != http.StatusOK {
		h.t.Fatalf("callback: %d %s", r.status, r.raw)
	}
}

// deviceRequest is what the fake device received.
type deviceRequest struct {
	token string
	jti   string
	body  ciba.DeviceAuthRequest
}

// fakeDevice is an authentication device that records requests.
type fakeDevice struct {
	srv      *httptest.Server
	callback string
	mu       sync.Mutex
	status   int
	block    bool
	seen     map[string]deviceRequest
	arrived  chan struct{}
}

func newFakeDevice(t *testing.T) *fakeDevice {
	d := &fakeDevice{status: http.StatusCreated, seen: map[string]deviceRequest{}, arrived: make(chan struct{}, 100)}
	d.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var dr deviceRequest
		dr.token = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		_ = json.NewDecoder(r.Body).Decode(&dr.body)
		if parts := strings.Split(dr.token, "."); len(parts) == 3 {
			raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
			var c map[string]any
			_ = json.Unmarshal(raw, &c)
			dr.jti, _ = c["jti"].(string)
		}
		d.mu.Lock()
		d.seen[dr.jti] = dr
		status, block := d.status, d.block
		d.mu.Unlock()
		select {
		case d.arrived <- struct{}{}:
		default:
		}
		if block {
			<-r.Context().Done()
			return
		}
		w.WriteHeader(status)
	}))
	d.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	d.srv.StartTLS()
	t.Cleanup(d.srv.Close)
	return d
}

func (d *fakeDevice) setStatus(s int) { d.mu.Lock(); d.status = s; d.mu.Unlock() }

// await waits for the device request of authReqID.
func (d *fakeDevice) await(t *testing.T, authReqID string) deviceRequest {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		d.mu.Lock()
		dr, ok := d.seen[authReqID]
		d.mu.Unlock()
		if ok {
			return dr
		}
		select {
		case <-d.arrived:
		case <-deadline:
			t.Fatalf("device never received %s", authReqID)
		}
	}
}

// notification is one request the ping server received.
type notification struct {
	path, auth, contentType, body string
}

// pingServer is a client notification endpoint answering with status(n)
// for the n-th call (0-based) of each path.
type pingServer struct {
	srv    *httptest.Server
	mu     sync.Mutex
	answer func(path string, n int) (int, string)
	counts map[string]int
	got    chan notification
}

func newPingServer(t *testing.T) *pingServer {
	p := &pingServer{counts: map[string]int{}, got: make(chan notification, 100),
		answer: func(string, int) (int, string) { return http.StatusNoContent, "" }}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		n := p.counts[r.URL.Path]
		p.counts[r.URL.Path]++
		answer := p.answer
		p.mu.Unlock()
		status, location := answer(r.URL.Path, n)
		if location != "" {
			w.Header().Set("Location", p.srv.URL+location)
		}
		w.WriteHeader(status)
		p.got <- notification{path: r.URL.Path, auth: r.Header.Get("Authorization"), contentType: r.Header.Get("Content-Type"), body: string(body)}
	}))
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	return p
}

func (p *pingServer) setAnswer(f func(path string, n int) (int, string)) {
	p.mu.Lock()
	p.answer = f
	p.mu.Unlock()
}

// next waits for the next notification.
func (p *pingServer) next(t *testing.T) notification {
	t.Helper()
	select {
	case n := <-p.got:
		return n
	case <-time.After(5 * time.Second):
		t.Fatal("no notification arrived")
		return notification{}
	}
}

// none asserts no notification is pending. Called only after the OP's
// background work is known to have finished (op.Close or a synchronising
// event), so it does not race.
func (p *pingServer) none(t *testing.T) {
	t.Helper()
	select {
	case n := <-p.got:
		t.Fatalf("unexpected notification %+v", n)
	default:
	}
}

// decodeJWT returns the unverified claims of a compact JWS.
func decodeJWT(t *testing.T, s string) (map[string]any, map[string]any) {
	t.Helper()
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", s)
	}
	var hdr, claims map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(parts[0])
	_ = json.Unmarshal(raw, &hdr)
	raw, _ = base64.RawURLEncoding.DecodeString(parts[1])
	_ = json.Unmarshal(raw, &claims)
	return hdr, claims
}

// verifyWithJWKS verifies an OP-signed JWT against the published JWKS.
func (h *harness) verifyWithJWKS(s string) map[string]any {
	h.t.Helper()
	r := h.get("", refop.PathJWKS)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(r.raw), &set); err != nil {
		h.t.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(s, []jose.SignatureAlgorithm{jose.PS256, jose.ES256})
	if err != nil {
		h.t.Fatal(err)
	}
	keys := set.Key(jws.Signatures[0].Header.KeyID)
	if len(keys) != 1 {
		h.t.Fatalf("kid %q not in JWKS", jws.Signatures[0].Header.KeyID)
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		h.t.Fatalf("signature: %v", err)
	}
	var c map[string]any
	_ = json.Unmarshal(payload, &c)
	return c
}

func (h *harness) get(certID, path string) response {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.issuer+path, nil)
	return h.do(certID, req)
}

// userinfo calls the userinfo endpoint with token over certID's TLS cert.
func (h *harness) userinfo(certID, token string) response {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.issuer+refop.PathUserinfo, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	return h.do(certID, req)
}

// ctx is a short test context.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// wantError asserts an OAuth error answer with exactly error and
// error_description members.
func wantError(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status || r.str("error") != code {
		t.Fatalf("got %d %s, want %d %s", r.status, r.raw, status, code)
	}
	for k := range r.body {
		if k != "error" && k != "error_description" {
			t.Errorf("unexpected member %q in error body %s", k, r.raw)
		}
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	for _, c := range r.str("error_description") {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			t.Errorf("bad character %q in error_description", c)
		}
	}
}

// logRecord is one captured slog record.
type logRecord struct {
	msg   string
	attrs map[string]string
	text  string
}

// logSink is a slog.Handler capturing records, so tests can wait for the
// OP's background work to reach a point instead of sleeping.
type logSink struct {
	mu      sync.Mutex
	records []logRecord
	signal  chan struct{}
}

func newLogSink() *logSink { return &logSink{signal: make(chan struct{}, 1)} }

func (s *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (s *logSink) WithAttrs([]slog.Attr) slog.Handler       { return s }
func (s *logSink) WithGroup(string) slog.Handler            { return s }
func (s *logSink) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{msg: r.Message, attrs: map[string]string{}}
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	rec.text = b.String()
	s.mu.Lock()
	s.records = append(s.records, rec)
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
	return nil
}

// waitFor returns the n-th (1-based) record with message msg.
func (s *logSink) waitFor(t *testing.T, msg string, n int) logRecord {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		s.mu.Lock()
		seen := 0
		for _, r := range s.records {
			if r.msg == msg {
				seen++
				if seen == n {
					s.mu.Unlock()
					return r
				}
			}
		}
		s.mu.Unlock()
		select {
		case <-s.signal:
		case <-deadline:
			t.Fatalf("log record %q #%d never came", msg, n)
		}
	}
}

func (s *logSink) all() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, r := range s.records {
		b.WriteString(r.text + "\n")
	}
	return b.String()
}
