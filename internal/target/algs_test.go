package target

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// algKeys writes one private key of each type go-jose signs with (PKCS#8
// PEM) into dir and returns their files by kind.
func algKeys(t *testing.T, dir string) map[string]string {
	t.Helper()
	gen := map[string]func() (crypto.Signer, error){
		"rsa":     func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) },
		"p256":    func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) },
		"p384":    func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P384(), rand.Reader) },
		"p521":    func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P521(), rand.Reader) },
		"ed25519": func() (crypto.Signer, error) { _, k, err := ed25519.GenerateKey(rand.Reader); return k, err },
	}
	files := map[string]string{}
	for kind, g := range gen {
		k, err := g()
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		files[kind] = kind + ".pem"
		if err := os.WriteFile(filepath.Join(dir, files[kind]), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// TestAlgAndKeyType: every asymmetric JWS alg against every key type, with
// FAPI off and on. With fapi: false an alg is accepted when the key fits
// it (RS*/PS* RSA, ES256/384/512 P-256/P-384/P-521, EdDSA Ed25519), and a
// misfit is a one-line error at signing_key's file:line; with fapi: true
// only PS256 and ES256 parse (FAPI-RW 8.6), and a key whose own alg is
// another is refused when loaded.
func TestAlgAndKeyType(t *testing.T) {
	dir := t.TempDir()
	keys := algKeys(t, dir)
	// fits is written out, not derived from the code under test.
	fits := map[string][]string{
		"rsa":     {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"},
		"p256":    {"ES256"},
		"p384":    {"ES384"},
		"p521":    {"ES512"},
		"ed25519": {"EdDSA"},
	}
	implied := map[string]string{"rsa": "PS256", "p256": "ES256", "p384": "ES384", "p521": "ES512", "ed25519": "EdDSA"}
	algs := []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", ""}
	doc := func(fapi bool, keyFile, alg string) string {
		algLine := "    scope: openid"
		if alg != "" {
			algLine = "    alg: " + alg
		}
		return strings.Join([]string{
			/* 1 */ "issuer: https://op.example",
			/* 2 */ "fapi: " + map[bool]string{true: "true", false: "false"}[fapi],
			/* 3 */ "clients:",
			/* 4 */ "  - id: c1",
			/* 5 */ "    auth: private_key_jwt",
			/* 6 */ "    mode: poll",
			/* 7 */ "    signing_key: " + keyFile,
			/* 8 */ algLine,
			/* 9 */ "users:",
			/* 10 */ "  - name: u",
			/* 11 */ "    login_hint: u",
			/* 12 */ "device:",
			/* 13 */ "  kind: hints",
		}, "\n") + "\n"
	}
	for _, fapi := range []bool{false, true} {
		for kind, file := range keys {
			for _, alg := range algs {
				name := map[bool]string{true: "fapi", false: "plain"}[fapi] + "/" + kind + "/" + alg
				t.Run(name, func(t *testing.T) {
					tgt, err := ParseWithEnv([]byte(doc(fapi, file, alg)), "t/target.yaml", dir, func(string) (string, bool) { return "", false })
					if fapi && alg != "" && alg != "PS256" && alg != "ES256" {
						want := `t/target.yaml:8:5: clients[0].alg: "` + alg + `" is not one of PS256, ES256 (FAPI-RW 8.6; with fapi: false also RS256, RS384, RS512, PS384, PS512, ES384, ES512, EdDSA)`
						if err == nil || err.Error() != want {
							t.Fatalf("parse error %v, want %s", err, want)
						}
						return
					}
					if err != nil {
						t.Fatalf("parse: %v", err)
					}
					key, err := tgt.Clients[0].LoadSigningKey()
					wantAlg := alg
					if alg == "" {
						wantAlg = implied[kind]
					}
					switch {
					case alg != "" && !slices.Contains(fits[kind], alg):
						if err == nil || !strings.HasPrefix(err.Error(), "t/target.yaml:7:5: clients[0].signing_key: ") ||
							!strings.Contains(err.Error(), "alg "+alg+" does not fit the "+implied[kind]+" key") || strings.Contains(err.Error(), "\n") {
							t.Fatalf("misfit: err = %v, want one line at signing_key saying alg %s does not fit", err, alg)
						}
					case fapi && wantAlg != "PS256" && wantAlg != "ES256":
						if err == nil || !strings.HasPrefix(err.Error(), "t/target.yaml:7:5: clients[0].signing_key: ") || !strings.Contains(err.Error(), "signs with "+wantAlg+"; FAPI allows only PS256 and ES256 (FAPI-RW 8.6)") {
							t.Fatalf("FAPI with a %s key: err = %v, want the FAPI-RW 8.6 refusal", wantAlg, err)
						}
					default:
						if err != nil || key.Algorithm != wantAlg {
							t.Fatalf("LoadSigningKey = %s, %v; want alg %s", key.Algorithm, err, wantAlg)
						}
					}
				})
			}
		}
	}
	// An alg that is no asymmetric JWS algorithm never parses.
	for _, fapi := range []bool{false, true} {
		_, err := ParseWithEnv([]byte(doc(fapi, keys["p256"], "HS256")), "t/target.yaml", dir, func(string) (string, bool) { return "", false })
		if err == nil || !strings.HasPrefix(err.Error(), `t/target.yaml:8:5: clients[0].alg: "HS256" is not one of PS256, ES256`) {
			t.Errorf("fapi %v, alg HS256: err = %v", fapi, err)
		}
	}
}
