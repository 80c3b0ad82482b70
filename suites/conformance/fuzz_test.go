package conformance

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// FuzzParseIDToken feeds arbitrary id_token values, as an OP under test
// may send, to the suite's parser: it must never panic, must report a
// malformed token as an error, and must keep verification apart from
// parsing.
func FuzzParseIDToken(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, nil)
	if err != nil {
		f.Fatal(err)
	}
	jws, err := signer.Sign([]byte(`{"iss":"https://op","sub":"u","aud":"c","exp":2000000000,"iat":1}`))
	if err != nil {
		f.Fatal(err)
	}
	good, err := jws.CompactSerialize()
	if err != nil {
		f.Fatal(err)
	}
	if tok, err := parseIDToken(good, set); err != nil || tok.VerifyErr != nil {
		f.Fatalf("a token signed by the published key: err %v, verify %v", err, tok.VerifyErr)
	}
	for _, seed := range []string{
		good, good + "x", "", ".", "..", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "eyJhbGciOiJub25lIn0.bnVsbA.",
		"e30.e30.e30", "W10.W10.", good[:len(good)/2],
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := parseIDToken(raw, set)
		if err != nil {
			return
		}
		if tok.Header == nil || tok.Claims == nil {
			t.Fatalf("parsed %q without header or claims", raw)
		}
		if tok.VerifyErr == nil && raw != good {
			// Only a token signed by the published key verifies; the
			// fuzzer cannot forge ES256.
			if _, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256}); err != nil {
				t.Fatalf("%q verified but is not an ES256 JWS: %v", raw, err)
			}
		}
	})
}
