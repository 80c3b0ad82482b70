package conformance

import (
	"cmp"
	"encoding/json"
	"io"
	"time"

	"github.com/ciba-check/ciba-check/reports"
)

// JSONSchema names the version of the JSON report format (documented in
// docs/report-schema.md). Additive changes keep it; anything else bumps it.
const JSONSchema = "ciba-check/conformance/v1"

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

type jsonReport struct {
	Schema   string      `json:"schema"`
	Tool     jsonTool    `json:"tool"`
	Target   jsonTarget  `json:"target"`
	Started  string      `json:"started"`
	Duration float64     `json:"duration_seconds"`
	Judging  string      `json:"judging"`
	Summary  jsonSummary `json:"summary"`
	Error    string      `json:"error,omitempty"`
	Checks   []jsonCheck `json:"checks"`
}

type jsonTool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

type jsonTarget struct {
	Issuer  string   `json:"issuer"`
	Device  string   `json:"device"`
	Profile string   `json:"profile,omitempty"`
	OffHost []string `json:"off_host_endpoints,omitempty"`
}

type jsonSummary struct {
	Total    int `json:"total"`
	Passed   int `json:"passed"`
	Warnings int `json:"warnings"`
	Failed   int `json:"failed"`
	Skipped  int `json:"skipped"`
}

type jsonFailure struct {
	Message  string `json:"message"`
	Location string `json:"location"`
}

type jsonCheck struct {
	ID          string       `json:"id"`
	Name        string       `json:"name"`
	Section     string       `json:"section"`
	SpecRefs    []string     `json:"spec_refs"`
	Labels      []string     `json:"labels"`
	Modes       []string     `json:"modes"`
	Auth        []string     `json:"auth"`
	Negative    bool         `json:"negative"`
	Severity    string       `json:"severity"`
	Level       string       `json:"level,omitempty"`
	Duty        string       `json:"duty,omitempty"`
	Quote       string       `json:"quote,omitempty"`
	OIDFModules []string     `json:"oidf_modules"`
	Outcome     string       `json:"outcome"`
	Duration    float64      `json:"duration_seconds"`
	Failure     *jsonFailure `json:"failure,omitempty"`
	Warning     *jsonFailure `json:"warning,omitempty"`
	SkipReason  string       `json:"skip_reason,omitempty"`
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

// WriteJSON writes the run as a JSON report of schema JSONSchema.
func WriteJSON(w io.Writer, checks []CheckResult, info ReportInfo) error {
	n := Summary(checks)
	rep := jsonReport{
		Schema:   JSONSchema,
		Tool:     jsonTool{Name: "ciba-check", Version: info.ToolVersion},
		Target:   jsonTarget{Issuer: info.Issuer, Device: info.DeviceKind, Profile: info.Profile, OffHost: info.OffHost},
		Started:  info.Started.UTC().Format(time.RFC3339Nano),
		Duration: info.Duration.Seconds(),
		Judging:  cmp.Or(info.Judging, ProfileSpec),
		Summary:  jsonSummary{Total: len(checks), Passed: n.Passed, Warnings: n.Warnings, Failed: n.Failed, Skipped: n.Skipped},
		Error:    info.Error,
		Checks:   []jsonCheck{},
	}
	for _, c := range checks {
		jc := jsonCheck{
			ID: c.ID, Name: c.Name, Section: c.Section, SpecRefs: c.Meta.SpecRefs,
			Labels: c.Labels, Modes: c.Meta.Modes, Auth: c.Meta.Auth, Negative: c.Meta.Negative,
			Severity: c.Meta.Severity(), OIDFModules: c.Meta.OIDFModules, Outcome: c.Outcome, Duration: c.Duration.Seconds(),
			SkipReason: c.SkipReason, Level: c.Level, Duty: c.Duty, Quote: c.Quote,
		}
		if jc.Labels == nil {
			jc.Labels = []string{}
		}
		switch {
		case c.Failed():
			jc.Failure = &jsonFailure{Message: c.Failure, Location: c.Location}
		case c.Warned():
			jc.Warning = &jsonFailure{Message: c.Failure, Location: c.Location}
		}
		rep.Checks = append(rep.Checks, jc)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
