package load

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/ciba-check/ciba-check/reports"
)

// Threshold is one pass/fail criterion in k6's threshold grammar
// (https://grafana.com/docs/k6/latest/using-k6/thresholds/):
// "aggregation operator value", e.g. "p(99)<50ms", "errors<0.001",
// "rate>1000".
//
// Aggregations: avg, min, max, med and p(N) (0 < N <= 100, also written
// pN) apply to latency (a poll's request latency; a flow's
// approval-to-token latency); rate is achieved successful polls or flows
// per second; errors is the share of unexpected answers. A latency value
// without a unit is milliseconds, as in k6; errors may be written as a
// percentage ("0.1%").
type Threshold struct {
	// Expr is the text as given.
	Expr string
	// Metric is "latency", "rate" or "errors".
	Metric string
	// Agg is avg, min, max, med or p for latency.
	Agg string
	// Percentile is N of p(N).
	Percentile float64
	Op         string
	// Value is milliseconds for latency, per second for rate and a
	// fraction for errors.
	Value float64
}

var thresholdRE = regexp.MustCompile(`^\s*(avg|min|max|med|p\(\s*([0-9]+(?:\.[0-9]+)?)\s*\)|p([0-9]+(?:\.[0-9]+)?)|rate|errors)\s*(<=|>=|==|<|>)\s*(\S+)\s*$`)

// ParseThreshold parses one threshold expression.
func ParseThreshold(s string) (Threshold, error) {
	m := thresholdRE.FindStringSubmatch(s)
	if m == nil {
		return Threshold{}, fmt.Errorf("threshold %q: want AGGREGATION OPERATOR VALUE, e.g. 'p(99)<50ms', 'errors<0.001', 'rate>1000' (aggregations avg, min, max, med, p(N), rate, errors; operators < <= > >= ==)", s)
	}
	t := Threshold{Expr: strings.TrimSpace(s), Op: m[4]}
	agg, pct := m[1], m[2]
	if pct == "" {
		pct = m[3]
	}
	switch {
	case pct != "":
		p, _ := strconv.ParseFloat(pct, 64)
		if p <= 0 || p > 100 {
			return Threshold{}, fmt.Errorf("threshold %q: percentile %s is not in (0, 100]", s, pct)
		}
		t.Metric, t.Agg, t.Percentile = "latency", "p", p
	case agg == "rate" || agg == "errors":
		t.Metric = agg
	default:
		t.Metric, t.Agg = "latency", agg
	}
	v, err := parseThresholdValue(t.Metric, m[5])
	if err != nil {
		return Threshold{}, fmt.Errorf("threshold %q: %w", s, err)
	}
	t.Value = v
	return t, nil
}

func parseThresholdValue(metric, v string) (float64, error) {
	switch metric {
	case "latency":
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return f, nil // k6: a bare number is milliseconds
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return 0, fmt.Errorf("latency %q is not a duration such as 50ms or 1.5s", v)
		}
		return float64(d) / float64(time.Millisecond), nil
	case "rate":
		f, err := strconv.ParseFloat(strings.TrimSuffix(v, "/s"), 64)
		if err != nil || f < 0 {
			return 0, fmt.Errorf("rate %q is not a number per second", v)
		}
		return f, nil
	default:
		pct := strings.HasSuffix(v, "%")
		f, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
		if err != nil {
			return 0, fmt.Errorf("error share %q is not a number such as 0.001 or 0.1%%", v)
		}
		if pct {
			f /= 100
		}
		if f < 0 || f > 1 {
			return 0, fmt.Errorf("error share %q is not between 0 and 1 (or 0%% and 100%%)", v)
		}
		return f, nil
	}
}

// ParseThresholds parses every expression; the first bad one is the error.
func ParseThresholds(exprs []string) ([]Threshold, error) {
	out := make([]Threshold, 0, len(exprs))
	for _, e := range exprs {
		t, err := ParseThreshold(e)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// Measures are what thresholds are evaluated against.
type Measures struct {
	Latency *vegeta.LatencyMetrics
	// Rate is successful polls or flows per second; Errors the share of
	// unexpected answers; Count how many results there were.
	Rate, Errors float64
	Count        uint64
}

// Evaluate measures t against m. With no results at all a threshold fails:
// nothing measured proves nothing.
func (t Threshold) Evaluate(m Measures) reports.Threshold {
	r := reports.Threshold{Expr: t.Expr}
	switch t.Metric {
	case "rate":
		r.Value, r.Unit = m.Rate, "/s"
	case "errors":
		r.Value, r.Unit = m.Errors, "ratio"
	default:
		r.Unit = "ms"
		if m.Latency != nil && m.Count > 0 {
			var d time.Duration
			switch t.Agg {
			case "avg":
				d = m.Latency.Mean
			case "min":
				d = m.Latency.Min
			case "max":
				d = m.Latency.Max
			case "med":
				d = m.Latency.Quantile(0.5)
			case "p":
				d = m.Latency.Quantile(t.Percentile / 100)
			}
			r.Value = float64(d) / float64(time.Millisecond)
		}
	}
	if m.Count == 0 {
		return r
	}
	r.OK = compare(r.Value, t.Op, t.Value)
	return r
}

func compare(a float64, op string, b float64) bool {
	switch op {
	case "<":
		return a < b
	case "<=":
		return a <= b
	case ">":
		return a > b
	case ">=":
		return a >= b
	case "==":
		return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b))
	}
	return false
}

// EvaluateAll evaluates every threshold; ok is false when any breaks.
func EvaluateAll(ts []Threshold, m Measures) (results []reports.Threshold, ok bool) {
	ok = true
	for _, t := range ts {
		r := t.Evaluate(m)
		ok = ok && r.OK
		results = append(results, r)
	}
	return results, ok
}
