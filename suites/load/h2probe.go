package load

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"io"
	"math"
	"net"
	"time"
)

// HTTP/2 framing read by probeMaxStreams (RFC 9113 3.4, 4.1, 6.5).
const (
	h2Preface              = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	h2FrameSettings        = 0x4
	h2FlagAck              = 0x1
	h2SettingMaxStreams    = 0x3
	h2DefaultMaxFrameSize  = 16384
	h2ProbeFramesBeforeSet = 4
)

// probeMaxStreams reads the OP's SETTINGS_MAX_CONCURRENT_STREAMS over a
// TLS connection of its own (dialled with dial, counted like the
// others): it sends the client preface and an empty SETTINGS frame and
// reads the server's preface, a SETTINGS frame (RFC 9113 3.4). limit is
// math.MaxUint32 when the server sets none (no limit, 6.5.2); known is
// false when the connection failed or did not negotiate h2.
func probeMaxStreams(ctx context.Context, dial dialFunc, tc *tls.Config, addr string) (limit uint32, known bool) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, false
	}
	raw, err := dial(ctx, "tcp", addr)
	if err != nil {
		return 0, false
	}
	cfg := tc.Clone()
	// http/1.1 too, so a server without HTTP/2 completes the handshake
	// (and is known to have no stream limit to read).
	cfg.NextProtos = []string{"h2", "http/1.1"}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	conn := tls.Client(raw, cfg)
	defer conn.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return 0, false
	}
	if err := conn.HandshakeContext(ctx); err != nil || conn.ConnectionState().NegotiatedProtocol != "h2" {
		return 0, false
	}
	// The preface, then an empty SETTINGS frame: length 0, type 4, no
	// flags, stream 0.
	out := append([]byte(h2Preface), 0, 0, 0, h2FrameSettings, 0, 0, 0, 0, 0)
	if _, err := conn.Write(out); err != nil {
		return 0, false
	}
	return readMaxStreams(conn)
}

// readMaxStreams reads frames from r until the server's first SETTINGS
// frame that is not an acknowledgement, and returns its
// SETTINGS_MAX_CONCURRENT_STREAMS (math.MaxUint32 when absent).
func readMaxStreams(r io.Reader) (limit uint32, known bool) {
	var head [9]byte
	for range h2ProbeFramesBeforeSet {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return 0, false
		}
		length := uint32(head[0])<<16 | uint32(head[1])<<8 | uint32(head[2])
		if length > h2DefaultMaxFrameSize {
			return 0, false
		}
		payload := make([]byte, length)
		if _, err := io.ReadFull(r, payload); err != nil {
			return 0, false
		}
		if head[3] != h2FrameSettings || head[4]&h2FlagAck != 0 {
			continue
		}
		if length%6 != 0 {
			return 0, false
		}
		limit = math.MaxUint32
		for p := payload; len(p) >= 6; p = p[6:] {
			if binary.BigEndian.Uint16(p) == h2SettingMaxStreams {
				limit = binary.BigEndian.Uint32(p[2:])
			}
		}
		return limit, true
	}
	return 0, false
}
