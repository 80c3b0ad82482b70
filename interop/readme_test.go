package interop

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeStatesNodeRequirement: the README's Set up names the Node.js
// versions harness/package.json requires, and that the interop tests skip
// without them, so `go test ./...` on a fresh machine holds no surprise.
func TestReadmeStatesNodeRequirement(t *testing.T) {
	pkg, err := os.ReadFile(filepath.Join("harness", "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Engines struct {
			Node string `json:"node"`
		} `json:"engines"`
	}
	if err := json.Unmarshal(pkg, &p); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	setUp := string(readme)
	start := strings.Index(setUp, "## Set up")
	if start < 0 {
		t.Fatal("README.md has no Set up section")
	}
	setUp = setUp[start:]
	if end := strings.Index(setUp[3:], "\n## "); end >= 0 {
		setUp = setUp[:end+3]
	}
	for _, want := range []string{"Node.js " + p.Engines.Node, "npm", "skipped", "CI=true"} {
		if !strings.Contains(setUp, want) {
			t.Errorf("README.md's Set up does not say %q", want)
		}
	}
}
