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

// LoadRun is the result of one load run (or a merge of shards). Its
// fields mirror the load runner's summary (ciba-check/load/v1) and add
// the time series and histogram the charts draw.
type LoadRun struct {
	// Name labels the run in the report; defaults to the scenario.
	Name string `json:"name"`
	// Scenario is "poll", "flow-poll" or "flow-ping".
	Scenario string `json:"scenario"`
	// Mode is the CIBA delivery mode used ("poll", "ping").
	Mode     string    `json:"mode,omitempty"`
	Target   string    `json:"target,omitempty"`
	ClientID string    `json:"client_id,omitempty"`
	Shards   []string  `json:"shards,omitempty"`
	Started  time.Time `json:"started"`
	// DurationSeconds is the measured wall time, drain included;
	// SendSeconds the window requests (flows) were started in.
	DurationSeconds float64   `json:"duration_seconds"`
	SendSeconds     float64   `json:"send_seconds,omitempty"`
	Rate            LoadRate  `json:"rate"`
	Requests        LoadCount `json:"requests"`
	// ErrorRate is Requests.Unexpected / Requests.Sent.
	ErrorRate float64 `json:"error_rate"`
	// LatencyMS is per request for poll, end to end for flows.
	LatencyMS Latency `json:"latency_ms"`
	// ApprovalToTokenMS is, for flows, the device's approval to the tokens.
	ApprovalToTokenMS *Latency `json:"approval_to_token_ms,omitempty"`
	// Status counts HTTP status codes ("0" is a transport failure).
	Status map[string]uint64 `json:"status,omitempty"`
	// OAuthErrors counts OAuth error codes of error answers (CIBA 11).
	OAuthErrors map[string]uint64 `json:"oauth_errors,omitempty"`
	// Errors are the unexpected answers by kind, most frequent first.
	Errors     []ErrorCount `json:"errors,omitempty"`
	Thresholds []Threshold  `json:"thresholds,omitempty"`
	// CPUPerRequestMicros is the generator's CPU per request (0: unknown).
	CPUPerRequestMicros float64 `json:"cpu_per_request_us,omitempty"`
	// CPUSharedWith names runs that went at the same time in the same
	// process: CPUPerRequestMicros is then their combined figure.
	CPUSharedWith []string `json:"cpu_shared_with,omitempty"`
	// Generator is what the load generator itself did (absent for merged
	// shards).
	Generator *LoadGenerator `json:"generator,omitempty"`
	// Passed is false when a threshold broke or the run was aborted.
	Passed bool `json:"passed"`
	// Aborted says why the run stopped early.
	Aborted string `json:"aborted,omitempty"`
	// Series is the run over time, in equal buckets, oldest first.
	Series []SeriesPoint `json:"series,omitempty"`
	// Histogram is the latency distribution in ascending bins.
	Histogram []HistogramBin `json:"histogram,omitempty"`
}

// LoadGenerator is what the load generator itself did: the generator
// member of a load summary (suites/load uses this type).
type LoadGenerator struct {
	// MaxInFlight is the cap on requests (flows) in flight; PeakInFlight
	// the most there were at once.
	MaxInFlight  int    `json:"max_in_flight"`
	PeakInFlight uint64 `json:"peak_in_flight"`
	// WarmUpMS is the median latency of the warm-up polls the default cap
	// was sized from (0: no warm-up, the cap was given or the rate is max).
	WarmUpMS float64 `json:"warm_up_ms,omitempty"`
	// DroppedAtCap are hits due while the cap was full; DroppedLate hits
	// the generator itself reached too late. Requests.Dropped is their sum.
	DroppedAtCap uint64 `json:"dropped_at_cap"`
	DroppedLate  uint64 `json:"dropped_late"`
	// Connections of the run; absent when not counted.
	Connections *LoadConnections `json:"connections,omitempty"`
	// Saturated: the generator, not the OP, was the bottleneck (it
	// dropped hits, its in-flight requests reached the cap at a fixed
	// rate, or its CPU was saturated); Verdict says so in words and
	// Reasons why.
	Saturated bool     `json:"saturated"`
	Reasons   []string `json:"reasons,omitempty"`
	Verdict   string   `json:"verdict,omitempty"`
}

// LoadConnections are the connections of a run: opened (TCP) and TLS
// handshakes completed, Resumed of them resuming a session, and PeakOpen,
// the most open at once (what the per-host cap bounds; Opened also counts
// redials).
type LoadConnections struct {
	Opened        uint64 `json:"opened"`
	TLSHandshakes uint64 `json:"tls_handshakes"`
	Resumed       uint64 `json:"resumed"`
	PeakOpen      uint64 `json:"peak_open"`
}

// SaturationNote is the sentence a report shows for a run whose generator
// was saturated ("" otherwise).
func (l *LoadRun) SaturationNote() string {
	g := l.Generator
	if g == nil || !g.Saturated {
		return ""
	}
	if len(g.Reasons) == 0 {
		return g.Verdict
	}
	return g.Verdict + " (" + strings.Join(g.Reasons, "; ") + ")"
}

// LoadRate are the rates of a run, per second.
type LoadRate struct {
	// Requested is the rate as asked for ("2000/s", "max").
	Requested string `json:"requested"`
	// Intended is the requested rate per second (0 for max).
	Intended float64 `json:"intended"`
	Sent     float64 `json:"sent"`
	// Achieved is successful answers per second.
	Achieved float64 `json:"achieved"`
}

