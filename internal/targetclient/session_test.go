package targetclient

import (
	"testing"

	"github.com/ciba-check/ciba-check/internal/target"
)

func TestParseJWKS(t *testing.T) {
	ec := `{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k1"}`
	tests := []struct {
		name    string
		body    string
		keys    int
		wantErr bool
	}{
		{name: "one key", body: `{"keys":[` + ec + `]}`, keys: 1},
		{name: "unknown kty left out", body: `{"keys":[` + ec + `,{"kty":"XYZ"}]}`, keys: 1},
		{name: "no keys array", body: `{}`, wantErr: true},
		{name: "not JSON", body: `<html>`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := ParseJWKS([]byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, wantErr %v", err, tt.wantErr)
			}
			if len(set.Keys) != tt.keys {
				t.Fatalf("%d keys, want %d", len(set.Keys), tt.keys)
			}
		})
	}
}

// An inspect session keeps the https refusal and builds no client.
func TestSessionInsecureBuildsNoClient(t *testing.T) {
	s := &Session{Target: &target.Target{}, Insecure: &InsecureURLError{CredentialURL{Name: "token_endpoint", URL: "http://op/token"}}}
	if _, err := s.Client(&target.Client{ID: "c"}); err == nil {
		t.Fatal("an inspect session with an http token endpoint built a client")
	}
}
