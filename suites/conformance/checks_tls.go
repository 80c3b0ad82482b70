package conformance

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"net"
	"net/url"
	"time"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/internal/ciba"
)

// handshake dials the host of endpoint with conf and reports whether the
// TLS handshake succeeded.
func handshake(ctx context.Context, f *Fixture, endpoint string, conf *tls.Config) error {
	ginkgo.GinkgoHelper()
	u, err := url.Parse(endpoint)
	if err != nil {
		f.Failf(nil, "endpoint %q: %v", endpoint, err)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "443")
	}
	roots, err := f.Env().Target.RootCAs()
	if err != nil {
		f.Failf(nil, "%v", err)
	}
	conf.RootCAs = roots
	conf.ServerName = u.Hostname()
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: conf}
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return err
	}
	return conn.Close()
}

// x5tS256 is the RFC 8705 3.1 thumbprint of a certificate.
func x5tS256(cert *tls.Certificate) string {
	sum := sha256.Sum256(cert.Certificate[0])
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func describeTLS(fw *Framework) {
	fw.Describe("TLS and sender-constrained tokens", func() {
		// Testname: Token endpoint refuses non-FAPI TLS 1.2 cipher suites
		// Spec: FAPI-RW-8.5
		// Description: Over TLS 1.2 the token endpoint MUST offer only the
		// FAPI cipher suites; a client offering only
		// TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA MUST fail the handshake.
		fw.ConformanceIt("refuses a TLS 1.2 handshake offering only a non-FAPI cipher suite", func(ctx context.Context, f *Fixture) {
			err := handshake(ctx, f, f.Metadata().TokenEndpoint, &tls.Config{
				MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12,
				CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA},
			})
			f.EnsureReachable()
			f.Expect(err != nil, nil, "expected the handshake to fail, it succeeded with a CBC cipher suite")
		}, Refs("FAPI-RW-8.5"), Negative, OIDF(ModMTLSHolderOfKeyRequired))

		// Testname: Token endpoint accepts a FAPI TLS 1.2 cipher suite or TLS 1.3
		// Spec: FAPI-RW-8.5
		// Description: The token endpoint MUST accept TLS 1.2 with
		// TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 or _256_GCM_SHA384, or TLS 1.3.
		// It SHOULD offer TLS 1.3 (RFC 9325 4.1; the OIDF suite warns when
		// it is absent): a missing TLS 1.3 is a warning.
		fw.ConformanceIt("accepts TLS 1.2 with a FAPI cipher suite or TLS 1.3", func(ctx context.Context, f *Fixture) {
			err12 := handshake(ctx, f, f.Metadata().TokenEndpoint, &tls.Config{
				MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, CipherSuites: ciba.FAPITLS12CipherSuites,
			})
			err13 := handshake(ctx, f, f.Metadata().TokenEndpoint, &tls.Config{MinVersion: tls.VersionTLS13})
			f.Expect(err12 == nil || err13 == nil, nil, "expected TLS 1.2 with a FAPI suite (%v) or TLS 1.3 (%v) to work", err12, err13)
			if err13 != nil {
				f.EnsureReachable()
			}
			f.ExpectShould(err13 == nil, nil, "expected TLS 1.3 to be offered (RFC 9325 4.1 recommends it), the handshake failed: %v", err13)
		}, Refs("FAPI-RW-8.5"), OIDF(ModMTLSHolderOfKeyRequired))

		// Testname: TLS 1.1 refused
		// Spec: FAPI-RW-8.5
		// Description: Endpoints MUST NOT accept TLS versions below 1.2.
		fw.ConformanceIt("refuses a TLS 1.1 handshake", func(ctx context.Context, f *Fixture) {
			err := handshake(ctx, f, f.Metadata().TokenEndpoint, &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
			f.EnsureReachable()
			f.Expect(err != nil, nil, "expected a TLS 1.1 handshake to fail, it succeeded")
		}, Refs("FAPI-RW-8.5"), Negative, OIDF(ModMTLSHolderOfKeyRequired))

		// Testname: Introspection reports the certificate binding
		// Spec: RFC8705-3.2
		// Description: Introspecting an access token MUST report it active
		// with cnf x5t#S256 equal to the thumbprint of the client
		// certificate it was issued over.
		fw.ConformanceIt("reports cnf x5t#S256 of the client certificate at introspection", func(ctx context.Context, f *Fixture) {
			if f.Metadata().IntrospectionEndpoint == "" {
				f.Skipf("the OP publishes no introspection_endpoint")
			}
			c := f.Client(AnyMode, AnyAuth)
			cert := f.TLSCert(c)
			tr, _, _ := f.Approved(c)
			ir, ex, err := c.Introspect(ctx, tr.AccessToken, "access_token")
			f.Expect(err == nil, ex, "expected introspection to answer, got: %v", err)
			f.Expect(ir.Active, ex, "expected the fresh access token to be active")
			f.Expect(ir.CNF[ciba.ClaimX5TS256] == x5tS256(cert), ex, "expected cnf x5t#S256 %q, got %v", x5tS256(cert), ir.CNF)
		}, Refs("RFC8705-3.2"), OIDF(ModHappy))
	})
}
