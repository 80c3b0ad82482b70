package conformance

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/targetclient"
)

// RawJSON is a response fetched outside the CIBA client (discovery,
// JWKS), kept as the exchange for failure messages.
type RawJSON struct {
	Exchange *client.Exchange
	Object   map[string]any
}

// GetJSON fetches url with the environment's plain HTTP client and
// decodes a JSON object; it fails the check when that is impossible.
func (f *Fixture) GetJSON(url string) RawJSON {
	ginkgo.GinkgoHelper()
	ctx, cancel := context.WithTimeout(f.ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		f.fail(fmt.Sprintf("GET %q: %v", url, err))
	}
	req.Header.Set("Accept", "application/json")
	ex := &client.Exchange{Method: http.MethodGet, URL: url, Started: time.Now()}
	resp, err := f.env.HTTP.Do(req)
	if err != nil {
		f.Failf(ex, "expected an answer from %s, got: %v", url, client.NoAnswer(req.Method, url, time.Since(ex.Started), err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, client.MaxResponseBody+1))
	if len(body) > client.MaxResponseBody {
		body, ex.Truncated = body[:client.MaxResponseBody], true
	}
	ex.Status, ex.ResponseHeader, ex.ResponseBody = resp.StatusCode, resp.Header, body
	if ex.Truncated {
		// Not the OP's whole answer: never read as a document.
		f.Undetermined(ex, "%s: %s", url, client.TooLargeReason)
	}
	var m map[string]any
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &m); err != nil {
			f.Failf(ex, "expected a JSON object from %s, got: %v", url, err)
		}
	}
	return RawJSON{Exchange: ex, Object: m}
}

// Discovery fetches the discovery document as published (OIDC Discovery 4).
func (f *Fixture) Discovery() RawJSON {
	ginkgo.GinkgoHelper()
	r := f.GetJSON(strings.TrimSuffix(f.env.Target.Issuer, "/") + ciba.DiscoveryPath)
	f.Expect(r.Exchange.Status == http.StatusOK, r.Exchange, "expected the discovery document with HTTP 200 (OIDC Discovery 4), got HTTP %d", r.Exchange.Status)
	return r
}

// Strings reads a JSON array of strings member; ok is false when absent
// or of another type.
func (r RawJSON) Strings(name string) (values []string, present, ok bool) {
	v, present := r.Object[name]
	if !present {
		return nil, false, false
	}
	arr, isArr := v.([]any)
	if !isArr {
		return nil, true, false
	}
	for _, e := range arr {
		s, isStr := e.(string)
		if !isStr {
			return nil, true, false
		}
		values = append(values, s)
	}
	return values, true, true
}

// JWKS fetches the OP's public keys from jwks_uri.
func (f *Fixture) JWKS() (jose.JSONWebKeySet, *client.Exchange) {
	ginkgo.GinkgoHelper()
	uri := f.env.Metadata.JWKSURI
	if uri == "" {
		f.Failf(nil, "expected jwks_uri in the discovery document (OIDC Discovery 3), got none")
	}
	r := f.GetJSON(uri)
	f.Expect(r.Exchange.Status == http.StatusOK, r.Exchange, "expected the JWKS with HTTP 200, got HTTP %d", r.Exchange.Status)
	set, err := targetclient.ParseJWKS(r.Exchange.ResponseBody)
	if err != nil {
		f.Failf(r.Exchange, "expected a JWK Set (RFC 7517 5), got: %v", err)
	}
	return set, r.Exchange
}

// keyBits is the size of an RSA modulus or EC curve.
func keyBits(k jose.JSONWebKey) (kind string, bits int) {
	switch pk := k.Key.(type) {
	case *rsa.PublicKey:
		return "RSA", pk.N.BitLen()
	case *ecdsa.PublicKey:
		return "EC", pk.Curve.Params().BitSize
	}
	return fmt.Sprintf("%T", k.Key), 0
}

// IDToken is a parsed, signature-checked ID token.
type IDToken struct {
	Header map[string]any
	Claims map[string]any
	// VerifyErr is why the signature did not verify with the OP's JWKS.
	VerifyErr error
}

// ParseIDToken decodes the token's header and claims and verifies its
// signature against the OP's JWKS (the kid's key, or every key when the
// header has no kid).
func (f *Fixture) ParseIDToken(raw string, ex *client.Exchange) IDToken {
	ginkgo.GinkgoHelper()
	set, _ := f.JWKS()
	t, err := parseIDToken(raw, set)
	if err != nil {
		f.Failf(ex, "%v", err)
	}
	return t
}

// parseIDToken is ParseIDToken without the fixture: an OP's answer is
// untrusted input, so this is what FuzzParseIDToken exercises. The error is
// for a token that is not a compact JWS of base64url JSON (OIDC 2); a bad
// signature is reported in VerifyErr instead.
func parseIDToken(raw string, set jose.JSONWebKeySet) (IDToken, error) {
	var t IDToken
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return t, fmt.Errorf("expected id_token to be a compact JWS of three parts (OIDC 2), got %d parts", len(parts))
	}
	for i, into := range []*map[string]any{&t.Header, &t.Claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(b, into) != nil || *into == nil {
			return t, fmt.Errorf("expected id_token part %d to be base64url JSON, it is not", i+1)
		}
	}
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.PS256, jose.ES256, jose.RS256, jose.ES384, jose.PS384, jose.ES512, jose.PS512, jose.RS384, jose.RS512})
	if err != nil {
		t.VerifyErr = err
		return t, nil
	}
	kid, _ := t.Header["kid"].(string)
	t.VerifyErr = fmt.Errorf("no key of the OP's JWKS (kid %q) verifies the signature", kid)
	for _, k := range set.Keys {
		if kid != "" && k.KeyID != kid {
			continue
		}
		if _, err := jws.Verify(k.Key); err == nil {
			t.VerifyErr = nil
			break
		}
	}
	return t, nil
}

// number reads a JSON number claim.
func number(m map[string]any, name string) (float64, bool) {
	v, ok := m[name].(float64)
	return v, ok
}

// audContains reports whether an aud claim (string or array) holds id.
func audContains(aud any, id string) bool {
	switch a := aud.(type) {
	case string:
		return a == id
	case []any:
		for _, e := range a {
			if s, ok := e.(string); ok && s == id {
				return true
			}
		}
	}
	return false
}

// atHash is OIDC 3.3.2.11's at_hash for a SHA-256 algorithm: the left
// half of the hash of the access token, base64url.
func atHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// entropyBits is the most entropy an opaque identifier can carry: its
// length times the bits of its alphabet (4 per hex character, log2(10)
// per digit, 6 per character of base64url or anything wider). An OP that
// generates it from fewer random bits cannot be told apart from outside;
// this catches the short ones.
func entropyBits(s string) float64 {
	perChar := 6.0
	switch {
	case s == "":
		return 0
	case strings.Trim(s, "0123456789") == "":
		perChar = math.Log2(10)
	case strings.Trim(strings.ToLower(s), "0123456789abcdef") == "":
		perChar = 4
	}
	return float64(len(s)) * perChar
}