// LoadCount counts requests (or flows).
type LoadCount struct {
	Intended   uint64 `json:"intended"`
	Sent       uint64 `json:"sent"`
	Dropped    uint64 `json:"dropped"`
	OK         uint64 `json:"ok"`
	Expected   uint64 `json:"expected"`
	Unexpected uint64 `json:"unexpected"`
}

// Latency is a latency distribution in milliseconds.
type Latency struct {
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

// ErrorCount is one kind of unexpected answer.
type ErrorCount struct {
	Error string `json:"error"`
	Count uint64 `json:"count"`
}

// Threshold is a pass/fail criterion and what was measured.
type Threshold struct {
	// Expr is the threshold as given, e.g. "p(99)<50ms".
	Expr string `json:"expr"`
	// Value is the measured value in Unit ("ms", "/s", "ratio").
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	OK    bool    `json:"ok"`
}

// SeriesPoint is one time bucket of a load run.
type SeriesPoint struct {
	// OffsetSeconds is the bucket's start after the run's start.
	OffsetSeconds float64 `json:"offset_seconds"`
	// Sent, OK (successful or expected answers) and Unexpected count the
	// bucket's requests; divide by BucketSeconds for rates.
	BucketSeconds float64 `json:"bucket_seconds"`
	Sent          uint64  `json:"sent"`
	OK            uint64  `json:"ok"`
	Unexpected    uint64  `json:"unexpected"`
	P50MS         float64 `json:"p50_ms"`
	P99MS         float64 `json:"p99_ms"`
}

// HistogramBin counts latencies up to UpToMS (above the previous bin).
type HistogramBin struct {
	UpToMS float64 `json:"up_to_ms"`
	Count  uint64  `json:"count"`
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

// Label is the run's display name.
func (l *LoadRun) Label() string {
	if l.Name != "" {
		return l.Name
	}
	if l.Scenario != "" {
		return l.Scenario
	}
	return "load run"
}

// IsFlow says the run measured complete flows (load flow), not polls.
func (l *LoadRun) IsFlow() bool { return strings.HasPrefix(l.Scenario, "flow") }

// UnitName is what the run counts, singular: "request" or "flow".
func (l *LoadRun) UnitName() string {
	if l.IsFlow() {
		return "flow"
	}
	return "request"
}

// JudgedLatency is the latency the run's latency thresholds are judged on,
// with its name: per request for poll runs, approval → token for flows
// (when measured; else end to end).
func (l *LoadRun) JudgedLatency() (Latency, string) {
	if l.IsFlow() {
		if l.ApprovalToTokenMS != nil {
			return *l.ApprovalToTokenMS, "approval → token"
		}
		return l.LatencyMS, "request → tokens"
	}
	return l.LatencyMS, "per request"
}

// Verdict of one load run, in words: "failed" (a threshold broke),
// "interrupted" or "aborted: ..." (stopped early), "no thresholds" (nothing
// was judged: not a pass), or "passed".
func (l *LoadRun) Verdict() string {
	switch {
	case l.Aborted == "interrupted":
		return "interrupted"
	case l.Aborted != "":
		return "aborted: " + l.Aborted
	case !l.Passed:
		return "failed"
	case len(l.Thresholds) == 0:
		return "no thresholds"
	}
	return "passed"
}

// Warnings are what a reader must know even when no threshold broke:
// dropped requests or flows (the generator could not start them on time,
// so the OP saw less load than asked for).
func (l *LoadRun) Warnings() []string {
	var out []string
	if d := l.Requests.Dropped; d > 0 {
		msg := fmt.Sprintf("%d %ss dropped", d, l.UnitName())
		if l.Requests.Intended > 0 {
			msg = fmt.Sprintf("%d of %d intended %ss dropped (%s)", d, l.Requests.Intended, l.UnitName(), fmtPct(float64(d)/float64(l.Requests.Intended)))
		}
		out = append(out, msg+": the generator could not start them on time, so the OP saw less load than asked for")
	}
	return out
}

// LoadUnjudged says the model holds only load runs, none of which set a
// threshold or stopped early: nothing was judged, so it neither passed
// nor failed.
func (m *Model) LoadUnjudged() bool {
	if len(m.Checks) > 0 || len(m.Load) == 0 || m.Error != "" {
		return false
	}
	for i := range m.Load {
		if v := m.Load[i].Verdict(); v != "no thresholds" {
			return false
		}
	}
	return true
}

// LoadVerdictLine sums up the load runs in one phrase: how many held
// their thresholds, how many had none, and the dropped-load warnings.
func (m *Model) LoadVerdictLine() string {
	judged, held, none, stopped := 0, 0, 0, 0
	for i := range m.Load {
		switch m.Load[i].Verdict() {
		case "passed":
			judged++
			held++
		case "failed":
			judged++
		case "no thresholds":
			none++
		default:
			stopped++
		}
	}
	var parts []string
	if judged > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d load runs with thresholds held them", held, judged))
	}
	if none > 0 {
		parts = append(parts, Count(none, "load run", "load runs")+" with no thresholds set")
	}
	if stopped > 0 {
		parts = append(parts, Count(stopped, "load run", "load runs")+" stopped early")
	}
	return strings.Join(parts, ", ")
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
