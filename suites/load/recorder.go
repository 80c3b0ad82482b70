package load

import (
	"cmp"
	"encoding/json"
	"maps"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/reports"
)

// Scenario names what a run measured; results of different scenarios do
// not mix.
type Scenario string

// The scenarios.
const (
	ScenarioPoll     Scenario = "poll"      // token endpoint polls of pending requests
	ScenarioFlowPoll Scenario = "flow-poll" // whole flows, tokens fetched by polling
	ScenarioFlowPing Scenario = "flow-ping" // whole flows, tokens fetched on the ping
)

func (s Scenario) valid() bool {
	return s == ScenarioPoll || s == ScenarioFlowPoll || s == ScenarioFlowPing
}

// Class is how an answer counts.
type Class int

// The classes.
const (
	// ClassOK: tokens were issued (a flow completed).
	ClassOK Class = iota
	// ClassExpected: authorization_pending or slow_down to a poll (CIBA
	// 11): the OP answered correctly that there is nothing yet.
	ClassExpected
	// ClassUnexpected: anything else (transport failure, other status or
	// OAuth error); these make up the error share.
	ClassUnexpected
)

// HeaderApprovalToToken carries, on a flow's result, the nanoseconds from
// the device's approval to the tokens; vegeta encodes headers, so it
// survives --output and merge.
const HeaderApprovalToToken = "Ciba-Check-Approval-To-Token"

// MethodFlow marks a result that is a whole flow rather than one request.
const MethodFlow = "FLOW"

// Classify says how res counts in scenario and which OAuth error code it
// carried ("" when none).
func Classify(scenario Scenario, res *vegeta.Result) (Class, string) {
	code := oauthErrorCode(res.Body)
	if scenario != ScenarioPoll {
		if res.Code == http.StatusOK && res.Error == "" {
			return ClassOK, code
		}
		return ClassUnexpected, code
	}
	switch {
	case res.Code == http.StatusOK:
		return ClassOK, code
	case res.Code == http.StatusBadRequest &&
		(code == ciba.ErrAuthorizationPending.Code || code == ciba.ErrSlowDown.Code):
		return ClassExpected, code
	}
	return ClassUnexpected, code
}

func oauthErrorCode(body []byte) string {
	if len(body) == 0 || body[0] != '{' {
		return ""
	}
	var e ciba.ErrorResponse
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return e.Error
}

// maxErrorKinds bounds the distinct unexpected-error texts kept.
const maxErrorKinds = 20

// Recorder folds results into vegeta.Metrics plus what vegeta does not
// count: classes, OAuth error codes, approval-to-token latency, and the
// run over time with its latency histogram (series.go). It is safe
// for concurrent use.
type Recorder struct {
	scenario Scenario

	mu         sync.Mutex
	m          vegeta.Metrics
	approval   vegeta.LatencyMetrics
	approvalN  uint64
	classes    [3]uint64
	oauth      map[string]uint64
	errs       map[string]uint64
	otherErrs  uint64
	start, end time.Time
	series     seriesRecorder
}

// NewRecorder returns an empty recorder for scenario.
func NewRecorder(scenario Scenario) *Recorder {
	return &Recorder{scenario: scenario, oauth: map[string]uint64{}, errs: map[string]uint64{}, series: newSeriesRecorder()}
}

// Add records one result and returns its class.
func (r *Recorder) Add(res *vegeta.Result) Class {
	class, code := Classify(r.scenario, res)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m.Add(res)
	r.classes[class]++
	r.series.add(res.Timestamp, res.Latency, class)
	if code != "" {
		r.oauth[code]++
	}
	if class == ClassUnexpected {
		msg := res.Error
		if code != "" {
			msg = strconv.Itoa(int(res.Code)) + " " + code
		}
		if msg == "" {
			msg = "HTTP " + strconv.Itoa(int(res.Code))
		}
		if _, ok := r.errs[msg]; ok || len(r.errs) < maxErrorKinds {
			r.errs[msg]++
		} else {
			r.otherErrs++
		}
	}
	if v := res.Headers.Get(HeaderApprovalToToken); v != "" && class == ClassOK {
		if ns, err := strconv.ParseInt(v, 10, 64); err == nil && ns >= 0 {
			r.approval.Add(time.Duration(ns))
			r.approvalN++
		}
	}
	if r.start.IsZero() || res.Timestamp.Before(r.start) {
		r.start = res.Timestamp
	}
	if e := res.End(); e.After(r.end) {
		r.end = e
	}
	return class
}

// Count is how many results were recorded.
func (r *Recorder) Count() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m.Requests
}

