package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/suites/conformance"
)

// suiteTimeout bounds `ciba-check run` against the harness.
const suiteTimeout = 3 * time.Minute

// slowCheck is the duration from which a check's time is logged, to see
// what a driver costs.
const slowCheck = 10 * time.Second

// expectedFile is the committed expectation of the suite's outcome
// against the default configuration (defaultChoices).
const expectedFile = "expected.json"

// expectation is expected.json: the checks that do not pass (fail, warn
// or skip), and why.
type expectation struct {
	// file is the expectation file's path, for messages.
	file   string
	OP     string          `json:"op"`
	Note   string          `json:"note"`
	Checks []expectedCheck `json:"checks"`
	// Drivers lists, per device kind other than the harness's own
	// approval_url, the checks whose outcome that driver legitimately
	// changes (a hints device cannot hold a request, ...): each entry
	// replaces the entry of checks with the same id, or adds one.
	Drivers map[target.DeviceKind]driverExpectation `json:"drivers,omitempty"`
}

// driverExpectation is the part of expected.json for one device kind.
type driverExpectation struct {
	Checks []expectedCheck `json:"checks"`
}

// baseDeviceKind is the device of the harness's target.yaml, the one
// expectation.Checks is written for.
const baseDeviceKind = target.DeviceApprovalURL

// otherDeviceKinds are the device kinds expected.json may have a drivers
// entry for: those the interop test runs besides approval_url.
var otherDeviceKinds = map[target.DeviceKind]bool{target.DeviceHints: true, target.DeviceCommand: true, target.DeviceManual: true}

// forDriver returns the expectation for a run with device kind kind:
// checks, with the drivers entry for kind laid over it.
func (e *expectation) forDriver(kind target.DeviceKind) (*expectation, error) {
	if kind != baseDeviceKind && !otherDeviceKinds[kind] {
		return nil, fmt.Errorf("%s: no expectation for device kind %q", e.file, kind)
	}
	out := &expectation{file: e.file, OP: e.OP, Note: e.Note}
	override := map[string]expectedCheck{}
	for _, c := range e.Drivers[kind].Checks {
		override[c.ID] = c
	}
	for _, c := range e.Checks {
		if o, ok := override[c.ID]; ok {
			c = o
			delete(override, c.ID)
		}
		out.Checks = append(out.Checks, c)
	}
	for _, c := range e.Drivers[kind].Checks {
		if _, added := override[c.ID]; added {
			out.Checks = append(out.Checks, c)
		}
	}
	return out, nil
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
	Schema string `json:"schema"`
	// Target.Profile is what the run tested the OP as: FAPI-CIBA or CIBA
	// Core.
	Target struct {
		Profile string `json:"profile"`
	} `json:"target"`
	Summary struct {
		Total, Passed, Warnings, Failed, Skipped int
	} `json:"summary"`
	Checks []struct {
		ID         string   `json:"id"`
		Name       string   `json:"name"`
		Outcome    string   `json:"outcome"`
		SkipReason string   `json:"skip_reason"`
		Labels     []string `json:"labels"`
		Duration   float64  `json:"duration_seconds"`
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
	e := expectation{file: path}
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := validateChecks(path, "checks", e.Checks); err != nil {
		return nil, err
	}
	for kind, d := range e.Drivers {
		if !otherDeviceKinds[kind] {
			return nil, fmt.Errorf("%s: drivers: %q is not a device kind the interop test runs besides %s (hints, command, manual)", path, kind, baseDeviceKind)
		}
		if len(d.Checks) == 0 {
			return nil, fmt.Errorf("%s: drivers.%s lists no checks (leave the driver out instead)", path, kind)
		}
		if err := validateChecks(path, "drivers."+string(kind)+".checks", d.Checks); err != nil {
			return nil, err
		}
	}
	return &e, nil
}

// validateChecks checks the entries of one list of expected.json.
func validateChecks(path, list string, checks []expectedCheck) error {
	seen := map[string]bool{}
	for i, c := range checks {
		switch {
		case c.ID == "":
			return fmt.Errorf("%s: %s[%d]: id is empty", path, list, i)
		case seen[c.ID]:
			return fmt.Errorf("%s: %s[%d]: %s is listed twice", path, list, i, c.ID)
		case c.Outcome != "failed" && c.Outcome != "warning" && c.Outcome != "skipped":
			return fmt.Errorf("%s: %s: outcome %q is not failed, warning or skipped (passing checks are not listed)", path, c.ID, c.Outcome)
		case !expectationKinds[c.Kind]:
			return fmt.Errorf("%s: %s: kind %q is not deviation, should, configuration or suite", path, c.ID, c.Kind)
		case (c.Kind == "should") != (c.Outcome == "warning"):
			// A warning is how ciba-check reports an unmet SHOULD, and
			// an unmet SHOULD is never a failure or a skip.
			return fmt.Errorf("%s: %s: kind should goes with outcome warning and only with it (got kind %q, outcome %q)", path, c.ID, c.Kind, c.Outcome)
		case c.Spec == "" || c.Reason == "" || c.Symptom == "":
			return fmt.Errorf("%s: %s: spec, symptom and reason are all required", path, c.ID)
		}
		seen[c.ID] = true
	}
	return nil
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
		if !listed && outsideProfile(c.Labels, res.Target.Profile) {
			// Another profile's check (push under FAPI-CIBA, FAPI-only
			// under CIBA Core) is skipped by the suite itself.
			wantOutcome = "skipped"
		}
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
			diffs = append(diffs, fmt.Sprintf("%s: listed in %s but not run (renamed or removed?)", c.ID, exp.file))
		}
	}
	sort.Strings(diffs)
	return diffs
}

