package client

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestRedactJWSSignatures(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	header := enc(`{"alg":"PS256","kid":"k1","typ":"JWT"}`)
	claims := enc(`{"iss":"https://op.example","sub":"alice","aud":"c1","nonce":"n"}`)
	sig := strings.Repeat("Qm9ndXNTaWduYXR1cmU", 18)
	idToken := header + "." + claims + "." + sig
	redacted := header + "." + claims + "." + SignatureRedacted
	notHeader := enc(`{"foo":"bar","baz":1}`)
	tests := []struct {
		name, in, want string
	}{
		{"bare ID token", idToken, redacted},
		{"ID token in a token response", `{"access_token":"abc123…","id_token":"` + idToken + `","token_type":"Bearer"}`,
			`{"access_token":"abc123…","id_token":"` + redacted + `","token_type":"Bearer"}`},
		{"two tokens in a failure message", "got " + idToken + " then " + idToken, "got " + redacted + " then " + redacted},
		{"in a form value", "request=" + idToken + "&x=1", "request=" + redacted + "&x=1"},
		{"unsigned JWT keeps its empty signature", header + "." + claims + ".", header + "." + claims + "."},
		{"first segment not a JOSE header", notHeader + "." + claims + "." + sig, notHeader + "." + claims + "." + sig},
		{"hostname and path untouched", "https://login.example.com/realms/bank.protocol.openid-connect-token-endpoint", "https://login.example.com/realms/bank.protocol.openid-connect-token-endpoint"},
		{"short text", "a.b.c", "a.b.c"},
		{"clipped inside the payload", header + "." + claims[:20] + "…", header + "." + claims[:20] + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RedactJWSSignatures(tt.in); got != tt.want {
				t.Errorf("RedactJWSSignatures(%q)\n = %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}
