package client

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// TestEveryAsymmetricAlgSignsAndVerifies: outside FAPI a client signs its
// request objects and private_key_jwt assertions with the alg its key was
// registered for; each of the asymmetric JWS algorithms round-trips (the
// JWT verifies under that alg only, with the key's public half) and names
// its alg and kid in the header.
func TestEveryAsymmetricAlgSignsAndVerifies(t *testing.T) {
	op := newFakeOP(t, false, nil)
	rsaKey := rsaJWK(t, "rsa").Key
	ec := func(c elliptic.Curve) crypto.Signer {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		alg jose.SignatureAlgorithm
		key any
	}{
		{jose.RS256, rsaKey}, {jose.RS384, rsaKey}, {jose.RS512, rsaKey},
		{jose.PS256, rsaKey}, {jose.PS384, rsaKey}, {jose.PS512, rsaKey},
		{jose.ES256, ec(elliptic.P256())}, {jose.ES384, ec(elliptic.P384())}, {jose.ES512, ec(elliptic.P521())},
		{jose.EdDSA, ed},
	} {
		t.Run(string(tc.alg), func(t *testing.T) {
			key := jose.JSONWebKey{Key: tc.key, KeyID: "k-" + string(tc.alg), Algorithm: string(tc.alg), Use: "sig"}
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
				if err := verifyJWT(jwt, tc.alg, &pub); err != nil {
					t.Errorf("%s does not verify under %s: %v", name, tc.alg, err)
				}
				header, _, _ := decodeJWT(t, jwt)
				if header["alg"] != string(tc.alg) || header["kid"] != key.KeyID {
					t.Errorf("%s header %v, want alg %s kid %s", name, header, tc.alg, key.KeyID)
				}
			}
		})
	}
}
