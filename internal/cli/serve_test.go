package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ciba-check/ciba-check/internal/devenv"
	"github.com/ciba-check/ciba-check/internal/target"
)

func TestNewCmdServeFlags(t *testing.T) {
	tests := []struct {
		args    []string
		want    ServeOptions
		wantErr string
	}{
		{args: nil, want: ServeOptions{Dir: "./ciba-dev", OPAddr: "127.0.0.1:0", DeviceAddr: "127.0.0.1:0", NotifyAddr: "127.0.0.1:0", Interval: 1}},
		{args: []string{"--dir", "d", "--op-addr", "127.0.0.1:8443", "--fault", "jwks-duplicate-kid", "--fault", "accept-alg-none", "--no-fapi", "--interval", "5"},
			want: ServeOptions{Dir: "d", OPAddr: "127.0.0.1:8443", DeviceAddr: "127.0.0.1:0", NotifyAddr: "127.0.0.1:0", Interval: 5, Faults: []string{"jwks-duplicate-kid", "accept-alg-none"}, NoFAPI: true}},
		{args: []string{"--allow", "interval-absent", "--allow", "jwt-access-tokens", "--fault", "jwks-duplicate-kid"},
			want: ServeOptions{Dir: "./ciba-dev", OPAddr: "127.0.0.1:0", DeviceAddr: "127.0.0.1:0", NotifyAddr: "127.0.0.1:0", Interval: 1, Faults: []string{"jwks-duplicate-kid"}, Allowances: []string{"interval-absent", "jwt-access-tokens"}}},
		{args: []string{"--list-allowances"},
			want: ServeOptions{Dir: "./ciba-dev", OPAddr: "127.0.0.1:0", DeviceAddr: "127.0.0.1:0", NotifyAddr: "127.0.0.1:0", Interval: 1, ListAllowances: true}},
		{args: []string{"--store", "dev/op.db"},
			want: ServeOptions{Dir: "./ciba-dev", OPAddr: "127.0.0.1:0", DeviceAddr: "127.0.0.1:0", NotifyAddr: "127.0.0.1:0", Interval: 1, Store: "dev/op.db"}},
		{args: []string{"--interval", "0"}, wantErr: "--interval must be"},
		{args: []string{"--bogus"}, wantErr: "unknown flag: --bogus"},
		{args: []string{"extra"}, wantErr: "unknown command"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			io, _, _, _ := TestStreams()
			var got *ServeOptions
			cmd := NewCmdServe(&Factory{IO: io}, func(_ context.Context, o *ServeOptions) error { got = o; return nil })
			if executeFlags(t, cmd, tt.args, tt.wantErr); tt.wantErr != "" {
				return
			}
			got.IO = nil
			if got.Dir != tt.want.Dir || got.OPAddr != tt.want.OPAddr || got.DeviceAddr != tt.want.DeviceAddr ||
				got.NotifyAddr != tt.want.NotifyAddr || got.Interval != tt.want.Interval || got.NoFAPI != tt.want.NoFAPI || got.Store != tt.want.Store ||
				strings.Join(got.Faults, ",") != strings.Join(tt.want.Faults, ",") ||
				strings.Join(got.Allowances, ",") != strings.Join(tt.want.Allowances, ",") || got.ListAllowances != tt.want.ListAllowances {
				t.Fatalf("options %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestServeExitCodes(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
		wantOut  string
	}{
		{"list faults", []string{"serve", "--list-faults"}, ExitOK, "", "accept-alg-none"},
		{"unknown fault", []string{"serve", "--dir", t.TempDir(), "--fault", "no-such-fault"}, ExitUsage, `unknown fault "no-such-fault"`, ""},
		{"list allowances", []string{"serve", "--list-allowances"}, ExitOK, "", "interval-absent"},
		{"unknown allowance", []string{"serve", "--dir", t.TempDir(), "--allow", "no-such-allowance"}, ExitUsage, `unknown allowance "no-such-allowance"`, ""},
		{"exclusive allowances", []string{"serve", "--dir", t.TempDir(), "--allow", "acr-always", "--allow", "acr-unsupported"}, ExitUsage, "exclude each other", ""},
		{"bad address", []string{"serve", "--dir", t.TempDir(), "--op-addr", "not-an-address"}, ExitUsage, "OP address not-an-address", ""},
		{"bad interval", []string{"serve", "--interval", "-1"}, ExitUsage, "--interval must be", ""},
		{"store in a missing directory", []string{"serve", "--dir", t.TempDir(), "--store", filepath.Join(t.TempDir(), "no", "op.db")}, ExitUsage, "store ", ""},
		{"unknown flag", []string{"serve", "--nope"}, ExitUsage, "unknown flag: --nope", ""},
		{"unknown command", []string{"frobnicate"}, ExitUsage, "unknown command", ""},
		{"version", []string{"version"}, ExitOK, "", "ciba-check "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io, _, out, errOut := TestStreams()
			code := Run(context.Background(), tt.args, &Factory{IO: io, Version: "test"})
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr %q", code, tt.wantCode, errOut)
			}
			if tt.wantErr != "" {
				msg := errOut.String()
				if !strings.Contains(msg, tt.wantErr) || strings.Count(msg, "\n") != 1 {
					t.Fatalf("stderr %q, want one line containing %q", msg, tt.wantErr)
				}
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Fatalf("stdout %q, want %q", out, tt.wantOut)
			}
		})
	}
}

// serveUntilReady runs `serve` until it says it is serving, then stops it
// the way Ctrl-C does (context cancellation) and returns its output.
func serveUntilReady(t *testing.T, dir string, extra ...string) string {
	t.Helper()
	out, stop := startServe(t, append([]string{"serve", "--dir", dir}, extra...))
	code, rest := stop()
	if code != ExitOK {
		t.Fatalf("serve exited %d:\n%s%s", code, out, rest)
	}
	return out + rest
}

func TestServeGeneratesThenReusesMaterial(t *testing.T) {
	dir := t.TempDir()
	first := serveUntilReady(t, dir)
	for _, want := range []string{"reference OP   https://127.0.0.1:", "mock device    https://127.0.0.1:", "target         " + filepath.Join(dir, "target.yaml"), "generated", "shutting down"} {
		if !strings.Contains(first, want) {
			t.Errorf("output lacks %q:\n%s", want, first)
		}
	}
	tgt, err := target.Load(filepath.Join(dir, "target.yaml"))
	if err != nil {
		t.Fatalf("the written target.yaml does not load: %v", err)
	}
	if len(tgt.Clients) < 5 || len(tgt.Users) < 4 {
		t.Fatalf("target.yaml has %d clients and %d users, want >= 5 and >= 4", len(tgt.Clients), len(tgt.Users))
	}
	for _, c := range tgt.Clients {
		info, err := os.Stat(c.SigningKey)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", c.SigningKey, info.Mode().Perm())
		}
	}
	key, err := os.ReadFile(tgt.Clients[0].SigningKey)
	if err != nil {
		t.Fatal(err)
	}

	second := serveUntilReady(t, dir)
	if strings.Contains(second, "generated") {
		t.Errorf("second run generated files again:\n%s", second)
	}
	again, err := os.ReadFile(tgt.Clients[0].SigningKey)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(key, again) {
		t.Error("second run replaced a client key; registrations would break")
	}
}