// outsideProfile reports whether a check's profile labels leave out the
// run's profile (a check without profile labels applies everywhere).
func outsideProfile(labels []string, profile string) bool {
	want := conformance.LabelProfileFAPICIBA
	if profile == conformance.TargetCIBACore {
		want = conformance.LabelProfileCIBA
	}
	has := false
	for _, l := range labels {
		if l == want {
			return false
		}
		has = has || l == conformance.LabelProfileFAPICIBA || l == conformance.LabelProfileCIBA
	}
	return has
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

// suiteRun is the outcome of one `ciba-check run --target`.
type suiteRun struct {
	Result   runResult
	ExitCode int
	Output   string // stdout and stderr of the run
}

// runSuite runs `ciba-check run --target targetPath --json` with the built
// binary plus args, and checks what holds for every run: exit code 1 or
// 0 as checks failed or not (2 means the target or options were wrong),
// the results schema, and that checks ran. Interactive runs (manual)
// set configure to wire stdin and stderr; it must then leave
// cmd.Stdout and cmd.Stderr unset or set both.
func runSuite(ctx context.Context, t *testing.T, bin, targetPath, name string, args []string, configure func(*exec.Cmd) (output func() string)) *suiteRun {
	t.Helper()
	dir := filepath.Dir(targetPath)
	out := filepath.Join(dir, "results-"+name+".json")
	cmd := exec.CommandContext(ctx, bin, append([]string{"run", "--target", targetPath, "--json", out}, args...)...)
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	var err error
	var text string
	if configure != nil {
		output := configure(cmd)
		err = cmd.Run()
		text = output()
	} else {
		var b []byte
		b, err = cmd.CombinedOutput()
		text = string(b)
	}
	code := cmd.ProcessState.ExitCode()
	// Exit 1 is "a check failed", expected here; 2 means the run itself
	// could not work (target or options wrong).
	if err != nil && code != 1 {
		t.Fatalf("ciba-check run (%s) exited %d (%v):\n%s", name, code, err, text)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("ciba-check run (%s) wrote no JSON results: %v\n%s", name, err, text)
	}
	r := &suiteRun{ExitCode: code, Output: text}
	if err := json.Unmarshal(data, &r.Result); err != nil {
		t.Fatalf("results JSON (%s): %v", name, err)
	}
	if r.Result.Schema != "ciba-check/conformance/v1" {
		t.Fatalf("results schema %q, want ciba-check/conformance/v1", r.Result.Schema)
	}
	if len(r.Result.Checks) == 0 {
		t.Fatalf("the run (%s) reported no checks:\n%s", name, text)
	}
	if wantCode := map[bool]int{true: 1, false: 0}[r.Result.Summary.Failed > 0]; code != wantCode {
		t.Errorf("exit code %d with %d failed checks, want %d", code, r.Result.Summary.Failed, wantCode)
	}
	return r
}

// testSuiteMatchesExpectation runs `ciba-check run --target` with the
// built binary against the harness with the given device (the harness's
// own target.yaml, approval_url, for device kind approval_url) and
// compares the outcome with the harness configuration's expectation file
// (expected.json for the default one) as it applies to that driver.
func testSuiteMatchesExpectation(t *testing.T, h *harness, bin string, dev target.Device) {
	exp, err := loadExpectation(h.Choices.Expected)
	if err != nil {
		t.Fatal(err)
	}
	driverExp, err := exp.forDriver(dev.Kind)
	if err != nil {
		t.Fatal(err)
	}
	targetPath := h.TargetPath
	if dev.Kind != h.Target.Device.Kind {
		targetPath = writeDriverTarget(t, h, dev)
	}
	ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
	defer cancel()
	var configure func(*exec.Cmd) func() string
	if len(h.Env) > 0 {
		// The client secrets target.yaml names.
		configure = func(cmd *exec.Cmd) func() string {
			var b strings.Builder
			cmd.Stdout, cmd.Stderr = &b, &b
			cmd.Env = append(os.Environ(), h.Env...)
			return b.String
		}
	}
	run := runSuite(ctx, t, bin, targetPath, string(dev.Kind), nil, configure)
	res := &run.Result
	t.Logf("ciba-check run against %s with device %s (expectation %s): %d passed, %d warnings, %d failed, %d skipped", exp.OP, dev.Kind, exp.file, res.Summary.Passed, res.Summary.Warnings, res.Summary.Failed, res.Summary.Skipped)
	for _, c := range res.Checks {
		if c.Duration >= slowCheck.Seconds() {
			t.Logf("slow check with device %s: %s took %.1fs (%s)", dev.Kind, c.ID, c.Duration, c.Outcome)
		}
	}
	if diffs := compareOutcome(res, driverExp); len(diffs) > 0 {
		t.Errorf("the outcome against oidc-provider with device %s differs from %s (triage each: a real deviation or configuration limit goes into %s and docs/interop.md; a suite mistake is fixed in the suite; a broken driver is fixed in internal/device):\n  %s\n\nrun output:\n%s",
			dev.Kind, exp.file, exp.file, strings.Join(diffs, "\n  "), run.Output)
	}
}

// writeDriverTarget writes a copy of the harness's target.yaml with
// another device section, next to it, and returns its path.
func writeDriverTarget(t *testing.T, h *harness, dev target.Device) string {
	t.Helper()
	tgt, err := h.load(h.TargetPath)
	must(t, err)
	tgt.Device = dev
	path := filepath.Join(h.Dir, "target-"+string(dev.Kind)+".yaml")
	must(t, tgt.Write(path))
	if _, err := h.load(path); err != nil {
		t.Fatalf("the %s target.yaml does not load: %v", dev.Kind, err)
	}
	return path
}
