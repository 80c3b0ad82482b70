package reports

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/ciba-check/ciba-check/internal/safetext"
)

// Size limits of the places Markdown summaries go.
const (
	// StepSummaryLimit is GitHub's limit for one step's
	// $GITHUB_STEP_SUMMARY; past it GitHub drops the whole summary.
	StepSummaryLimit = 1 << 20
	// PRCommentLimit is GitHub's limit for an issue or PR comment body
	// (65,536 characters; counted here in bytes, which is stricter).
	PRCommentLimit = 65536
	// minMarkdownLimit is the least a summary needs: verdict, counts,
	// the load table head and the truncation note.
	minMarkdownLimit = 8192
)

// maxCell bounds one table cell so a single huge message cannot crowd
// out the rest of the summary.
const maxCell = 300

// RenderMarkdown writes a compact summary for CI step summaries and PR
// comments: the verdict, counts, failures first, the load runs, then the
// skipped and passed checks collapsed. The output never exceeds limit
// bytes (limit <= 0 means StepSummaryLimit); when rows had to be left out
// it ends with a note pointing at the HTML report.
func RenderMarkdown(w io.Writer, m *Model, limit int) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if limit <= 0 {
		limit = StepSummaryLimit
	}
	if limit < minMarkdownLimit {
		return fmt.Errorf("reports: Markdown limit %d bytes is too small; at least %d are needed", limit, minMarkdownLimit)
	}
	md := &mdWriter{budget: limit - mdNoteReserve}
	writeMarkdown(md, m)
	out := md.b.String()
	if md.omitted.Total() > 0 || md.omittedRuns > 0 {
		out += truncationNote(md)
	}
	_, err := io.WriteString(w, out)
	return err
}

// mdNoteReserve is kept free for the truncation note and closing tags.
const mdNoteReserve = 640

type mdWriter struct {
	b           strings.Builder
	budget      int
	omitted     Counts
	omittedRuns int
}

// fits reports whether s can still be written.
func (w *mdWriter) fits(s string) bool { return w.b.Len()+len(s) <= w.budget }

// write appends s if it fits and reports whether it did.
func (w *mdWriter) write(s string) bool {
	if !w.fits(s) {
		return false
	}
	w.b.WriteString(s)
	return true
}

func writeMarkdown(w *mdWriter, m *Model) {
	// The header is bounded (every model-derived part is clipped), so it
	// always fits the minimum limit.
	w.b.WriteString(mdHeader(m))
	writeCheckTables(w, m)
}

// mdVerdict is the report's verdict with its emoji.
func mdVerdict(m *Model, c Counts) string {
	switch m.Verdict() {
	case VerdictIncomplete:
		if m.TargetError() {
			return "⛔ target error"
		}
		return "⚠️ incomplete"
	case VerdictEmpty:
		return "⚪ no results"
	case VerdictUnjudged:
		return "⚪ not judged: no thresholds set"
	case VerdictPassed:
		if c.Warnings > 0 {
			return "✅ passed with warnings"
		}
		return "✅ passed"
	}
	return "❌ failed"
}

// mdHeader is the verdict, the target, why the run ended early and the
// counts of checks.
func mdHeader(m *Model) string {
	c := m.Counts()
	var head strings.Builder
	verdict := mdVerdict(m, c)
	fmt.Fprintf(&head, "## ciba-check: %s\n\n", verdict)
	target := "target not recorded"
	if m.Target.Issuer != "" {
		target = mdCode(clipText(m.Target.Issuer, 200))
	} else if t := loadTarget(m.Load); t != "" {
		target = mdCode(clipText(t, 200))
	}
	if m.Target.Description != "" {
		target += " (" + mdEscape(clipText(m.Target.Description, 100)) + ")"
	}
	profile := ""
	if m.Target.Profile != "" {
		profile = " · " + mdEscape(clipText(m.Target.Profile, 40))
	}
	version := m.ToolVersion
	if version == "" {
		version = "(unknown version)"
	}
	fmt.Fprintf(&head, "**Target** %s%s · %s · ciba-check %s\n\n", target, profile, fmtWhen(m.GeneratedAt), mdEscape(clipText(version, 60)))
	switch {
	case m.TargetError():
		fmt.Fprintf(&head, "> [!CAUTION]\n> The target could not be tested; no check ran: %s\n\n", mdEscape(clipText(m.Error, 400)))
	case m.Error != "":
		fmt.Fprintf(&head, "> [!WARNING]\n> The run ended early; the verdict is unknown: %s\n\n", mdEscape(clipText(m.Error, 200)))
	}
	if len(m.Checks) > 0 {
		fmt.Fprintf(&head, "| Conformance | Checks |\n|:--|--:|\n| ✅ passed | %d |\n| ⚠️ warnings | %d |\n| ❌ failed | %d |\n| ⏭️ skipped | %d |\n| total | %d |\n\n",
			c.Passed, c.Warnings, c.Failed, c.Skipped, c.Total())
	}
	return head.String()
}

