package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
)

// File modes: private material is readable by its owner only; certificates
// and public key sets are world-readable.
const (
	PrivateFileMode os.FileMode = 0o600
	PublicFileMode  os.FileMode = 0o644
)

// TightenPrivateFile makes an existing private key file readable by its
// owner only (PrivateFileMode) when its group or others may read or write
// it, and reports whether it did. A key reused from disk is then as
// private as one just written.
func TightenPrivateFile(path string) (bool, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return false, fmt.Errorf("pki: %w", err)
	}
	if fi.Mode().Perm()&0o077 == 0 {
		return false, nil
	}
	if err := os.Chmod(path, PrivateFileMode); err != nil {
		return false, fmt.Errorf("pki: %s is readable by others and could not be made private: %w", path, err)
	}
	return true, nil
}

// writeFile writes data with exactly mode, even over an existing file with
// looser permissions (os.WriteFile keeps the old mode and obeys umask).
func writeFile(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("pki: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("pki: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("pki: writing %s: %w", path, err)
	}
	return nil
}

// WriteCertPEM writes certs, leaf first, as PEM CERTIFICATE blocks (mode 0644).
func WriteCertPEM(path string, certs ...*x509.Certificate) error {
	if len(certs) == 0 {
		return fmt.Errorf("pki: writing %s: no certificates", path)
	}
	var buf bytes.Buffer
	for _, c := range certs {
		if c == nil {
			return fmt.Errorf("pki: writing %s: nil certificate", path)
		}
		if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}); err != nil {
			return fmt.Errorf("pki: writing %s: %w", path, err)
		}
	}
	return writeFile(path, buf.Bytes(), PublicFileMode)
}

// WriteKeyPEM writes key as a PKCS#8 "PRIVATE KEY" PEM block (mode 0600).
func WriteKeyPEM(path string, key crypto.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("pki: writing %s: %w", path, err)
	}
	return writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), PrivateFileMode)
}

// WriteTLSCertificate writes the chain of c to certFile and its key to keyFile.
func WriteTLSCertificate(certFile, keyFile string, c tls.Certificate) error {
	if len(c.Certificate) == 0 {
		return fmt.Errorf("pki: writing %s: no certificates", certFile)
	}
	certs := make([]*x509.Certificate, 0, len(c.Certificate))
	for _, der := range c.Certificate {
		parsed, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("pki: writing %s: %w", certFile, err)
		}
		certs = append(certs, parsed)
	}
	if err := WriteCertPEM(certFile, certs...); err != nil {
		return err
	}
	return WriteKeyPEM(keyFile, c.PrivateKey)
}

// WriteJWK writes key as a JSON JWK (mode 0600, since it normally holds
// private material).
func WriteJWK(path string, key jose.JSONWebKey) error {
	data, err := json.MarshalIndent(key, "", "  ")
	if err != nil {
		return fmt.Errorf("pki: writing %s: %w", path, err)
	}
	return writeFile(path, append(data, '\n'), PrivateFileMode)
}

// WriteJWKS writes the public halves of keys as a JWK Set (RFC 7517 5,
// mode 0644), the document a client registers as its jwks.
func WriteJWKS(path string, keys ...jose.JSONWebKey) error {
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(keys))}
	for _, k := range keys {
		pub := k.Public()
		if !pub.Valid() {
			return fmt.Errorf("pki: writing %s: key %q has no public part", path, k.KeyID)
		}
		set.Keys = append(set.Keys, pub)
	}
	data, err := json.MarshalIndent(set, "", "  ")
	if err != nil {
		return fmt.Errorf("pki: writing %s: %w", path, err)
	}
	return writeFile(path, append(data, '\n'), PublicFileMode)
}

// FileError is a problem LoadCertificate found in one of its two files:
// File says which.
type FileError struct {
	File string
	// Key says the file is the private key's (else the certificate's).
	Key bool
	Err error
}

