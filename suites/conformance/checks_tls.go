package conformance

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/device"
)

// tlsAddr is the dial address and server name of endpoint's host.
func tlsAddr(endpoint string) (addr, serverName string, err error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", "", err
	}
	addr = u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	return addr, u.Hostname(), nil
}

// anyClientCert is the TLS certificate of the first client of the target
// that has one, or nil: presented in the TLS checks' handshakes, so that a
// token endpoint that requires client certificates does not refuse them
// for that reason.
func anyClientCert(f *Fixture) *tls.Certificate {
	for i := range f.Env().Target.Clients {
		if cert, err := f.Env().Target.Clients[i].LoadTLSCertificate(); err == nil && cert != nil {
			return cert
		}
	}
	return nil
}

// tlsHandshake dials the host of endpoint with conf (the target's roots,
// the endpoint's server name and a client certificate added) and reports
// the handshake's outcome.
func tlsHandshake(ctx context.Context, f *Fixture, endpoint string, conf *tls.Config) (tls.ConnectionState, error) {
	ginkgo.GinkgoHelper()
	addr, serverName, err := tlsAddr(endpoint)
	if err != nil {
		f.Failf(nil, "endpoint %q: %v", endpoint, err)
	}
	roots, err := f.Env().Target.RootCAs()
	if err != nil {
		f.Failf(nil, "%v", err)
	}
	conf.RootCAs = roots
	conf.ServerName = serverName
	if cert := anyClientCert(f); cert != nil && conf.GetClientCertificate == nil {
		conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: conf}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState(), nil
}

// handshake dials the host of endpoint with conf and reports whether the
// TLS handshake succeeded.
func handshake(ctx context.Context, f *Fixture, endpoint string, conf *tls.Config) error {
	ginkgo.GinkgoHelper()
	_, err := tlsHandshake(ctx, f, endpoint, conf)
	return err
}

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

