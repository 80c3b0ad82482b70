package e2e

// TLS probes of the OP's listener (FAPI-RW 8.5-1/-2, RFC 9325; CIBA.md
// §5.12): TLS 1.0/1.1 and non-FAPI TLS 1.2 suites refused, the FAPI GCM
// suites accepted, TLS 1.3 negotiated by default. crypto/tls is used
// directly so the client offers exactly what each probe names.

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/internal/devenv"
)

// tlsProbe is one handshake offering only the given versions and suites.
type tlsProbe struct {
	name     string
	min, max uint16
	suites   []uint16 // TLS 1.2 and older only; nil means Go's defaults
	// refused: the server must abort the handshake; otherwise it must
	// complete with wantVersion (and wantSuite when non-zero).
	refused     bool
	wantVersion uint16
	wantSuite   uint16
}

// cbcSuites are TLS 1.0-1.2 suites outside FAPI-RW 8.5-2's list that
// crypto/tls can still offer when asked (TLS 1.0/1.1 have no GCM suites).
func cbcSuites() []uint16 {
	return []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA}
}

// handshake dials the OP's host offering what p offers, trusting the
// target's CA, and returns the connection state.
func (w *world) handshake(t *testing.T, p tlsProbe) (tls.ConnectionState, error) {
	t.Helper()
	u, err := url.Parse(w.env.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	roots := targetRoots(t, w.env.Target)
	d := &tls.Dialer{
		NetDialer: &net.Dialer{Timeout: 5 * time.Second},
		Config: &tls.Config{
			RootCAs:      roots,
			ServerName:   u.Hostname(),
			MinVersion:   p.min,
			MaxVersion:   p.max,
			CipherSuites: p.suites,
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState(), nil
}

// runTLSProbes checks each probe against the world's OP.
func runTLSProbes(t *testing.T, w *world, probes []tlsProbe) {
	t.Helper()
	for _, p := range probes {
		t.Run(p.name, func(t *testing.T) {
			st, err := w.handshake(t, p)
			if p.refused {
				wantServerRefusal(t, err, st)
				return
			}
			if err != nil {
				t.Fatalf("handshake refused: %v", err)
			}
			if st.Version != p.wantVersion {
				t.Errorf("negotiated %s, want %s", tls.VersionName(st.Version), tls.VersionName(p.wantVersion))
			}
			if p.wantSuite != 0 && st.CipherSuite != p.wantSuite {
				t.Errorf("negotiated %s, want %s", tls.CipherSuiteName(st.CipherSuite), tls.CipherSuiteName(p.wantSuite))
			}
		})
	}
}

// wantServerRefusal: the handshake failed because the server sent an
// alert, not because our own configuration offered nothing.
func wantServerRefusal(t *testing.T, err error, st tls.ConnectionState) {
	t.Helper()
	if err == nil {
		t.Fatalf("handshake completed with %s %s; the server must refuse it (FAPI-RW 8.5)",
			tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "remote error" {
		t.Fatalf("handshake failed, but not by a server alert (client-side problem?): %v", err)
	}
}

// TestTLSVersionsAndCipherSuites: FAPI-RW 8.5-1 (TLS 1.2+), 8.5-2 (only
// the GCM ECDHE/DHE suites on TLS 1.2), RFC 9325 / CIBA.md §5.12 (TLS 1.3
// preferred).
func TestTLSVersionsAndCipherSuites(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	runTLSProbes(t, w, []tlsProbe{
		{name: "TLS 1.0 refused", min: tls.VersionTLS10, max: tls.VersionTLS10, suites: cbcSuites(), refused: true},
		{name: "TLS 1.1 refused", min: tls.VersionTLS11, max: tls.VersionTLS11, suites: cbcSuites(), refused: true},
		{name: "TLS 1.2 ECDHE_RSA_WITH_AES_128_CBC_SHA refused", min: tls.VersionTLS12, max: tls.VersionTLS12,
			suites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}, refused: true},
		{name: "TLS 1.2 ECDHE_RSA_WITH_AES_256_CBC_SHA refused", min: tls.VersionTLS12, max: tls.VersionTLS12,
			suites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA}, refused: true},
		{name: "TLS 1.2 ECDHE_RSA_WITH_AES_128_CBC_SHA256 refused", min: tls.VersionTLS12, max: tls.VersionTLS12,
			suites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256}, refused: true},
		{name: "TLS 1.2 ECDHE_RSA_WITH_CHACHA20_POLY1305 refused", min: tls.VersionTLS12, max: tls.VersionTLS12,
			suites: []uint16{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}, refused: true},
		{name: "TLS 1.2 ECDHE_RSA_WITH_AES_128_GCM_SHA256 accepted", min: tls.VersionTLS12, max: tls.VersionTLS12,
			suites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}, wantVersion: tls.VersionTLS12, wantSuite: tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256},
		{name: "TLS 1.2 ECDHE_RSA_WITH_AES_256_GCM_SHA384 accepted", min: tls.VersionTLS12, max: tls.VersionTLS12,
			suites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384}, wantVersion: tls.VersionTLS12, wantSuite: tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384},
		{name: "TLS 1.2 with a CBC suite preferred over GCM negotiates GCM", min: tls.VersionTLS12, max: tls.VersionTLS12,
			suites:      []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256},
			wantVersion: tls.VersionTLS12, wantSuite: tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256},
		{name: "default negotiates TLS 1.3", min: tls.VersionTLS12, wantVersion: tls.VersionTLS13},
		{name: "TLS 1.0 to 1.3 offered negotiates TLS 1.3", min: tls.VersionTLS10, max: tls.VersionTLS13, wantVersion: tls.VersionTLS13},
	})
	// The OP still serves HTTPS after the refused handshakes.
	c := w.client("poll-pkjwt-es256")
	w.authenticate(c, w.params(c, "carol"))
}

// TestTLSWeakCiphersFault proves the cipher probe can fail: with the
// tls-weak-ciphers fault the OP accepts the CBC suite the test above
// insists it refuses.
func TestTLSWeakCiphersFault(t *testing.T) {
	t.Parallel()
	w := newWorld(t, func(o *devenv.Options) { o.Faults = []string{"tls-weak-ciphers"} })
	runTLSProbes(t, w, []tlsProbe{
		{name: "TLS 1.2 ECDHE_RSA_WITH_AES_128_CBC_SHA accepted under the fault", min: tls.VersionTLS12, max: tls.VersionTLS12,
			suites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}, wantVersion: tls.VersionTLS12, wantSuite: tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA},
		{name: "TLS 1.2 ECDHE_RSA_WITH_AES_128_GCM_SHA256 still accepted", min: tls.VersionTLS12, max: tls.VersionTLS12,
			suites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}, wantVersion: tls.VersionTLS12, wantSuite: tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256},
	})
}
