package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ciba-check/ciba-check/internal/target"
)

// TestServeTightensReusedKeys: `serve --dir` over material whose private
// keys others can read makes them 0600 and says so in one stderr line; a
// second start over private keys says nothing.
func TestServeTightensReusedKeys(t *testing.T) {
	dir := t.TempDir()
	serveUntilReady(t, dir)
	tgt, err := target.Load(filepath.Join(dir, "target.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	loose := []string{tgt.Clients[0].SigningKey, filepath.Join(dir, "ca.key"), filepath.Join(dir, "server.key")}
	for i, f := range loose {
		if err := os.Chmod(f, []os.FileMode{0o644, 0o640, 0o604}[i]); err != nil {
			t.Fatal(err)
		}
	}
	out := serveUntilReady(t, dir)
	var warnings []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "readable by group or others") {
			warnings = append(warnings, line)
		}
	}
	if len(warnings) != 1 {
		t.Fatalf("want one line about the loose keys, got %d:\n%s", len(warnings), out)
	}
	for _, f := range loose {
		if !strings.Contains(warnings[0], f) {
			t.Errorf("the warning does not name %s: %s", f, warnings[0])
		}
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v after serve, want 0600", f, fi.Mode().Perm())
		}
	}
	if again := serveUntilReady(t, dir); strings.Contains(again, "readable by group or others") {
		t.Errorf("a start over private keys warned:\n%s", again)
	}
}
