// Package pki makes and loads the key and certificate material ciba-check
// needs: JWS signing keys for request objects and client assertions, a
// development CA, RSA server certificates for FAPI TLS, and client
// certificates for tls_client_auth and self_signed_tls_client_auth
// (RFC 8705 2.1 and 2.2).
//
// Everything here is development material: certificates are valid from an
// hour before the given time (to tolerate clock skew between tool and OP)
// for about two years. Randomness and time are passed in; note that since
// Go 1.26 the standard library's key generation draws from its own secure
// source and ignores the reader except under testing/cryptotest.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
)

// Organization is the O= attribute of every certificate this package
// issues, so a client subject DN is distinctive (RFC 8705 2.1.2,
// tls_client_auth_subject_dn).
const Organization = "ciba-check"

const (
	// rsaBits is the RSA modulus size; FAPI-RW 8.6 requires at least 2048.
	rsaBits = 2048
	// backdate tolerates clock skew between the tool and the OP.
	backdate = time.Hour
	// validity is long enough that development material rarely expires.
	validity = 2 * 365 * 24 * time.Hour
)

// GenerateSigningKey makes a private JWS signing key for alg: RSA 2048 for
// PS256 (and RS256..512, PS384/512), ECDSA P-256/P-384/P-521 for
// ES256/384/512, Ed25519 for EdDSA. FAPI permits PS256 and ES256 only
// (FAPI-RW 8.6); the others are for CIBA Core clients. The JWK carries
// kid, alg and use "sig".
func GenerateSigningKey(rand io.Reader, alg, kid string) (jose.JSONWebKey, error) {
	if !slices.Contains(ciba.PlainAlgs(), alg) {
		return jose.JSONWebKey{}, fmt.Errorf("pki: signing algorithm %q is not one of %s", alg, strings.Join(ciba.PlainAlgs(), ", "))
	}
	var key crypto.Signer
	var err error
	switch {
	case alg == ciba.AlgEdDSA:
		_, key, err = ed25519.GenerateKey(rand)
	case ecCurve(alg) != nil:
		key, err = ecdsa.GenerateKey(ecCurve(alg), rand)
	default:
		key, err = rsa.GenerateKey(rand, rsaBits)
	}
	if err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("pki: generating %s key: %w", alg, err)
	}
	return jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: alg, Use: "sig"}, nil
}

// CA is a development certificate authority that issues server and client
// certificates.
type CA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// NewCA makes a self-signed ECDSA P-256 CA certificate named commonName.
func NewCA(rand io.Reader, now time.Time, commonName string) (*CA, error) {
	if commonName == "" {
		return nil, errors.New("pki: CA common name is empty")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand)
	if err != nil {
		return nil, fmt.Errorf("pki: generating CA key: %w", err)
	}
	tmpl, err := template(rand, now, commonName)
	if err != nil {
		return nil, err
	}
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.MaxPathLenZero = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: creating CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parsing CA certificate: %w", err)
	}
	return &CA{cert: cert, key: key}, nil
}

// newCAFromPair checks that cert can act as a CA for key.
func newCAFromPair(cert *x509.Certificate, key crypto.PrivateKey) (*CA, error) {
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, errors.New("certificate is not a CA (needs basicConstraints CA:TRUE and keyCertSign)")
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key of type %T cannot sign", key)
	}
	return &CA{cert: cert, key: signer}, nil
}

// Certificate returns the CA certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// Pool returns a fresh pool holding only the CA certificate.
func (ca *CA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return pool
}

// IssueServer issues an RSA 2048 server certificate for hosts, each an IP
// address or a DNS name. It must be RSA: the TLS 1.2 suites FAPI permits
// are ECDHE_RSA (FAPI-RW 8.5-2, ciba.FAPITLS12CipherSuites).
func (ca *CA) IssueServer(rand io.Reader, now time.Time, hosts []string) (tls.Certificate, error) {
	if len(hosts) == 0 {
		return tls.Certificate{}, errors.New("pki: server certificate needs at least one host")
	}
	key, err := rsa.GenerateKey(rand, rsaBits)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: generating server key: %w", err)
	}
	tmpl, err := template(rand, now, hosts[0])
	if err != nil {
		return tls.Certificate{}, err
	}
	for _, h := range hosts {
		if h == "" {
			return tls.Certificate{}, errors.New("pki: server certificate host is empty")
		}
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	// RSA key exchange is not used by ECDHE suites, but some verifiers
	// still expect keyEncipherment on RSA server certificates.
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	return ca.issue(rand, tmpl, key)
}

// IssueClient issues an ECDSA P-256 client certificate (tls_client_auth,
// RFC 8705 2.1) whose subject is CN=commonName,O=ciba-check, so
// Leaf.Subject.String() serves as tls_client_auth_subject_dn.
func (ca *CA) IssueClient(rand io.Reader, now time.Time, commonName string) (tls.Certificate, error) {
	tmpl, key, err := clientTemplate(rand, now, commonName)
	if err != nil {
		return tls.Certificate{}, err
	}
	return ca.issue(rand, tmpl, key)
}

// clientTemplate is a fresh P-256 key and the template of a TLS client
// certificate (ExtKeyUsageClientAuth) for it.
func clientTemplate(rand io.Reader, now time.Time, commonName string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	if commonName == "" {
		return nil, nil, errors.New("pki: client certificate common name is empty")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: generating client key: %w", err)
	}
	tmpl, err := template(rand, now, commonName)
	if err != nil {
		return nil, nil, err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return tmpl, key, nil
}

func (ca *CA) issue(rand io.Reader, tmpl *x509.Certificate, key crypto.Signer) (tls.Certificate, error) {
	der, err := x509.CreateCertificate(rand, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: issuing certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	return tlsCertificate(der, key)
}

// SelfSignedClient makes a self-signed ECDSA P-256 client certificate for
// self_signed_tls_client_auth (RFC 8705 2.2), where the OP trusts the
// registered key rather than a chain.
func SelfSignedClient(rand io.Reader, now time.Time, commonName string) (tls.Certificate, error) {
	tmpl, key, err := clientTemplate(rand, now, commonName)
	if err != nil {
		return tls.Certificate{}, err
	}
	der, err := x509.CreateCertificate(rand, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: creating self-signed certificate: %w", err)
	}
	return tlsCertificate(der, key)
}

// template is the part every certificate shares: a random 128-bit serial
// (RFC 5280 4.1.2.2 allows up to 20 octets), subject and validity.
func template(rand io.Reader, now time.Time, commonName string) (*x509.Certificate, error) {
	serial, err := randSerial(rand)
	if err != nil {
		return nil, err
	}
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: commonName, Organization: []string{Organization}},
		NotBefore:    now.Add(-backdate),
		NotAfter:     now.Add(validity),
	}, nil
}

func randSerial(rand io.Reader) (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(rand, b); err != nil {
		return nil, fmt.Errorf("pki: reading serial number: %w", err)
	}
	b[0] &= 0x7f // keep it positive
	b[0] |= 0x01 // and never zero
	return new(big.Int).SetBytes(b), nil
}

func tlsCertificate(der []byte, key crypto.Signer) (tls.Certificate, error) {
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: parsing issued certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
