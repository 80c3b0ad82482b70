package pki

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func TestGenerateSigningKey(t *testing.T) {
	rsa2048 := func(t *testing.T, k jose.JSONWebKey) {
		if rk, ok := k.Key.(*rsa.PrivateKey); !ok || rk.N.BitLen() != 2048 {
			t.Fatalf("key = %T, want RSA 2048", k.Key)
		}
	}
	onCurve := func(c elliptic.Curve) func(t *testing.T, k jose.JSONWebKey) {
		return func(t *testing.T, k jose.JSONWebKey) {
			if ek, ok := k.Key.(*ecdsa.PrivateKey); !ok || ek.Curve != c {
				t.Fatalf("key = %T, want ECDSA %s", k.Key, c.Params().Name)
			}
		}
	}
	tests := []struct {
		alg     string
		wantErr string
		check   func(t *testing.T, k jose.JSONWebKey)
	}{
		{alg: "PS256", check: rsa2048},
		{alg: "ES256", check: onCurve(elliptic.P256())},
		{alg: "ES384", check: onCurve(elliptic.P384())},
		{alg: "ES512", check: onCurve(elliptic.P521())},
		{alg: "EdDSA", check: func(t *testing.T, k jose.JSONWebKey) {
			if _, ok := k.Key.(ed25519.PrivateKey); !ok {
				t.Fatalf("key = %T, want Ed25519", k.Key)
			}
		}},
		{alg: "RS384", check: rsa2048},
		{alg: "HS256", wantErr: `"HS256" is not one of PS256, ES256, RS256`},
		{alg: "", wantErr: `"" is not one of`},
	}
	for _, tt := range tests {
		t.Run(tt.alg, func(t *testing.T) {
			k, err := GenerateSigningKey(rand.Reader, tt.alg, "kid-1")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.KeyID != "kid-1" || k.Algorithm != tt.alg || k.Use != "sig" || k.IsPublic() || !k.Valid() {
				t.Fatalf("jwk = kid %q alg %q use %q public %v", k.KeyID, k.Algorithm, k.Use, k.IsPublic())
			}
			tt.check(t, k)
		})
	}
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestSigningKeyFilesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, alg := range []string{"PS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			k, err := GenerateSigningKey(rand.Reader, alg, "k-"+alg)
			if err != nil {
				t.Fatal(err)
			}
			jwkFile := filepath.Join(dir, alg+".jwk")
			// A pre-existing world-readable file must end up 0600.
			if err := os.WriteFile(jwkFile, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := WriteJWK(jwkFile, k); err != nil {
				t.Fatal(err)
			}
			if m := fileMode(t, jwkFile); m != 0o600 {
				t.Fatalf("JWK mode = %o, want 600", m)
			}
			got, err := LoadSigningKey(jwkFile)
			if err != nil {
				t.Fatal(err)
			}
			if got.KeyID != k.KeyID || got.Algorithm != alg || got.Use != "sig" {
				t.Fatalf("loaded kid %q alg %q use %q", got.KeyID, got.Algorithm, got.Use)
			}
			if !jwkEqualPublic(t, got, k) {
				t.Fatal("loaded JWK differs from written one")
			}

			pemFile := filepath.Join(dir, alg+".key")
			if err := WriteKeyPEM(pemFile, k.Key); err != nil {
				t.Fatal(err)
			}
			if m := fileMode(t, pemFile); m != 0o600 {
				t.Fatalf("PEM key mode = %o, want 600", m)
			}
			fromPEM, err := LoadSigningKey(pemFile)
			if err != nil {
				t.Fatal(err)
			}
			wantKid, err := Thumbprint(k)
			if err != nil {
				t.Fatal(err)
			}
			if fromPEM.Algorithm != alg || fromPEM.KeyID != wantKid || fromPEM.KeyID == "" {
				t.Fatalf("PEM key alg %q kid %q, want %s %q", fromPEM.Algorithm, fromPEM.KeyID, alg, wantKid)
			}

			jwksFile := filepath.Join(dir, alg+".jwks")
			if err := WriteJWKS(jwksFile, k); err != nil {
				t.Fatal(err)
			}
			if m := fileMode(t, jwksFile); m != 0o644 {
				t.Fatalf("JWKS mode = %o, want 644", m)
			}
			data, err := os.ReadFile(jwksFile)
			if err != nil {
				t.Fatal(err)
			}
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(data, &set); err != nil {
				t.Fatal(err)
			}
			if len(set.Keys) != 1 || !set.Keys[0].IsPublic() || set.Keys[0].KeyID != k.KeyID {
				t.Fatalf("JWKS = %s", data)
			}
			if strings.Contains(string(data), `"d"`) {
				t.Fatal("JWKS leaks private key material")
			}
		})
	}
}

