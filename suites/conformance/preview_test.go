package conformance

import (
	"sync"
	"testing"
)

// Ginkgo registers specs globally: every test of this package shares one
// Preview.
var (
	previewOnce   sync.Once
	previewResult *Result
	previewErr    error
)

func preview(t *testing.T) *Result {
	t.Helper()
	previewOnce.Do(func() { previewResult, previewErr = Preview() })
	if previewErr != nil {
		t.Fatalf("Preview: %v", previewErr)
	}
	return previewResult
}

func TestPreviewListsLabelledChecks(t *testing.T) {
	r := preview(t)
	if len(r.Checks) < 40 {
		t.Fatalf("the suite has %d checks, want at least 40", len(r.Checks))
	}
	ids := map[string]bool{}
	for _, c := range r.Checks {
		if ids[c.ID] {
			t.Errorf("duplicate check id %q", c.ID)
		}
		ids[c.ID] = true
		if len(c.Meta.SpecRefs) == 0 {
			t.Errorf("check %q has no spec section label", c.Name)
		}
	}
	t.Logf("%d checks", len(r.Checks))
}
