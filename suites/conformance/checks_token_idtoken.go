package conformance

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	_ "crypto/sha256" // the hashes of at_hash (OIDC 3.3.2.11)
	_ "crypto/sha512"
	"encoding/base64"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
)

// tokenIDTokenChecks registers the checks of the ID token's signature and
// standard claims (OIDC Core 2, 3.1.3.6, FAPI-RW 8.6).
func tokenIDTokenChecks(fw *Framework) {
	// Testname: ID token signed with a FAPI algorithm, kid when needed
	// Spec: FAPI-RW-8.6, OIDC-10.1, OIDC-2
	// Description: The ID token MUST verify with a key of the OP's
	// JWKS; under FAPI it MUST be signed with PS256 or ES256; its
	// header MUST name the key with kid when the JWKS holds more than
	// one signing key (with a single key, kid is optional).
	// Quote: OIDC-2: "ID Tokens MUST be signed using JWS [JWS] and optionally both signed and then encrypted using JWS [JWS] and JWE [JWE] respectively" OIDC-10.1: "If there are multiple keys in the referenced JWK Set document, a kid value MUST be provided in the JOSE Header." FAPI-RW-8.6: "For JWS, both clients and authorization servers: 1. shall use PS256 or ES256 algorithms; 2. should not use algorithms that use RSASSA-PKCS1-v1_5 (e.g. RS256); 3. shall not use none;"
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("signs the ID token with PS256 or ES256 by a key of its JWKS, with a kid when it has several", func(ctx context.Context, f *Fixture) {
		tr, ex, _ := f.SharedApproved(f.Client(AnyMode, AnyAuth))
		set, _ := f.JWKS()
		t, err := parseIDToken(tr.IDToken, set)
		if err != nil {
			f.Failf(ex, "%v", err)
		}
		alg, _ := t.Header["alg"].(string)
		if f.Env().Target.FAPI {
			f.Expect(alg == ciba.AlgPS256 || alg == ciba.AlgES256, ex, "expected ID token alg PS256 or ES256 (FAPI-RW 8.6), got %q", alg)
		}
		kid, _ := t.Header["kid"].(string)
		if n := signingKeyCount(set); n > 1 {
			f.Expect(kid != "", ex, "expected a kid in the ID token header: the OP's JWKS holds %d signing keys (OIDC 10.1), got none", n)
		}
		f.Expect(t.VerifyErr == nil, ex, "expected the ID token to verify with the OP's JWKS: %v", t.VerifyErr)
	}, Refs("FAPI-RW-8.6", "OIDC-10.1", "OIDC-2"), OIDF(ModHappy), SharesFlow)

	// Testname: ID token claims identify issuer, client and user
	// Spec: OIDC-2, CIBA-10.1.1
	// Description: The ID token MUST carry iss equal to the issuer,
	// an aud containing the client_id, sub, and numeric iat and an exp
	// in the future. (A nonce is not checked: no text forbids one.)
	// Quote: OIDC-2: "iss REQUIRED. Issuer Identifier for the Issuer of the response." OIDC-2: "sub REQUIRED. Subject Identifier." OIDC-2: "aud REQUIRED. Audience(s) that this ID Token is intended for. It MUST contain the OAuth 2.0 client_id of the Relying Party as an audience value." OIDC-2: "exp REQUIRED. Expiration time on or after which the ID Token MUST NOT be accepted for processing." OIDC-2: "iat REQUIRED. Time at which the JWT was issued. Its value is a JSON number representing the number of seconds from 1970-01-01T0:0:0Z as measured in UTC until the date/time."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("issues an ID token with iss, aud, sub, iat and a future exp", func(ctx context.Context, f *Fixture) {
		c := f.Client(AnyMode, AnyAuth)
		tr, ex, _ := f.SharedApproved(c)
		t := f.ParseIDToken(tr.IDToken, ex)
		iss, _ := t.Claims["iss"].(string)
		f.Expect(iss == c.Metadata().Issuer, ex, "expected ID token iss %q, got %q", c.Metadata().Issuer, iss)
		f.Expect(audContains(t.Claims["aud"], c.ClientID()), ex, "expected ID token aud to contain %q, got %v", c.ClientID(), t.Claims["aud"])
		sub, _ := t.Claims["sub"].(string)
		f.Expect(sub != "", ex, "expected a sub claim, got %v", t.Claims["sub"])
		_, hasIat := number(t.Claims, "iat")
		f.Expect(hasIat, ex, "expected a numeric iat, got %v", t.Claims["iat"])
		exp, hasExp := number(t.Claims, "exp")
		f.Expect(hasExp && time.Unix(int64(exp), 0).After(time.Now()), ex, "expected a numeric exp in the future, got %v", t.Claims["exp"])
	}, Refs("OIDC-2", "CIBA-10.1.1"), OIDF(ModHappy), SharesFlow)
}

