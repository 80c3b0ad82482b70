package conformance

import (
	"sort"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/reports"
)

// Result is a finished run.
type Result struct {
	Report types.Report
	Checks []CheckResult
	// Stopped says why the run ended before every selected check ran
	// (its deadline), "" when it did not: the verdict is then unknown.
	Stopped string
}

// Passed reports whether no check failed.
func (r *Result) Passed() bool {
	for _, c := range r.Checks {
		if c.Failed() {
			return false
		}
	}
	return r.Report.SuiteSucceeded
}

// CheckResult is one check's outcome.
type CheckResult struct {
	ID       string
	Name     string
	Section  string
	Labels   []string
	Meta     Meta
	Outcome  string
	Duration time.Duration
	// Failure is the failure message and location (file:line) when the
	// check failed.
	Failure  string
	Location string
	// SkipReason says why a skipped check did not run.
	SkipReason string
	// Level, Duty and Quote are the check's normative basis, from its
	// comment block (LevelMust, LevelShould, LevelCert; DutyOP,
	// DutyClient; the sentence it enforces).
	Level, Duty, Quote string
	// Expected, Got and Exchanges are the structured evidence of a
	// failure or warning (Detail), when the check recorded it: redacted
	// as Failure is.
	Expected, Got string
	Exchanges     []reports.Exchange
}

// Failed reports whether the outcome is a failure of any kind. A warning
// is not one.
func (c CheckResult) Failed() bool {
	switch c.Outcome {
	case string(reports.Passed), string(reports.Warning), string(reports.Skipped), "pending":
		return false
	}
	return true
}

// Warned reports whether the check ended with a warning: an unmet
// SHOULD-level expectation and no failure. Failure and Location then
// hold the (first) warning.
func (c CheckResult) Warned() bool { return c.Outcome == string(reports.Warning) }

// NotSelected is the skip reason of checks the filters left out; NotRun
// of selected checks the run stopped before (fail-fast, timeout, a
// vanished target).
const (
	NotSelected = reports.NotSelected
	NotRun      = reports.NotRun
)

func checkResults(r types.Report) []CheckResult {
	var out []CheckResult
	for _, sr := range r.SpecReports {
		if sr.LeafNodeType == types.NodeTypeIt {
			out = append(out, checkResult(sr))
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func checkResult(sr types.SpecReport) CheckResult {
	section := strings.Join(sr.ContainerHierarchyTexts, " / ")
	c := CheckResult{
		ID:       checkID(sr.ContainerHierarchyTexts, sr.LeafNodeText),
		Name:     sr.LeafNodeText,
		Section:  section,
		Labels:   sr.Labels(),
		Meta:     Classify(sr.Labels()),
		Outcome:  sr.State.String(),
		Duration: sr.RunTime,
		Location: sourceLocation(sr.LeafNodeLocation),
	}
	switch {
	case sr.State == types.SpecStateSkipped && sr.Failure.Message == "":
		c.SkipReason = NotSelected
	case sr.State == types.SpecStateSkipped:
		c.SkipReason = sr.Failure.Message
	case sr.State.Is(types.SpecStateFailureStates):
		c.Failure = sr.Failure.Message
		c.Location = sourceLocation(sr.Failure.Location)
		// A check a worker ran ahead failed where the entry says, not
		// where its spec replayed the failure (sink.go).
		for _, e := range sr.ReportEntries {
			if e.Name == LocationEntry {
				c.Location = sourceLocation(e.Location)
			}
		}
	case sr.State == types.SpecStatePassed:
		var msgs []string
		for _, e := range sr.ReportEntries {
			if e.Name != WarningEntry {
				continue
			}
			if len(msgs) == 0 {
				c.Location = sourceLocation(e.Location)
			}
			msgs = append(msgs, e.StringRepresentation())
		}
		if len(msgs) > 0 {
			c.Outcome = string(reports.Warning)
			c.Failure = strings.Join(msgs, "\n\n")
		}
	}
	c.attachDetails(details(sr.ReportEntries))
	// Messages quote what the OP answered: ID tokens and other JWS show
	// header and claims, never the signature (terminal and every report).
	c.Failure = client.RedactJWSSignatures(c.Failure)
	c.SkipReason = client.RedactJWSSignatures(c.SkipReason)
	return c
}

// checkID is a stable identifier: the section and the name, lower case,
// words joined by dashes ("token-endpoint/refuses-a-redeemed-auth-req-id-with-invalid-grant").
func checkID(containers []string, name string) string {
	parts := append(append([]string(nil), containers...), name)
	for i, p := range parts {
		parts[i] = slug(p)
	}
	return strings.Join(parts, "/")
}

func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimRight(b.String(), "-")
}