func (e *FileError) Error() string { return e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

// LoadCertificate reads a PEM certificate chain and its private key, with
// Leaf set. Its errors are *FileError naming the file at fault (a key that
// does not match the certificate is the key file's).
func LoadCertificate(certFile, keyFile string) (tls.Certificate, error) {
	c, keyAtFault, err := loadCertificate(certFile, keyFile)
	if err != nil {
		fe := &FileError{File: certFile, Err: err}
		if keyAtFault {
			fe.File, fe.Key = keyFile, true
		}
		return tls.Certificate{}, fe
	}
	return c, nil
}

// loadCertificate is LoadCertificate; on error it also says whether the
// key file is at fault.
func loadCertificate(certFile, keyFile string) (tls.Certificate, bool, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, false, fmt.Errorf("pki: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, true, fmt.Errorf("pki: %w", err)
	}
	var chain [][]byte
	for rest := certPEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type == "CERTIFICATE" {
			chain = append(chain, block.Bytes)
		}
	}
	if len(chain) == 0 {
		return tls.Certificate{}, false, fmt.Errorf("pki: %s: no PEM CERTIFICATE block", certFile)
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return tls.Certificate{}, false, fmt.Errorf("pki: %s: %w", certFile, err)
	}
	key, err := parsePrivateKeyPEM(keyPEM)
	if err != nil {
		return tls.Certificate{}, true, fmt.Errorf("pki: %s: %w", keyFile, err)
	}
	if !publicKeysEqual(leaf.PublicKey, key) {
		return tls.Certificate{}, true, fmt.Errorf("pki: %s: private key does not match the certificate in %s", keyFile, certFile)
	}
	return tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}, false, nil
}

func publicKeysEqual(pub crypto.PublicKey, key crypto.Signer) bool {
	eq, ok := pub.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(key.Public())
}

// LoadCAPool reads a PEM bundle of CA certificates into a new pool.
func LoadCAPool(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("pki: %s: no PEM certificates", file)
	}
	return pool, nil
}

// LoadCA reads a CA certificate and its private key as written by (*CA).Write.
func LoadCA(certFile, keyFile string) (*CA, error) {
	pair, err := LoadCertificate(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	ca, err := newCAFromPair(pair.Leaf, pair.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", certFile, err)
	}
	return ca, nil
}

// Write stores the CA certificate (0644) and private key (0600).
func (ca *CA) Write(certFile, keyFile string) error {
	if err := WriteCertPEM(certFile, ca.cert); err != nil {
		return err
	}
	return WriteKeyPEM(keyFile, ca.key)
}

// LoadSigningKey reads a private JWS signing key from a JSON JWK file or a
// PEM private key (PKCS#8, PKCS#1 or SEC1): RSA (≥ 2048 bits), ECDSA on
// P-256, P-384 or P-521, or Ed25519. A PEM key, or a JWK without alg, gets
// the algorithm its type implies (PS256, ES256, ES384, ES512, EdDSA); a
// JWK's alg must fit its key (KeyFitsAlg). Whether FAPI allows the
// algorithm (PS256, ES256 only) is the caller's to check. A key without
// kid gets its RFC 7638 thumbprint.
func LoadSigningKey(file string) (jose.JSONWebKey, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("pki: %w", err)
	}
	key, err := parseSigningKey(data)
	if err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("pki: %s: %w", file, err)
	}
	return key, nil
}

