package conformance

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// The TLS 1.2 cipher suites FAPI-RW 8.5 permits that Go's TLS stack
// cannot negotiate: finite-field Diffie-Hellman.
const (
	suiteDHERSAAES128GCMSHA256  uint16 = 0x009e
	suiteDHERSAAES256GCMSHA384  uint16 = 0x009f
	suiteEmptyRenegotiationSCSV uint16 = 0x00ff
)

var fapiDHESuites = []uint16{suiteDHERSAAES128GCMSHA256, suiteDHERSAAES256GCMSHA384}

// tlsAlert is an alert a TLS server sent (RFC 5246 7.2).
type tlsAlert uint8

func (a tlsAlert) Error() string {
	names := map[tlsAlert]string{40: "handshake failure", 47: "illegal parameter", 70: "protocol version not supported", 71: "insufficient security", 80: "internal error", 112: "unrecognized name"}
	if n, ok := names[a]; ok {
		return "tls: " + n
	}
	return fmt.Sprintf("tls: alert(%d)", uint8(a))
}

// clientHelloDHE is a TLS 1.2 ClientHello record (RFC 5246 7.4.1.2)
// offering only the FAPI DHE cipher suites, with server_name (unless
// serverName is empty or an IP address), signature_algorithms and
// extended_master_secret.
func clientHelloDHE(serverName string, random [32]byte) []byte {
	u16 := func(b []byte, v int) []byte { return binary.BigEndian.AppendUint16(b, uint16(v)) }
	var body []byte
	body = u16(body, tls.VersionTLS12)
	body = append(body, random[:]...)
	body = append(body, 0) // no session id
	suites := append(fapiDHESuites[:len(fapiDHESuites):len(fapiDHESuites)], suiteEmptyRenegotiationSCSV)
	body = u16(body, 2*len(suites))
	for _, s := range suites {
		body = u16(body, int(s))
	}
	body = append(body, 1, 0) // compression: null only
	var ext []byte
	if serverName != "" && net.ParseIP(serverName) == nil {
		name := []byte(serverName) // server_name, RFC 6066 3
		ext = u16(ext, 0)
		ext = u16(ext, len(name)+5)
		ext = u16(ext, len(name)+3)
		ext = append(ext, 0)
		ext = u16(ext, len(name))
		ext = append(ext, name...)
	}
	sigs := []int{0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0403, 0x0503, 0x0201}
	ext = u16(ext, 0x000d) // signature_algorithms, RFC 5246 7.4.1.4.1
	ext = u16(ext, 2+2*len(sigs))
	ext = u16(ext, 2*len(sigs))
	for _, s := range sigs {
		ext = u16(ext, s)
	}
	ext = u16(ext, 0x0017) // extended_master_secret, RFC 7627
	ext = u16(ext, 0)
	body = u16(body, len(ext))
	body = append(body, ext...)
	hs := []byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}
	hs = append(hs, body...)
	rec := []byte{22, 3, 1}
	rec = u16(rec, len(hs))
	return append(rec, hs...)
}

// readServerHello reads the server's first answer to a ClientHello: the
// cipher suite of its ServerHello, or its alert as a *net.OpError with Op
// "remote error" (what crypto/tls returns, so tlsRefusal knows it), or
// another error for anything else.
func readServerHello(r io.Reader) (uint16, error) {
	var hs []byte
	for {
		var hdr [5]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return 0, err
		}
		n := int(binary.BigEndian.Uint16(hdr[3:]))
		if n == 0 || n > 16384+2048 {
			return 0, fmt.Errorf("tls: record of %d bytes", n)
		}
		rec := make([]byte, n)
		if _, err := io.ReadFull(r, rec); err != nil {
			return 0, err
		}
		switch hdr[0] {
		case 21: // alert
			if n < 2 {
				return 0, errors.New("tls: short alert record")
			}
			return 0, &net.OpError{Op: "remote error", Err: tlsAlert(rec[1])}
		case 22: // handshake
			hs = append(hs, rec...)
		default:
			return 0, fmt.Errorf("tls: unexpected record type %d before the ServerHello", hdr[0])
		}
		if len(hs) < 4 {
			continue
		}
		if hs[0] != 2 {
			return 0, fmt.Errorf("tls: handshake message %d instead of a ServerHello", hs[0])
		}
		msgLen := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])
		if len(hs) < 4+msgLen {
			continue
		}
		m := hs[4 : 4+msgLen]
		// server_version (2), random (32), session_id (1 + n), cipher_suite (2)
		if len(m) < 35 || len(m) < 35+int(m[34])+2 {
			return 0, errors.New("tls: short ServerHello")
		}
		at := 35 + int(m[34])
		return binary.BigEndian.Uint16(m[at:]), nil
	}
}

// dheProbe offers addr only the FAPI DHE cipher suites over TLS 1.2 and
// reports the suite its ServerHello selects, or its alert (tlsRefusal),
// or another failure. The handshake is not completed: Go's TLS stack has
// no finite-field Diffie-Hellman.
func dheProbe(ctx context.Context, addr, serverName string) (uint16, error) {
	var random [32]byte
	if _, err := rand.Read(random[:]); err != nil {
		return 0, err
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetDeadline(deadline)
	if _, err := conn.Write(clientHelloDHE(serverName, random)); err != nil {
		return 0, err
	}
	return readServerHello(conn)
}
