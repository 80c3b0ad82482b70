package reports

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// ConformanceSchemaV1 is the conformance run's JSON (`run --json`,
// docs/report-schema.md). Additive changes keep it; anything else bumps
// it.
const ConformanceSchemaV1 = "ciba-check/conformance/v1"

// ConformanceRun is a conformance run in the form of ConformanceSchemaV1:
// the suite fills it (conformance.BuildRun), `run --json` writes it and
// `report render` / `report diff` read saved files back into it. It is
// the only definition of that schema.
type ConformanceRun struct {
	Schema   string             `json:"schema"`
	Tool     ConformanceTool    `json:"tool"`
	Target   ConformanceTarget  `json:"target"`
	Started  time.Time          `json:"started"`
	Duration float64            `json:"duration_seconds"`
	Judging  string             `json:"judging"`
	Summary  ConformanceSummary `json:"summary"`
	Error    string             `json:"error,omitempty"`
	Checks   []ConformanceCheck `json:"checks"`
}

// ConformanceTool names the tool that ran.
type ConformanceTool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// ConformanceTarget is the OP under test.
type ConformanceTarget struct {
	Issuer  string   `json:"issuer"`
	Device  string   `json:"device"`
	Profile string   `json:"profile,omitempty"`
	OffHost []string `json:"off_host_endpoints,omitempty"`
}

// ConformanceSummary counts the checks by outcome.
type ConformanceSummary struct {
	Total    int `json:"total"`
	Passed   int `json:"passed"`
	Warnings int `json:"warnings"`
	Failed   int `json:"failed"`
	Skipped  int `json:"skipped"`
}

// ConformanceFailure is a failure or a warning: the message, where it was
// raised and, when the check had them, what it expected, what it got and
// the exchanges that show it (redacted by the suite).
type ConformanceFailure struct {
	Message   string     `json:"message"`
	Location  string     `json:"location"`
	Expected  string     `json:"expected,omitempty"`
	Got       string     `json:"got,omitempty"`
	Exchanges []Exchange `json:"exchanges,omitempty"`
}

// ConformanceCheck is one check of a run. Outcome is Ginkgo's spec state
// ("passed", "skipped", "pending", "failed", "panicked", "interrupted",
// "aborted", "timedout") or ciba-check's own "warning".
type ConformanceCheck struct {
	ID          string              `json:"id"`
	Name        string              `json:"name"`
	Section     string              `json:"section"`
	SpecRefs    []string            `json:"spec_refs"`
	Labels      []string            `json:"labels"`
	Modes       []string            `json:"modes"`
	Auth        []string            `json:"auth"`
	Negative    bool                `json:"negative"`
	Severity    string              `json:"severity"`
	Level       string              `json:"level,omitempty"`
	Duty        string              `json:"duty,omitempty"`
	Quote       string              `json:"quote,omitempty"`
	OIDFModules []string            `json:"oidf_modules"`
	Outcome     string              `json:"outcome"`
	Duration    float64             `json:"duration_seconds"`
	Failure     *ConformanceFailure `json:"failure,omitempty"`
	Warning     *ConformanceFailure `json:"warning,omitempty"`
	SkipReason  string              `json:"skip_reason,omitempty"`
}

// WriteConformanceJSON writes run as indented JSON under
// ConformanceSchemaV1.
func WriteConformanceJSON(w io.Writer, run *ConformanceRun) error {
	out := *run
	out.Schema = ConformanceSchemaV1
	out.Started = out.Started.UTC()
	if out.Checks == nil {
		out.Checks = []ConformanceCheck{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(&out)
}

// FromConformanceJSON reads a conformance run (ciba-check/conformance/v1).
func FromConformanceJSON(r io.Reader) (*Model, error) {
	return decodeOnly(r, "conformance", ConformanceSchemaV1, decodeConformance)
}

func decodeConformance(data []byte) (*Model, error) {
	var c ConformanceRun
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("reports: %s does not parse: %w", ConformanceSchemaV1, err)
	}
	return FromConformance(&c)
}

// FromConformance maps a conformance run into a report model: what `run`
// renders from, and what a saved `run --json` file reads back into.
func FromConformance(c *ConformanceRun) (*Model, error) {
	m := &Model{
		Schema:      SchemaVersion,
		ToolVersion: c.Tool.Version,
		Target:      Target{Issuer: c.Target.Issuer, Profile: c.Target.Profile},
		Error:       c.Error,
		Checks:      make([]Check, 0, len(c.Checks)),
		Load:        []LoadRun{},
	}
	if !c.Started.IsZero() {
		m.GeneratedAt = c.Started.Add(time.Duration(c.Duration * float64(time.Second))).UTC()
	}
	if c.Target.Device != "" {
		m.Environment = map[string]string{"device": c.Target.Device}
	}
	if len(c.Target.OffHost) > 0 {
		if m.Environment == nil {
			m.Environment = map[string]string{}
		}
		m.Environment["endpoints off the issuer's host"] = strings.Join(c.Target.OffHost, "; ")
	}
	for i := range c.Checks {
		out, err := checkOfConformance(&c.Checks[i])
		if err != nil {
			return nil, err
		}
		m.Checks = append(m.Checks, out)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// checkOfConformance maps one check of a conformance run.
func checkOfConformance(in *ConformanceCheck) (Check, error) {
	out := Check{
		Name: in.Name, Group: in.Section, SpecRefs: in.SpecRefs, Modes: in.Modes, Auth: in.Auth,
		Negative: in.Negative, Should: in.Severity == "should" || in.Severity == "cert", OIDFModules: in.OIDFModules, DurationSeconds: in.Duration,
		Level: in.Level, Duty: in.Duty, Quote: in.Quote,
	}
	if f := in.Failure; f != nil {
		out.setFailure(f)
	}
	// Ginkgo's spec states: passed, skipped and pending are not
	// failures; panicked, interrupted, aborted, timedout are. warning
	// is ciba-check's own: a passed spec with an unmet SHOULD.
	switch in.Outcome {
	case string(Passed):
		out.Outcome = Passed
	case string(Warning):
		out.Outcome = Warning
		if w := in.Warning; w != nil {
			out.setFailure(w)
		}
	case string(Skipped):
		out.Outcome, out.Message = Skipped, in.SkipReason
	case "pending":
		out.Outcome, out.Message = Skipped, "pending: not implemented yet"
	case string(Failed):
		out.Outcome = Failed
	case "panicked", "interrupted", "aborted", "timedout":
		out.Outcome = Failed
		out.Message = strings.TrimSpace(in.Outcome + ": " + out.Message)
	default:
		return Check{}, fmt.Errorf("reports: %s: check %q has unknown outcome %q", ConformanceSchemaV1, in.Name, in.Outcome)
	}
	return out, nil
}

func (c *Check) setFailure(f *ConformanceFailure) {
	c.Message, c.Location = f.Message, f.Location
	c.Expected, c.Got, c.Exchanges = f.Expected, f.Got, f.Exchanges
}
