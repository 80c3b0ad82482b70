package reports

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

//go:embed report.html.tmpl
var htmlSource string

//go:embed report.css
var cssSource string

//go:embed report.js
var jsSource string

// htmlTemplate is parsed once; templates are immutable after parsing and
// safe for concurrent use, so this is not mutable package state.
var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms":       fmtMS,
	"num":      fmtNum,
	"pct":      fmtPct,
	"dur":      fmtDuration,
	"when":     fmtWhen,
	"outLabel": outcomeLabel,
	"outIcon":  outcomeIcon,
	"add":      func(a, b int) int { return a + b },
	"thresholdValue": func(t Threshold) string {
		return fmtThresholdValue(t)
	},
}).Parse(htmlSource))

// contentSecurityPolicy is derived from the embedded style and script.
var contentSecurityPolicy = "default-src 'none'; img-src data:; style-src " + sourceHash(cssSource) + "; script-src " + sourceHash(jsSource) + "; base-uri 'none'; form-action 'none'"

func sourceHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// RenderHTML writes m as one self-contained HTML page: inline CSS, inline
// SVG charts, a few lines of optional JavaScript for filtering, and no
// reference to anything outside the file. Everything from the model is
// escaped by html/template.
func RenderHTML(w io.Writer, m *Model) error {
	if err := m.Validate(); err != nil {
		return err
	}
	return htmlTemplate.Execute(w, buildView(m))
}

type htmlView struct {
	M       *Model
	Title   string
	Verdict string // "passed", "failed", "incomplete", "empty", "unjudged"
	// TargetError: the run ended as a target error before any result.
	TargetError bool
	Counts      Counts
	PassRate    string
	Generated   string
	Env         [][2]string
	// Conformance.
	// Matrix is every section in order; MatrixGroups the same by document.
	Matrix       []matrixRow
	MatrixGroups []matrixGroup
	Groups       []checkGroup
	Failures     []checkView
	Warnings     []checkView
	Skips        []checkView
	Sections     []string
	// Load.
	Runs       []runView
	LoadPassed int
	LoadFailed int
	// LoadLine sums up the load runs' verdicts (reports.Model.LoadVerdictLine).
	LoadLine string
	// LoadUnjudged: no load run set a threshold.
	LoadUnjudged bool
	// TargetFromLoad is the load runs' target when the model names none.
	TargetFromLoad string
	// Compares are side-by-side tables of runs that measure the same
	// thing: flows with flows (poll vs ping), polls with polls.
	Compares []*compareView
	CSS      template.CSS
	JS       template.JS
	// CSP allows exactly the page's own style and script (by hash) and
	// nothing else: no network, and no injected script could run even if
	// escaping ever failed.
	CSP       string
	HasChecks bool
	HasLoad   bool
}

// matrixGroup is one document's sections (CIBA, FAPI-CIBA, RFC8705, ...).
type matrixGroup struct {
	Doc, Title string
	Rows       []matrixRow
}

type matrixRow struct {
	Section string
	// Number is the section without the document ("7.1.1").
	Number string
	// Status is "failed" (a check failed), "warning" (none failed, one
	// warned), "skipped" (all skipped) or "passed".
	Status                                   string
	Passed, Warnings, Failed, Skipped, Total int
	// Bar segments as percentages of the row's total.
	PassW, WarnW, FailW, SkipW float64
	WarnX, FailX, SkipX        float64
}

type checkGroup struct {
	Name    string
	Checks  []checkView
	Counts  Counts
	Summary string
}

type checkView struct {
	*Check
	// FirstLine is the first line of the message, for lists.
	FirstLine string
	ID        string
	Section   string
	Open      bool
	Duration  string
}

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

