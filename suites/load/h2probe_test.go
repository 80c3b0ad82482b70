package load

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
)

// h2Frame is an HTTP/2 frame on stream 0: header and payload.
func h2Frame(typ, flags byte, payload ...byte) []byte {
	n := len(payload)
	return append([]byte{byte(n >> 16), byte(n >> 8), byte(n), typ, flags, 0, 0, 0, 0}, payload...)
}

func TestReadMaxStreams(t *testing.T) {
	maxStreams7 := []byte{0, 3, 0, 0, 0, 7}
	window := []byte{0, 4, 0, 1, 0, 0}
	for _, tt := range []struct {
		name  string
		in    []byte
		limit uint32
		known bool
	}{
		{"limit set", h2Frame(h2FrameSettings, 0, append(window, maxStreams7...)...), 7, true},
		{"no limit set: none", h2Frame(h2FrameSettings, 0, window...), math.MaxUint32, true},
		{"empty settings: none", h2Frame(h2FrameSettings, 0), math.MaxUint32, true},
		{"after an acknowledgement and a window update", append(append(h2Frame(h2FrameSettings, h2FlagAck), h2Frame(0x8, 0, 0, 0, 0, 1)...), h2Frame(h2FrameSettings, 0, maxStreams7...)...), 7, true},
		{"truncated", h2Frame(h2FrameSettings, 0, maxStreams7...)[:12], 0, false},
		{"a setting cut short", h2Frame(h2FrameSettings, 0, 0, 3, 0, 0), 0, false},
		{"a frame over the default size", []byte{0, 0x40, 1, 0, 0, 0, 0, 0, 0}, 0, false},
		{"no settings in the first frames", bytes.Repeat(h2Frame(0x8, 0, 0, 0, 0, 1), h2ProbeFramesBeforeSet+1), 0, false},
		{"nothing", nil, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			limit, known := readMaxStreams(bytes.NewReader(tt.in))
			if limit != tt.limit || known != tt.known {
				t.Errorf("readMaxStreams = %d, %v; want %d, %v", limit, known, tt.limit, tt.known)
			}
		})
	}
}

// TestProbeMaxStreams reads what real servers advertise: Go's default
// (250), a configured limit, and nothing from an HTTP/1.1-only server.
func TestProbeMaxStreams(t *testing.T) {
	for _, tt := range []struct {
		name  string
		h2    *http.HTTP2Config
		limit uint32
		known bool
	}{
		{"Go's default", &http.HTTP2Config{}, 250, true},
		{"configured", &http.HTTP2Config{MaxConcurrentStreams: 7}, 7, true},
		{"HTTP/1.1 only", nil, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(slowDown))
			srv.EnableHTTP2 = tt.h2 != nil
			srv.Config.HTTP2 = tt.h2
			srv.StartTLS()
			defer srv.Close()
			roots := x509.NewCertPool()
			roots.AddCert(srv.Certificate())
			st := &ConnStats{}
			tc := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
			limit, known := probeMaxStreams(context.Background(), countedDial(tc, st), tc, srv.Listener.Addr().String())
			if limit != tt.limit || known != tt.known {
				t.Errorf("probeMaxStreams = %d, %v; want %d, %v", limit, known, tt.limit, tt.known)
			}
			if c := st.Counts(); c.Opened != 1 || c.Handshakes != 1 {
				t.Errorf("the probe counted %d connections, %d handshakes; want 1 and 1", c.Opened, c.Handshakes)
			}
		})
	}
}
