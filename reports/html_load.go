package reports

import (
	"maps"
	"slices"
	"strconv"
	"strings"
)

// The load part of the HTML report: a view per run and the runs of one
// kind side by side.

type runView struct {
	*LoadRun
	ID         string
	Label      string
	Latency    *chart
	Throughput *chart
	Histogram  *chart
	Percentile *chart
	Status     []countRow
	OAuth      []countRow
	LatName    string
	LatRows    []latRow
	Unit       string
	Achieved   string // achieved of intended, in percent
	// Judged is the latency the thresholds judge, JudgedName its name.
	Judged     Latency
	JudgedName string
}

type latRow struct {
	Name            string
	Value, Approval float64
}

func latRows(l Latency, a *Latency) []latRow {
	if a == nil {
		a = &Latency{}
	}
	return []latRow{
		{"min", l.Min, a.Min}, {"avg", l.Mean, a.Mean}, {"p50", l.P50, a.P50}, {"p90", l.P90, a.P90},
		{"p95", l.P95, a.P95}, {"p99", l.P99, a.P99}, {"max", l.Max, a.Max},
	}
}

type countRow struct {
	Key   string
	Count uint64
	Share string
}

type compareView struct {
	Title string
	Runs  []*LoadRun
	Rows  []compareRow
	Chart *chart
}

type compareRow struct {
	Metric string
	Values []string
	// Best is the index of the best value, -1 when there is no better.
	Best int
}

func buildLoad(v *htmlView, m *Model) {
	for i := range m.Load {
		l := &m.Load[i]
		if l.Passed {
			v.LoadPassed++
		} else {
			v.LoadFailed++
		}
		rv := runView{
			LoadRun:    l,
			ID:         "load-" + strconv.Itoa(i+1),
			Label:      l.Label(),
			Latency:    latencyOverTime(l),
			Throughput: throughputOverTime(l),
			Histogram:  latencyHistogram(l),
			Percentile: percentileCurve(l),
			Status:     countRows(l.Status, l.Requests.Sent),
			OAuth:      countRows(l.OAuthErrors, l.Requests.Sent),
			LatName:    "per request",
			LatRows:    latRows(l.LatencyMS, l.ApprovalToTokenMS),
			Unit:       "Requests",
		}
		if l.IsFlow() {
			rv.LatName, rv.Unit = "request → tokens", "Flows"
		}
		rv.Judged, rv.JudgedName = l.JudgedLatency()
		if l.Rate.Intended > 0 {
			rv.Achieved = fmtPct(l.Rate.Achieved / l.Rate.Intended)
		}
		v.Runs = append(v.Runs, rv)
	}
	v.LoadLine = m.LoadVerdictLine()
	v.LoadUnjudged = m.LoadUnjudged()
	if m.Target.Issuer == "" {
		v.TargetFromLoad = loadTarget(m.Load)
	}
	v.Compares = loadComparisons(m.Load)
}

// loadTarget is the target the load runs name, when they name one and
// the same; "" otherwise.
func loadTarget(runs []LoadRun) string {
	t := ""
	for i := range runs {
		switch {
		case runs[i].Target == "":
		case t == "":
			t = runs[i].Target
		case t != runs[i].Target:
			return ""
		}
	}
	return t
}

func countRows(counts map[string]uint64, total uint64) []countRow {
	keys := slices.Sorted(maps.Keys(counts))
	out := make([]countRow, 0, len(keys))
	for _, k := range keys {
		r := countRow{Key: k, Count: counts[k]}
		if total > 0 {
			r.Share = fmtPct(float64(counts[k]) / float64(total))
		}
		out = append(out, r)
	}
	return out
}

