package refop

import (
	"crypto/tls"
	"slices"

	"github.com/ciba-check/ciba-check/ciba"
)

// ServerTLSConfig is the FAPI TLS configuration (FAPI-RW 8.5): TLS 1.2 or
// later, only the FAPI cipher suites on TLS 1.2, TLS 1.3 preferred (Go
// negotiates the highest common version). Client certificates are
// requested but not verified here: self_signed_tls_client_auth
// certificates are not CA-issued, so each client's certificate is checked
// in the handler (RFC 8705 2).
func ServerTLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: slices.Clone(ciba.FAPITLS12CipherSuites),
		ClientAuth:   tls.RequestClientCert,
		NextProtos:   []string{"h2", "http/1.1"},
	}
}

// TLSConfig is ServerTLSConfig with this OP's faults applied:
// tls-weak-ciphers adds a non-FAPI CBC suite.
func (op *OP) TLSConfig(cert tls.Certificate) *tls.Config {
	c := ServerTLSConfig(cert)
	if op.faults.on(FaultTLSWeakCiphers) {
		c.CipherSuites = append(c.CipherSuites, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA)
	}
	if op.faults.on(FaultTLS12ChaChaOnly) {
		c.MaxVersion = tls.VersionTLS12
		c.CipherSuites = nonFAPICipherSuites()
	}
	if op.faults.on(FaultTLSLegacyVersions) {
		legacyTLS(c)
	}
	if op.allow.on(AllowTLS13Only) {
		c.MinVersion = tls.VersionTLS13
	}
	return c
}