func buildView(m *Model) *htmlView {
	v := &htmlView{
		M:         m,
		Counts:    m.Counts(),
		Generated: fmtWhen(m.GeneratedAt),
		CSS:       template.CSS(cssSource),
		JS:        template.JS(jsSource),
		CSP:       contentSecurityPolicy,
		HasChecks: len(m.Checks) > 0,
		HasLoad:   len(m.Load) > 0,
	}
	switch {
	case m.Error != "":
		// A target error looks like an incomplete run, worded as what it
		// is (TargetError).
		v.Verdict = "incomplete"
		v.TargetError = m.TargetError()
	case !v.HasChecks && !v.HasLoad:
		v.Verdict = "empty"
	case m.LoadUnjudged():
		// Nothing was judged: not a pass.
		v.Verdict = "unjudged"
	case m.Passed():
		v.Verdict = "passed"
	default:
		v.Verdict = "failed"
	}
	switch {
	case v.HasChecks && v.HasLoad:
		v.Title = "CIBA conformance and load report"
	case v.HasLoad:
		v.Title = "CIBA load report"
	default:
		v.Title = "CIBA conformance report"
	}
	// A warning is judged and not passed: it lowers the rate.
	if judged := v.Counts.Passed + v.Counts.Warnings + v.Counts.Failed; judged > 0 {
		v.PassRate = fmtPct(float64(v.Counts.Passed) / float64(judged))
	}
	for _, k := range slices.Sorted(maps.Keys(m.Environment)) {
		v.Env = append(v.Env, [2]string{k, m.Environment[k]})
	}
	buildChecks(v, m)
	buildLoad(v, m)
	return v
}

func buildChecks(v *htmlView, m *Model) {
	groupIdx := map[string]int{}
	for i := range m.Checks {
		c := &m.Checks[i]
		cv := checkView{Check: c, FirstLine: shortMessage(c.Message, ""), ID: "check-" + strconv.Itoa(i+1), Section: c.Section(), Open: c.Outcome == Failed || c.Outcome == Warning, Duration: fmtSeconds(c.DurationSeconds)}
		group := c.Group
		if group == "" {
			group = "Checks"
		}
		gi, ok := groupIdx[group]
		if !ok {
			gi = len(v.Groups)
			groupIdx[group] = gi
			v.Groups = append(v.Groups, checkGroup{Name: group})
		}
		g := &v.Groups[gi]
		g.Checks = append(g.Checks, cv)
		switch c.Outcome {
		case Passed:
			g.Counts.Passed++
		case Warning:
			g.Counts.Warnings++
			v.Warnings = append(v.Warnings, cv)
		case Failed:
			g.Counts.Failed++
			v.Failures = append(v.Failures, cv)
		case Skipped:
			g.Counts.Skipped++
			v.Skips = append(v.Skips, cv)
		}
	}
	for _, sr := range sectionRows(m) {
		r := matrixRow{Section: sr.Section, Passed: sr.Passed, Warnings: sr.Warnings, Failed: sr.Failed, Skipped: sr.Skipped, Total: sr.Total()}
		t := float64(r.Total)
		r.PassW = round2(100 * float64(r.Passed) / t)
		r.WarnW = round2(100 * float64(r.Warnings) / t)
		r.FailW = round2(100 * float64(r.Failed) / t)
		r.SkipW = round2(100 * float64(r.Skipped) / t)
		r.WarnX = r.PassW
		r.FailX = round2(r.PassW + r.WarnW)
		r.SkipX = round2(r.PassW + r.WarnW + r.FailW)
		v.Matrix = append(v.Matrix, r)
	}
	for i := range v.Matrix {
		r := &v.Matrix[i]
		v.Sections = append(v.Sections, r.Section)
		doc, nums := splitSection(r.Section)
		r.Number = strings.TrimPrefix(r.Section, doc+"-")
		if nums == nil {
			doc, r.Number = "Other", r.Section
		}
		switch {
		case r.Failed > 0:
			r.Status = string(Failed)
		case r.Warnings > 0:
			r.Status = string(Warning)
		case r.Skipped == r.Total:
			r.Status = string(Skipped)
		default:
			r.Status = string(Passed)
		}
		if n := len(v.MatrixGroups); n == 0 || v.MatrixGroups[n-1].Doc != doc {
			v.MatrixGroups = append(v.MatrixGroups, matrixGroup{Doc: doc, Title: docTitle(doc)})
		}
		g := &v.MatrixGroups[len(v.MatrixGroups)-1]
		g.Rows = append(g.Rows, *r)
	}
}