// loadComparisons puts runs of one kind side by side: a load poll run
// (token-endpoint polls) and flow runs (complete flows) measure
// different things, so never side by side, never a "winner" between
// them.
func loadComparisons(runs []LoadRun) []*compareView {
	var flows, polls []LoadRun
	for _, l := range runs {
		if l.IsFlow() {
			flows = append(flows, l)
		} else {
			polls = append(polls, l)
		}
	}
	var out []*compareView
	for _, group := range [][]LoadRun{flows, polls} {
		if len(group) >= 2 {
			out = append(out, buildCompare(group))
		}
	}
	return out
}

func buildCompare(runs []LoadRun) *compareView {
	cv := &compareView{Title: "Poll runs side by side", Chart: compareChart(runs)}
	if runs[0].IsFlow() {
		cv.Title = "Flow runs side by side"
	}
	modes := map[string]bool{}
	for i := range runs {
		cv.Runs = append(cv.Runs, &runs[i])
		modes[runs[i].Mode] = true
	}
	var names []string
	for _, m := range []string{"poll", "ping", "push"} {
		if modes[m] {
			names = append(names, m)
		}
	}
	if len(names) >= 2 {
		cv.Title = strings.ToUpper(names[0][:1]) + names[0][1:] + " vs " + strings.Join(names[1:], " vs ") // "Poll vs ping"
	}
	for _, mt := range compareMetrics() {
		if row, ok := mt.row(cv.Runs); ok {
			cv.Rows = append(cv.Rows, row)
		}
	}
	return cv
}

// compareMetric is one row of a comparison.
type compareMetric struct {
	name string
	get  func(*LoadRun) (float64, bool)
	fmt  func(float64) string
	// lower is better unless higherBetter.
	higherBetter bool
}

func compareMetrics() []compareMetric {
	lat := func(pick func(Latency) float64) func(*LoadRun) (float64, bool) {
		return func(r *LoadRun) (float64, bool) { return pick(r.LatencyMS), r.LatencyMS.Max > 0 }
	}
	appr := func(pick func(Latency) float64) func(*LoadRun) (float64, bool) {
		return func(r *LoadRun) (float64, bool) {
			if r.ApprovalToTokenMS == nil {
				return 0, false
			}
			return pick(*r.ApprovalToTokenMS), true
		}
	}
	return []compareMetric{
		{name: "Rate achieved", get: func(r *LoadRun) (float64, bool) { return r.Rate.Achieved, true }, fmt: func(f float64) string { return fmtNum(round2(f)) + "/s" }, higherBetter: true},
		{name: "Dropped", get: func(r *LoadRun) (float64, bool) { return float64(r.Requests.Dropped), true }, fmt: func(f float64) string { return fmtNum(f) }},
		{name: "Error rate", get: func(r *LoadRun) (float64, bool) { return r.ErrorRate, true }, fmt: fmtPct},
		{name: "Latency p50", get: lat(func(l Latency) float64 { return l.P50 }), fmt: fmtMS},
		{name: "Latency p99", get: lat(func(l Latency) float64 { return l.P99 }), fmt: fmtMS},
		{name: "Approval→token p50", get: appr(func(l Latency) float64 { return l.P50 }), fmt: fmtMS},
		{name: "Approval→token p99", get: appr(func(l Latency) float64 { return l.P99 }), fmt: fmtMS},
	}
}

// row is the metric's values for runs and the best of them; false when
// no run has the metric.
func (mt compareMetric) row(runs []*LoadRun) (compareRow, bool) {
	row := compareRow{Metric: mt.name, Best: -1}
	best, distinct, any := 0.0, false, false
	for i, r := range runs {
		val, ok := mt.get(r)
		if !ok {
			row.Values = append(row.Values, "–")
			continue
		}
		row.Values = append(row.Values, mt.fmt(val))
		switch {
		case !any:
			best, row.Best, any = val, i, true
		case val != best:
			distinct = true
			if (mt.higherBetter && val > best) || (!mt.higherBetter && val < best) {
				best, row.Best = val, i
			}
		}
	}
	if !distinct {
		row.Best = -1
	}
	return row, any
}