// x5tS256 is the RFC 8705 3.1 thumbprint of a certificate.
func x5tS256(cert *tls.Certificate) string {
	sum := sha256.Sum256(cert.Certificate[0])
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// approvedOrSkip runs a whole approved flow for c and returns its tokens;
// a flow the OP does not complete skips the check with the reason: it is
// preparation, outside the claim of the checks that use it.
func approvedOrSkip(ctx context.Context, f *Fixture, c *client.Client) *ciba.TokenResponse {
	ginkgo.GinkgoHelper()
	u := f.UserFor(device.ActionAllow)
	p := f.Params(c, u)
	ack, ex, err := c.Authenticate(ctx, p)
	if err != nil || ack == nil || ack.AuthReqID == "" {
		f.Skipf("preparation failed: the OP did not acknowledge the backchannel request of %s (%v)%s", c.ClientID(), err, quoteIf(ex))
	}
	f.Decide(c, ack, u, p, device.ActionAllow)
	tr, ex, err := f.Outcome(c, ack)
	if err != nil {
		f.Skipf("preparation failed: the approved request of %s gave no tokens (%v)%s", c.ClientID(), err, quoteIf(ex))
	}
	return tr
}

// sharedOrSkip is approvedOrSkip on client c's shared approved flow
// (sharedflow.go), for a check that only reads the tokens: each failed
// step is skipped with approvedOrSkip's words.
func sharedOrSkip(f *Fixture, c *client.Client) *ciba.TokenResponse {
	ginkgo.GinkgoHelper()
	if f.run == nil || f.run.noSharing {
		return approvedOrSkip(f.ctx, f, c)
	}
	fl := f.sharedFlow(c)
	switch fl.step {
	case flowParams:
		f.fail(fl.err.Error())
	case flowStart, flowNoAuthReqID:
		f.Skipf("preparation failed: the OP did not acknowledge the backchannel request of %s (%v)%s", c.ClientID(), fl.err, quoteIf(fl.ex))
	case flowDecide:
		f.decideFailed(fl.err, device.ActionAllow)
	case flowTokens:
		f.Skipf("preparation failed: the approved request of %s gave no tokens (%v)%s", c.ClientID(), fl.err, quoteIf(fl.ex))
	}
	return fl.tr
}

func describeTLS(fw *Framework) {
	fw.Describe("TLS and sender-constrained tokens", func() {
		// Testname: Token endpoint refuses non-FAPI TLS 1.2 cipher suites
		// Spec: FAPI-RW-8.5
		// Description: Over TLS 1.2 the token endpoint MUST permit only the
		// FAPI cipher suites: once a TLS 1.2 handshake with a FAPI suite
		// succeeds (else skipped), one offering only
		// TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA and its ECDSA twin MUST be
		// refused with a TLS alert. Any other failure (timeout, reset,
		// name mismatch) is could not determine.
		// Quote: FAPI-RW-8.5: "Section 7.1 of Financial-grade API - Part 1: Baseline Security Profile shall apply, with the following additional requirements: 1. For TLS versions below 1.3, only the following 4 cipher suites shall be permitted: TLS_DHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_DHE_RSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses a TLS 1.2 handshake offering only a non-FAPI cipher suite", func(ctx context.Context, f *Fixture) {
			endpoint := f.Metadata().TokenEndpoint
			ctl := handshake(ctx, f, endpoint, &tls.Config{
				MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, CipherSuites: ciba.FAPITLS12CipherSuites,
			})
			if ctl != nil {
				f.EnsureReachable()
			}
			f.Control(ctl == nil, nil, "a TLS 1.2 handshake with an ECDHE FAPI cipher suite failed too (TLS 1.3 or DHE only?): %v", ctl)
			state, err := tlsHandshake(ctx, f, endpoint, &tls.Config{
				MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12,
				CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA},
			})
			if err == nil {
				f.Failf(nil, "expected the handshake to be refused, it succeeded with %s", tls.CipherSuiteName(state.CipherSuite))
			}
			if !tlsRefusal(err) {
				f.Undetermined(nil, "expected a TLS alert (handshake_failure) from the server, got: %v", err)
			}
		}, Refs("FAPI-RW-8.5"), Negative, OIDF(ModMTLSHolderOfKeyRequired))

		// Testname: Token endpoint accepts a FAPI TLS 1.2 cipher suite or TLS 1.3
		// Spec: FAPI-RW-8.5
		// Description: The token endpoint MUST accept TLS 1.2 with a FAPI
		// cipher suite, or TLS 1.3. It SHOULD offer TLS 1.3 (RFC 9325
		// 3.1.1, which FAPI-R 7.1 makes binding as BCP 195; the OIDF suite
		// warns when it is absent): a missing TLS 1.3 is a warning. Go
		// cannot offer the DHE suites FAPI-RW 8.5 also permits: when both
		// handshakes are refused, a bare ClientHello offering only them
		// asks the server; if it selects one, the check is skipped with
		// that reason, if it refuses them too, the check fails. A failure
		// other than a TLS alert is could not determine.
		// Quote: FAPI-R-7.1: "TLS version 1.2 or later shall be used for all communications." FAPI-RW-8.5: "For TLS versions below 1.3, only the following 4 cipher suites shall be permitted: TLS_DHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_DHE_RSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" RFC9325-3.1.1: "Implementations SHOULD support TLS 1.3 [RFC8446] and, if implemented, MUST prefer to negotiate TLS 1.3 over earlier versions of TLS."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("accepts TLS 1.2 with a FAPI cipher suite or TLS 1.3", func(ctx context.Context, f *Fixture) {
			endpoint := f.Metadata().TokenEndpoint
			err12 := handshake(ctx, f, endpoint, &tls.Config{
				MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, CipherSuites: ciba.FAPITLS12CipherSuites,
			})
			err13 := handshake(ctx, f, endpoint, &tls.Config{MinVersion: tls.VersionTLS13})
			if err12 == nil || err13 == nil {
				f.ExpectShould(err13 == nil, nil, "expected TLS 1.3 to be offered (RFC 9325 3.1.1 recommends it), the handshake failed: %v", err13)
				return
			}
			if !tlsRefusal(err12) || !tlsRefusal(err13) {
				f.Undetermined(nil, "expected TLS 1.2 with a FAPI suite or TLS 1.3 to work or be refused with a TLS alert, got: TLS 1.2 %v; TLS 1.3 %v", err12, err13)
			}
			addr, serverName, err := tlsAddr(endpoint)
			if err != nil {
				f.Failf(nil, "endpoint %q: %v", endpoint, err)
			}
			suite, err := dheProbe(ctx, addr, serverName)
			switch {
			case err == nil && (suite == suiteDHERSAAES128GCMSHA256 || suite == suiteDHERSAAES256GCMSHA384):
				f.Skipf("the OP refuses TLS 1.3 and TLS 1.2 with the ECDHE FAPI suites, but selects %s, which FAPI-RW 8.5 permits; Go's TLS stack cannot complete a DHE handshake, so the check goes no further (TLS 1.3, which RFC 9325 3.1.1 recommends, is missing: %v)", tls.CipherSuiteName(suite), err13)
			case err == nil:
				f.Undetermined(nil, "offered only the FAPI DHE suites, the server selected suite 0x%04x", suite)
			case tlsRefusal(err):
				f.Failf(nil, "expected TLS 1.2 with a FAPI cipher suite or TLS 1.3 to be accepted, every one was refused: TLS 1.2 with the ECDHE FAPI suites: %v; TLS 1.3: %v; TLS 1.2 with the DHE FAPI suites: %v", err12, err13, err)
			default:
				f.Undetermined(nil, "TLS 1.2 with the ECDHE FAPI suites and TLS 1.3 were refused (%v; %v); offering the DHE FAPI suites failed without an alert: %v", err12, err13, err)
			}
		}, Refs("FAPI-RW-8.5"), OIDF(ModMTLSHolderOfKeyRequired))

		// Testname: TLS 1.1 refused
		// Spec: FAPI-RW-8.5
		// Description: Endpoints MUST NOT accept TLS versions below 1.2:
		// once a TLS 1.2+ handshake succeeds (else skipped), one offering
		// only TLS 1.0 and 1.1 MUST be refused with a TLS alert
		// (protocol_version). Any other failure (timeout, reset, closed
		// connection) is could not determine.
		// Quote: FAPI-RW-8.5: "Section 7.1 of Financial-grade API - Part 1: Baseline Security Profile shall apply" FAPI-R-7.1: "TLS version 1.2 or later shall be used for all communications." RFC9325-3.1.1: "Implementations MUST NOT negotiate TLS version 1.1 [RFC4346]."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses a TLS 1.1 handshake", func(ctx context.Context, f *Fixture) {
			endpoint := f.Metadata().TokenEndpoint
			ctl := handshake(ctx, f, endpoint, &tls.Config{MinVersion: tls.VersionTLS12})
			if ctl != nil {
				f.EnsureReachable()
			}
			f.Control(ctl == nil, nil, "a TLS 1.2+ handshake failed too: %v", ctl)
			state, err := tlsHandshake(ctx, f, endpoint, &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
			if err == nil {
				f.Failf(nil, "expected a TLS 1.1 handshake to be refused, it succeeded with %s", tls.VersionName(state.Version))
			}
			if !tlsRefusal(err) {
				f.Undetermined(nil, "expected a TLS alert (protocol_version) from the server, got: %v", err)
			}
		}, Refs("FAPI-RW-8.5"), Negative, OIDF(ModMTLSHolderOfKeyRequired))

		// Testname: Introspection reports the certificate binding
		// Spec: RFC8705-3.2
		// Description: Introspecting a certificate-bound access token
		// SHOULD report cnf x5t#S256 equal to the thumbprint of the client
		// certificate it was issued over: RFC 8705 3.2 describes this
		// without a requirement keyword, and RFC 8705 3 allows other ways
		// to convey the binding; a warning. Introspection needs
		// authorization (RFC 7662 2.1) and may answer active:false to a
		// caller not allowed to see the token (RFC 7662 2.2): a refusal
		// (401, 403 or another OAuth error) or active:false skips the
		// check, as does a flow the OP does not complete, and plain CIBA
		// (fapi: false) without certificate-bound tokens advertised. The
		// OIDF CIBA plan does not introspect (no OIDF label).
		// Quote: RFC8705-3.2: "For a mutual-TLS client certificate-bound access token, the hash of the certificate to which the token is bound is conveyed to the protected resource as metainformation in a token introspection response. The hash is conveyed using the same cnf with x5t#S256 member structure as the certificate SHA-256 thumbprint confirmation method, described in Section 3.1, as a top-level member of the introspection response JSON." RFC7662-2.2: "If the introspection call is properly authorized but the token is not active, does not exist on this server, or the protected resource is not allowed to introspect this particular token, then the authorization server MUST return an introspection response with the 'active' field set to false."
		// Duty: OP
		// Level: SHOULD
		fw.ConformanceIt("reports cnf x5t#S256 of the client certificate at introspection", func(ctx context.Context, f *Fixture) {
			if f.Metadata().IntrospectionEndpoint == "" {
				f.Skipf("the OP publishes no introspection_endpoint")
			}
			if !f.Env().Target.FAPI && !f.Metadata().TLSClientCertificateBoundAccessTokens {
				f.Skipf("target.yaml says fapi: false and the OP does not advertise certificate-bound access tokens")
			}
			c := boundTokenClient(f, AnyMode, AnyAuth)
			cert := f.TLSCert(c)
			tr := sharedOrSkip(f, c)
			ir, ex, err := c.Introspect(ctx, tr.AccessToken, "access_token")
			if err != nil {
				var ce *ciba.Error
				switch {
				case !hadResponse(ex):
					f.Undetermined(ex, "expected an introspection response, got no response: %v", err)
				case ex.Status == http.StatusUnauthorized || ex.Status == http.StatusForbidden || errors.As(err, &ce):
					f.Skipf("the OP does not let %s introspect (RFC 7662 2.1 requires authorization; it answered HTTP %d: %v)%s", c.ClientID(), ex.Status, err, quoteIf(ex))
				}
				f.Failf(ex, "expected an introspection response (RFC 7662 2.2), got: %v", err)
			}
			if !ir.Active {
				f.Skipf("the OP answered active:false for the fresh access token, which RFC 7662 2.2 allows for a caller not allowed to introspect it%s", quoteIf(ex))
			}
			f.Expect(ir.CNF[ciba.ClaimX5TS256] == x5tS256(cert), ex, "expected cnf x5t#S256 %q, got %v", x5tS256(cert), ir.CNF)
		}, Refs("RFC8705-3.2"), Should, SharesFlow)
	})
}
