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

// TLSConfig is ServerTLSConfig as this OP's faults and allowances bend it
// (hooks.tls).
func (op *OP) TLSConfig(cert tls.Certificate) *tls.Config {
	c := ServerTLSConfig(cert)
	op.hooks.tls(c)
	return c
}
