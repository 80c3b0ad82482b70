package conformance

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/ciba-check/ciba-check/reports"
)

func TestClassifyShould(t *testing.T) {
	tests := []struct {
		labels []string
		should bool
		sev    string
	}{
		{[]string{"CIBA-11", LabelShould}, true, SeverityShould},
		{[]string{"CIBA-11", LabelNegative}, false, SeverityMust},
	}
	for _, tt := range tests {
		m := Classify(tt.labels)
		if m.Should != tt.should || m.Severity() != tt.sev {
			t.Errorf("Classify(%v) = %+v (severity %s), want should=%v severity %s", tt.labels, m, m.Severity(), tt.should, tt.sev)
		}
	}
	if err := validateLabels("x", labelsOf([]Decorator{Refs("CIBA-11"), Should})); err != nil {
		t.Errorf("a Should check is refused: %v", err)
	}
	if err := validateLabels("x", labelsOf([]Decorator{Refs("CIBA-11"), labelList{"SHOULD"}})); err == nil {
		t.Errorf("an unknown label SHOULD was accepted")
	}
}

// specReport is a finished It with the given state and report entries.
func specReport(state types.SpecState, entries ...types.ReportEntry) types.SpecReport {
	return types.SpecReport{
		LeafNodeType: types.NodeTypeIt, LeafNodeText: "answers slow_down", ContainerHierarchyTexts: []string{"Token endpoint"},
		LeafNodeLabels: []string{"CIBA-11", LabelShould}, State: state, ReportEntries: entries,
		LeafNodeLocation: types.CodeLocation{FileName: "checks_token.go", LineNumber: 284},
	}
}

func warningEntry(msg string, line int) types.ReportEntry {
	return types.ReportEntry{Name: WarningEntry, Value: types.WrapEntryValue(msg), Location: types.CodeLocation{FileName: "checks_token.go", LineNumber: line}}
}

func TestCheckResultWarning(t *testing.T) {
	other := types.ReportEntry{Name: "something else", Value: types.WrapEntryValue("not a warning")}
	tests := []struct {
		name        string
		sr          types.SpecReport
		outcome     string
		failure     string
		location    string
		failed      bool
		warned      bool
		passedCount int
	}{
		{"passed without entries", specReport(types.SpecStatePassed), string(reports.Passed), "", "checks_token.go:284", false, false, 1},
		{"passed with an unrelated entry", specReport(types.SpecStatePassed, other), string(reports.Passed), "", "checks_token.go:284", false, false, 1},
		{"passed with a warning", specReport(types.SpecStatePassed, warningEntry("expected slow_down, got authorization_pending", 300)),
			string(reports.Warning), "expected slow_down, got authorization_pending", "checks_token.go:300", false, true, 0},
		{"two warnings keep both, first location", specReport(types.SpecStatePassed, warningEntry("first", 90), other, warningEntry("second", 91)),
			string(reports.Warning), "first\n\nsecond", "checks_token.go:90", false, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := checkResult(tt.sr)
			if c.Outcome != tt.outcome || c.Failure != tt.failure || c.Location != tt.location || c.Failed() != tt.failed || c.Warned() != tt.warned {
				t.Errorf("checkResult = outcome %q failure %q location %q failed %v warned %v", c.Outcome, c.Failure, c.Location, c.Failed(), c.Warned())
			}
			if n := Summary([]CheckResult{c}); n.Passed != tt.passedCount || n.Warnings+n.Passed != 1 {
				t.Errorf("Summary = %+v", n)
			}
		})
	}
	// A failure stays a failure even if a warning was recorded first (an
	// ExpectShould before a failing MUST expectation).
	failed := specReport(types.SpecStateFailed, warningEntry("expires_in missing", 80))
	failed.Failure = types.Failure{Message: "expected token_type Bearer", Location: types.CodeLocation{FileName: "checks_token.go", LineNumber: 81}}
	if c := checkResult(failed); c.Outcome != "failed" || !c.Failed() || c.Warned() || c.Failure != "expected token_type Bearer" {
		t.Errorf("failed with a warning entry = %+v", c)
	}
	res := &Result{Report: types.Report{SuiteSucceeded: true}, Checks: []CheckResult{checkResult(specReport(types.SpecStatePassed, warningEntry("w", 1)))}}
	if !res.Passed() {
		t.Errorf("a run with only a warning has not passed")
	}
}

