package conformance

import (
	"context"
	"encoding/json"

	"github.com/go-jose/go-jose/v4"
)

// discoveryJWKSChecks registers the checks of the OP's JWKS: distinct kids
// and key sizes (OIDC Core 10.1, FAPI-R 5.2.2-5, 5.2.2-6).
func discoveryJWKSChecks(fw *Framework) {
	// Testname: Server keys carry key ids
	// Spec: OIDC-10.1
	// Description: The JWKS MUST hold a key. When it holds several keys,
	// signatures MUST name their key with a kid, so every key that can
	// verify signatures (use sig or no use) MUST carry one. Distinct
	// kids are a SHOULD (RFC 7517 4.5; FAPI-RW 8.9 recommends them):
	// duplicates are a warning. (The OIDF suite checks kids in its
	// flow modules, not in discovery.)
	// Quote: OIDC-10.1: "If there are multiple keys in the referenced JWK Set document, a kid value MUST be provided in the JOSE Header." OIDC-DISCOVERY-3: "jwks_uri REQUIRED. URL of the OP's JWK Set [JWK] document, which MUST use the https scheme. This contains the signing key(s) the RP uses to validate signatures from the OP." RFC7517-4.5: "When 'kid' values are used within a JWK Set, different keys within the JWK Set SHOULD use distinct 'kid' values."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("publishes a JWKS with a kid on every signing key when it holds several", func(ctx context.Context, f *Fixture) {
		set, ex := f.JWKS()
		if len(set.Keys) == 0 {
			if rawKeyCount(ex.ResponseBody) > 0 {
				f.Skipf("no key of the JWKS could be read (RFC 7517 5 lets unknown key types be ignored): nothing to judge")
			}
			f.Failf(ex, "expected at least one key in the JWKS (OIDC Discovery 3: it contains the OP's signing keys)")
		}
		if len(set.Keys) > 1 {
			f.Expect(signingKeysWithoutKid(set) == 0, ex, "expected a kid on every signing key of a JWKS with %d keys (OIDC 10.1: the JOSE header must then name its key), %d have none", len(set.Keys), signingKeysWithoutKid(set))
		}
		dup := duplicateKids(set)
		f.ExpectShould(len(dup) == 0, ex, "expected distinct kids (RFC 7517 4.5), these appear more than once: %v", dup)
	}, Refs("OIDC-10.1"), OIDF(ModHappy))

	// Testname: Server keys are long enough
	// Spec: FAPI-R-5.2.2-5, FAPI-R-5.2.2-6
	// Description: RSA keys of the OP MUST be at least 2048 bits and
	// EC keys at least 160 bits. (The OIDF suite checks key length in
	// its flow modules, not in discovery.)
	// Quote: FAPI-R-5.2.2-5: "shall require and use a key of size 2048 bits or larger for RSA algorithms;" FAPI-R-5.2.2-6: "shall require and use a key of size 160 bits or larger for elliptic curve algorithms;"
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("publishes RSA keys of at least 2048 bits and EC keys of at least 160 bits", func(ctx context.Context, f *Fixture) {
		set, ex := f.JWKS()
		for _, k := range set.Keys {
			kind, bits := keyBits(k)
			switch kind {
			case "RSA":
				f.Expect(bits >= 2048, ex, "expected RSA key %q of >= 2048 bits, got %d", k.KeyID, bits)
			case "EC":
				f.Expect(bits >= 160, ex, "expected EC key %q of >= 160 bits, got %d", k.KeyID, bits)
			}
		}
	}, Refs("FAPI-R-5.2.2-5", "FAPI-R-5.2.2-6"), OIDF(ModHappy))
}

// signingKeysWithoutKid counts the keys of set that can verify signatures
// (use "sig" or no use) and carry no kid.
func signingKeysWithoutKid(set jose.JSONWebKeySet) int {
	n := 0
	for _, k := range set.Keys {
		if k.Use != "enc" && k.KeyID == "" {
			n++
		}
	}
	return n
}

// duplicateKids lists the kids more than one key of set carries.
func duplicateKids(set jose.JSONWebKeySet) []string {
	seen := map[string]int{}
	var dup []string
	for _, k := range set.Keys {
		if k.KeyID == "" {
			continue
		}
		seen[k.KeyID]++
		if seen[k.KeyID] == 2 {
			dup = append(dup, k.KeyID)
		}
	}
	return dup
}

// rawKeyCount is the number of entries of a JWK Set document's "keys"
// array, readable or not (-1 when the body is no JWK Set).
func rawKeyCount(body []byte) int {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if json.Unmarshal(body, &raw) != nil {
		return -1
	}
	return len(raw.Keys)
}
