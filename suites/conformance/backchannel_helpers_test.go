package conformance

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/ciba-check/ciba-check/ciba"
)

// boringBindingMessage is the shape of binding_message the checks send.
var boringBindingMessage = regexp.MustCompile(`^[a-zA-Z0-9-._+/!?#]{1,20}$`)

func b64JSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestUnknownHint(t *testing.T) {
	header := b64JSON(t, map[string]any{"alg": "PS256", "kid": "k1"})
	jwt := func(claims map[string]any) string { return header + "." + b64JSON(t, claims) + ".c2ln" }
	const nobody = "ciba-check-nobody-x1"
	for _, tc := range []struct {
		name, in string
		// wantJWT: the answer is a JWT with this header, signature and
		// these claims; otherwise it is the plain name.
		wantJWT    bool
		wantClaims map[string]any
	}{
		{name: "login_hint", in: "alice"},
		{name: "email login_hint with dots", in: "alice@example.com"},
		{name: "opaque token", in: "opaque-token-123"},
		{name: "three parts, not base64url JSON", in: "a.b.c"},
		{name: "JSON payload that is no object", in: header + "." + b64JSON(t, []int{1}) + ".c2ln"},
		{name: "JWT with sub", in: jwt(map[string]any{"sub": "alice", "iss": "op", "exp": 9}), wantJWT: true,
			wantClaims: map[string]any{"sub": nobody, "iss": "op", "exp": float64(9)}},
		{name: "login_hint_token with login_hint", in: jwt(map[string]any{"login_hint": "alice", "exp": 9}), wantJWT: true,
			wantClaims: map[string]any{"sub": nobody, "login_hint": nobody, "exp": float64(9)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := unknownHint(tc.in, "x1")
			if !tc.wantJWT {
				if got != nobody {
					t.Fatalf("unknownHint(%q) = %q, want %q", tc.in, got, nobody)
				}
				return
			}
			parts := strings.Split(got, ".")
			if len(parts) != 3 || parts[0] != header || parts[2] != "c2ln" {
				t.Fatalf("unknownHint(%q) = %q, want the same header and signature", tc.in, got)
			}
			b, err := base64.RawURLEncoding.DecodeString(parts[1])
			if err != nil {
				t.Fatal(err)
			}
			var claims map[string]any
			if err := json.Unmarshal(b, &claims); err != nil {
				t.Fatal(err)
			}
			if len(claims) != len(tc.wantClaims) {
				t.Fatalf("claims = %v, want %v", claims, tc.wantClaims)
			}
			for k, v := range tc.wantClaims {
				if claims[k] != v {
					t.Errorf("claim %s = %v, want %v", k, claims[k], v)
				}
			}
		})
	}
}

func TestOAuthCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("reset"), ""},
		{&ciba.Error{Code: "invalid_binding_message", Status: 400}, "invalid_binding_message"},
		{errors.Join(errors.New("wrapped"), &ciba.Error{Code: "invalid_request"}), "invalid_request"},
	} {
		if got := oauthCode(tc.err); got != tc.want {
			t.Errorf("oauthCode(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestBindingMessagesAreBoring: the binding messages the checks send are
// short space-free plain text, so that a refusal by an OP's display
// policy can never be blamed on the claim a check is about.
func TestBindingMessagesAreBoring(t *testing.T) {
	for _, m := range []string{shownBindingMessage, signedBindingMessage, unsignedBindingMessage} {
		if !boringBindingMessage.MatchString(m) {
			t.Errorf("binding_message %q is not of %s", m, boringBindingMessage)
		}
	}
}