func jwkEqualPublic(t *testing.T, a, b jose.JSONWebKey) bool {
	t.Helper()
	ta, err := Thumbprint(a)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := Thumbprint(b)
	if err != nil {
		t.Fatal(err)
	}
	return ta == tb
}

func TestLoadSigningKeyPEMFormats(t *testing.T) {
	dir := t.TempDir()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, body, alg string
	}{
		{"pkcs1", string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})), "PS256"},
		// openssl ecparam -genkey writes EC PARAMETERS before the key.
		{"sec1", "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n" +
			string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})), "ES256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(dir, tt.name)
			if err := os.WriteFile(f, []byte(tt.body), 0o600); err != nil {
				t.Fatal(err)
			}
			k, err := LoadSigningKey(f)
			if err != nil {
				t.Fatal(err)
			}
			if k.Algorithm != tt.alg || k.KeyID == "" {
				t.Fatalf("alg %q kid %q", k.Algorithm, k.KeyID)
			}
		})
	}
}

func TestLoadSigningKeyErrors(t *testing.T) {
	dir := t.TempDir()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	es, err := GenerateSigningKey(rand.Reader, "ES256", "x")
	if err != nil {
		t.Fatal(err)
	}
	pubJSON, err := json.Marshal(es.Public())
	if err != nil {
		t.Fatal(err)
	}
	wrongAlg := es
	wrongAlg.Algorithm = "PS256"
	wrongAlgJSON, err := json.Marshal(wrongAlg)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := func(k any) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}
	tests := []struct {
		name, body, wantErr string
	}{
		{"garbage", "hello", "no PEM private key block"},
		{"badjson", "{not json", "invalid JWK"},
		{"public", string(pubJSON), "public key"},
		{"wrongalg", string(wrongAlgJSON), `alg "PS256" does not fit its key`},
		{"cert-only", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "no PEM private key block"},
		{"corrupt", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "invalid PRIVATE KEY block"},
		{"rsa1024", pkcs8(small), "1024 bits"},
		{"p224", pkcs8(p224), "P-224"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(dir, tt.name)
			if err := os.WriteFile(f, []byte(tt.body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadSigningKey(f)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), f) {
				t.Fatalf("err = %v, want %q naming %s", err, tt.wantErr, f)
			}
		})
	}
	missing := filepath.Join(dir, "missing.jwk")
	if _, err := LoadSigningKey(missing); err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing file: err = %v", err)
	}
}

