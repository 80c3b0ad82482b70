package target

import (
	"crypto/tls"
	"fmt"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/pki"
)

// rsaAlgs are the JWS algorithms an RSA key may be registered for beyond
// the PS256 its type implies (fapi: false only).
var rsaAlgs = []string{"RS256", "RS384", "RS512", "PS384", "PS512"}

// LoadSigningKey reads the client's signing key; a client without one
// gets the zero key. When alg is configured it must fit the key; an RSA
// key may be registered for any RSA algorithm.
func (c *Client) LoadSigningKey() (jose.JSONWebKey, error) {
	if c.SigningKey == "" {
		return jose.JSONWebKey{}, nil
	}
	key, err := pki.LoadSigningKey(c.SigningKey)
	if err != nil {
		return jose.JSONWebKey{}, c.fieldError("signing_key", err)
	}
	if key.Algorithm == ciba.AlgPS256 && contains(rsaAlgs, c.Alg) {
		key.Algorithm = c.Alg
	}
	if c.Alg != "" && c.Alg != key.Algorithm {
		return jose.JSONWebKey{}, c.fieldError("signing_key", fmt.Errorf("alg %s does not fit the %s key in %s", c.Alg, key.Algorithm, c.SigningKey))
	}
	return key, nil
}

// LoadTLSCertificate reads the client's TLS certificate, or returns nil
// when none is configured.
func (c *Client) LoadTLSCertificate() (*tls.Certificate, error) {
	return loadCertificate(c.TLSCert, c.TLSKey, "tls_cert", "tls_key", c.fieldError)
}

// LoadNotificationCertificate reads the certificate of the client's
// notification listener, or returns nil when there is none; errors name
// the field (notification.tls_cert or notification.tls_key) and its place
// in the target file.
func (c *Client) LoadNotificationCertificate() (*tls.Certificate, error) {
	n := c.Notification
	if n == nil {
		return nil, nil
	}
	return loadCertificate(n.TLSCert, n.TLSKey, "notification.tls_cert", "notification.tls_key", c.fieldError)
}

// LoadTLSCertificate reads the notification listener's certificate, or
// returns nil when none is configured (plain HTTP behind a TLS proxy).
func (n *Notification) LoadTLSCertificate() (*tls.Certificate, error) {
	return loadCertificate(n.TLSCert, n.TLSKey, "tls_cert", "tls_key", func(field string, err error) error {
		return fmt.Errorf("target: notification %s: %w", field, err)
	})
}

// loadCertificate reads the certificate certFile and its key keyFile, or
// returns nil when certFile is empty; a failure is described by fail,
// given the field at fault (certField or keyField).
func loadCertificate(certFile, keyFile, certField, keyField string, fail func(field string, err error) error) (*tls.Certificate, error) {
	if certFile == "" {
		return nil, nil
	}
	cert, err := pki.LoadCertificate(certFile, keyFile)
	if err != nil {
		return nil, fail(certificateField(err, certField, keyField), err)
	}
	return &cert, nil
}