// writeCheckTables writes the failures, the warnings, the load runs, the
// skipped and the passed checks, as many rows as fit.
func writeCheckTables(w *mdWriter, m *Model) {
	var failed, warned, skipped, passed []*Check
	for i := range m.Checks {
		ch := &m.Checks[i]
		switch ch.Outcome {
		case Failed:
			failed = append(failed, ch)
		case Warning:
			warned = append(warned, ch)
		case Skipped:
			skipped = append(skipped, ch)
		case Passed:
			passed = append(passed, ch)
		}
	}
	if len(failed) > 0 {
		n := writeTable(w, fmt.Sprintf("### ❌ Failures (%d)\n\n", len(failed)), "", "| Check | Section | What went wrong |\n|:--|:--|:--|\n", failed,
			func(ch *Check) string {
				// The first line says what went wrong; the quoted exchange
				// that follows belongs in the HTML report.
				return fmt.Sprintf("| %s | %s | %s%s |\n", mdEscape(clipText(ch.Name, maxCell)), mdCode(ch.Section()), mdEscape(shortMessage(ch.Message, string(Failed))), mdRequirement(ch))
			})
		w.omitted.Failed += len(failed) - n
	}
	if len(warned) > 0 {
		n := writeTable(w, fmt.Sprintf("### ⚠️ Warnings (%d)\n\nSHOULD-level expectations not met; they do not fail the run.\n\n", len(warned)), "", "| Check | Section | What was expected |\n|:--|:--|:--|\n", warned,
			func(ch *Check) string {
				return fmt.Sprintf("| %s | %s | %s%s |\n", mdEscape(clipText(ch.Name, maxCell)), mdCode(ch.Section()), mdEscape(shortMessage(ch.Message, string(Warning))), mdRequirement(ch))
			})
		w.omitted.Warnings += len(warned) - n
	}
	writeLoad(w, m.Load)
	if len(skipped) > 0 {
		n := writeTable(w, fmt.Sprintf("### ⏭️ Skipped (%d)\n\n", len(skipped)), fmt.Sprintf("<details><summary>%d skipped checks and why</summary>\n\n", len(skipped)), "| Check | Section | Reason |\n|:--|:--|:--|\n", skipped,
			func(ch *Check) string {
				return fmt.Sprintf("| %s | %s | %s |\n", mdEscape(clipText(ch.Name, maxCell)), mdCode(ch.Section()), mdEscape(clipText(ch.Message, maxCell)))
			})
		w.omitted.Skipped += len(skipped) - n
	}
	if len(passed) > 0 {
		n := writeTable(w, fmt.Sprintf("### ✅ Passed (%d)\n\n", len(passed)), fmt.Sprintf("<details><summary>%d passed checks</summary>\n\n", len(passed)), "| Check | Section |\n|:--|:--|\n", passed,
			func(ch *Check) string {
				return fmt.Sprintf("| %s | %s |\n", mdEscape(clipText(ch.Name, maxCell)), mdCode(ch.Section()))
			})
		w.omitted.Passed += len(passed) - n
	}
}

// writeTable writes a heading, an optional <details> wrapper, the table
// head and as many rows as fit, and returns how many rows it wrote. The
// heading and head are written only when at least one row fits too.
func writeTable(w *mdWriter, heading, details, head string, rows []*Check, row func(*Check) string) int {
	closing := "\n"
	if details != "" {
		closing = "\n</details>\n\n"
	}
	first := row(rows[0])
	if !w.fits(heading + details + head + first + closing) {
		return 0
	}
	w.write(heading + details + head)
	n := 0
	for _, ch := range rows {
		r := row(ch)
		// Keep room for the closing tag of the <details>.
		if !w.fits(r + closing) {
			break
		}
		w.write(r)
		n++
	}
	w.b.WriteString(closing)
	return n
}

