// Package reports holds ciba-check's one report model and its renderers:
// a self-contained HTML page, JUnit XML, versioned JSON and a Markdown
// summary sized for CI step summaries.
//
// Both producers map into the same Model: the conformance suite fills
// Checks, the load runner fills Load. Merge combines several models (a
// conformance run and load runs) into one report. Renderers never read
// the clock, the network or the environment: the same model always
// renders to the same bytes.
package reports

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// SchemaVersion identifies the JSON form of Model documented in
// docs/report-model.md. Fields are only ever added under v1; a change of
// meaning gets v2.
const SchemaVersion = "ciba-check/report/v1"

// Model is one report: where it ran, the conformance checks and the load
// runs. Either list may be empty.
type Model struct {
	// Schema is SchemaVersion; RenderJSON sets it.
	Schema string `json:"schema"`
	// ToolVersion is the ciba-check version that produced the results.
	ToolVersion string `json:"tool_version"`
	// GeneratedAt is when the results were produced (UTC).
	GeneratedAt time.Time `json:"generated_at"`
	Target      Target    `json:"target"`
	// Environment holds free-form facts about the run (Go version, OS,
	// runner, commit), shown sorted by key.
	Environment map[string]string `json:"environment,omitempty"`
	// Error is set when a run ended early (the target became
	// unreachable): the results are incomplete and the verdict unknown.
	Error  string    `json:"error,omitempty"`
	Checks []Check   `json:"checks"`
	Load   []LoadRun `json:"load"`
}

// Target is the OP under test.
type Target struct {
	// Issuer is the OP's issuer identifier.
	Issuer string `json:"issuer"`
	// Description says what it is, e.g. "embedded reference OP".
	Description string `json:"description,omitempty"`
	// Profile is what the run tested against: "FAPI-CIBA" or "CIBA Core"
	// (Core without FAPI); empty when the producer does not know.
	Profile string `json:"profile,omitempty"`
}

// Outcome is the verdict of one check.
type Outcome string

// The outcomes. A check the target cannot exercise is skipped with a
// reason, never passed. Warning is an unmet SHOULD-level expectation: it
// carries a message like a failure but does not fail the report, and it
// is never counted as passed.
const (
	Passed  Outcome = "passed"
	Warning Outcome = "warning"
	Failed  Outcome = "failed"
	Skipped Outcome = "skipped"
)

// Valid reports whether o is one of the four outcomes.
func (o Outcome) Valid() bool { return o == Passed || o == Warning || o == Failed || o == Skipped }

// Check is one conformance requirement and how the OP fared.
type Check struct {
	// Name is the check's text, unique within one conformance run.
	Name string `json:"name"`
	// Group is the heading the check sits under (the suite's Describe).
	Group string `json:"group,omitempty"`
	// SpecRefs are the sections the check proves, e.g. "CIBA-7.3",
	// "FAPI-CIBA-5.2.2-9"; the first is its primary section.
	SpecRefs []string `json:"spec_refs"`
	// Modes and Auth are the delivery modes and client authentication
	// methods exercised.
	Modes []string `json:"modes,omitempty"`
	Auth  []string `json:"auth,omitempty"`
	// Negative marks a check that sends a bad request on purpose.
	Negative bool `json:"negative,omitempty"`
	// Should marks a check of a SHOULD, MAY or judgement requirement:
	// its unmet expectation is a Warning, not a failure.
	Should bool `json:"should,omitempty"`
	// Level is the level of the requirement the check enforces: MUST (a
	// failure), SHOULD (a warning) or CERT (what only the OIDF
	// certification suite demands); Duty is whose duty it is (OP or
	// client); Quote is the sentence, with its section.
	Level string `json:"level,omitempty"`
	Duty  string `json:"duty,omitempty"`
	Quote string `json:"quote,omitempty"`
	// OIDFModules are the OpenID Foundation test modules it covers.
	OIDFModules []string `json:"oidf_modules,omitempty"`
	Outcome     Outcome  `json:"outcome"`
	// DurationSeconds is how long the check ran.
	DurationSeconds float64 `json:"duration_seconds"`
	// Message is the failure or warning message, or the reason a check
	// was skipped.
	Message string `json:"message,omitempty"`
	// Expected and Got, when the producer can separate them.
	Expected string `json:"expected,omitempty"`
	Got      string `json:"got,omitempty"`
	// Exchanges are the HTTP exchanges that show the failure, already
	// redacted by the producer.
	Exchanges []Exchange `json:"exchanges,omitempty"`
	// Location is where the failure was raised (file:line), if known.
	Location string `json:"location,omitempty"`
}

