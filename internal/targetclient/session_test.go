package targetclient

import (
	"testing"

	"github.com/ciba-check/ciba-check/internal/target"
)

func TestPendingUser(t *testing.T) {
	tests := []struct {
		name  string
		users []target.User
		want  string
	}{
		{name: "first never", users: []target.User{{Name: "a", Outcome: target.OutcomeApprove}, {Name: "b", Outcome: target.OutcomeNever}, {Name: "c", Outcome: target.OutcomeNever}}, want: "b"},
		{name: "empty outcome is not never", users: []target.User{{Name: "a"}}, want: ""},
		{name: "none", users: nil, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := PendingUser(&target.Target{Users: tt.users})
			got := ""
			if u != nil {
				got = u.Name
			}
			if got != tt.want {
				t.Fatalf("PendingUser = %q, want %q", got, tt.want)
			}
		})
	}
}

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
