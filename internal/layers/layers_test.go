package layers_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const module = "github.com/ciba-check/ciba-check/"

// tiers, bottom to top: a package may import its own tier and those below,
// never one above. Every package of the module must be listed, so a new one
// is placed on purpose.
var tiers = []struct {
	name     string
	packages []string
}{
	// The vocabulary every layer speaks; imports nothing of ours.
	{"vocabulary", []string{"ciba", "clock", "internal/safetext"}},
	// Libraries that stand alone on the vocabulary: the reference OP and
	// mock device (importable by other modules), the CIBA client, keys,
	// target.yaml, the report model.
	{"library", []string{"internal/pki", "internal/target", "internal/client", "mockdevice", "reference-op", "reports"}},
	// What assembles libraries for a target: device drivers, the session,
	// the embedded environment, the httptest-style entry point.
	{"assembly", []string{"internal/device", "internal/targetclient", "internal/devenv", "reference-op/refoptest"}},
	// The suites judge an OP through a session.
	{"suite", []string{"suites/conformance", "suites/load"}},
	// Flags, output and exit codes.
	{"cli", []string{"internal/cli", "cmd/ciba-check"}},
	// Tests and tooling from the outside: they may use anything.
	{"outside", []string{"e2e", "interop", "deploy", "reports/browsertest", "reports/citest", "internal/layers"}},
}

func TestNoPackageImportsOneAbove(t *testing.T) {
	tierOf := map[string]int{}
	for i, tier := range tiers {
		for _, p := range tier.packages {
			tierOf[p] = i
		}
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(goBin, "list", "-json=ImportPath,Imports", module+"...")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list: %v\n%s", err, errOut.String())
	}
	dec := json.NewDecoder(&out)
	seen := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen++
		name := strings.TrimPrefix(p.ImportPath, module)
		own, ok := tierOf[name]
		if !ok {
			t.Errorf("package %s is in no tier: place it in layers_test.go", name)
			continue
		}
		for _, imp := range p.Imports {
			dep, ours := strings.CutPrefix(imp, module)
			if !ours {
				continue
			}
			if tierOf[dep] > own {
				t.Errorf("%s (%s) imports %s (%s), a tier above it", name, tiers[own].name, dep, tiers[tierOf[dep]].name)
			}
		}
	}
	if seen < len(tierOf)-1 {
		t.Errorf("go list reported %d packages, the tiers name %d: a listed package is gone", seen, len(tierOf))
	}
}
