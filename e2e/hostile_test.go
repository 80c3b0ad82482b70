package e2e

// A hostile front for the embedded reference OP: an HTTPS server that
// serves the reference OP's discovery document and JWKS (endpoints
// rewritten to itself) and decides every other answer itself, badly. It
// is what falsepass_test.go runs the conformance suite against: an OP
// that refuses everything, one that hangs, one whose endpoints present a
// certificate for another name. None of them can deserve a passed
// security check.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/devenv"
	"github.com/ciba-check/ciba-check/internal/pki"
	"github.com/ciba-check/ciba-check/mockdevice"
	refop "github.com/ciba-check/ciba-check/reference-op"
)

// hostileMode is how the front misbehaves.
type hostileMode string

const (
	// modeRefuse answers every request but discovery and JWKS with
	// HTTP 400 {"error":"invalid_request"}: the valid request as well as
	// the bad one.
	modeRefuse hostileMode = "refuse-everything"
	// modeHang holds every request that presents no client certificate
	// (discovery and JWKS aside) until the client gives up; the others
	// are refused as in modeRefuse.
	modeHang hostileMode = "hang"
	// modeWrongName serves discovery under the right name, but every
	// other endpoint (JWKS included) on a listener whose certificate,
	// issued by the target's own CA, names wrong.example: no verifying
	// client gets past the handshake. What does get through is refused as
	// in modeRefuse.
	modeWrongName hostileMode = "wrong-certificate-name"
	// modeWrongNameToken is modeWrongName for every endpoint but
	// discovery, JWKS and the backchannel endpoint, which refuses as in
	// modeRefuse: a preflight that probes the backchannel endpoint lets
	// the run go on, and the checks of the token endpoint (TLS probes,
	// token requests) meet the wrong name.
	modeWrongNameToken hostileMode = "wrong-certificate-name-past-the-backchannel"
	// modeHangOP is a reference OP of its own (its issuer the front's
	// URL, its own mock device) that answers everything rightly, except
	// that it holds every request presenting no client certificate until
	// the client gives up (discovery, JWKS and the device's callback
	// aside). Positive controls succeed there, so a check reaches its
	// certificate-less request and must then not read the silence as a
	// refusal.
	modeHangOP hostileMode = "hang-behind-a-correct-op"
)

// wrongName is the only name on the certificate of modeWrongName's
// endpoints.
const wrongName = "wrong.example"

// hostileOP is a running hostile front.
type hostileOP struct {
	mode hostileMode
	// Issuer is the front's issuer (and discovery) URL.
	Issuer string
	// endpoints is the base URL of every endpoint but discovery and
	// those in right.
	endpoints string
	// right holds the paths served under the front's own name in every
	// mode (modeWrongNameToken: JWKS and the backchannel endpoint).
	right map[string]bool

	discovery []byte
	jwks      []byte
	jwksPath  string

	// next answers what the front does not decide itself (modeHangOP:
	// the front's own reference OP); deviceURL is then its mock device.
	next      http.Handler
	deviceURL string
	stop      []func(context.Context) error

	// release ends every held request when the front stops.
	release chan struct{}
	lns     []net.Listener
	servers []*http.Server
	done    []chan error

	// Counters of what the front did, for the test log.
	refused, held, served, serverErrors atomic.Int64
}

// countingWriter counts the lines the HTTP server logs.
type countingWriter struct{ n *atomic.Int64 }

func (c countingWriter) Write(b []byte) (int, error) {
	c.n.Add(int64(bytes.Count(b, []byte("\n"))))
	return len(b), nil
}

