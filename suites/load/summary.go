package load

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/ciba-check/ciba-check/reports"
)

// SchemaV1 identifies the summary format documented in docs/load-schema.md
// (reports.LoadSchemaV1, which `report render` reads). Fields are only
// ever added under v1; a change in meaning gets v2.
const SchemaV1 = reports.LoadSchemaV1

// Summary is the end-of-run result of a load run or a merge.
type Summary struct {
	Schema      string   `json:"schema"`
	Scenario    Scenario `json:"scenario"`
	ToolVersion string   `json:"tool_version,omitempty"`
	// Target is the OP's issuer; ClientID the client that made the requests.
	Target   string `json:"target,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	// Shards lists the shards ("i/n") the results came from; empty for an
	// unsharded run.
	Shards  []string  `json:"shards,omitempty"`
	Started time.Time `json:"started"`
	// Duration is the measured wall time in seconds, including the drain
	// of requests (flows) still in flight after the last was sent.
	Duration float64 `json:"duration_seconds"`
	// SendSeconds is the window in which requests (flows) were started:
	// the planned duration, or less when the run ended early.
	SendSeconds float64     `json:"send_seconds,omitempty"`
	Rate        RateSummary `json:"rate"`
	Requests    Counts      `json:"requests"`
	// ErrorRate is Requests.Unexpected / Requests.Sent.
	ErrorRate float64 `json:"error_rate"`
	// Latency is per request for poll, end to end (request to tokens) for
	// flows.
	Latency LatencySummary `json:"latency_ms"`
	// ApprovalToToken is, for flows, the time from the device's approval
	// to the tokens (the poll-vs-ping comparison).
	ApprovalToToken *LatencySummary `json:"approval_to_token_ms,omitempty"`
	// Status counts HTTP status codes ("0" is a transport failure).
	Status map[string]uint64 `json:"status"`
	// OAuthErrors counts the error codes of error answers (CIBA 11).
	OAuthErrors map[string]uint64 `json:"oauth_errors"`
	// Errors are the unexpected answers by kind, most frequent first.
	Errors []ErrorCount `json:"errors,omitempty"`
	CPU    *CPUSummary  `json:"cpu,omitempty"`
	Pool   *PoolStats   `json:"assertion_pool,omitempty"`
	// Generator is what the load generator itself did: its in-flight cap,
	// connections and whether it, not the OP, was the bottleneck. Absent
	// from a merge (the results files do not carry it).
	Generator  *GeneratorSummary `json:"generator,omitempty"`
	Thresholds []ThresholdResult `json:"thresholds"`
	// Passed is false when a threshold broke.
	Passed bool `json:"passed"`
	// Aborted says why the run stopped early ("threshold", "interrupted").
	Aborted string `json:"aborted,omitempty"`
	// Series is the run over time in equal buckets, oldest first, and
	// Histogram the distribution of Latency; both are absent without
	// results.
	Series    []SeriesPoint  `json:"series,omitempty"`
	Histogram []HistogramBin `json:"histogram,omitempty"`
}

// The parts of a summary are the report model's types (reports.LoadRun's
// members), so a summary's figures are defined once: the JSON names and
// order are those of docs/load-schema.md.
type (
	// RateSummary are the rates of a run, per second. Sent is requests
	// (flows) started per second of the send window (SendSeconds);
	// Achieved is successful answers per second of the whole run
	// (Duration, drain included): the `rate` of thresholds.
	RateSummary = reports.LoadRate
	// Counts are how many requests (flows) there were.
	Counts = reports.LoadCount
	// LatencySummary is a latency distribution in milliseconds.
	LatencySummary = reports.Latency
	// ErrorCount is one kind of unexpected answer.
	ErrorCount = reports.ErrorCount
	// ConnectionCounts are the connections of a run.
	ConnectionCounts = reports.LoadConnections
)

// CPUSummary is the load generator's CPU use.
type CPUSummary struct {
	// Seconds of user+system CPU of the process during the attack.
	Seconds float64 `json:"seconds"`
	// PerRequestMicros is Seconds per sent request, in microseconds.
	PerRequestMicros float64 `json:"per_request_us"`
	// IncludesTarget is set when the OP ran in the same process (the
	// embedded reference OP), so the figure is generator plus OP.
	IncludesTarget bool `json:"includes_target"`
	// Cores is GOMAXPROCS; Busy is Seconds over duration × Cores.
	Cores int     `json:"cores,omitempty"`
	Busy  float64 `json:"busy,omitempty"`
	// SharedWith names the other scenarios that ran at the same time in
	// the same process (load flow --mode both) when their CPU could not
	// be sampled per mode (cpu_attr.go): Seconds is then their combined
	// figure and PerRequestMicros is it over the requests (flows) of all
	// of them.
	SharedWith []Scenario `json:"shared_with,omitempty"`
	// Attribution, when set (AttributionSampled), says Seconds is this
	// scenario's own share of the process's CPU, sampled per mode while
	// modes ran at once (cpu_attr.go), and ProcessSeconds the whole
	// process's CPU over those runs.
	Attribution    string  `json:"attribution,omitempty"`
	ProcessSeconds float64 `json:"process_seconds,omitempty"`
}

// SaturatedVerdict is the verdict of a run whose generator was the
// bottleneck. The figures then say what the generator managed, not what
// the OP can take.
const SaturatedVerdict = "generator saturated: figures are a lower bound on the OP's capacity"

// SaturatedCPU is the share of the cores above which the generator's CPU
// counts as saturated.
const SaturatedCPU = 0.9

// GeneratorSummary is what the load generator itself did
// (reports.LoadGenerator, with the methods that fill it). Saturated is
// set when the generator was the bottleneck: it dropped hits, its
// in-flight requests reached the cap at a fixed rate, or its CPU was busy
// over SaturatedCPU of the cores (only judged when the OP ran elsewhere).
// Reasons say which; Verdict is SaturatedVerdict, for reports to quote.
type GeneratorSummary reports.LoadGenerator

func (g *GeneratorSummary) setConns(st *ConnStats, before ConnCounts) {
	if st == nil {
		return
	}
	now := st.Counts()
	g.Connections = &ConnectionCounts{
		Opened: now.Opened - before.Opened, TLSHandshakes: now.Handshakes - before.Handshakes, Resumed: now.Resumed - before.Resumed,
		PeakOpen: now.PeakOpen,
	}
}

// judge sets Saturated and Reasons from the run's figures.
func (g *GeneratorSummary) judge(s *Summary, rateMax bool) {
	g.Reasons = nil
	if !rateMax {
		if d := s.Requests.Dropped; d > 0 {
			g.Reasons = append(g.Reasons, fmt.Sprintf("%d of %d intended hits dropped (could not start on time)", d, s.Requests.Intended))
		}
		if g.MaxInFlight > 0 && g.PeakInFlight >= uint64(g.MaxInFlight) {
			g.Reasons = append(g.Reasons, fmt.Sprintf("in-flight reached the cap of %d (--max-in-flight)", g.MaxInFlight))
		}
	}
	if c := s.CPU; c != nil && !c.IncludesTarget && c.Busy >= SaturatedCPU {
		g.Reasons = append(g.Reasons, fmt.Sprintf("generator CPU %.0f%% of %d cores", c.Busy*100, c.Cores))
	}
	g.Saturated = len(g.Reasons) > 0
	g.Verdict = ""
	if g.Saturated {
		g.Verdict = SaturatedVerdict
	}
}

func durMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// WriteJSON writes s as indented JSON.
func (s *Summary) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// ReadSummary decodes a summary and checks its schema.
func ReadSummary(r io.Reader) (*Summary, error) {
	var s Summary
	if err := json.NewDecoder(r).Decode(&s); err != nil {
		return nil, fmt.Errorf("load: summary does not parse: %w", err)
	}
	if s.Schema != SchemaV1 {
		return nil, fmt.Errorf("load: summary schema %q is not %s", s.Schema, SchemaV1)
	}
	return &s, nil
}

// WriteText writes the human end-of-run report, k6-style: the figures,
// then every threshold with ✓ or ✗ and the value measured.
func (s *Summary) WriteText(w io.Writer) error {
	b := &strings.Builder{}
	unit := "requests"
	if s.Scenario != ScenarioPoll {
		unit = "flows"
	}
	fmt.Fprintf(b, "scenario      %s", s.Scenario)
	if s.ClientID != "" {
		fmt.Fprintf(b, " (client %s)", s.ClientID)
	}
	b.WriteString("\n")
	if s.Target != "" {
		fmt.Fprintf(b, "target        %s\n", s.Target)
	}
	if len(s.Shards) > 0 {
		fmt.Fprintf(b, "shards        %s\n", strings.Join(s.Shards, " "))
	}
	fmt.Fprintf(b, "duration      %.2fs\n", s.Duration)
	if drain := s.Duration - s.SendSeconds; s.SendSeconds > 0 && drain >= 0.005 {
		fmt.Fprintf(b, "rate          requested %s, sent %.1f/s over %.2fs, achieved %.1f/s over %.2fs (incl. %.2fs draining in-flight %s)\n",
			s.Rate.Requested, s.Rate.Sent, s.SendSeconds, s.Rate.Achieved, s.Duration, drain, unit)
	} else {
		fmt.Fprintf(b, "rate          requested %s, sent %.1f/s, achieved %.1f/s\n", s.Rate.Requested, s.Rate.Sent, s.Rate.Achieved)
	}
	fmt.Fprintf(b, "%-13s intended %d, sent %d, dropped %d\n", unit, s.Requests.Intended, s.Requests.Sent, s.Requests.Dropped)
	fmt.Fprintf(b, "answers       ok %d, expected %d, unexpected %d (error rate %.4f%%)\n",
		s.Requests.OK, s.Requests.Expected, s.Requests.Unexpected, s.ErrorRate*100)
	latName := "latency"
	if s.Scenario != ScenarioPoll {
		latName = "end-to-end"
	}
	writeLatency(b, latName, s.Latency)
	if s.ApprovalToToken != nil {
		writeLatency(b, "approval→token", *s.ApprovalToToken)
	}
	fmt.Fprintf(b, "status        %s\n", countList(s.Status))
	if len(s.OAuthErrors) > 0 {
		fmt.Fprintf(b, "oauth errors  %s\n", countList(s.OAuthErrors))
	}
	for _, e := range s.Errors {
		fmt.Fprintf(b, "  unexpected  %d × %s\n", e.Count, e.Error)
	}
	if s.CPU != nil {
		fmt.Fprintf(b, "cpu           %.2fs, %.0fµs per %s", s.CPU.Seconds, s.CPU.PerRequestMicros, strings.TrimSuffix(unit, "s"))
		if s.CPU.Cores > 0 {
			fmt.Fprintf(b, ", %.0f%% of %d cores", s.CPU.Busy*100, s.CPU.Cores)
		}
		if s.CPU.IncludesTarget {
			b.WriteString(" (includes the embedded OP)")
		}
		if len(s.CPU.SharedWith) > 0 {
			fmt.Fprintf(b, " (one figure for %s and %s: they ran at once in one process)", s.Scenario, scenarioList(s.CPU.SharedWith))
		}
		if s.CPU.Attribution != "" {
			fmt.Fprintf(b, " (this mode's own, %s; the process used %.2fs)", s.CPU.Attribution, s.CPU.ProcessSeconds)
		}
		b.WriteString("\n")
	}
	if g := s.Generator; g != nil {
		fmt.Fprintf(b, "in flight     peak %d of cap %d", g.PeakInFlight, g.MaxInFlight)
		if g.WarmUpMS > 0 {
			fmt.Fprintf(b, " (cap sized from a %s warm-up latency)", ms(g.WarmUpMS))
		}
		if g.DroppedAtCap+g.DroppedLate > 0 {
			fmt.Fprintf(b, "; dropped %d at the cap, %d late", g.DroppedAtCap, g.DroppedLate)
		}
		b.WriteString("\n")
		if c := g.Connections; c != nil {
			fmt.Fprintf(b, "connections   %d opened (at most %d at once), %d TLS handshakes (%d resumed)\n", c.Opened, c.PeakOpen, c.TLSHandshakes, c.Resumed)
		}
	}
	if s.Pool != nil {
		fmt.Fprintf(b, "assertions    signed %d, used %d, discarded stale %d, pool empty %d times\n",
			s.Pool.Signed, s.Pool.Taken, s.Pool.Stale, s.Pool.Waits)
	}
	if s.Aborted != "" {
		fmt.Fprintf(b, "aborted       %s\n", s.Aborted)
	}
	if d := s.Requests.Dropped; d > 0 {
		fmt.Fprintf(b, "warning       %d of %d intended %s dropped (%.1f%%): the OP saw less load than asked for\n",
			d, s.Requests.Intended, unit, float64(d)*100/float64(max(s.Requests.Intended, 1)))
	}
	if g := s.Generator; g != nil && g.Saturated {
		fmt.Fprintf(b, "verdict       %s (%s)\n", SaturatedVerdict, strings.Join(g.Reasons, "; "))
	}
	if len(s.Thresholds) == 0 {
		b.WriteString("thresholds    none set: nothing was judged\n")
	}
	if len(s.Thresholds) > 0 {
		b.WriteString("thresholds\n")
		for _, t := range s.Thresholds {
			mark := "✓"
			if !t.OK {
				mark = "✗"
			}
			fmt.Fprintf(b, "  %s %s  (measured %s)\n", mark, t.Expr, formatValue(t))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func scenarioList(ss []Scenario) string {
	parts := make([]string, len(ss))
	for i, sc := range ss {
		parts[i] = string(sc)
	}
	return strings.Join(parts, ", ")
}

func writeLatency(b *strings.Builder, name string, l LatencySummary) {
	fmt.Fprintf(b, "%-13s min %s, avg %s, p50 %s, p90 %s, p99 %s, max %s\n", name,
		ms(l.Min), ms(l.Mean), ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max))
}

func ms(v float64) string {
	return time.Duration(v * float64(time.Millisecond)).Round(10 * time.Microsecond).String()
}

func formatValue(t ThresholdResult) string {
	switch t.Unit {
	case "ms":
		return ms(t.Value)
	case "/s":
		return fmt.Sprintf("%.1f/s", t.Value)
	default:
		return fmt.Sprintf("%.4f", t.Value)
	}
}

func countList(m map[string]uint64) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s×%d", k, m[k]))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// ProcessCPU is the user+system CPU time the process has used so far;
// false where it cannot be measured.
func ProcessCPU() (time.Duration, bool) { return processCPU() }

// ShareCPU sets, on summaries of runs that went at the same time in one
// process (load flow --mode both), the CPU the process used over all of
// them: one combined figure, for when it cannot be sampled per mode. PerRequestMicros is it over the requests (flows) of all the
// runs; each names the others in SharedWith. Nil summaries are skipped.
func ShareCPU(sums []*Summary, cpu time.Duration) { shareCPUOn(sums, cpu, runtime.GOMAXPROCS(0)) }

// shareCPUOn is ShareCPU with the cores given.
func shareCPUOn(sums []*Summary, cpu time.Duration, cores int) {
	var sent uint64
	var dur float64
	var all []Scenario
	for _, s := range sums {
		if s != nil {
			sent += s.Requests.Sent
			dur = max(dur, s.Duration)
			all = append(all, s.Scenario)
		}
	}
	for _, s := range sums {
		if s == nil {
			continue
		}
		c := CPUSummary{Seconds: cpu.Seconds(), Cores: cores, IncludesTarget: s.CPU != nil && s.CPU.IncludesTarget}
		if sent > 0 {
			c.PerRequestMicros = c.Seconds * 1e6 / float64(sent)
		}
		if dur > 0 {
			c.Busy = c.Seconds / (dur * float64(cores))
		}
		for _, o := range all {
			if o != s.Scenario {
				c.SharedWith = append(c.SharedWith, o)
			}
		}
		s.CPU = &c
		if s.Generator != nil {
			g := *s.Generator
			g.judge(s, s.Rate.Requested == "max")
			s.Generator = &g
		}
	}
}
