package target

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ciba-check/ciba-check/ciba"
)

const testSecret = "s3cr3t-value-never-shown-32-bytes-or-more"

func secretEnv(k string) (string, bool) {
	switch k {
	case "CLIENT_SECRET":
		return testSecret, true
	case "EMPTY_SECRET":
		return "", true
	case "SHORT_SECRET":
		return "short", true
	}
	return "", false
}

// plainEdits makes goodLines a CIBA Core target whose first client is a
// client_secret_basic poll client without a signing key.
func plainEdits(extra map[int]string) map[int]string {
	m := map[int]string{
		5:  "fapi: false",
		8:  "    auth: client_secret_basic\n    secret: ${CLIENT_SECRET}",
		10: "",
		11: "",
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func TestParseSecretClients(t *testing.T) {
	tests := []struct {
		name    string
		edits   map[int]string
		wantErr string // substring; "" means it parses
		check   func(t *testing.T, tg *Target)
	}{
		{name: "basic, unsigned by default", edits: plainEdits(nil), check: func(t *testing.T, tg *Target) {
			c := tg.Clients[0]
			if c.Auth != ciba.AuthClientSecretBasic || c.Secret.Value() != testSecret || c.Secret.Ref != "${CLIENT_SECRET}" || c.SignsRequests() {
				t.Fatalf("client = %+v (value ok: %v), signs %v", c, c.Secret.Value() == testSecret, c.SignsRequests())
			}
		}},
		{name: "post and jwt", edits: plainEdits(map[int]string{8: "    auth: client_secret_post\n    secret: ${CLIENT_SECRET}"})},
		{name: "client_secret_jwt", edits: plainEdits(map[int]string{8: "    auth: client_secret_jwt\n    secret: ${CLIENT_SECRET}"})},
		{name: "signed with RS256 outside FAPI", edits: plainEdits(map[int]string{10: "    signing_key: keys/poll.pem", 11: "    alg: RS256"}), check: func(t *testing.T, tg *Target) {
			if !tg.Clients[0].SignsRequests() {
				t.Fatal("a client with a signing key signs by default")
			}
		}},
		{name: "signed false with a key", edits: plainEdits(map[int]string{10: "    signing_key: keys/poll.pem\n    signed: false"}), check: func(t *testing.T, tg *Target) {
			if tg.Clients[0].SignsRequests() {
				t.Fatal("signed: false")
			}
		}},
		{name: "literal secret refused", edits: plainEdits(map[int]string{8: "    auth: client_secret_basic\n    secret: " + testSecret}), wantErr: "target.yaml:9:5: clients[0].secret: must be exactly ${NAME}"},
		{name: "default refused", edits: plainEdits(map[int]string{8: "    auth: client_secret_basic\n    secret: ${X:-" + testSecret + "}"}), wantErr: "must be exactly ${NAME}"},
		{name: "unset variable", edits: plainEdits(map[int]string{8: "    auth: client_secret_basic\n    secret: ${NOPE}"}), wantErr: "target.yaml:9:5: clients[0].secret: environment variable NOPE is not set"},
		{name: "empty variable", edits: plainEdits(map[int]string{8: "    auth: client_secret_basic\n    secret: ${EMPTY_SECRET}"}), wantErr: "environment variable EMPTY_SECRET is empty"},
		{name: "client_secret_jwt short secret", edits: plainEdits(map[int]string{8: "    auth: client_secret_jwt\n    secret: ${SHORT_SECRET}"}), wantErr: "SHORT_SECRET holds 5 bytes; client_secret_jwt signs with HS256, which needs a secret of at least 32 bytes"},
		{name: "secret missing", edits: plainEdits(map[int]string{8: "    auth: client_secret_post"}), wantErr: "clients[0].secret: is required for client_secret_post"},
		{name: "secret beside private_key_jwt", edits: map[int]string{8: "    auth: private_key_jwt\n    secret: ${CLIENT_SECRET}"}, wantErr: "clients[0].secret: is only used by client_secret_basic"},
		{name: "secret methods need fapi false", edits: plainEdits(map[int]string{5: "fapi: true"}), wantErr: "client_secret_basic is not allowed when fapi is true"},
		{name: "fapi needs signed", edits: map[int]string{10: "    signing_key: keys/poll.jwk\n    signed: false"}, wantErr: "clients[0].signed: false is not allowed when fapi is true"},
		{name: "private_key_jwt needs a key", edits: plainEdits(map[int]string{8: "    auth: private_key_jwt"}), wantErr: "clients[0].signing_key: is required for private_key_jwt"},
		{name: "signed true needs a key", edits: plainEdits(map[int]string{10: "    signed: true"}), wantErr: "clients[0].signing_key: is required for signed: true"},
		{name: "RS256 under FAPI", edits: map[int]string{11: "    alg: RS256"}, wantErr: `"RS256" is not one of PS256, ES256`},
		{name: "unknown alg outside FAPI", edits: plainEdits(map[int]string{10: "    signing_key: keys/poll.pem", 11: "    alg: HS256"}), wantErr: `"HS256" is not one of`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, err := ParseWithEnv(edit(tt.edits), "target.yaml", "/srv", secretEnv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), testSecret) {
					t.Fatalf("the error shows the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, tg)
			}
		})
	}
}

// A secret never leaves through printing or encoding: fmt verbs, YAML
// (Write), JSON.
func TestSecretNeverPrinted(t *testing.T) {
	tg, err := ParseWithEnv(edit(plainEdits(nil)), "target.yaml", "/srv", secretEnv)
	if err != nil {
		t.Fatal(err)
	}
	c := tg.Clients[0]
	if c.Secret.Value() != testSecret {
		t.Fatal("secret not read")
	}
	j, err := json.Marshal(tg)
	if err != nil {
		t.Fatal(err)
	}
	y, err := tg.Marshal("/srv")
	if err != nil {
		t.Fatal(err)
	}
	outs := map[string]string{
		"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c),
		"%s": fmt.Sprintf("%s", c.Secret), "%x": fmt.Sprintf("%x", c.Secret), "%q": fmt.Sprintf("%q", c.Secret),
		"target %+v": fmt.Sprintf("%+v", *tg), "json": string(j), "yaml": string(y),
	}
	for name, out := range outs {
		if strings.Contains(out, testSecret) {
			t.Errorf("%s shows the secret: %s", name, out)
		}
	}
	if !strings.Contains(string(y), "secret: ${CLIENT_SECRET}") {
		t.Fatalf("Marshal does not keep the reference:\n%s", y)
	}
	// Written and read back: the same reference, the value from the environment.
	dir := t.TempDir()
	path := filepath.Join(dir, "target.yaml")
	if err := tg.Write(path); err != nil {
		t.Fatal(err)
	}
	data := mustRead(t, path)
	back, err := ParseWithEnv(data, path, dir, secretEnv)
	if err != nil {
		t.Fatal(err)
	}
	if back.Clients[0].Secret.Value() != testSecret || strings.Contains(string(data), testSecret) {
		t.Fatalf("round trip: value ok %v, file holds secret %v", back.Clients[0].Secret.Value() == testSecret, strings.Contains(string(data), testSecret))
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
