package client

import (
	"crypto/rand"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/pki"
)

// TestEveryAsymmetricAlgSignsAndVerifies: outside FAPI a client signs its
// request objects and private_key_jwt assertions with the alg its key was
// registered for; each of the asymmetric JWS algorithms round-trips (the
// JWT verifies under that alg only, with the key's public half) and names
// its alg and kid in the header.
func TestEveryAsymmetricAlgSignsAndVerifies(t *testing.T) {
	op := newFakeOP(t, false, nil)
	algs := []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}
	if len(algs) != len(ciba.PlainAlgs()) {
		t.Fatalf("testing %d algs, ciba.PlainAlgs has %d", len(algs), len(ciba.PlainAlgs()))
	}
	for _, alg := range algs {
		t.Run(string(alg), func(t *testing.T) {
			key, err := pki.GenerateSigningKey(rand.Reader, string(alg), "k-"+string(alg))
			if err != nil {
				t.Fatal(err)
			}
			c, _ := testClient(t, op, key, nil)
			ro, err := c.RequestObject(AuthParams{Scope: "openid", LoginHint: "alice"})
			if err != nil {
				t.Fatalf("request object: %v", err)
			}
			as, err := c.ClientAssertion(op.srv.URL + "/token")
			if err != nil {
				t.Fatalf("client assertion: %v", err)
			}
			pub := key.Public()
			for name, jwt := range map[string]string{"request object": ro, "client assertion": as} {
				if err := verifyJWT(jwt, alg, &pub); err != nil {
					t.Errorf("%s does not verify under %s: %v", name, alg, err)
				}
				header, _, _ := decodeJWT(t, jwt)
				if header["alg"] != string(alg) || header["kid"] != key.KeyID {
					t.Errorf("%s header %v, want alg %s kid %s", name, header, alg, key.KeyID)
				}
			}
		})
	}
}
