package conformance

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/coverage.md")

const coverageFile = "../../docs/coverage.md"

// TestCoverageUpToDate regenerates docs/coverage.md from the suite and
// fails when the committed file differs; -update rewrites it.
func TestCoverageUpToDate(t *testing.T) {
	r := preview(t)
	got, err := Coverage(r, ".")
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.MkdirAll(filepath.Dir(coverageFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(coverageFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(coverageFile)
	if err != nil {
		t.Fatalf("%v; run go test ./suites/conformance -run TestCoverageUpToDate -update", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("docs/coverage.md is stale; run go test ./suites/conformance -run TestCoverageUpToDate -update")
	}
}

func TestParseDocBlock(t *testing.T) {
	tests := []struct {
		name, text string
		wantErr    bool
		wantSpec   int
	}{
		{name: "complete", text: "Testname: x\nSpec: CIBA-7.1, CIBA-13\nDescription: The OP MUST do\nthis.\n", wantSpec: 2},
		{name: "no testname", text: "Spec: CIBA-7.1\nDescription: MUST\n", wantErr: true},
		{name: "no spec", text: "Testname: x\nDescription: MUST\n", wantErr: true},
		{name: "no must", text: "Testname: x\nSpec: CIBA-7.1\nDescription: does things\n", wantErr: true},
	}
	for _, tt := range tests {
		db, err := parseDocBlock(tt.text)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err = %v, wantErr %v", tt.name, err, tt.wantErr)
		}
		if err == nil && len(db.Spec) != tt.wantSpec {
			t.Errorf("%s: spec = %v", tt.name, db.Spec)
		}
	}
	db, _ := parseDocBlock("Testname: x\nSpec: CIBA-7.1\nDescription: The OP MUST do\nthis.\n")
	if db.Description != "The OP MUST do this." {
		t.Errorf("continuation lines: got %q", db.Description)
	}
}
