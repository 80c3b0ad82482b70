package target

import (
	"crypto/tls"
	"fmt"
	"slices"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/pki"
)

// LoadSigningKey reads the client's signing key; a client without one
// gets the zero key. When alg is configured it must fit the key (RS*/PS*
// an RSA key, ES256/384/512 a P-256/P-384/P-521 key, EdDSA an Ed25519
// key) and the key signs with it; otherwise the key's type implies its
// alg. Under FAPI that alg must be PS256 or ES256 (FAPI-RW 8.6).
func (c *Client) LoadSigningKey() (jose.JSONWebKey, error) {
	if c.SigningKey == "" {
		return jose.JSONWebKey{}, nil
	}
	key, err := pki.LoadSigningKey(c.SigningKey)
	if err != nil {
		return jose.JSONWebKey{}, c.fieldError("signing_key", err)
	}
	if c.Alg != "" && c.Alg != key.Algorithm {
		if err := pki.KeyFitsAlg(c.Alg, key.Key); err != nil {
			return jose.JSONWebKey{}, c.fieldError("signing_key", fmt.Errorf("alg %s does not fit the %s key in %s: %w", c.Alg, key.Algorithm, c.SigningKey, err))
		}
		key.Algorithm = c.Alg
	}
	if c.places != nil && c.places.fapi && !slices.Contains(ciba.FAPIAlgs, key.Algorithm) {
		return jose.JSONWebKey{}, c.fieldError("signing_key", fmt.Errorf("the key in %s signs with %s; FAPI allows only PS256 and ES256 (FAPI-RW 8.6); set fapi: false for a CIBA Core OP", c.SigningKey, key.Algorithm))
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