// Exchange is one HTTP request and its response.
type Exchange struct {
	Method          string   `json:"method"`
	URL             string   `json:"url"`
	RequestHeaders  []Header `json:"request_headers,omitempty"`
	RequestBody     string   `json:"request_body,omitempty"`
	Status          int      `json:"status"`
	ResponseHeaders []Header `json:"response_headers,omitempty"`
	ResponseBody    string   `json:"response_body,omitempty"`
	// Error is the transport error when there was no response.
	Error string `json:"error,omitempty"`
}

// Header is one header line; a list keeps the producer's order.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Counts are the check outcomes of a model.
type Counts struct {
	Passed, Warnings, Failed, Skipped int
}

// Total is the number of checks.
func (c Counts) Total() int { return c.Passed + c.Warnings + c.Failed + c.Skipped }

// Counts counts the checks by outcome.
func (m *Model) Counts() Counts {
	var c Counts
	for _, ch := range m.Checks {
		switch ch.Outcome {
		case Passed:
			c.Passed++
		case Warning:
			c.Warnings++
		case Failed:
			c.Failed++
		case Skipped:
			c.Skipped++
		}
	}
	return c
}

// TargetError reports the verdict of a run that ended as a target error
// before any result (exit 2: discovery failed, the preflight refused the
// configuration, the OP did not answer in time): Error says why, and
// there are neither checks nor load runs. Renderers show it as the
// verdict rather than as an empty report.
func (m *Model) TargetError() bool {
	return m.Error != "" && len(m.Checks) == 0 && len(m.Load) == 0
}

// Verdict is a model's verdict in one word.
type Verdict string

// The verdicts. Incomplete is a run that ended early (a target error
// too: Model.TargetError tells them apart); Empty has neither checks nor
// load runs; Unjudged holds only load runs without thresholds: nothing was
// judged, which is not a pass.
const (
	VerdictPassed     Verdict = "passed"
	VerdictFailed     Verdict = "failed"
	VerdictIncomplete Verdict = "incomplete"
	VerdictEmpty      Verdict = "empty"
	VerdictUnjudged   Verdict = "unjudged"
)

// Verdict is m's verdict, the one every renderer words its own way.
func (m *Model) Verdict() Verdict {
	switch {
	case m.Error != "":
		return VerdictIncomplete
	case len(m.Checks) == 0 && len(m.Load) == 0:
		return VerdictEmpty
	case m.LoadUnjudged():
		return VerdictUnjudged
	case m.Passed():
		return VerdictPassed
	}
	return VerdictFailed
}

// Passed reports whether no check failed and every load run passed: the
// exit-code verdict. Warnings do not fail it. A model with nothing in it, or from a run that ended
// early, has not passed.
func (m *Model) Passed() bool {
	if m.Error != "" || (len(m.Checks) == 0 && len(m.Load) == 0) {
		return false
	}
	for _, ch := range m.Checks {
		if ch.Outcome == Failed {
			return false
		}
	}
	for _, l := range m.Load {
		if !l.Passed {
			return false
		}
	}
	return true
}

// listItemRE matches the numbered-list suffix of a spec reference
// ("FAPI-CIBA-5.2.2-9" -> "-9").
var listItemRE = regexp.MustCompile(`^(.*-\d+(?:\.\d+)*)-\d+$`)

