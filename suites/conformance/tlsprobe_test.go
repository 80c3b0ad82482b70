package conformance

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// serverHello is a ServerHello handshake message selecting suite.
func serverHello(suite uint16, sessionID []byte) []byte {
	var m []byte
	m = binary.BigEndian.AppendUint16(m, tls.VersionTLS12)
	m = append(m, make([]byte, 32)...)
	m = append(m, byte(len(sessionID)))
	m = append(m, sessionID...)
	m = binary.BigEndian.AppendUint16(m, suite)
	m = append(m, 0) // compression
	return append([]byte{2, byte(len(m) >> 16), byte(len(m) >> 8), byte(len(m))}, m...)
}

func record(typ byte, payload []byte) []byte {
	r := []byte{typ, 3, 3}
	r = binary.BigEndian.AppendUint16(r, uint16(len(payload)))
	return append(r, payload...)
}

func TestReadServerHello(t *testing.T) {
	hello := serverHello(suiteDHERSAAES128GCMSHA256, []byte{1, 2, 3})
	tests := []struct {
		name    string
		in      []byte
		suite   uint16
		alert   tlsAlert // want a server alert (tlsRefusal) with this code
		wantErr bool
	}{
		{name: "server hello", in: record(22, hello), suite: suiteDHERSAAES128GCMSHA256},
		{name: "server hello and certificate in one record", in: record(22, append(slices.Clone(hello), 11, 0, 0, 0)), suite: suiteDHERSAAES128GCMSHA256},
		{name: "server hello split over records", in: append(record(22, hello[:10]), record(22, hello[10:])...), suite: suiteDHERSAAES128GCMSHA256},
		{name: "handshake failure alert", in: record(21, []byte{2, 40}), alert: 40, wantErr: true},
		{name: "protocol version alert", in: record(21, []byte{2, 70}), alert: 70, wantErr: true},
		{name: "eof", in: nil, wantErr: true},
		{name: "eof inside the hello", in: record(22, hello)[:20], wantErr: true},
		{name: "application data", in: record(23, []byte{1, 2, 3}), wantErr: true},
		{name: "not a server hello", in: record(22, []byte{11, 0, 0, 1, 0}), wantErr: true},
		{name: "short server hello", in: record(22, []byte{2, 0, 0, 3, 3, 3, 0}), wantErr: true},
		{name: "empty record", in: []byte{22, 3, 3, 0, 0}, wantErr: true},
		{name: "http answer", in: []byte("HTTP/1.1 400 Bad Request\r\n\r\n"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			suite, err := readServerHello(bytes.NewReader(tt.in))
			if (err != nil) != tt.wantErr || suite != tt.suite {
				t.Fatalf("readServerHello = %#04x, %v; want %#04x, error %v", suite, err, tt.suite, tt.wantErr)
			}
			var a tlsAlert
			if got := tlsRefusal(err); got != (tt.alert != 0) || (got && (!errors.As(err, &a) || a != tt.alert)) {
				t.Errorf("error %v: tlsRefusal %v, want alert %d", err, got, tt.alert)
			}
		})
	}
}

func selfSignedCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "op.example"}, DNSNames: []string{"op.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestDHEProbeAgainstGoServer offers Go's TLS server (which has no DHE)
// the probe's ClientHello: the server must parse it (server name, TLS 1.2,
// the DHE suites) and refuse with handshake_failure, not decode_error.
func TestDHEProbeAgainstGoServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	hellos := make(chan *tls.ClientHelloInfo, 1)
	conf := &tls.Config{Certificates: []tls.Certificate{selfSignedCert(t)}, MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) { hellos <- h; return nil, nil }}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = tls.Server(c, conf).Handshake()
	}()
	suite, err := dheProbe(context.Background(), ln.Addr().String(), "op.example")
	<-done
	var a tlsAlert
	if suite != 0 || !tlsRefusal(err) || !errors.As(err, &a) || a != 40 {
		t.Fatalf("dheProbe = %#04x, %v; want a handshake_failure alert", suite, err)
	}
	h := <-hellos
	if h.ServerName != "op.example" || !slices.Contains(h.SupportedVersions, tls.VersionTLS12) ||
		!slices.Equal(h.CipherSuites, []uint16{suiteDHERSAAES128GCMSHA256, suiteDHERSAAES256GCMSHA384, suiteEmptyRenegotiationSCSV}) {
		t.Errorf("the server read server name %q, versions %v, suites %v", h.ServerName, h.SupportedVersions, h.CipherSuites)
	}
}

func TestClientHelloDHEServerName(t *testing.T) {
	var random [32]byte
	for host, want := range map[string]bool{"op.example": true, "127.0.0.1": false, "::1": false, "": false} {
		got := host != "" && bytes.Contains(clientHelloDHE(host, random), []byte(host))
		if got != want {
			t.Errorf("clientHelloDHE(%q) carries server_name: %v, want %v", host, got, want)
		}
	}
	hello := clientHelloDHE("op.example", random)
	if n := int(binary.BigEndian.Uint16(hello[3:5])); n != len(hello)-5 || hello[0] != 22 || hello[5] != 1 {
		t.Errorf("record header %v does not frame a ClientHello of %d bytes", hello[:6], len(hello)-5)
	}
}

// TestTLSRefusalThroughHTTPClient: a server that requires a client
// certificate refuses one that presents none with an alert, and the
// refusal survives the HTTP client's error wrapping (what the mutual-TLS
// "no certificate" check sees), over TLS 1.2 and TLS 1.3.
func TestTLSRefusalThroughHTTPClient(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert, MinVersion: v, MaxVersion: v}
			srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
			srv.StartTLS()
			defer srv.Close()
			hc := srv.Client()
			_, err := hc.Post(srv.URL, "application/x-www-form-urlencoded", nil)
			err = fmt.Errorf("client: POST %s: %w", srv.URL, err)
			if !tlsRefusal(err) {
				t.Errorf("tlsRefusal(%v) = false", err)
			}
		})
	}
	// A server that closes the connection without an alert is no refusal.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, _ = io.ReadFull(c, make([]byte, 5))
			c.Close()
		}
	}()
	_, err = (&http.Client{Timeout: 5 * time.Second}).Get("https://" + ln.Addr().String())
	if err == nil || tlsRefusal(err) {
		t.Errorf("a closed connection: tlsRefusal(%v) = true", err)
	}
}
