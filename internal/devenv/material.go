package devenv

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/pki"
)

// clientSpec is one client the embedded OP registers. The set covers the
// three combinations FAPI-CIBA OPs are certified in (poll + private_key_jwt,
// ping + mTLS, ping + private_key_jwt) and two clients of the same kind for
// the mix-up checks (CIBA.md pitfall 7).
type clientSpec struct {
	ID   string
	Auth ciba.AuthMethod
	Mode ciba.DeliveryMode
	Alg  string
	// PushOnly clients exist only with FAPI off (FAPI-CIBA 5.2.2-3 forbids
	// push; FAPI-RW 5.2.2-14 forbids client secrets).
	PushOnly bool
	// Unsigned clients send plain backchannel requests (CIBA 7.1) and
	// have no signing key or certificate.
	Unsigned bool
}

// DevSecretVar is the environment variable the target.yaml of a FAPI-off
// environment names for its client secret (secret: ${DevSecretVar}); the
// value is in the file SecretFile of the environment's folder.
const DevSecretVar = "CIBA_CHECK_DEV_CLIENT_SECRET"

// SecretFile holds the client secret of a FAPI-off environment (mode 0600).
const SecretFile = "client-secret"

// usesSecret reports whether the spec's client authenticates with a secret.
func (s clientSpec) usesSecret() bool {
	return s.Auth == ciba.AuthClientSecretBasic || s.Auth == ciba.AuthClientSecretPost || s.Auth == ciba.AuthClientSecretJWT
}

func clientSpecs(pushAllowed bool) []clientSpec {
	specs := []clientSpec{
		{ID: "poll-pkjwt-es256", Auth: ciba.AuthPrivateKeyJWT, Mode: ciba.ModePoll, Alg: ciba.AlgES256},
		{ID: "poll-pkjwt-ps256", Auth: ciba.AuthPrivateKeyJWT, Mode: ciba.ModePoll, Alg: ciba.AlgPS256},
		{ID: "ping-pkjwt-ps256", Auth: ciba.AuthPrivateKeyJWT, Mode: ciba.ModePing, Alg: ciba.AlgPS256},
		{ID: "ping-mtls", Auth: ciba.AuthTLSClient, Mode: ciba.ModePing, Alg: ciba.AlgPS256},
		{ID: "poll-mtls", Auth: ciba.AuthTLSClient, Mode: ciba.ModePoll, Alg: ciba.AlgES256},
		{ID: "poll-selfsigned", Auth: ciba.AuthSelfSignedTLSClient, Mode: ciba.ModePoll, Alg: ciba.AlgES256},
		{ID: "push-pkjwt-es256", Auth: ciba.AuthPrivateKeyJWT, Mode: ciba.ModePush, Alg: ciba.AlgES256, PushOnly: true},
		// CIBA Core clients: client secrets (RFC 6749 2.3.1, OIDC Core 9),
		// unsigned requests except the client_secret_jwt one.
		{ID: "poll-secret-basic", Auth: ciba.AuthClientSecretBasic, Mode: ciba.ModePoll, PushOnly: true, Unsigned: true},
		{ID: "ping-secret-post", Auth: ciba.AuthClientSecretPost, Mode: ciba.ModePing, PushOnly: true, Unsigned: true},
		{ID: "poll-secret-jwt", Auth: ciba.AuthClientSecretJWT, Mode: ciba.ModePoll, Alg: ciba.AlgES256, PushOnly: true},
	}
	out := specs[:0:0]
	for _, s := range specs {
		if !s.PushOnly || pushAllowed {
			out = append(out, s)
		}
	}
	return out
}

// clientMaterial is a client's keys and certificate and where they live.
type clientMaterial struct {
	Spec       clientSpec
	SigningKey jose.JSONWebKey
	TLSCert    tls.Certificate
	KeyFile    string // private JWK
	CertFile   string
	CertKey    string
}

// material is every key and certificate of the embedded environment.
type material struct {
	CA         *pki.CA
	CAFile     string
	Server     tls.Certificate
	ServerCert string
	ServerKey  string
	OPKeys     []jose.JSONWebKey
	Clients    []clientMaterial
	// Secret is the client secret of every secret client ("" when none);
	// it lives in SecretFile.
	Secret string
	// Written lists the files created by this call (not those reused).
	Written []string
	// Tightened lists reused private key files that others could read,
	// made 0600 by this call.
	Tightened []string
}