// span is the time from the first result's start to the last one's end.
func (r *Recorder) span() time.Duration { return r.end.Sub(r.start) }

// measuresLocked builds the threshold inputs over elapsed (0: the span
// of the results).
func (r *Recorder) measuresLocked(elapsed time.Duration) Measures {
	if elapsed <= 0 {
		elapsed = r.span()
	}
	total := r.m.Requests
	ms := Measures{Count: total}
	if elapsed > 0 {
		ms.Rate = float64(r.classes[ClassOK]+r.classes[ClassExpected]) / elapsed.Seconds()
	}
	if total > 0 {
		ms.Errors = float64(r.classes[ClassUnexpected]) / float64(total)
	}
	if r.scenario == ScenarioPoll {
		lat := r.m.Latencies
		if total > 0 {
			lat.Mean = lat.Total / time.Duration(total)
		}
		ms.Latency = &lat
	} else {
		lat := r.approval
		if r.approvalN > 0 {
			lat.Mean = lat.Total / time.Duration(r.approvalN)
		} else {
			// No completed flow: latency thresholds have nothing to hold on.
			ms.Count = 0
		}
		ms.Latency = &lat
	}
	return ms
}

// Evaluate evaluates ts over elapsed (0: the span of the results).
func (r *Recorder) Evaluate(ts []Threshold, elapsed time.Duration) ([]ThresholdResult, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.evaluateLocked(ts, elapsed)
}

func (r *Recorder) evaluateLocked(ts []Threshold, elapsed time.Duration) ([]ThresholdResult, bool) {
	ms := r.measuresLocked(elapsed)
	ok := true
	out := []ThresholdResult{}
	for _, t := range ts {
		m := ms
		if t.Metric != "latency" {
			m.Count = r.m.Requests
		}
		res := t.Evaluate(m)
		ok = ok && res.OK
		out = append(out, res)
	}
	return out, ok
}

// Snapshot is the live state the progress line shows.
type Snapshot struct {
	Elapsed, Total time.Duration
	Count          uint64
	// Rate is successful answers per second; P99 of the thresholds' latency.
	Rate       float64
	P99        time.Duration
	Unexpected uint64
	Dropped    uint64
}

// Snapshot reads the live state after elapsed.
func (r *Recorder) Snapshot(elapsed time.Duration) Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	ms := r.measuresLocked(elapsed)
	s := Snapshot{Elapsed: elapsed, Count: r.m.Requests, Rate: ms.Rate, Unexpected: r.classes[ClassUnexpected]}
	if ms.Count > 0 {
		s.P99 = ms.Latency.Quantile(0.99)
	}
	return s
}

func latencySummary(l vegeta.LatencyMetrics, n uint64) LatencySummary {
	if n == 0 {
		return LatencySummary{}
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return LatencySummary{
		Min: ms(l.Min), Mean: ms(l.Total / time.Duration(n)),
		P50: ms(l.Quantile(0.5)), P90: ms(l.Quantile(0.9)), P95: ms(l.Quantile(0.95)),
		P99: ms(l.Quantile(0.99)), Max: ms(l.Max),
	}
}

// RunInfo is what the runner knows beyond the results.
type RunInfo struct {
	Target, ClientID string
	Shards           []string
	Rate             Rate
	// Planned is the requested duration; Elapsed the measured one (0:
	// the span of the results).
	Planned, Elapsed time.Duration
	// Intended and Dropped come from the Pacer; with Intended 0 and a
	// constant rate, intended is rate × duration.
	Intended, Dropped uint64
	CPU               *CPUSummary
	Pool              *PoolStats
	Generator         *GeneratorSummary
	Thresholds        []Threshold
	Aborted           string
}

// cpuSince is the process CPU used since cpu0 (taken when cpu0OK), keeping
// prev's note on whether the target's CPU is included; prev when the CPU
// cannot be measured.
func cpuSince(cpu0 time.Duration, cpu0OK bool, prev *CPUSummary) *CPUSummary {
	cpu1, ok := processCPU()
	if !ok || !cpu0OK {
		return prev
	}
	cpu := CPUSummary{Seconds: (cpu1 - cpu0).Seconds(), Cores: runtime.GOMAXPROCS(0)}
	if prev != nil {
		cpu.IncludesTarget = prev.IncludesTarget
	}
	return &cpu
}

// Summary builds the end-of-run result.
func (r *Recorder) Summary(info RunInfo) *Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	elapsed := info.Elapsed
	if elapsed <= 0 {
		elapsed = r.span()
	}
	// Requests were started during the planned duration (or until the
	// run ended early); after it, only in-flight ones completed. The send
	// rate and the intended count are over the first, the achieved rate
	// over the whole run.
	sendWindow := elapsed
	if info.Planned > 0 && info.Planned < elapsed {
		sendWindow = info.Planned
	}
	s := &Summary{
		Scenario:        string(r.scenario),
		Mode:            reports.ModeOfScenario(string(r.scenario)),
		Target:          info.Target,
		ClientID:        info.ClientID,
		Shards:          info.Shards,
		Started:         r.start.UTC(),
		DurationSeconds: elapsed.Seconds(),
		SendSeconds:     sendWindow.Seconds(),
		Requests:        r.countsLocked(info, sendWindow),
		LatencyMS:       latencySummary(r.m.Latencies, r.m.Requests),
		Status:          map[string]uint64{},
		OAuthErrors:     maps.Clone(r.oauth),
		Errors:          r.errorsLocked(),
		CPU:             info.CPU,
		Pool:            info.Pool,
		Aborted:         info.Aborted,
		Series:          r.series.series(),
		Histogram:       r.series.histogram(),
	}
	for code, n := range r.m.StatusCodes {
		s.Status[code] = uint64(n)
	}
	if r.scenario != ScenarioPoll {
		a := latencySummary(r.approval, r.approvalN)
		s.ApprovalToTokenMS = &a
	}
	s.Rate = rates(info.Rate, s.Requests, sendWindow, elapsed)
	if sent := s.Requests.Sent; sent > 0 {
		s.ErrorRate = float64(s.Requests.Unexpected) / float64(sent)
	}
	setCPU(s, elapsed)
	if info.Generator != nil {
		g := *info.Generator
		g.judge(s, info.Rate.Max)
		s.Generator = (*reports.LoadGenerator)(&g)
	}
	s.Thresholds, s.Passed = r.evaluateLocked(info.Thresholds, elapsed)
	if s.Aborted != "" {
		// A run stopped early (interrupted, or a threshold broke under
		// --abort-on-fail) measured less than it was asked to: no pass.
		s.Passed = false
	}
	return s
}

