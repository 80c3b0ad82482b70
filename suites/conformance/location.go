package conformance

import (
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/onsi/ginkgo/v2/types"
)

// thisFile is this file's path inside the repository.
const thisFile = "suites/conformance/location.go"

// sourceLocation is where a check or its failure is in the source, as
// "suites/conformance/checks_token.go:120": relative to the repository, so
// reports never show the build machine's folders. A file outside the
// repository (a dependency) is shown by its base name.
func sourceLocation(cl types.CodeLocation) string {
	if cl.FileName == "" {
		return ""
	}
	_, self, _, _ := runtime.Caller(0)
	return relativeLocation(self, cl.FileName, cl.LineNumber)
}

// relativeLocation writes file:line relative to the repository root, which
// self (this file's path as compiled: absolute, or module-relative under
// -trimpath) locates.
func relativeLocation(self, file string, line int) string {
	self, file = filepath.ToSlash(self), filepath.ToSlash(file)
	rel := filepath.Base(file)
	if root, ok := strings.CutSuffix(self, thisFile); ok {
		if r, ok := strings.CutPrefix(file, root); ok && r != "" {
			rel = r
		}
	}
	if line <= 0 {
		return rel
	}
	return rel + ":" + strconv.Itoa(line)
}
