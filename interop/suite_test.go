package interop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// suiteTimeout bounds `ciba-check run` against the harness.
const suiteTimeout = 3 * time.Minute

// expectedFile is the committed expectation of the suite's outcome.
const expectedFile = "expected.json"

// expectation is expected.json: the checks that do not pass (fail, warn
// or skip), and why.
type expectation struct {
	OP     string          `json:"op"`
	Note   string          `json:"note"`
	Checks []expectedCheck `json:"checks"`
}

// expectedCheck is one check that fails, warns or is skipped against the
// OP.
type expectedCheck struct {
	ID      string `json:"id"`
	Outcome string `json:"outcome"` // failed | warning | skipped
	// Kind: deviation (the OP departs from a MUST of Spec), should (the
	// OP does not do what a SHOULD, MAY or judgement item of Spec asks:
	// the check warns, always with outcome warning), configuration (the
	// harness cannot exercise it) or suite (ciba-check is stricter than
	// Spec; fix the suite, then drop the entry).
	Kind    string `json:"kind"`
	Spec    string `json:"spec"`
	Symptom string `json:"symptom"`
	Reason  string `json:"reason"`
}

var expectationKinds = map[string]bool{"deviation": true, "should": true, "configuration": true, "suite": true}

// runResult is the part of `ciba-check run --json` (schema
// ciba-check/conformance/v1) the comparison needs.
type runResult struct {
	Schema  string `json:"schema"`
	Summary struct {
		Total, Passed, Warnings, Failed, Skipped int
	} `json:"summary"`
	Checks []struct {
		ID         string `json:"id"`
		Name       string `json:"name"`
		Outcome    string `json:"outcome"`
		SkipReason string `json:"skip_reason"`
		Failure    *struct {
			Message string `json:"message"`
		} `json:"failure"`
		// Warning carries the message of a check with outcome warning.
		Warning *struct {
			Message string `json:"message"`
		} `json:"warning"`
	} `json:"checks"`
}

func loadExpectation(path string) (*expectation, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	var e expectation
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	seen := map[string]bool{}
	for i, c := range e.Checks {
		switch {
		case c.ID == "":
			return nil, fmt.Errorf("%s: checks[%d]: id is empty", path, i)
		case seen[c.ID]:
			return nil, fmt.Errorf("%s: checks[%d]: %s is listed twice", path, i, c.ID)
		case c.Outcome != "failed" && c.Outcome != "warning" && c.Outcome != "skipped":
			return nil, fmt.Errorf("%s: %s: outcome %q is not failed, warning or skipped (passing checks are not listed)", path, c.ID, c.Outcome)
		case !expectationKinds[c.Kind]:
			return nil, fmt.Errorf("%s: %s: kind %q is not deviation, should, configuration or suite", path, c.ID, c.Kind)
		case (c.Kind == "should") != (c.Outcome == "warning"):
			// A warning is how ciba-check reports an unmet SHOULD, and
			// an unmet SHOULD is never a failure or a skip.
			return nil, fmt.Errorf("%s: %s: kind should goes with outcome warning and only with it (got kind %q, outcome %q)", path, c.ID, c.Kind, c.Outcome)
		case c.Spec == "" || c.Reason == "" || c.Symptom == "":
			return nil, fmt.Errorf("%s: %s: spec, symptom and reason are all required", path, c.ID)
		}
		seen[c.ID] = true
	}
	return &e, nil
}

// compareOutcome lists every difference between a run and the
// expectation: a check with another outcome than expected (a warning is
// neither a pass nor a failure), a failure or warning without the
// expected symptom, and an expected check the run did not
// have (renamed or removed: update expected.json).
func compareOutcome(res *runResult, exp *expectation) []string {
	want := map[string]expectedCheck{}
	for _, c := range exp.Checks {
		want[c.ID] = c
	}
	var diffs []string
	ran := map[string]bool{}
	for _, c := range res.Checks {
		ran[c.ID] = true
		e, listed := want[c.ID]
		wantOutcome := "passed"
		if listed {
			wantOutcome = e.Outcome
		}
		text := c.SkipReason
		switch {
		case c.Failure != nil:
			text = c.Failure.Message
		case c.Warning != nil:
			text = c.Warning.Message
		}
		detail := firstLine(text)
		if c.Outcome != wantOutcome {
			diffs = append(diffs, fmt.Sprintf("%s: %s, expected %s%s", c.ID, c.Outcome, wantOutcome, suffix(detail)))
			continue
		}
		if listed {
			if !strings.Contains(text, e.Symptom) {
				diffs = append(diffs, fmt.Sprintf("%s: %s as expected but without the symptom %q%s", c.ID, c.Outcome, e.Symptom, suffix(detail)))
			}
		}
	}
	for _, c := range exp.Checks {
		if !ran[c.ID] {
			diffs = append(diffs, fmt.Sprintf("%s: listed in %s but not run (renamed or removed?)", c.ID, expectedFile))
		}
	}
	sort.Strings(diffs)
	return diffs
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func suffix(detail string) string {
	if detail == "" {
		return ""
	}
	return ": " + detail
}

// testSuiteMatchesExpectation runs `ciba-check run --target` with the built
// binary and compares the outcome with expected.json.
func testSuiteMatchesExpectation(t *testing.T, h *harness) {
	exp, err := loadExpectation(expectedFile)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := buildCLI(t)
	if errors.Is(err, errNoRun) {
		t.Skipf("cannot run the conformance suite against oidc-provider: %v", err)
	}
	out := filepath.Join(h.Dir, "results.json")
	ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run", "--target", h.TargetPath, "--json", out)
	cmd.Dir = h.Dir
	text, err := cmd.CombinedOutput()
	code := cmd.ProcessState.ExitCode()
	// Exit 1 is "a check failed", expected here; 2 means the run itself
	// could not work (target or options wrong).
	if err != nil && code != 1 {
		t.Fatalf("ciba-check run exited %d (%v):\n%s", code, err, text)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("ciba-check run wrote no JSON results: %v\n%s", err, text)
	}
	var res runResult
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatalf("results JSON: %v", err)
	}
	if res.Schema != "ciba-check/conformance/v1" {
		t.Fatalf("results schema %q, want ciba-check/conformance/v1", res.Schema)
	}
	if len(res.Checks) == 0 {
		t.Fatalf("the run reported no checks:\n%s", text)
	}
	if wantCode := map[bool]int{true: 1, false: 0}[res.Summary.Failed > 0]; code != wantCode {
		t.Errorf("exit code %d with %d failed checks, want %d", code, res.Summary.Failed, wantCode)
	}
	t.Logf("ciba-check run against %s: %d passed, %d warnings, %d failed, %d skipped", exp.OP, res.Summary.Passed, res.Summary.Warnings, res.Summary.Failed, res.Summary.Skipped)
	if diffs := compareOutcome(&res, exp); len(diffs) > 0 {
		t.Errorf("the outcome against oidc-provider differs from %s (triage each: a real deviation or configuration limit goes into %s and docs/interop.md; a suite mistake is fixed in the suite):\n  %s\n\nrun output:\n%s",
			expectedFile, expectedFile, strings.Join(diffs, "\n  "), text)
	}
}
