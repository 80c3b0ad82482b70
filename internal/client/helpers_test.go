package client

import (
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
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/clock"
)

var testStart = time.Unix(1_700_000_000, 0)

func rsaJWK(t *testing.T, kid string) jose.JSONWebKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return jose.JSONWebKey{Key: k, KeyID: kid, Algorithm: ciba.AlgPS256, Use: "sig"}
}

func ecJWK(t *testing.T, kid string) jose.JSONWebKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return jose.JSONWebKey{Key: k, KeyID: kid, Algorithm: ciba.AlgES256, Use: "sig"}
}

// selfSignedCert makes an ECDSA certificate valid for 127.0.0.1, usable as
// a client or server certificate.
func selfSignedCert(t *testing.T, cn string) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, leaf
}

// seen is one request as the fake OP received it.
type seen struct {
	Method    string
	Path      string
	Header    http.Header
	Form      url.Values
	Body      string
	PeerCerts []*x509.Certificate
}

// reply is a canned answer of the fake OP.
type reply struct {
	Status int
	Header http.Header
	Body   string
}

func jsonReply(status int, body string) reply {
	return reply{Status: status, Header: http.Header{"Content-Type": {"application/json"}}, Body: body}
}

// fakeOP is a tiny TLS server answering canned replies and recording what
// it was sent.
type fakeOP struct {
	srv     *httptest.Server
	mu      sync.Mutex
	seen    []seen
	arrived chan seen
	answer  func(s seen) reply
}

func newFakeOP(t *testing.T, requireClientCert bool, answer func(s seen) reply) *fakeOP {
	t.Helper()
	op := &fakeOP{answer: answer, arrived: make(chan seen, 100)}
	op.srv = httptest.NewUnstartedServer(http.HandlerFunc(op.serve))
	if requireClientCert {
		op.srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	}
	op.srv.EnableHTTP2 = true
	op.srv.StartTLS()
	t.Cleanup(op.srv.Close)
	return op
}

func (op *fakeOP) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s := seen{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: string(body)}
	if r.TLS != nil {
		s.PeerCerts = r.TLS.PeerCertificates
	}
	s.Form, _ = url.ParseQuery(string(body))
	if r.Method == http.MethodGet {
		s.Form = r.URL.Query()
	}
	if r.URL.Path == ciba.DiscoveryPath && op.answer == nil {
		b, _ := json.Marshal(op.metadata())
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
		return
	}
	op.mu.Lock()
	op.seen = append(op.seen, s)
	op.mu.Unlock()
	op.arrived <- s
	rep := reply{Status: http.StatusNoContent}
	if op.answer != nil {
		rep = op.answer(s)
	}
	for k, vs := range rep.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(rep.Status)
	_, _ = io.WriteString(w, rep.Body)
}

func (op *fakeOP) requests() []seen {
	op.mu.Lock()
	defer op.mu.Unlock()
	return append([]seen(nil), op.seen...)
}

func (op *fakeOP) metadata() *ciba.ProviderMetadata {
	u := op.srv.URL
	return &ciba.ProviderMetadata{
		Issuer:                                 u,
		TokenEndpoint:                          u + "/token",
		BackchannelAuthenticationEndpoint:      u + "/bc",
		UserinfoEndpoint:                       u + "/userinfo",
		IntrospectionEndpoint:                  u + "/introspect",
		RevocationEndpoint:                     u + "/revoke",
		JWKSURI:                                u + "/jwks",
		BackchannelTokenDeliveryModesSupported: []ciba.DeliveryMode{ciba.ModePoll, ciba.ModePing},
		TLSClientCertificateBoundAccessTokens:  true,
	}
}

func (op *fakeOP) roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(op.srv.Certificate())
	return p
}

// testClient builds a client of op with a fake clock; edit adjusts the
// config first.
func testClient(t *testing.T, op *fakeOP, key jose.JSONWebKey, edit func(*Config)) (*Client, *clock.Fake) {
	t.Helper()
	fc := clock.NewFake(testStart)
	cfg := Config{
		ClientID:   "client-1",
		AuthMethod: ciba.AuthPrivateKeyJWT,
		Mode:       ciba.ModePoll,
		SigningKey: key,
		RootCAs:    op.roots(),
		Metadata:   op.metadata(),
		Clock:      fc,
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c, fc
}

// decodeJWT splits a compact JWT without verifying it.
func decodeJWT(t *testing.T, compact string) (header, claims map[string]any, sig []byte) {
	t.Helper()
	parts := strings.Split(compact, ".")
	if len(parts) != 3 {
		t.Fatalf("JWT has %d segments, want 3: %q", len(parts), compact)
	}
	dec := func(s string, into *map[string]any) {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("segment %q: %v", s, err)
		}
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatalf("segment %q: %v", b, err)
		}
	}
	dec(parts[0], &header)
	dec(parts[1], &claims)
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	return header, claims, sig
}

// verifyJWT checks compact's signature under key with alg, returning the
// error go-jose gives.
func verifyJWT(compact string, alg jose.SignatureAlgorithm, key any) error {
	jws, err := jose.ParseSigned(compact, []jose.SignatureAlgorithm{alg})
	if err != nil {
		return err
	}
	_, err = jws.Verify(key)
	return err
}

// waitPending waits until fc has n timers: the component has scheduled its
// next wait. Polling a condition is the one way to observe that.
func waitPending(t *testing.T, fc *clock.Fake, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for fc.Pending() != n {
		if time.Now().After(deadline) {
			t.Fatalf("timers pending = %d, want %d", fc.Pending(), n)
		}
		runtime.Gosched()
	}
}

func x509CertPoolEmpty() *x509.CertPool { return x509.NewCertPool() }