func parseSigningKey(data []byte) (jose.JSONWebKey, error) {
	var jwk jose.JSONWebKey
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
		if err := json.Unmarshal(trimmed, &jwk); err != nil {
			return jose.JSONWebKey{}, fmt.Errorf("invalid JWK: %w", err)
		}
		if jwk.IsPublic() {
			return jose.JSONWebKey{}, errors.New("JWK holds a public key; a private signing key is needed")
		}
	} else {
		key, err := parsePrivateKeyPEM(data)
		if err != nil {
			return jose.JSONWebKey{}, err
		}
		jwk = jose.JSONWebKey{Key: key}
	}
	alg, err := algForKey(jwk.Key)
	if err != nil {
		return jose.JSONWebKey{}, err
	}
	if jwk.Algorithm == "" {
		jwk.Algorithm = alg
	} else if err := KeyFitsAlg(jwk.Algorithm, jwk.Key); err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("JWK alg %q does not fit its key: %w", jwk.Algorithm, err)
	}
	if jwk.Use == "" {
		jwk.Use = "sig"
	} else if jwk.Use != "sig" {
		return jose.JSONWebKey{}, fmt.Errorf("JWK use is %q, want \"sig\"", jwk.Use)
	}
	if jwk.KeyID == "" {
		kid, err := Thumbprint(jwk)
		if err != nil {
			return jose.JSONWebKey{}, err
		}
		jwk.KeyID = kid
	}
	return jwk, nil
}

// Thumbprint is the base64url RFC 7638 SHA-256 thumbprint of key.
func Thumbprint(key jose.JSONWebKey) (string, error) {
	sum, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("computing JWK thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// algForKey maps a private key to the signing algorithm its type implies:
// PS256 for RSA (at least 2048 bits, FAPI-RW 8.6), ES256, ES384 or ES512
// for ECDSA on P-256, P-384 or P-521, EdDSA for Ed25519 (RFC 8037).
func algForKey(key any) (string, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < rsaBits {
			return "", fmt.Errorf("RSA key has %d bits; PS256 needs at least %d (FAPI-RW 8.6)", k.N.BitLen(), rsaBits)
		}
		return ciba.AlgPS256, nil
	case *ecdsa.PrivateKey:
		for _, alg := range []string{ciba.AlgES256, "ES384", "ES512"} {
			if k.Curve == ecCurve(alg) {
				return alg, nil
			}
		}
		return "", fmt.Errorf("EC key on curve %s; ES256, ES384 and ES512 need P-256, P-384 or P-521", k.Curve.Params().Name)
	case ed25519.PrivateKey:
		return ciba.AlgEdDSA, nil
	default:
		return "", fmt.Errorf("key of type %T is not an RSA, ECDSA (P-256, P-384, P-521) or Ed25519 private key", key)
	}
}

// ecCurve is the curve of an ECDSA JWS algorithm (RFC 7518 3.4), or nil.
func ecCurve(alg string) elliptic.Curve {
	switch alg {
	case ciba.AlgES256:
		return elliptic.P256()
	case "ES384":
		return elliptic.P384()
	case "ES512":
		return elliptic.P521()
	}
	return nil
}

// KeyFitsAlg says why the private key cannot sign with the asymmetric JWS
// algorithm alg, or nil when it can: RS256..512 and PS256..512 need an RSA
// key, ES256/384/512 an ECDSA key on P-256/P-384/P-521, EdDSA Ed25519.
func KeyFitsAlg(alg string, key any) error {
	implied, err := algForKey(key)
	if err != nil {
		return err
	}
	switch {
	case !slices.Contains(ciba.PlainAlgs(), alg):
		return fmt.Errorf("%q is not an asymmetric JWS algorithm (%s)", alg, strings.Join(ciba.PlainAlgs(), ", "))
	case keyKind(alg) != keyKind(implied):
		return fmt.Errorf("%s needs an %s key, not the %s key", alg, keyKind(alg), keyKind(implied))
	}
	return nil
}

// keyKind names the key type a JWS algorithm needs.
func keyKind(alg string) string {
	switch {
	case alg == ciba.AlgEdDSA:
		return "Ed25519"
	case ecCurve(alg) != nil:
		return "ECDSA " + ecCurve(alg).Params().Name
	default:
		return "RSA"
	}
}

// parsePrivateKeyPEM finds the first private key block in data.
func parsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM private key block (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)")
		}
		var key any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		default:
			continue // e.g. EC PARAMETERS before the key
		}
		if err != nil {
			return nil, fmt.Errorf("invalid %s block: %w", block.Type, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("key of type %T cannot sign", key)
		}
		return signer, nil
	}
}
