package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/target"
)

func TestInitProfileCIBA(t *testing.T) {
	tests := []struct {
		name      string
		discovery bool
		edit      func(md map[string]any)
		wantAuth  ciba.AuthMethod
		wantMode  ciba.DeliveryMode
	}{
		{name: "no issuer", wantAuth: ciba.AuthClientSecretBasic, wantMode: ciba.ModePoll},
		{name: "basic listed", discovery: true, edit: func(md map[string]any) {
			md["token_endpoint_auth_methods_supported"] = []string{"client_secret_post", "client_secret_basic"}
		}, wantAuth: ciba.AuthClientSecretBasic, wantMode: ciba.ModePoll},
		{name: "post only, ping only", discovery: true, edit: func(md map[string]any) {
			md["token_endpoint_auth_methods_supported"] = []string{"client_secret_post", "private_key_jwt"}
			md["backchannel_token_delivery_modes_supported"] = []string{"ping"}
		}, wantAuth: ciba.AuthClientSecretPost, wantMode: ciba.ModePing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			args := []string{"init", "--dir", dir, "--profile", "ciba"}
			if tt.discovery {
				issuer, caFile := discoveryServer(t, tt.edit)
				args = append(args, "--issuer", issuer, "--ca", caFile)
			}
			io, _, out, errOut := TestStreams()
			if code := Run(context.Background(), args, &Factory{IO: io}); code != ExitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Errorf("profile ciba writes only target.yaml, got %v", entries)
			}
			path := filepath.Join(dir, "target.yaml")
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// Without the secrets in the environment: a target error
			// naming the variable and the line.
			if _, err := target.ParseWithEnv(data, path, dir, func(string) (string, bool) { return "", false }); err == nil ||
				!strings.Contains(err.Error(), "clients[0].secret: environment variable "+initSecretVar1+" is not set") || !strings.Contains(err.Error(), path+":") {
				t.Fatalf("err = %v", err)
			}
			env := func(name string) (string, bool) {
				if name == initSecretVar1 || name == initSecretVar2 {
					return "secret-of-" + name, true
				}
				return "", false
			}
			tg, err := target.ParseWithEnv(data, path, dir, env)
			if err != nil {
				t.Fatal(err)
			}
			if tg.FAPI || len(tg.Clients) != 2 {
				t.Fatalf("fapi %v, %d clients", tg.FAPI, len(tg.Clients))
			}
			for i, c := range tg.Clients {
				if c.Auth != tt.wantAuth || c.Mode != tt.wantMode || c.SignsRequests() || c.Secret.Value() == "" || c.SigningKey != "" {
					t.Errorf("client %d = %+v", i, c)
				}
			}
			if !strings.Contains(out.String(), "export "+initSecretVar1+"=...") {
				t.Errorf("next steps lack the secret variables:\n%s", out)
			}
		})
	}
	io, _, _, errOut := TestStreams()
	if code := Run(context.Background(), []string{"init", "--dir", t.TempDir(), "--profile", "oidc"}, &Factory{IO: io}); code != ExitUsage || !strings.Contains(errOut.String(), `--profile "oidc": want fapi or ciba`) {
		t.Fatalf("bad profile: exit %d %s", code, errOut)
	}
}