// tokenIDTokenHashChecks registers the checks of the claims that tie the ID
// token to its access token and request (OIDC Core 3.3.2.11, CIBA 10.1.1).
func tokenIDTokenHashChecks(fw *Framework) {
	// Testname: ID token at_hash matches the access token
	// Spec: OIDC-3.3.2.11, CIBA-10.3.1
	// Description: An at_hash in the ID token MUST be the base64url
	// left half of the access token's hash under the hash of the ID
	// token's alg (SHA-256 for PS256/ES256/RS256, SHA-384 for *384,
	// SHA-512 for *512). In poll and ping the claim is optional, so
	// an ID token without it passes; a present one is defined by the
	// quoted sentence, and the OIDF suite fails a wrong one.
	// Quote: OIDC-3.3.2.11: "at_hash Access Token hash value. Its value is the base64url encoding of the left-most half of the hash of the octets of the ASCII representation of the access_token value, where the hash algorithm used is the hash algorithm used in the alg Header Parameter of the ID Token's JOSE Header. For instance, if the alg is RS256, hash the access_token value with SHA-256, then take the left-most 128 bits and base64url encode them. The at_hash value is a case sensitive string. If the ID Token is issued from the Authorization Endpoint with an access_token value, which is the case for the response_type value code token, this is REQUIRED; otherwise, its inclusion is OPTIONAL."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("issues an ID token whose at_hash, if any, matches the access token", func(ctx context.Context, f *Fixture) {
		tr, ex, _ := f.SharedApproved(f.Client(AnyMode, AnyAuth))
		t := f.ParseIDToken(tr.IDToken, ex)
		v, present := t.Claims[ciba.ClaimATHash]
		if !present {
			return
		}
		alg, _ := t.Header["alg"].(string)
		want, ok := tokenHash(alg, tr.AccessToken)
		if !ok {
			f.Skipf("the ID token's alg %q defines no hash for at_hash (OIDC 3.3.2.11 covers the SHA-2 algorithms)", alg)
		}
		f.Expect(v == want, ex, "expected at_hash %q (the left half of the %s hash of the access token), got %v", want, alg, v)
	}, Refs("OIDC-3.3.2.11", "CIBA-10.3.1"), OIDF(ModHappy), SharesFlow)

	// Testname: ID token auth_req_id claim, if any, is the request's
	// Spec: CIBA-10.3.1
	// Description: An urn:openid:params:jwt:claim:auth_req_id claim in
	// the ID token MUST equal the request's auth_req_id, at
	// certification level: CIBA 10.3.1 defines the claim for push
	// mode only; in poll and ping it is the OIDF suite that fails a
	// wrong one (FAPICIBAValidateIdTokenAuthRequestIdClaims).
	// Quote: CIBA-10.3.1: "If the Client is registered in Push mode and the user is well authenticated and has authorized the request, the OpenID Provider delivers a payload that includes an ID Token, an Access Token and, optionally, a Refresh Token to the Client Notification Endpoint."
	// Duty: OP
	// Level: CERT
	fw.ConformanceIt("issues an ID token whose auth_req_id claim, if any, is the request's", func(ctx context.Context, f *Fixture) {
		tr, ex, ack := f.SharedApproved(f.Client(AnyMode, AnyAuth))
		t := f.ParseIDToken(tr.IDToken, ex)
		v, present := t.Claims[ciba.ClaimAuthReqID]
		if !present {
			return
		}
		f.Expect(v == ack.AuthReqID, ex, "expected the auth_req_id claim to be the request's, got %v", v)
	}, Refs("CIBA-10.3.1"), Cert, OIDF(ModHappy), SharesFlow)
}

// tokenHash is OIDC 3.3.2.11's hash of a token for an ID token signed with
// alg: "the base64url encoding of the left-most half of the hash of the
// octets of the ASCII representation of the access_token value, where the
// hash algorithm used is the hash algorithm used in the alg Header
// Parameter of the ID Token's JOSE Header" (SHA-256 for PS256, ES256,
// RS256, HS256; SHA-384 and SHA-512 for the *384 and *512 algorithms).
// ok is false for an alg without such a hash (EdDSA, none, unknown).
func tokenHash(alg, token string) (value string, ok bool) {
	var h crypto.Hash
	switch alg {
	case "PS256", "RS256", "ES256", "HS256":
		h = crypto.SHA256
	case "PS384", "RS384", "ES384", "HS384":
		h = crypto.SHA384
	case "PS512", "RS512", "ES512", "HS512":
		h = crypto.SHA512
	default:
		return "", false
	}
	d := h.New()
	d.Write([]byte(token))
	sum := d.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2]), true
}

// signingKeyCount is how many keys of the OP's JWK Set can verify a
// signature: asymmetric public keys not marked for encryption (use "enc",
// or an encryption alg). OIDC 10.1 requires a kid in the JOSE header only
// "If there are multiple keys in the referenced JWK Set document".
func signingKeyCount(set jose.JSONWebKeySet) int {
	n := 0
	for _, k := range set.Keys {
		if k.Use == "enc" || strings.HasPrefix(k.Algorithm, "RSA-OAEP") || strings.HasPrefix(k.Algorithm, "ECDH") || k.Algorithm == "RSA1_5" {
			continue
		}
		switch k.Key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
			n++
		}
	}
	return n
}