// loadOrCreateMaterial reuses what dir already holds and generates (and
// writes) the rest, so a second `serve --dir` keeps every registration
// valid. Private keys are written with mode 0600 by package pki.
func loadOrCreateMaterial(dir string, specs []clientSpec, rand io.Reader, now time.Time) (*material, error) {
	m := &material{
		CAFile:     filepath.Join(dir, "ca.pem"),
		ServerCert: filepath.Join(dir, "server.pem"),
		ServerKey:  filepath.Join(dir, "server.key"),
	}
	for _, sub := range []string{"op", "clients"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	caKey := filepath.Join(dir, "ca.key")
	var err error
	if m.CA, err = loadOr(func() (*pki.CA, error) {
		if err := m.tighten(caKey); err != nil {
			return nil, err
		}
		return pki.LoadCA(m.CAFile, caKey)
	},
		func() (*pki.CA, error) {
			ca, err := pki.NewCA(rand, now, "ciba-check dev CA")
			if err != nil {
				return nil, err
			}
			m.Written = append(m.Written, m.CAFile, caKey)
			return ca, ca.Write(m.CAFile, caKey)
		}, m.CAFile, caKey); err != nil {
		return nil, err
	}
	if m.Server, err = loadOrTLS(m, m.ServerCert, m.ServerKey, func() (tls.Certificate, error) {
		return m.CA.IssueServer(rand, now, []string{"127.0.0.1", "::1", "localhost"})
	}); err != nil {
		return nil, err
	}
	for _, alg := range ciba.FAPIAlgs {
		file := filepath.Join(dir, "op", alg+".jwk")
		key, err := loadOrKey(m, file, rand, alg, "op-"+alg)
		if err != nil {
			return nil, err
		}
		m.OPKeys = append(m.OPKeys, key)
	}
	for _, s := range specs {
		if s.usesSecret() && m.Secret == "" {
			if m.Secret, err = loadOrCreateSecret(m, filepath.Join(dir, SecretFile), rand); err != nil {
				return nil, err
			}
		}
		if s.Unsigned {
			m.Clients = append(m.Clients, clientMaterial{Spec: s})
			continue
		}
		cm := clientMaterial{
			Spec:     s,
			KeyFile:  filepath.Join(dir, "clients", s.ID+".jwk"),
			CertFile: filepath.Join(dir, "clients", s.ID+".pem"),
			CertKey:  filepath.Join(dir, "clients", s.ID+".key"),
		}
		if cm.SigningKey, err = loadOrKey(m, cm.KeyFile, rand, s.Alg, s.ID); err != nil {
			return nil, err
		}
		if cm.TLSCert, err = loadOrTLS(m, cm.CertFile, cm.CertKey, func() (tls.Certificate, error) {
			if s.Auth == ciba.AuthSelfSignedTLSClient {
				return pki.SelfSignedClient(rand, now, s.ID)
			}
			return m.CA.IssueClient(rand, now, s.ID)
		}); err != nil {
			return nil, err
		}
		jwksFile := filepath.Join(dir, "clients", s.ID+".jwks.json")
		if _, err := os.Stat(jwksFile); errors.Is(err, fs.ErrNotExist) {
			if err := pki.WriteJWKS(jwksFile, cm.registeredKeys()...); err != nil {
				return nil, err
			}
			m.Written = append(m.Written, jwksFile)
		}
		m.Clients = append(m.Clients, cm)
	}
	return m, nil
}

// loadOrCreateSecret reads the environment's client secret or makes one:
// 32 random bytes, base64url (43 characters, enough for HS256, RFC 7518
// 3.2), written with mode 0600.
func loadOrCreateSecret(m *material, file string, rand io.Reader) (string, error) {
	data, err := os.ReadFile(file)
	if err == nil {
		secret := strings.TrimSpace(string(data))
		if len(secret) < 32 {
			return "", fmt.Errorf("reusing %s: the client secret is shorter than 32 bytes (delete the file to start afresh)", file)
		}
		return secret, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	b := make([]byte, 32)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", err
	}
	secret := base64.RawURLEncoding.EncodeToString(b)
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		return "", err
	}
	m.Written = append(m.Written, file)
	return secret, nil
}

// registeredKeys is the public JWKS the client registers: its signing key
// and, for self_signed_tls_client_auth, its certificate (RFC 8705 2.2).
func (c clientMaterial) registeredKeys() []jose.JSONWebKey {
	if c.SigningKey.Key == nil {
		return nil
	}
	keys := []jose.JSONWebKey{c.SigningKey.Public()}
	if c.Spec.Auth == ciba.AuthSelfSignedTLSClient {
		keys = append(keys, jose.JSONWebKey{
			Key:          c.TLSCert.Leaf.PublicKey,
			KeyID:        c.Spec.ID + "-tls",
			Use:          "tls",
			Certificates: []*x509.Certificate{c.TLSCert.Leaf},
		})
	}
	return keys
}

// tighten makes a reused private key file 0600 if group or others could
// read it, and records it.
func (m *material) tighten(file string) error {
	done, err := pki.TightenPrivateFile(file)
	if done {
		m.Tightened = append(m.Tightened, file)
	}
	return err
}

func loadOr[T any](load, create func() (T, error), files ...string) (T, error) {
	for _, f := range files {
		if _, err := os.Stat(f); errors.Is(err, fs.ErrNotExist) {
			return create()
		}
	}
	v, err := load()
	if err != nil {
		return v, fmt.Errorf("reusing %s: %w (delete the directory to start afresh)", files[0], err)
	}
	return v, nil
}

func loadOrTLS(m *material, certFile, keyFile string, create func() (tls.Certificate, error)) (tls.Certificate, error) {
	return loadOr(func() (tls.Certificate, error) {
		if err := m.tighten(keyFile); err != nil {
			return tls.Certificate{}, err
		}
		return pki.LoadCertificate(certFile, keyFile)
	},
		func() (tls.Certificate, error) {
			c, err := create()
			if err != nil {
				return c, err
			}
			m.Written = append(m.Written, certFile, keyFile)
			return c, pki.WriteTLSCertificate(certFile, keyFile, c)
		}, certFile, keyFile)
}

func loadOrKey(m *material, file string, rand io.Reader, alg, kid string) (jose.JSONWebKey, error) {
	return loadOr(func() (jose.JSONWebKey, error) {
		if err := m.tighten(file); err != nil {
			return jose.JSONWebKey{}, err
		}
		return pki.LoadSigningKey(file)
	},
		func() (jose.JSONWebKey, error) {
			k, err := pki.GenerateSigningKey(rand, alg, kid)
			if err != nil {
				return k, err
			}
			m.Written = append(m.Written, file)
			return k, pki.WriteJWK(file, k)
		}, file)
}