// TestServeStore: --store creates the state file with mode 0600 (it holds
// client notification tokens) and a second run reopens it.
func TestServeStore(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "op.db")
	for run := range 2 {
		out := serveUntilReady(t, dir, "--store", store)
		if !strings.Contains(out, "store          "+store+" (resumed 0 pending") {
			t.Errorf("run %d output lacks the store line:\n%s", run, out)
		}
		info, err := os.Stat(store)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("store has mode %v, want 0600", info.Mode().Perm())
		}
	}
}

// TestListAllowances: one allowance a line, each with what it permits and
// its basis, the environment's own included.
func TestListAllowances(t *testing.T) {
	io, _, out, _ := TestStreams()
	if code := Run(context.Background(), []string{"serve", "--list-allowances"}, &Factory{IO: io, Version: "test"}); code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	all := devenv.Allowances()
	if len(lines) != len(all) {
		t.Fatalf("%d lines for %d allowances:\n%s", len(lines), len(all), out)
	}
	for i, a := range all {
		if !strings.HasPrefix(lines[i], a.Name+" ") || !strings.Contains(lines[i], a.Permits) || !strings.Contains(lines[i], a.Basis) {
			t.Errorf("line %d %q does not give %s, what it permits and its basis", i, lines[i], a.Name)
		}
	}
}

// TestServeWithAllowance: serve starts with an allowance and says so.
func TestServeWithAllowance(t *testing.T) {
	out := serveUntilReady(t, t.TempDir(), "--allow", "tls13-only", "--allow", devenv.AllowUserCodePerClient)
	if !strings.Contains(out, "allowances     [tls13-only user-code-per-client]") {
		t.Errorf("output lacks the allowances line:\n%s", out)
	}
}