func TestServerCertificate(t *testing.T) {
	ca, err := NewCA(rand.Reader, testNow, "test CA")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.IssueServer(rand.Reader, testNow, []string{"localhost", "127.0.0.1", "::1", "op.example"})
	if err != nil {
		t.Fatal(err)
	}
	leaf := srv.Leaf
	if leaf == nil {
		t.Fatal("Leaf not set")
	}
	pub, ok := leaf.PublicKey.(*rsa.PublicKey)
	if !ok || pub.N.BitLen() < 2048 {
		t.Fatalf("server key %T, want RSA >= 2048", leaf.PublicKey)
	}
	if got := strings.Join(leaf.DNSNames, ","); got != "localhost,op.example" {
		t.Fatalf("DNS SANs = %s", got)
	}
	if len(leaf.IPAddresses) != 2 || !leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || !leaf.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Fatalf("IP SANs = %v", leaf.IPAddresses)
	}
	if !leaf.NotBefore.Equal(testNow.Add(-time.Hour)) || leaf.NotAfter.Before(testNow.Add(365*24*time.Hour)) {
		t.Fatalf("validity %v .. %v", leaf.NotBefore, leaf.NotAfter)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "op.example"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: ca.Pool(), CurrentTime: testNow}); err != nil {
			t.Errorf("verify for %s: %v", host, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "other.example", Roots: ca.Pool(), CurrentTime: testNow}); err == nil {
		t.Error("verified for a host not in the SANs")
	}
	if _, err := ca.IssueServer(rand.Reader, testNow, nil); err == nil {
		t.Error("IssueServer without hosts succeeded")
	}
}

