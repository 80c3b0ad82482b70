package reports

import (
	"fmt"
	"strings"
	"time"
)

// LoadRun is the result of one load run (or a merge of shards): what the
// load runner (suites/load) returns and every renderer reads. Its JSON
// tags are the load summary ciba-check/load/v1 (docs/load-schema.md), in
// its order: WriteLoadJSON writes it under a schema member. Inside a
// report model (ciba-check/report/v1) it adds the model's own members
// (MarshalJSON, json.go).
type LoadRun struct {
	// Name labels the run in the report; defaults to the scenario. Mode
	// is the CIBA delivery mode used ("poll", "ping", "push"). Both are
	// report model members only.
	Name string `json:"-"`
	Mode string `json:"-"`
	// Scenario is "poll", "flow-poll", "flow-ping" or "flow-push".
	Scenario string `json:"scenario"`
	// ToolVersion is the ciba-check that wrote a load summary; a run in a
	// model leaves it to the model's.
	ToolVersion string    `json:"tool_version,omitempty"`
	Target      string    `json:"target,omitempty"`
	ClientID    string    `json:"client_id,omitempty"`
	Shards      []string  `json:"shards,omitempty"`
	Started     time.Time `json:"started"`
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
	// Status, OAuthErrors and Thresholds are written empty when nil.
	Status map[string]uint64 `json:"status"`
	// OAuthErrors counts OAuth error codes of error answers (CIBA 11).
	OAuthErrors map[string]uint64 `json:"oauth_errors"`
	// Errors are the unexpected answers by kind, most frequent first.
	Errors []ErrorCount `json:"errors,omitempty"`
	// CPU is the generator's CPU use and Pool the assertion pool's work
	// (private_key_jwt runs); a merge of shards has neither.
	CPU  *LoadCPU  `json:"cpu,omitempty"`
	Pool *LoadPool `json:"assertion_pool,omitempty"`
	// Generator is what the load generator itself did (absent for merged
	// shards).
	Generator  *LoadGenerator `json:"generator,omitempty"`
	Thresholds []Threshold    `json:"thresholds"`
	// Passed is false when a threshold broke or the run was aborted.
	Passed bool `json:"passed"`
	// Aborted says why the run stopped early.
	Aborted string `json:"aborted,omitempty"`
	// Series is the run over time, in equal buckets, oldest first.
	Series []SeriesPoint `json:"series,omitempty"`
	// Histogram is the latency distribution in ascending bins.
	Histogram []HistogramBin `json:"histogram,omitempty"`
}

// LoadCPU is the load generator's CPU use.
type LoadCPU struct {
	// Seconds of user+system CPU of the process during the attack.
	Seconds float64 `json:"seconds"`
	// PerRequestMicros is Seconds per request (flow) sent (0: unknown).
	PerRequestMicros float64 `json:"per_request_us"`
	// IncludesTarget is set when the OP ran in the same process (the
	// embedded reference OP), so the figure is generator plus OP.
	IncludesTarget bool `json:"includes_target"`
	// Cores is GOMAXPROCS; Busy is Seconds over duration × Cores.
	Cores int     `json:"cores,omitempty"`
	Busy  float64 `json:"busy,omitempty"`
	// SharedWith names runs that went at the same time in the same
	// process: Seconds and PerRequestMicros are then their combined
	// figures.
	SharedWith []string `json:"shared_with,omitempty"`
	// Attribution, when set (load.AttributionSampled), says Seconds is
	// this scenario's own share of the process's CPU, sampled per mode
	// while modes ran at once, and ProcessSeconds the whole process's CPU
	// over those runs.
	Attribution    string  `json:"attribution,omitempty"`
	ProcessSeconds float64 `json:"process_seconds,omitempty"`
}

// LoadPool counts the work of the pool of pre-signed client assertions:
// signed, taken (each exactly once), stale (discarded unsent, too close
// to exp) and waits (times a request found the pool empty).
type LoadPool struct {
	Signed uint64 `json:"signed"`
	Taken  uint64 `json:"taken"`
	Stale  uint64 `json:"stale"`
	Waits  uint64 `json:"waits"`
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
// redials). WaitedForStream counts the requests that found every HTTP/2
// connection's stream budget in use and waited in the client for one
// (their latency includes the wait).
type LoadConnections struct {
	Opened          uint64 `json:"opened"`
	TLSHandshakes   uint64 `json:"tls_handshakes"`
	Resumed         uint64 `json:"resumed"`
	PeakOpen        uint64 `json:"peak_open"`
	WaitedForStream uint64 `json:"waited_for_stream,omitempty"`
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

// Mark is ✓ for a threshold that held, ✗ for one that broke.
func (t Threshold) Mark() string {
	if t.OK {
		return "✓"
	}
	return "✗"
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
