package conformance

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/onsi/ginkgo/v2/types"
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

func TestValidateBasis(t *testing.T) {
	must := Meta{}
	should := Meta{Should: true}
	cert := Meta{Cert: true}
	quote := `CIBA-7.3: "auth_req_id REQUIRED. This is a unique identifier to identify the authentication request"`
	tests := []struct {
		name    string
		db      DocBlock
		meta    Meta
		wantErr string
	}{
		{"must", DocBlock{Quote: quote, Duty: DutyOP, Level: LevelMust}, must, ""},
		{"fapi lower-case shall", DocBlock{Quote: `FAPI-CIBA-5.2.2-3: "shall not support CIBA push mode"`, Duty: DutyOP, Level: LevelMust}, must, ""},
		{"no quote", DocBlock{Duty: DutyOP, Level: LevelMust}, must, "no Quote"},
		{"unquoted", DocBlock{Quote: "CIBA-7.3 says so", Duty: DutyOP, Level: LevelMust}, must, "double quotes"},
		{"must without keyword", DocBlock{Quote: `CIBA-7.1: "The server MAY use this value to influence the lifetime"`, Duty: DutyOP, Level: LevelMust}, must, "no MUST, SHALL or REQUIRED"},
		{"must on the client", DocBlock{Quote: `RFC6749-3.3: "the client MUST NOT include any scope"`, Duty: DutyClient, Level: LevelMust}, must, "client's duty never fails"},
		{"unknown duty", DocBlock{Quote: quote, Duty: "AS", Level: LevelMust}, must, "Duty"},
		{"unknown level", DocBlock{Quote: quote, Duty: DutyOP, Level: "MAY"}, must, "Level"},
		{"must but decorated should", DocBlock{Quote: quote, Duty: DutyOP, Level: LevelMust}, should, "decorated should"},
		{"should", DocBlock{Quote: `CIBA-10.2: "The OP SHOULD also accept HTTP 200 OK"`, Duty: DutyOP, Level: LevelShould}, should, ""},
		{"should undecorated", DocBlock{Quote: `CIBA-10.2: "The OP SHOULD also accept HTTP 200 OK"`, Duty: DutyOP, Level: LevelShould}, must, "not decorated Should"},
		{"cert", DocBlock{Quote: `CIBA-10.2: "How the OP handles HTTP error codes in the ranges of 4xx and 5xx is out-of-scope"`, Duty: DutyOP, Level: LevelCert}, cert, ""},
		{"cert undecorated", DocBlock{Quote: quote, Duty: DutyOP, Level: LevelCert}, must, "not decorated Cert"},
		{"client duty warns", DocBlock{Quote: `CIBA-7.1: "The client MUST NOT send more than 1024 characters"`, Duty: DutyClient, Level: LevelShould}, should, ""},
	}
	for _, tt := range tests {
		err := ValidateBasis(tt.db, tt.meta)
		if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: ValidateBasis = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestParseDocBlockBasis(t *testing.T) {
	db, err := parseDocBlock("Testname: x\nSpec: CIBA-7.3\nDescription: The OP MUST do this.\nQuote: CIBA-7.3: \"auth_req_id REQUIRED.\nThis is a unique identifier\"\nDuty: OP\nLevel: MUST\n")
	if err != nil {
		t.Fatal(err)
	}
	if db.Quote != `CIBA-7.3: "auth_req_id REQUIRED. This is a unique identifier"` || db.Duty != DutyOP || db.Level != LevelMust {
		t.Errorf("got %+v", db)
	}
}

func TestFAPIOnly(t *testing.T) {
	for refs, want := range map[string]bool{"FAPI-CIBA-5.2.2-6": true, "FAPI-RW-8.5 FAPI-R-5.2.2-5": true, "CIBA-7.1 FAPI-RW-5.2.2-14": false, "": false} {
		if got := fapiOnly(strings.Fields(refs)); got != want {
			t.Errorf("fapiOnly(%q) = %v, want %v", refs, got, want)
		}
	}
}

// TestProfileLabels: the profile labels follow the Refs and Modes, and
// Ginkgo's label filter selects by them: profile:ciba what runs with
// fapi: false, the FAPI-only checks with profile:fapi-ciba && !profile:ciba.
func TestProfileLabels(t *testing.T) {
	tests := []struct {
		name          string
		meta          Meta
		want          []string
		ciba, fapiOnl bool // selected by 'profile:ciba', by 'profile:fapi-ciba && !profile:ciba'
	}{
		{"FAPI only", Meta{SpecRefs: []string{"FAPI-RW-8.6", "FAPI-CIBA-5.2.2-3"}, Modes: []string{"push"}}, []string{LabelProfileFAPICIBA}, false, true},
		{"CIBA and FAPI", Meta{SpecRefs: []string{"CIBA-7.1.1", "FAPI-RW-8.6"}}, []string{LabelProfileFAPICIBA, LabelProfileCIBA}, true, false},
		{"CIBA poll", Meta{SpecRefs: []string{"CIBA-11"}, Modes: []string{"poll"}}, []string{LabelProfileFAPICIBA, LabelProfileCIBA}, true, false},
		{"push only", Meta{SpecRefs: []string{"CIBA-12"}, Modes: []string{"push"}}, []string{LabelProfileCIBA}, true, false},
		{"push and ping", Meta{SpecRefs: []string{"CIBA-10.2"}, Modes: []string{"ping", "push"}}, []string{LabelProfileFAPICIBA, LabelProfileCIBA}, true, false},
	}
	cibaFilter, err := types.ParseLabelFilter("profile:ciba")
	if err != nil {
		t.Fatal(err)
	}
	fapiOnlyFilter, err := types.ParseLabelFilter("profile:fapi-ciba && !profile:ciba")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		got := profileLabels(tt.meta)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: profileLabels = %v, want %v", tt.name, got, tt.want)
		}
		if cibaFilter(got) != tt.ciba || fapiOnlyFilter(got) != tt.fapiOnl {
			t.Errorf("%s: labels %v: profile:ciba selects %v (want %v), FAPI-only filter %v (want %v)", tt.name, got, cibaFilter(got), tt.ciba, fapiOnlyFilter(got), tt.fapiOnl)
		}
	}
}

// TestBasisOfEveryCheck lists every check whose comment block lacks a
// valid normative basis (Quote, Duty, Level), all at once and by file, so
// that one run shows all that is missing.
func TestBasisOfEveryCheck(t *testing.T) {
	r := preview(t)
	blocks, err := ReadDocBlocks(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Checks {
		if err := ValidateBasis(blocks[c.Name], c.Meta); err != nil {
			t.Errorf("%s: %q: %v", c.Location, c.Name, err)
		}
	}
}