// startHostileOP starts a front of env's reference OP in mode; dir holds
// the environment's material (ca.pem, ca.key, server.pem, server.key).
// It stops when the test ends.
func startHostileOP(t *testing.T, env *devenv.Env, dir string, mode hostileMode) *hostileOP {
	t.Helper()
	h := &hostileOP{mode: mode, release: make(chan struct{})}

	good, err := pki.LoadCertificate(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	front, frontConf := h.listen(t, good)
	h.Issuer = "https://" + front.Addr().String()
	h.endpoints = h.Issuer
	h.lns = []net.Listener{front}
	confs := []*tls.Config{frontConf}
	t.Cleanup(func() { h.close(t) })
	if mode == modeWrongName || mode == modeWrongNameToken {
		ca, err := pki.LoadCA(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key"))
		if err != nil {
			t.Fatal(err)
		}
		wrong, err := ca.IssueServer(rand.Reader, time.Now(), []string{wrongName})
		if err != nil {
			t.Fatal(err)
		}
		ln, conf := h.listen(t, wrong)
		h.endpoints = "https://" + ln.Addr().String()
		h.lns = append(h.lns, ln)
		confs = append(confs, conf)
	}
	if mode == modeHangOP {
		confs[0] = h.startOwnOP(t, env, dir, front.Addr().String(), good)
	} else {
		h.copyReference(t, env)
	}

	for i, ln := range h.lns {
		srv := &http.Server{
			Handler:           http.HandlerFunc(h.serve),
			TLSConfig:         confs[i],
			ReadHeaderTimeout: 10 * time.Second,
			// Handshakes the clients abort on purpose (wrong name, TLS
			// probes) are counted, not logged.
			ErrorLog: log.New(countingWriter{&h.serverErrors}, "", 0),
		}
		done := make(chan error, 1)
		go func() {
			err := srv.ServeTLS(ln, "", "")
			if err == http.ErrServerClosed {
				err = nil
			}
			done <- err
		}()
		h.servers = append(h.servers, srv)
		h.done = append(h.done, done)
	}
	return h
}

// listen opens a loopback listener on a free port and the TLS
// configuration presenting cert to serve on it. The TLS is deliberately permissive (TLS 1.0 up, every suite crypto/tls
// implements), so a check that passes on a refused handshake could only
// pass falsely here; it asks for a client certificate without verifying
// it, as the reference OP does, so the handler knows whether one came.
func (h *hostileOP) listen(t *testing.T, cert tls.Certificate) (net.Listener, *tls.Config) {
	t.Helper()
	var suites []uint16
	for _, s := range tls.CipherSuites() {
		suites = append(suites, s.ID)
	}
	conf := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS10,
		CipherSuites: suites,
		ClientAuth:   tls.RequestClientCert,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, conf
}

// copyReference fetches the reference OP's discovery document and JWKS
// and rewrites every URL of the OP in the document to the front.
func (h *hostileOP) copyReference(t *testing.T, env *devenv.Env) {
	t.Helper()
	get := func(u string) []byte { t.Helper(); return getReference(t, env, u) }
	var doc map[string]any
	if err := json.Unmarshal(get(env.Issuer+ciba.DiscoveryPath), &doc); err != nil {
		t.Fatal(err)
	}
	jwksURI, _ := doc["jwks_uri"].(string)
	u, err := url.Parse(jwksURI)
	if err != nil || jwksURI == "" {
		t.Fatalf("reference OP publishes jwks_uri %q: %v", jwksURI, err)
	}
	h.jwks = get(jwksURI)
	h.jwksPath = u.Path
	if h.mode == modeWrongNameToken {
		bc, _ := doc["backchannel_authentication_endpoint"].(string)
		bu, err := url.Parse(bc)
		if err != nil || bc == "" {
			t.Fatalf("reference OP publishes backchannel_authentication_endpoint %q: %v", bc, err)
		}
		h.right = map[string]bool{h.jwksPath: true, bu.Path: true}
	}
	for k, v := range doc {
		doc[k] = h.rewrite(env.Issuer, v)
	}
	doc["issuer"] = h.Issuer
	if h.discovery, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
}

// rewrite replaces the reference OP's base URL by the front's endpoint
// base in every string of v.
func (h *hostileOP) rewrite(ref string, v any) any {
	switch v := v.(type) {
	case string:
		if rest, ok := strings.CutPrefix(v, ref); ok {
			if path, _, _ := strings.Cut(rest, "?"); h.right[path] {
				return h.Issuer + rest
			}
			return h.endpoints + rest
		}
		return v
	case map[string]any:
		for k, e := range v {
			v[k] = h.rewrite(ref, e)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = h.rewrite(ref, e)
		}
		return v
	}
	return v
}

func (h *hostileOP) serve(w http.ResponseWriter, r *http.Request) {
	if h.next != nil {
		switch r.URL.Path {
		case ciba.DiscoveryPath, h.jwksPath, refop.PathDeviceCallback:
		default:
			if noCertificate(r) {
				h.hold(r)
				return
			}
		}
		h.served.Add(1)
		h.next.ServeHTTP(w, r)
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	switch r.URL.Path {
	case ciba.DiscoveryPath:
		h.served.Add(1)
		writeJSON(w, http.StatusOK, h.discovery)
		return
	case h.jwksPath:
		h.served.Add(1)
		writeJSON(w, http.StatusOK, h.jwks)
		return
	}
	if h.mode == modeHang && noCertificate(r) {
		h.hold(r)
		return
	}
	h.refused.Add(1)
	writeJSON(w, http.StatusBadRequest, []byte(`{"error":"invalid_request","error_description":"refused: this OP refuses every request"}`))
}

func noCertificate(r *http.Request) bool {
	return r.TLS == nil || len(r.TLS.PeerCertificates) == 0
}

// hold answers nothing until the client gives up (or the front stops).
func (h *hostileOP) hold(r *http.Request) {
	h.held.Add(1)
	select {
	case <-r.Context().Done():
	case <-h.release:
	}
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// String summarises what the front did.
func (h *hostileOP) String() string {
	answered := "discovery/JWKS answers"
	if h.next != nil {
		answered = "requests answered by its reference OP"
	}
	return fmt.Sprintf("%s front: %d %s, %d refusals, %d requests held until the client gave up, %d connection errors logged (failed handshakes, clients gone)",
		h.mode, h.served.Load(), answered, h.refused.Load(), h.held.Load(), h.serverErrors.Load())
}

// close releases held requests and stops the servers.
func (h *hostileOP) close(t *testing.T) {
	t.Helper()
	close(h.release)
	for _, ln := range h.lns[len(h.servers):] { // never served (the start failed)
		_ = ln.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, srv := range h.servers {
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("stopping the %s front: %v", h.mode, err)
			_ = srv.Close()
		}
		if err := <-h.done[i]; err != nil {
			t.Errorf("the %s front: %v", h.mode, err)
		}
	}
	for _, stop := range h.stop {
		if err := stop(ctx); err != nil {
			t.Errorf("stopping the %s front: %v", h.mode, err)
		}
	}
}

// startOwnOP builds modeHangOP's reference OP at addr (the front's
// listener) and its mock device, registering env's clients and users as
// devenv does; it returns the OP's TLS configuration for the front.
func (h *hostileOP) startOwnOP(t *testing.T, env *devenv.Env, dir, addr string, cert tls.Certificate) *tls.Config {
	t.Helper()
	ca, err := pki.LoadCA(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	var keys []jose.JSONWebKey
	public := jose.JSONWebKeySet{}
	for _, alg := range ciba.FAPIAlgs {
		k, err := pki.LoadSigningKey(filepath.Join(dir, "op", alg+".jwk"))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
		public.Keys = append(public.Keys, k.Public())
	}
	var clients []refop.Client
	for _, tc := range env.Target.Clients {
		data, err := os.ReadFile(filepath.Join(dir, "clients", tc.ID+".jwks.json"))
		if err != nil {
			t.Fatal(err)
		}
		reg := refop.Client{ID: tc.ID, AuthMethod: tc.Auth, DeliveryMode: tc.Mode, RequestSigningAlg: tc.Alg,
			Scopes: []string{"openid", "profile", "email"}, UserCodeParameter: true}
		if err := json.Unmarshal(data, &reg.JWKS); err != nil {
			t.Fatalf("%s: %v", tc.ID, err)
		}
		if tc.Auth == ciba.AuthTLSClient {
			c, err := tc.LoadTLSCertificate()
			if err != nil {
				t.Fatal(err)
			}
			reg.TLSSubjectDN = c.Leaf.Subject.String()
		}
		if tc.Notification != nil {
			reg.NotificationEndpoint = tc.Notification.URL
		}
		clients = append(clients, reg)
	}
	var users []refop.User
	policies := map[string]mockdevice.Policy{}
	for _, u := range env.Target.Users {
		users = append(users, refop.User{Subject: "user-" + u.Name, LoginHint: u.LoginHint, UserCode: u.UserCode,
			Claims: map[string]any{"name": u.Name, "email": u.Name + "@example.com"}})
		p := mockdevice.Policy{Outcome: ciba.Outcome(u.Outcome), Delay: u.Delay.Std()}
		if p.Outcome == ciba.OutcomeError {
			p.ErrorStatus = http.StatusServiceUnavailable
		}
		policies[u.LoginHint] = p
	}

	deviceLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.deviceURL = "https://" + deviceLn.Addr().String()
	outbound := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}}}
	op, err := refop.New(refop.Config{
		Issuer: "https://" + addr, SigningKeys: keys, ClientCAs: ca.Pool(), Clients: clients, Users: users,
		DeviceEndpoint: h.deviceURL + mockdevice.PathChannel, HTTPClient: outbound, Interval: 1,
	})
	if err != nil {
		deviceLn.Close()
		t.Fatal(err)
	}
	device, err := mockdevice.New(mockdevice.Config{
		CallbackURL: "https://" + addr + refop.PathDeviceCallback, HTTPClient: outbound, Policies: policies,
		Default: mockdevice.Policy{Outcome: ciba.OutcomeNever}, VerifyKeys: mockdevice.StaticKeys(&public),
		Issuer: "https://" + addr,
	})
	if err != nil {
		deviceLn.Close()
		_ = op.Close()
		t.Fatal(err)
	}
	deviceSrv := &http.Server{Handler: device.Handler(), ReadHeaderTimeout: 5 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	deviceDone := make(chan error, 1)
	go func() {
		err := deviceSrv.ServeTLS(deviceLn, "", "")
		if err == http.ErrServerClosed {
			err = nil
		}
		deviceDone <- err
	}()
	h.next = op.Handler()
	h.jwksPath = refop.PathJWKS
	h.stop = append(h.stop, func(ctx context.Context) error {
		outbound.CloseIdleConnections()
		err := deviceSrv.Shutdown(ctx)
		err = errors.Join(err, <-deviceDone)
		device.Close()
		return errors.Join(err, op.Close())
	})
	return op.TLSConfig(cert)
}
