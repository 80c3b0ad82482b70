package conformance

import (
	"context"
	"crypto/tls"
	"net"
	"net/url"
	"time"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
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

// tlsCipherSuiteChecks registers the checks of the TLS 1.2 cipher suites
// FAPI-RW 8.5 allows, and of TLS 1.3 beside them.
func tlsCipherSuiteChecks(fw *Framework) {
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
}

// tlsVersionChecks registers the check that versions before TLS 1.2 are
// refused (FAPI-R 7.1).
func tlsVersionChecks(fw *Framework) {
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
}
