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
	// A target error looks like an incomplete run, worded as what it is.
	v.Verdict, v.TargetError = string(m.Verdict()), m.TargetError()
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
	buildCheckGroups(v, m)
	for _, sr := range sectionRows(m) {
		v.Matrix = append(v.Matrix, newMatrixRow(sr))
	}
	for i := range v.Matrix {
		r := &v.Matrix[i]
		v.Sections = append(v.Sections, r.Section)
		doc, nums := splitSection(r.Section)
		r.Number = strings.TrimPrefix(r.Section, doc+"-")
		if nums == nil {
			doc, r.Number = "Other", r.Section
		}
		if n := len(v.MatrixGroups); n == 0 || v.MatrixGroups[n-1].Doc != doc {
			v.MatrixGroups = append(v.MatrixGroups, matrixGroup{Doc: doc, Title: docTitle(doc)})
		}
		g := &v.MatrixGroups[len(v.MatrixGroups)-1]
		g.Rows = append(g.Rows, *r)
	}
}

// buildCheckGroups puts every check under its group and in the lists of
// warnings, failures and skips.
func buildCheckGroups(v *htmlView, m *Model) {
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
}

// newMatrixRow is a section's row of the matrix: its counts, the bar's
// widths and offsets in percent, and its status.
func newMatrixRow(sr sectionRow) matrixRow {
	r := matrixRow{Section: sr.Section, Passed: sr.Passed, Warnings: sr.Warnings, Failed: sr.Failed, Skipped: sr.Skipped, Total: sr.Total()}
	t := float64(r.Total)
	r.PassW = round2(100 * float64(r.Passed) / t)
	r.WarnW = round2(100 * float64(r.Warnings) / t)
	r.FailW = round2(100 * float64(r.Failed) / t)
	r.SkipW = round2(100 * float64(r.Skipped) / t)
	r.WarnX = r.PassW
	r.FailX = round2(r.PassW + r.WarnW)
	r.SkipX = round2(r.PassW + r.WarnW + r.FailW)
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
	return r
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
