package cli

import (
	"context"
	"crypto/rand"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/devenv"
	"github.com/ciba-check/ciba-check/internal/pki"
	"github.com/ciba-check/ciba-check/internal/target"
)

func TestNewCmdTargetCheckArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    string
		wantErr string
	}{
		{name: "file", args: []string{"check", "t.yaml"}, want: "t.yaml"},
		{name: "no file", args: []string{"check"}, wantErr: "exactly one target.yaml"},
		{name: "two files", args: []string{"check", "a", "b"}, wantErr: "exactly one target.yaml"},
		{name: "bad timeout", args: []string{"check", "t.yaml", "--timeout", "0s"}, wantErr: "--timeout must be positive"},
		{name: "no subcommand", args: nil, wantErr: "name a subcommand"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io, _, _, _ := TestStreams()
			var got *TargetCheckOptions
			cmd := NewCmdTarget(&Factory{IO: io})
			// Swap in a capturing check command.
			for _, c := range cmd.Commands() {
				cmd.RemoveCommand(c)
			}
			cmd.AddCommand(NewCmdTargetCheck(&Factory{IO: io}, func(_ context.Context, o *TargetCheckOptions) error { got = o; return nil }))
			if executeFlags(t, cmd, tt.args, tt.wantErr); tt.wantErr != "" {
				return
			}
			if got.File != tt.want || got.Timeout != 15*time.Second {
				t.Fatalf("options %+v", *got)
			}
		})
	}
}

// runTargetCheckCLI runs `ciba-check target check file` and returns the
// exit code and output.
func runTargetCheckCLI(t *testing.T, file string) (int, string, string) {
	t.Helper()
	io, _, out, errOut := TestStreams()
	code := Run(context.Background(), []string{"target", "check", file, "--timeout", "5s"}, &Factory{IO: io})
	return code, out.String(), errOut.String()
}