func writeLoad(w *mdWriter, runs []LoadRun) {
	if len(runs) == 0 {
		return
	}
	// p50 and p99 are of the latency the thresholds judge: per request for
	// poll runs, approval → token for flows (never end to end beside a
	// threshold on approval → token).
	head := "### Load\n\n| Run | Verdict | Rate achieved / intended | Dropped | p50 † | p99 † | Errors | Thresholds |\n|:--|:--|--:|--:|--:|--:|--:|:--|\n"
	if !w.write(head) {
		w.omittedRuns += len(runs)
		return
	}
	for i := range runs {
		r := mdLoadRow(&runs[i])
		if !w.fits(r + "\n") {
			w.omittedRuns += len(runs) - i
			break
		}
		w.write(r)
	}
	w.b.WriteString("\n† per request for poll runs, approval → token for flows: the latency the thresholds judge.\n\n")
	for i := range runs {
		if note := runs[i].SaturationNote(); note != "" {
			w.write("> ⚠️ " + mdEscape(clipText(runs[i].Label(), 60)) + ": " + mdEscape(clipText(note, 300)) + "\n\n")
		}
	}
}

// mdLoadRow is one run's row of the load table.
func mdLoadRow(l *LoadRun) string {
	var verdict string
	switch v := l.Verdict(); v {
	case "passed":
		verdict = "✅"
	case "failed":
		verdict = "❌"
	case "no thresholds":
		verdict = "⚪ no thresholds"
	default:
		verdict = "⚠️ " + mdEscape(clipText(v, 60))
	}
	dropped := strconv.FormatUint(l.Requests.Dropped, 10)
	if len(l.Warnings()) > 0 {
		dropped = "⚠️ " + dropped
	}
	judged, _ := l.JudgedLatency()
	intended := "max"
	if l.Rate.Intended > 0 {
		intended = fmtNum(round2(l.Rate.Intended)) + "/s"
	}
	var ths []string
	for _, t := range l.Thresholds {
		ths = append(ths, fmt.Sprintf("%s %s (%s)", t.Mark(), mdEscape(clipText(t.Expr, 60)), fmtThresholdValue(t)))
	}
	th := strings.Join(ths, "<br>")
	if th == "" {
		th = "–"
	}
	if l.Aborted != "" {
		th += "<br>aborted: " + mdEscape(clipText(l.Aborted, 100))
	}
	return fmt.Sprintf("| %s | %s | %s/s / %s | %s | %s | %s | %s | %s |\n",
		mdEscape(clipText(l.Label(), 60)), verdict, fmtNum(round2(l.Rate.Achieved)), intended, dropped,
		fmtMS(judged.P50), fmtMS(judged.P99), fmtPct(l.ErrorRate), th)
}

func truncationNote(w *mdWriter) string {
	var parts []string
	add := func(n int, what string) {
		if n > 0 {
			parts = append(parts, strconv.Itoa(n)+" "+what)
		}
	}
	add(w.omitted.Failed, string(Failed))
	add(w.omitted.Warnings, string(Warning))
	add(w.omitted.Skipped, string(Skipped))
	add(w.omitted.Passed, string(Passed))
	if len(parts) > 0 {
		parts[len(parts)-1] += " checks"
	}
	add(w.omittedRuns, "load runs")
	return fmt.Sprintf("> [!NOTE]\n> This summary is shortened to stay under the size limit: %s are not listed. The HTML report artifact has every check and chart.\n",
		strings.Join(parts, ", "))
}

// mdReplacer escapes what Markdown or the HTML GitHub allows in it would
// interpret, so text from the OP shows as typed.
var mdReplacer = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`,
	"<", "&lt;", ">", "&gt;", "&", "&amp;", "|", `\|`, "~", `\~`, "#", `\#`,
	"\r\n", " ", "\n", " ", "\r", " ",
)

// mdEscape escapes s for Markdown, after making its control characters
// and bidirectional overrides visible (safetext.Escape).
func mdEscape(s string) string {
	return mdReplacer.Replace(safetext.Escape(strings.ReplaceAll(s, "\r\n", "\n")))
}

// mdCode shows s as inline code when it can be, escaped text otherwise.
func mdCode(s string) string {
	s = safetext.Escape(clipText(s, maxCell))
	if s == "" || strings.ContainsAny(s, "`|\r\n") {
		return mdEscape(s)
	}
	return "`" + s + "`"
}

// mdRequirement is the sentence a failed or warned check enforces, for its
// table cell ("" when the producer gave none).
func mdRequirement(ch *Check) string {
	if ch.Quote == "" {
		return ""
	}
	return "<br>" + mdEscape(ch.Level) + ": " + mdEscape(clipText(ch.Quote, maxCell))
}