// Section is the check's primary spec section without a list item
// ("FAPI-CIBA-5.2.2-9" -> "FAPI-CIBA-5.2.2"), the JUnit classname and
// the row of the section matrix; "unreferenced" when there is none.
func (c *Check) Section() string {
	if len(c.SpecRefs) == 0 || strings.TrimSpace(c.SpecRefs[0]) == "" {
		return "unreferenced"
	}
	return SectionOf(c.SpecRefs[0])
}

// SectionOf strips the numbered-list item from a spec reference.
func SectionOf(ref string) string {
	ref = strings.TrimSpace(ref)
	if m := listItemRE.FindStringSubmatch(ref); m != nil {
		return m[1]
	}
	return ref
}

// Validate reports what makes m unrenderable: a nil model, an unknown
// outcome, a negative duration or count that cannot be right. Errors name
// the check or run.
func (m *Model) Validate() error {
	if m == nil {
		return errors.New("reports: no model")
	}
	var errs []error
	for i, c := range m.Checks {
		name := c.Name
		if name == "" {
			errs = append(errs, fmt.Errorf("check %d has no name", i+1))
			name = fmt.Sprintf("#%d", i+1)
		}
		if !c.Outcome.Valid() {
			errs = append(errs, fmt.Errorf("check %q: outcome %q is not passed, warning, failed or skipped", name, c.Outcome))
		}
		if c.DurationSeconds < 0 {
			errs = append(errs, fmt.Errorf("check %q: negative duration %v", name, c.DurationSeconds))
		}
	}
	for i, l := range m.Load {
		if l.DurationSeconds < 0 {
			errs = append(errs, fmt.Errorf("load run %d (%s): negative duration %v", i+1, l.Label(), l.DurationSeconds))
		}
		for j, p := range l.Series {
			if p.BucketSeconds <= 0 {
				errs = append(errs, fmt.Errorf("load run %d (%s): series point %d has bucket_seconds %v, want > 0", i+1, l.Label(), j+1, p.BucketSeconds))
				break
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("reports: invalid model: %w", errors.Join(errs...))
	}
	return nil
}

// Merge combines models into one report: checks and load runs in the
// order given, the latest GeneratedAt, and the first non-empty tool
// version and target. Environment entries of later models fill keys the
// earlier ones lack. Nil models are ignored; the inputs are not changed.
func Merge(models ...*Model) *Model {
	out := &Model{Schema: SchemaVersion, Checks: []Check{}, Load: []LoadRun{}}
	for _, m := range models {
		if m == nil {
			continue
		}
		if out.ToolVersion == "" {
			out.ToolVersion = m.ToolVersion
		}
		if out.Target.Issuer == "" && out.Target.Description == "" {
			out.Target = m.Target
		}
		if m.Error != "" {
			out.Error = strings.TrimPrefix(out.Error+"; "+m.Error, "; ")
		}
		if m.GeneratedAt.After(out.GeneratedAt) {
			out.GeneratedAt = m.GeneratedAt
		}
		for k, v := range m.Environment {
			if out.Environment == nil {
				out.Environment = map[string]string{}
			}
			if _, ok := out.Environment[k]; !ok {
				out.Environment[k] = v
			}
		}
		out.Checks = append(out.Checks, cloneChecks(m.Checks)...)
		out.Load = append(out.Load, m.Load...)
	}
	return out
}

func cloneChecks(cs []Check) []Check {
	out := slices.Clone(cs)
	for i := range out {
		out[i].SpecRefs = slices.Clone(out[i].SpecRefs)
		out[i].Exchanges = slices.Clone(out[i].Exchanges)
	}
	return out
}

// Count writes n with the noun in singular or plural: "1 warning",
// "2 warnings", "0 warnings".
func Count(n int, singular, plural string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, singular)
	}
	return fmt.Sprintf("%d %s", n, plural)
}
