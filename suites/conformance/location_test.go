package conformance

import (
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/onsi/ginkgo/v2/types"
)

// TestSourceLocationIsRepositoryRelative: reports show where a check
// failed relative to the repository, never the build machine's folders.
func TestSourceLocationIsRepositoryRelative(t *testing.T) {
	tests := []struct {
		self, file string
		line       int
		want       string
	}{
		{"/home/builder/src/ciba-check/suites/conformance/location.go", "/home/builder/src/ciba-check/suites/conformance/checks_token.go", 120, "suites/conformance/checks_token.go:120"},
		{"github.com/ciba-check/ciba-check/suites/conformance/location.go", "github.com/ciba-check/ciba-check/suites/conformance/framework.go", 7, "suites/conformance/framework.go:7"},
		{"/home/builder/src/ciba-check/suites/conformance/location.go", "/home/builder/go/pkg/mod/github.com/onsi/gomega@v1.36.0/gomega_dsl.go", 9, "gomega_dsl.go:9"},
	}
	for _, tt := range tests {
		if got := relativeLocation(filepath.FromSlash(tt.self), filepath.FromSlash(tt.file), tt.line); got != tt.want {
			t.Errorf("relativeLocation(%q, %q) = %q, want %q", tt.self, tt.file, got, tt.want)
		}
	}
	// As built here: this very file.
	_, here, line, _ := runtime.Caller(0)
	got := sourceLocation(types.CodeLocation{FileName: here, LineNumber: line})
	if want := "suites/conformance/location_test.go:" + strconv.Itoa(line); got != want {
		t.Errorf("sourceLocation of this line = %q, want %q", got, want)
	}
}