// TestMutualTLSHandshake runs a FAPI TLS 1.2 handshake between a server and
// a client certificate from the same CA, each verifying the other.
func TestMutualTLSHandshake(t *testing.T) {
	ca, err := NewCA(rand.Reader, testNow, "test CA")
	if err != nil {
		t.Fatal(err)
	}
	srvCert, err := ca.IssueServer(rand.Reader, testNow, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	cliCert, err := ca.IssueClient(rand.Reader, testNow, "client-1")
	if err != nil {
		t.Fatal(err)
	}
	if got := cliCert.Leaf.Subject.String(); got != "CN=client-1,O=ciba-check" {
		t.Fatalf("client subject = %q", got)
	}
	clock := func() time.Time { return testNow }
	serverConf := &tls.Config{
		Certificates: []tls.Certificate{srvCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.Pool(),
		MinVersion:   tls.VersionTLS12,
		MaxVersion:   tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384},
		Time:         clock,
	}
	clientConf := &tls.Config{
		Certificates: []tls.Certificate{cliCert},
		RootCAs:      ca.Pool(),
		ServerName:   "127.0.0.1",
		MaxVersion:   tls.VersionTLS12,
		Time:         clock,
	}
	c1, c2 := net.Pipe()
	srv := tls.Server(c1, serverConf)
	cli := tls.Client(c2, clientConf)
	done := make(chan error, 1)
	go func() { done <- srv.Handshake() }()
	if err := cli.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	peer := srv.ConnectionState().PeerCertificates
	if len(peer) != 1 || peer[0].Subject.String() != "CN=client-1,O=ciba-check" {
		t.Fatalf("server saw peer %v", peer)
	}
	cli.Close()
	srv.Close()
}

func TestSelfSignedClientVerifiesOnlyAgainstItself(t *testing.T) {
	self, err := SelfSignedClient(rand.Reader, testNow, "self-client")
	if err != nil {
		t.Fatal(err)
	}
	other, err := SelfSignedClient(rand.Reader, testNow, "self-client")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := NewCA(rand.Reader, testNow, "test CA")
	if err != nil {
		t.Fatal(err)
	}
	own := x509.NewCertPool()
	own.AddCert(self.Leaf)
	otherPool := x509.NewCertPool()
	otherPool.AddCert(other.Leaf)
	opts := func(pool *x509.CertPool) x509.VerifyOptions {
		return x509.VerifyOptions{Roots: pool, CurrentTime: testNow, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	}
	if _, err := self.Leaf.Verify(opts(own)); err != nil {
		t.Fatalf("self-signed cert does not verify against itself: %v", err)
	}
	for name, pool := range map[string]*x509.CertPool{"other self-signed": otherPool, "CA": ca.Pool()} {
		if _, err := self.Leaf.Verify(opts(pool)); err == nil {
			t.Errorf("self-signed cert verified against %s", name)
		}
	}
}

func TestCAFilesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	ca, err := NewCA(rand.Reader, testNow, "test CA")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key")
	if err := ca.Write(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	if m := fileMode(t, keyFile); m != 0o600 {
		t.Fatalf("CA key mode %o", m)
	}
	if m := fileMode(t, certFile); m != 0o644 {
		t.Fatalf("CA cert mode %o", m)
	}
	loaded, err := LoadCA(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.Certificate().Equal(ca.Certificate()) {
		t.Fatal("loaded CA certificate differs")
	}
	// The loaded CA issues certificates the original CA's pool accepts.
	cli, err := loaded.IssueClient(rand.Reader, testNow, "c")
	if err != nil {
		t.Fatal(err)
	}
	cliCert, cliKey := filepath.Join(dir, "c.pem"), filepath.Join(dir, "c.key")
	if err := WriteTLSCertificate(cliCert, cliKey, cli); err != nil {
		t.Fatal(err)
	}
	pair, err := LoadCertificate(cliCert, cliKey)
	if err != nil {
		t.Fatal(err)
	}
	if pair.Leaf == nil || !pair.Leaf.Equal(cli.Leaf) {
		t.Fatal("loaded client certificate differs or has no Leaf")
	}
	pool, err := LoadCAPool(certFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: testNow, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("client cert does not verify against loaded pool: %v", err)
	}
	// A leaf certificate is not a CA.
	if _, err := LoadCA(cliCert, cliKey); err == nil || !strings.Contains(err.Error(), "not a CA") {
		t.Fatalf("LoadCA(leaf) err = %v", err)
	}
	// Mismatched key and certificate.
	if _, err := LoadCertificate(cliCert, keyFile); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("mismatched pair err = %v", err)
	}
}

func TestLoadGarbageFiles(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not pem at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	ca, err := NewCA(rand.Reader, testNow, "test CA")
	if err != nil {
		t.Fatal(err)
	}
	good, goodKey := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key")
	if err := ca.Write(good, goodKey); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	tests := []struct {
		name    string
		load    func() error
		wantErr string
	}{
		{"pool garbage", func() error { _, err := LoadCAPool(garbage); return err }, garbage + ": no PEM certificates"},
		{"pool missing", func() error { _, err := LoadCAPool(missing); return err }, missing},
		{"cert garbage", func() error { _, err := LoadCertificate(garbage, goodKey); return err }, garbage + ": no PEM CERTIFICATE block"},
		{"key garbage", func() error { _, err := LoadCertificate(good, garbage); return err }, garbage + ": no PEM private key block"},
		{"cert missing", func() error { _, err := LoadCertificate(missing, goodKey); return err }, missing},
		{"CA garbage", func() error { _, err := LoadCA(garbage, goodKey); return err }, garbage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.load()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	if err := WriteCertPEM(filepath.Join(dir, "x.pem")); err == nil {
		t.Error("WriteCertPEM with no certificates succeeded")
	}
	if err := WriteKeyPEM(filepath.Join(dir, "x.key"), "not a key"); err == nil {
		t.Error("WriteKeyPEM with a bad key succeeded")
	}
	if err := WriteJWK(filepath.Join(dir, "no-such-dir", "k.jwk"), jose.JSONWebKey{}); err == nil {
		t.Error("WriteJWK into a missing directory succeeded")
	}
	if err := WriteJWKS(filepath.Join(dir, "k.jwks"), jose.JSONWebKey{}); err == nil {
		t.Error("WriteJWKS of an empty key succeeded")
	}
	if _, err := NewCA(rand.Reader, testNow, ""); err == nil {
		t.Error("NewCA without a name succeeded")
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("entropy exhausted") }

// The serial number comes from the given reader, so a broken reader is an
// error rather than a certificate with a predictable serial.
func TestBrokenRandomness(t *testing.T) {
	if _, err := NewCA(failingReader{}, testNow, "CA"); err == nil || !strings.Contains(err.Error(), "entropy exhausted") {
		t.Fatalf("NewCA err = %v", err)
	}
	if _, err := SelfSignedClient(failingReader{}, testNow, "c"); err == nil || !strings.Contains(err.Error(), "serial") {
		t.Fatalf("SelfSignedClient err = %v", err)
	}
}