func TestWriteJSONWarning(t *testing.T) {
	checks := []CheckResult{
		checkResult(specReport(types.SpecStatePassed)),
		checkResult(specReport(types.SpecStatePassed, warningEntry("expected slow_down\n  < HTTP 400", 300))),
		{ID: "x/fails", Name: "fails", Outcome: "failed", Failure: "boom", Location: "a.go:1", Meta: Classify([]string{"CIBA-7.1"})},
		{ID: "x/skips", Name: "skips", Outcome: string(reports.Skipped), SkipReason: "no ping client", Meta: Classify([]string{"CIBA-10.2"})},
	}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, checks, ReportInfo{}); err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Summary map[string]int `json:"summary"`
		Checks  []struct {
			Outcome  string          `json:"outcome"`
			Severity string          `json:"severity"`
			Failure  json.RawMessage `json:"failure"`
			Warning  *struct {
				Message, Location string
			} `json:"warning"`
		} `json:"checks"`
	}
	if err := json.Unmarshal(buf.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"total": 4, "passed": 1, "warnings": 1, "failed": 1, "skipped": 1}
	for k, v := range want {
		if rep.Summary[k] != v {
			t.Errorf("summary[%s] = %d, want %d (%v)", k, rep.Summary[k], v, rep.Summary)
		}
	}
	w := rep.Checks[1]
	if w.Outcome != "warning" || w.Severity != "should" || w.Failure != nil || w.Warning == nil ||
		!strings.HasPrefix(w.Warning.Message, "expected slow_down") || w.Warning.Location != "checks_token.go:300" {
		t.Errorf("warning check = %+v", w)
	}
	if f := rep.Checks[2]; f.Severity != "must" || f.Warning != nil || f.Failure == nil {
		t.Errorf("failed check = %+v", f)
	}
}

// TestShouldChecks pins which checks are Should: each cites a requirement
// that is SHOULD, MAY or judgement in shared/CIBA.md, so that promoting or
// demoting one is a deliberate change.
func TestShouldChecks(t *testing.T) {
	want := map[string]bool{
		"accepts a token client assertion with aud = issuer":     true,
		"refuses a request object that contains a request claim": true,
		// CIBA 7.1 leaves a scope without openid unspecified; the
		// binding_message is "intended to be displayed", no MUST.
		"refuses a scope without openid":                                  true,
		"shows the binding_message on the authentication device as sent":  true,
		"refuses an undisplayable binding_message or shows it faithfully": true,
		// Client duties or MAYs of the OP (checks_attacks.go comments).
		"refuses a requested_expiry that is not a positive integer":                  true,
		"refuses a client_notification_token longer than 1024 characters":            true,
		"refuses a replayed client assertion":                                        true,
		"refuses a replayed client_secret_jwt assertion":                             true,
		"refuses a client secret sent both in the Authorization header and the body": true,
		// RFC 8705 3.2 has no keyword for introspection's cnf.
		"reports cnf x5t#S256 of the client certificate at introspection": true,
		// CIBA 10.2: "The OP SHOULD also accept HTTP 200 OK".
		"issues tokens after the ping was answered 200 with a body": true,
		// CIBA 7.1 and 10.3.1 state the push's bearer token and its single
		// delivery in the indicative, without a keyword on the OP.
		"sends the push as a POST with the client_notification_token as bearer": true,
		"pushes the tokens of an approved request exactly once":                 true,
	}
	r := preview(t)
	got := map[string]bool{}
	for _, c := range r.Checks {
		if c.Meta.Should {
			got[c.Name] = true
		}
	}
	for name := range want {
		if !got[name] {
			t.Errorf("check %q is not decorated Should", name)
		}
	}
	for name := range got {
		if !want[name] {
			t.Errorf("check %q is decorated Should; add it here if that is deliberate", name)
		}
	}
}