// countsLocked counts the requests (flows): intended over the send
// window (from the pacer when it counted them), sent, dropped and how
// the answers were classed.
func (r *Recorder) countsLocked(info RunInfo, sendWindow time.Duration) reports.LoadCount {
	sent := r.m.Requests
	intended := info.Intended
	if intended == 0 && !info.Rate.Max {
		intended = info.Rate.hitsBefore(sendWindow)
	}
	if info.Rate.Max {
		intended = sent + info.Dropped
	}
	dropped := info.Dropped
	if intended > sent+dropped {
		dropped = intended - sent
	}
	return reports.LoadCount{
		Intended: intended, Sent: sent, Dropped: dropped,
		OK: r.classes[ClassOK], Expected: r.classes[ClassExpected], Unexpected: r.classes[ClassUnexpected],
	}
}

// rates are the rates of a run at rate whose requests (flows) were
// sent during sendWindow and answered by the end of elapsed: sent per
// second of the first, successful answers per second of the second.
func rates(rate Rate, c reports.LoadCount, sendWindow, elapsed time.Duration) reports.LoadRate {
	out := reports.LoadRate{Requested: rate.String(), Intended: rate.PerSecond()}
	if sendWindow > 0 {
		out.Sent = float64(c.Sent) / sendWindow.Seconds()
	}
	if elapsed > 0 {
		out.Achieved = float64(c.OK+c.Expected) / elapsed.Seconds()
	}
	return out
}

// errorsLocked are the unexpected answers by kind, most frequent first.
func (r *Recorder) errorsLocked() []reports.ErrorCount {
	var out []reports.ErrorCount
	for msg, n := range r.errs {
		out = append(out, reports.ErrorCount{Error: msg, Count: n})
	}
	if r.otherErrs > 0 {
		out = append(out, reports.ErrorCount{Error: "(other kinds)", Count: r.otherErrs})
	}
	slices.SortFunc(out, func(a, b reports.ErrorCount) int {
		if a.Count != b.Count {
			return cmp.Compare(b.Count, a.Count)
		}
		return cmp.Compare(a.Error, b.Error)
	})
	return out
}

// setCPU derives the CPU per request and the share of the cores busy
// from the CPU seconds measured over elapsed.
func setCPU(s *Summary, elapsed time.Duration) {
	cpu := s.CPU
	if cpu == nil {
		return
	}
	if sent := s.Requests.Sent; sent > 0 {
		s.CPUPerRequestMicros = cpu.Seconds * 1e6 / float64(sent)
	}
	if cpu.Cores > 0 && elapsed > 0 {
		cpu.Busy = cpu.Seconds / (elapsed.Seconds() * float64(cpu.Cores))
	}
}
