package conformance

import (
	"cmp"
	"io"
	"time"

	"github.com/ciba-check/ciba-check/reports"
)

// ReportInfo is what the report says about the run beyond the checks.
type ReportInfo struct {
	ToolVersion string
	Issuer      string
	DeviceKind  string
	// Profile is what the target was tested as: "FAPI-CIBA" or "CIBA Core"
	// (fapi: false).
	Profile string
	// Judging is the run's judging profile: ProfileSpec (the spec text
	// alone) or ProfileOIDFCert.
	Judging  string
	Started  time.Time
	Duration time.Duration
	// Error is set when the run ended early (e.g. the target vanished).
	Error string
	// OffHost names the endpoints on another host than the issuer that
	// credentials were sent to ("name URL", Env.OffHost).
	OffHost []string
}

// Counts are the outcomes of a run's checks; every check is in exactly
// one of them.
type Counts struct {
	Passed, Warnings, Failed, Skipped int
}

// Summary counts the outcomes of checks.
func Summary(checks []CheckResult) Counts {
	var n Counts
	for _, c := range checks {
		switch {
		case c.Failed():
			n.Failed++
		case c.Warned():
			n.Warnings++
		case c.Outcome == string(reports.Passed):
			n.Passed++
		default:
			n.Skipped++
		}
	}
	return n
}

// BuildRun is the run in the one conformance result schema
// (reports.ConformanceRun): what `run --json` writes and every other
// report renders from (RunModel).
func BuildRun(checks []CheckResult, info ReportInfo) *reports.ConformanceRun {
	n := Summary(checks)
	run := &reports.ConformanceRun{
		Schema:   reports.ConformanceSchemaV1,
		Tool:     reports.ConformanceTool{Name: "ciba-check", Version: info.ToolVersion},
		Target:   reports.ConformanceTarget{Issuer: info.Issuer, Device: info.DeviceKind, Profile: info.Profile, OffHost: info.OffHost},
		Started:  info.Started.UTC(),
		Duration: info.Duration.Seconds(),
		Judging:  cmp.Or(info.Judging, ProfileSpec),
		Summary:  reports.ConformanceSummary{Total: len(checks), Passed: n.Passed, Warnings: n.Warnings, Failed: n.Failed, Skipped: n.Skipped},
		Error:    info.Error,
		Checks:   make([]reports.ConformanceCheck, 0, len(checks)),
	}
	for _, c := range checks {
		jc := reports.ConformanceCheck{
			ID: c.ID, Name: c.Name, Section: c.Section, SpecRefs: c.Meta.SpecRefs,
			Labels: c.Labels, Modes: c.Meta.Modes, Auth: c.Meta.Auth, Negative: c.Meta.Negative,
			Severity: c.Meta.Severity(), OIDFModules: c.Meta.OIDFModules, Outcome: c.Outcome, Duration: c.Duration.Seconds(),
			SkipReason: c.SkipReason, Level: c.Level, Duty: c.Duty, Quote: c.Quote,
		}
		if jc.Labels == nil {
			jc.Labels = []string{}
		}
		failure := &reports.ConformanceFailure{Message: c.Failure, Location: c.Location, Expected: c.Expected, Got: c.Got, Exchanges: c.Exchanges}
		switch {
		case c.Failed():
			jc.Failure = failure
		case c.Warned():
			jc.Warning = failure
		}
		run.Checks = append(run.Checks, jc)
	}
	return run
}

// WriteJSON writes the run as a JSON report of schema
// reports.ConformanceSchemaV1.
func WriteJSON(w io.Writer, checks []CheckResult, info ReportInfo) error {
	return reports.WriteConformanceJSON(w, BuildRun(checks, info))
}

// RunModel is the run as a report model, mapped in memory the way a saved
// `run --json` file is read back (`report render` gives the same files).
func RunModel(checks []CheckResult, info ReportInfo) (*reports.Model, error) {
	return reports.FromConformance(BuildRun(checks, info))
}
