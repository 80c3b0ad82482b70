package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
)

func randomSuffix(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// dump renders an exchange for a failure message (secrets are already
// redacted by the client).
func dump(ex *client.Exchange) string {
	if ex == nil {
		return "(no exchange)"
	}
	return fmt.Sprintf("%s %s -> %d %s", ex.Method, ex.URL, ex.Status, ex.ResponseBody)
}

// wantOAuthError asserts an OAuth error answer: the code, the status, a
// JSON body with only error, error_description and error_uri, and an
// ASCII description (CIBA 13, RFC 6749 5.2).
func wantOAuthError(t *testing.T, ex *client.Exchange, err error, code string, statuses ...int) {
	t.Helper()
	if ex == nil {
		t.Fatalf("want %s, got no HTTP answer: %v", code, err)
	}
	if ex.Status >= 500 {
		t.Fatalf("want %s, got a server error: %s", code, dump(ex))
	}
	var oe *ciba.Error
	if !errors.As(err, &oe) {
		t.Fatalf("want OAuth error %s, got %v: %s", code, err, dump(ex))
	}
	if oe.Code != code {
		t.Fatalf("want error %s, got %s (%s): %s", code, oe.Code, oe.Description, dump(ex))
	}
	if len(statuses) == 0 {
		statuses = []int{http.StatusBadRequest}
	}
	if !slices.Contains(statuses, ex.Status) {
		t.Fatalf("want %s with HTTP %v, got %d: %s", code, statuses, ex.Status, dump(ex))
	}
	wantErrorBodyShape(t, ex)
}

// wantErrorBodyShape checks an error body's members and media type.
func wantErrorBodyShape(t *testing.T, ex *client.Exchange) {
	t.Helper()
	if ct := ex.ContentType(); ct != "application/json" {
		t.Errorf("error content type %q, want application/json", ct)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(ex.ResponseBody), &body); err != nil {
		t.Fatalf("error body is not a JSON object: %v: %s", err, ex.ResponseBody)
	}
	for k := range body {
		if k != "error" && k != "error_description" && k != "error_uri" {
			t.Errorf("error body has member %q; only error, error_description, error_uri are allowed (CIBA 13)", k)
		}
	}
	if d, ok := body["error_description"].(string); ok {
		for _, r := range d {
			if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
				t.Errorf("error_description has character %q outside RFC 6749's NQSCHAR", r)
			}
		}
	}
}

// wantStatusOK fails unless err is nil.
func wantOK(t *testing.T, ex *client.Exchange, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v\n%s", what, err, dump(ex))
	}
}

// fetchJWKS reads the OP's published keys.
func (w *world) fetchJWKS() jose.JSONWebKeySet {
	w.t.Helper()
	c := w.client("poll-pkjwt-es256")
	resp, err := c.HTTPClient().Get(w.md.JWKSURI)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &set); err != nil {
		w.t.Fatalf("jwks: %v: %s", err, raw)
	}
	return set
}

// idToken verifies an ID token with the OP's published keys and returns
// its claims (OIDC 3.1.3.7, CIBA 10.1.1, FAPI-RW 8.6).
func (w *world) idToken(raw, clientID, accessToken string) map[string]any {
	w.t.Helper()
	tok, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.PS256, jose.ES256})
	if err != nil {
		w.t.Fatalf("ID token does not parse as a PS256/ES256 JWS: %v", err)
	}
	kid := tok.Signatures[0].Header.KeyID
	if kid == "" {
		w.t.Fatal("ID token header has no kid (OIDC 10.1)")
	}
	set := w.fetchJWKS()
	keys := set.Key(kid)
	if len(keys) != 1 {
		w.t.Fatalf("kid %q matches %d published keys", kid, len(keys))
	}
	payload, err := tok.Verify(keys[0].Key)
	if err != nil {
		w.t.Fatalf("ID token signature: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		w.t.Fatal(err)
	}
	if claims["iss"] != w.env.Issuer {
		w.t.Errorf("ID token iss %v, want %s", claims["iss"], w.env.Issuer)
	}
	if !audContains(claims["aud"], clientID) {
		w.t.Errorf("ID token aud %v does not contain %s", claims["aud"], clientID)
	}
	for _, c := range []string{"sub", "exp", "iat", "auth_time"} {
		if _, ok := claims[c]; !ok {
			w.t.Errorf("ID token lacks %s", c)
		}
	}
	if _, ok := claims["nonce"]; ok {
		w.t.Error("ID token has a nonce; CIBA has none")
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		want := base64.RawURLEncoding.EncodeToString(sum[:16])
		if claims["at_hash"] != want {
			w.t.Errorf("at_hash %v, want %s", claims["at_hash"], want)
		}
	}
	return claims
}

func audContains(aud any, id string) bool {
	switch a := aud.(type) {
	case string:
		return a == id
	case []any:
		for _, v := range a {
			if v == id {
				return true
			}
		}
	}
	return false
}

// thumbprint is a certificate's x5t#S256 (RFC 8705 3.1).
func thumbprint(der []byte) string {
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func hasOnlyURLSafe(s string) bool {
	return s != "" && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_") == ""
}