// docTitle names the documents spec references point into.
func docTitle(doc string) string {
	switch doc {
	case "CIBA":
		return "OpenID Connect CIBA Core 1.0"
	case "FAPI-CIBA":
		return "FAPI-CIBA profile"
	case "FAPI-RW":
		return "FAPI Read and Write API Security Profile"
	case "FAPI-R":
		return "FAPI Read-Only API Security Profile"
	case "OIDC":
		return "OpenID Connect Core 1.0"
	case "OIDC-DISCOVERY":
		return "OpenID Connect Discovery 1.0"
	}
	if strings.HasPrefix(doc, "RFC") {
		return "RFC " + strings.TrimPrefix(doc, "RFC")
	}
	return doc
}

// compareSections orders spec sections by document, then numerically by
// section number ("CIBA-7.10" after "CIBA-7.9").
func compareSections(a, b string) int {
	da, na := splitSection(a)
	db, nb := splitSection(b)
	if c := strings.Compare(da, db); c != 0 {
		return c
	}
	for i := 0; i < len(na) && i < len(nb); i++ {
		if na[i] != nb[i] {
			return na[i] - nb[i]
		}
	}
	if c := len(na) - len(nb); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// splitSection splits "FAPI-CIBA-5.2.2" into "FAPI-CIBA" and [5 2 2].
func splitSection(s string) (string, []int) {
	i := strings.LastIndexByte(s, '-')
	if i < 0 {
		return s, nil
	}
	var nums []int
	for _, part := range strings.Split(s[i+1:], ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			return s, nil
		}
		nums = append(nums, n)
	}
	return s[:i], nums
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
	if modes["poll"] && modes["ping"] {
		cv.Title = "Poll vs ping"
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

func outcomeLabel(o Outcome) string {
	switch o {
	case Passed:
		return "PASS"
	case Warning:
		return "WARN"
	case Failed:
		return "FAIL"
	case Skipped:
		return "SKIP"
	}
	return strings.ToUpper(string(o))
}

func outcomeIcon(o Outcome) string {
	switch o {
	case Passed:
		return "✓"
	case Warning:
		return "!"
	case Failed:
		return "✗"
	}
	return "–"
}

// fmtMS prints milliseconds with sensible precision: 0.42 ms, 12.3 ms,
// 1,234 ms shown as 1.23 s.
func fmtMS(v float64) string {
	switch {
	case v >= 1000:
		return trimZeros(strconv.FormatFloat(v/1000, 'f', 2, 64)) + " s"
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64) + " ms"
	case v >= 10:
		return trimZeros(strconv.FormatFloat(v, 'f', 1, 64)) + " ms"
	default:
		return trimZeros(strconv.FormatFloat(v, 'f', 2, 64)) + " ms"
	}
}

// fmtPct prints a ratio as a percentage with enough digits to tell a
// small error share from zero.
func fmtPct(r float64) string {
	p := r * 100
	switch {
	case p == 0:
		return "0%"
	case math.Abs(p) < 0.01:
		return "<0.01%"
	case math.Abs(p) < 1:
		return trimZeros(strconv.FormatFloat(p, 'f', 2, 64)) + "%"
	default:
		return trimZeros(strconv.FormatFloat(p, 'f', 1, 64)) + "%"
	}
}

func fmtSeconds(s float64) string {
	return fmtMS(s * 1000)
}

func fmtDuration(s float64) string {
	d := time.Duration(s * float64(time.Second))
	if d >= time.Minute {
		return d.Round(time.Second).String()
	}
	return trimZeros(strconv.FormatFloat(s, 'f', 1, 64)) + " s"
}

func fmtWhen(t time.Time) string {
	if t.IsZero() {
		return "unknown date"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func fmtThresholdValue(t Threshold) string {
	switch t.Unit {
	case "ms":
		return fmtMS(t.Value)
	case "/s":
		return fmtNum(round2(t.Value)) + "/s"
	case "ratio":
		return fmtPct(t.Value)
	}
	return fmt.Sprintf("%g %s", t.Value, t.Unit)
}
