package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ciba-check/ciba-check/internal/devenv"
)

// TestRunPreflightStopsOnTargetMistakes runs `run --target` against the
// embedded reference OP with a target.yaml that is wrong about it: the
// preflight stops the run before any check with exit 2 and one line that
// names the entry and its FILE:LINE. Nothing of the suite runs (run
// reaches the preflight in-process and returns before Ginkgo starts).
func TestRunPreflightStopsOnTargetMistakes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the reference OP")
	}
	env := startDevEnv(t, devenv.Options{})
	original, err := os.ReadFile(env.TargetPath)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, old, new string
		// entry is what the line names; at is the text on its line.
		entry, at, reason string
	}{
		{name: "client id the OP does not know", old: "id: poll-pkjwt-ps256\n", new: "id: poll-pkjwt-ps256-x\n",
			entry: "client poll-pkjwt-ps256-x", at: "id: poll-pkjwt-ps256-x", reason: "invalid_client"},
		{name: "user the OP does not know", old: "login_hint: carol\n", new: "login_hint: carol-who\n",
			entry: "user carol", at: "name: carol", reason: `does not know login_hint "carol-who"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			edited := strings.Replace(string(original), tt.old, tt.new, 1)
			if edited == string(original) {
				t.Fatalf("target.yaml lacks %q", tt.old)
			}
			path := filepath.Join(filepath.Dir(env.TargetPath), "wrong.yaml")
			if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
				t.Fatal(err)
			}
			line := 0
			for i, l := range strings.Split(edited, "\n") {
				if strings.Contains(l, tt.at) {
					line = i + 1
					break
				}
			}
			io, _, out, errOut := TestStreams()
			code := Run(context.Background(), []string{"run", "--target", path}, &Factory{IO: io})
			if code != ExitUsage {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitUsage, out, errOut)
			}
			msg := strings.TrimSuffix(errOut.String(), "\n")
			want := fmt.Sprintf("ciba-check: run: %s:%d: %s: ", path, line, tt.entry)
			if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, want) || !strings.Contains(msg, tt.reason) {
				t.Fatalf("stderr %q\nwant one line starting %q containing %q", errOut, want, tt.reason)
			}
			if out.Len() != 0 {
				t.Errorf("the suite started:\n%s", out)
			}
		})
	}
}