// TestTargetCheckEmbeddedEnvironment checks the reference OP's own
// target.yaml, then breaks one thing at a time.
func TestTargetCheckEmbeddedEnvironment(t *testing.T) {
	env := startDevEnv(t, devenv.Options{})
	code, out, errOut := runTargetCheckCLI(t, env.TargetPath)
	if code != ExitOK || strings.Contains(out, "✗") {
		t.Fatalf("exit %d for the embedded environment:\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"✓ discovery", "✓ jwks", "✓ backchannel_authentication_endpoint", "✓ device mockdevice", "TLS: handshake with", "all items passed",
		"✓ resource: none: the resource checks call userinfo", "✓ acr: urn:ciba-check:acr:mfa", "send the user_code of users grace",
		"✓ client poll-pkjwt-es256 request: backchannel request acknowledged; token request answered authorization_pending (user carol)",
		"✓ client ping-mtls request: backchannel request acknowledged (user carol)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Every client got its own lines.
	for _, c := range env.Target.Clients {
		if !strings.Contains(out, "✓ client "+c.ID+" mode") {
			t.Errorf("no mode line for client %s", c.ID)
		}
	}

	original, err := os.ReadFile(env.TargetPath)
	if err != nil {
		t.Fatal(err)
	}
	closedPort := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}()
	otherCA := filepath.Join(t.TempDir(), "other-ca.pem")
	ca, err := pki.NewCA(rand.Reader, time.Now(), "someone else")
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteCertPEM(otherCA, ca.Certificate()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(tg *target.Target)
		// want are ✗ lines expected in the output.
		want []string
	}{
		{name: "device unreachable", edit: func(tg *target.Target) { tg.Device.URL = "https://" + closedPort },
			want: []string{"✗ device mockdevice: https://" + closedPort}},
		{name: "OP unreachable", edit: func(tg *target.Target) { tg.Issuer = "https://" + closedPort },
			want: []string{"✗ discovery: https://" + closedPort + "/.well-known/openid-configuration", "(is the OP running at " + closedPort + "?"}},
		{name: "wrong CA", edit: func(tg *target.Target) { tg.CA = otherCA },
			want: []string{"✗ discovery", "give its CA bundle with ca: in target.yaml", "✗ device mockdevice"}},
		{name: "mode the OP lacks", edit: func(tg *target.Target) {
			tg.Clients[0].Mode = ciba.ModePush
			tg.FAPI = false
			tg.Clients[0].Notification = &target.Notification{Listen: "127.0.0.1:0", URL: "https://127.0.0.1:1/n", TLSCert: env.Target.Clients[0].TLSCert, TLSKey: env.Target.Clients[0].TLSKey}
		},
			want: []string{"✗ client " + env.Target.Clients[0].ID + " mode: push is not in the OP's backchannel_token_delivery_modes_supported"}},
		{name: "issuer differs from the document", edit: func(tg *target.Target) { tg.Issuer += "/" },
			want: []string{"(OIDC Discovery 4.3): check issuer: in "}},
		{name: "command device missing", edit: func(tg *target.Target) {
			tg.Device = target.Device{Kind: target.DeviceCommand, Command: "./missing-approver.sh {auth_req_id} {action}"}
		}, want: []string{`✗ device command: "./missing-approver.sh" cannot be run`}},
		{name: "placeholder left", edit: func(tg *target.Target) { tg.Users[0].LoginHint = Placeholder + "-user" },
			want: []string{"✗ placeholders: users[0].login_hint still hold " + Placeholder}},
		// The run's preflight: one real request per client.
		{name: "client id the OP does not know", edit: func(tg *target.Target) { tg.Clients[0].ID += "-x" },
			want: []string{"✗ client " + env.Target.Clients[0].ID + "-x request: ", "edited.yaml:", ": client " + env.Target.Clients[0].ID + "-x: the OP refused its backchannel request with invalid_client"}},
		{name: "user the OP does not know", edit: func(tg *target.Target) { tg.Users[2].LoginHint = "carol-who" },
			want: []string{`: user carol: the OP does not know login_hint "carol-who"`}},
		{name: "acr the OP does not publish", edit: func(tg *target.Target) { tg.ACR = "urn:nope" },
			want: []string{"✗ acr: urn:nope not in the OP's acr_values_supported"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, err := target.Parse(original, env.TargetPath, filepath.Dir(env.TargetPath))
			if err != nil {
				t.Fatal(err)
			}
			tt.edit(tg)
			path := filepath.Join(filepath.Dir(env.TargetPath), "edited.yaml")
			if err := tg.Write(path); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := runTargetCheckCLI(t, path)
			if code != ExitFailed {
				t.Fatalf("exit %d, want %d:\n%s%s", code, ExitFailed, out, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestTargetCheckInvalidFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, body string
		want       *regexp.Regexp
	}{
		{name: "unknown key", body: "issuer: https://op.example\nbogus: 1\n", want: regexp.MustCompile(`bad\.yaml:2:1: .*bogus`)},
		{name: "bad auth", body: "issuer: https://op.example\nclients:\n  - id: a\n    auth: client_secret\n    mode: poll\n    signing_key: k.jwk\nusers:\n  - name: u\n    login_hint: u\ndevice:\n  kind: hints\n",
			want: regexp.MustCompile(`bad\.yaml:4:\d+: clients\[0\]\.auth: "client_secret" is not one of`)},
		{name: "missing file", body: "", want: regexp.MustCompile(`no such file`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "bad.yaml")
			_ = os.Remove(path)
			if tt.body != "" {
				if err := os.WriteFile(path, []byte(tt.body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			code, out, errOut := runTargetCheckCLI(t, path)
			if code != ExitUsage {
				t.Fatalf("exit %d, want %d:\n%s%s", code, ExitUsage, out, errOut)
			}
			if !tt.want.MatchString(errOut) {
				t.Fatalf("stderr %q does not match %s", errOut, tt.want)
			}
		})
	}
}

// TestTargetCheckAgainstDiscoveryServer checks a target made by init
// against a bare discovery server: the generated clients' algorithms and
// methods are compared with what the OP publishes, and an expired
// certificate is reported.
func TestTargetCheckAgainstDiscoveryServer(t *testing.T) {
	issuer, caFile := discoveryServer(t, func(md map[string]any) {
		md["backchannel_authentication_request_signing_alg_values_supported"] = []string{"ES256"}
	})
	dir := t.TempDir()
	io, _, _, errOut := TestStreams()
	if code := Run(context.Background(), []string{"init", "--dir", dir}, &Factory{IO: io}); code != ExitOK {
		t.Fatalf("init: exit %d: %s", code, errOut)
	}
	path := filepath.Join(dir, "target.yaml")
	tg, err := target.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	tg.Issuer, tg.CA = issuer, caFile
	tg.Clients[0].ID, tg.Clients[1].ID = "c1", "c2"
	tg.Users[0].LoginHint = "alice"
	if err := tg.Write(path); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		now  time.Time
		want []string
	}{
		{name: "now", now: time.Now(), want: []string{
			"✗ client c1 request signing: the OP publishes backchannel_authentication_request_signing_alg_values_supported [ES256] without PS256",
			"✓ client c2 signing key: ES256",
			"✓ client c2 TLS: handshake with",
			"✓ jwks",
		}},
		{name: "in five years", now: time.Now().AddDate(5, 0, 0), want: []string{"✗ client c2 TLS: certificate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io, _, out, _ := TestStreams()
			err := runTargetCheck(context.Background(), &TargetCheckOptions{IO: io, File: path, Timeout: 5 * time.Second, Now: func() time.Time { return tt.now }})
			if exitCode(err) != ExitFailed {
				t.Fatalf("error %v, want exit %d:\n%s", err, ExitFailed, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out.String(), "placeholders") {
				t.Errorf("placeholders reported after filling:\n%s", out)
			}
		})
	}
}
