package load

import (
	"encoding/json"
	"net/http"
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
	ScenarioFlowPush Scenario = "flow-push" // whole flows, tokens pushed to the client (CIBA 10.3)
)

func (s Scenario) valid() bool {
	return s == ScenarioPoll || s == ScenarioFlowPoll || s == ScenarioFlowPing || s == ScenarioFlowPush
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
func (r *Recorder) Evaluate(ts []Threshold, elapsed time.Duration) ([]reports.Threshold, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.evaluateLocked(ts, elapsed)
}

func (r *Recorder) evaluateLocked(ts []Threshold, elapsed time.Duration) ([]reports.Threshold, bool) {
	ms := r.measuresLocked(elapsed)
	ok := true
	out := []reports.Threshold{}
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
