package reports

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ciba-check/ciba-check/internal/safetext"
)

// RenderLoadText writes the terminal end-of-run report of m's load runs,
// k6-style: each run's figures, then every threshold with ✓ or ✗ and the
// value measured; runs of one kind (flows, polls) side by side after
// them, with the rows of the HTML comparison. What the OP wrote (error
// codes, unexpected answers) is shown escaped (safetext).
func RenderLoadText(w io.Writer, m *Model) error {
	ew := &errWriter{w: w}
	for i := range m.Load {
		if len(m.Load) > 1 {
			fmt.Fprintln(ew)
		}
		writeLoadText(ew, &m.Load[i])
	}
	for _, cv := range loadComparisons(m.Load) {
		writeCompareText(ew, cv)
	}
	return ew.err
}

func writeLoadText(w io.Writer, l *LoadRun) {
	writeLoadHead(w, l)
	writeLoadCounts(w, l)
	writeLoadGenerator(w, l)
	writeLoadVerdict(w, l)
}

// writeLoadHead writes what ran: scenario, client, target, shards,
// duration and rates.
func writeLoadHead(w io.Writer, l *LoadRun) {
	unit := l.UnitName() + "s"
	fmt.Fprintf(w, "scenario      %s", l.Scenario)
	if l.ClientID != "" {
		fmt.Fprintf(w, " (client %s)", l.ClientID)
	}
	fmt.Fprintln(w)
	if l.Target != "" {
		fmt.Fprintf(w, "target        %s\n", l.Target)
	}
	if len(l.Shards) > 0 {
		fmt.Fprintf(w, "shards        %s\n", strings.Join(l.Shards, " "))
	}
	fmt.Fprintf(w, "duration      %.2fs\n", l.DurationSeconds)
	if drain := l.DurationSeconds - l.SendSeconds; l.SendSeconds > 0 && drain >= 0.005 {
		fmt.Fprintf(w, "rate          requested %s, sent %.1f/s over %.2fs, achieved %.1f/s over %.2fs (incl. %.2fs draining in-flight %s)\n",
			l.Rate.Requested, l.Rate.Sent, l.SendSeconds, l.Rate.Achieved, l.DurationSeconds, drain, unit)
	} else {
		fmt.Fprintf(w, "rate          requested %s, sent %.1f/s, achieved %.1f/s\n", l.Rate.Requested, l.Rate.Sent, l.Rate.Achieved)
	}
}

// writeLoadCounts writes the requests (flows), answers, latencies and
// the status, error and CPU figures.
func writeLoadCounts(w io.Writer, l *LoadRun) {
	unit := l.UnitName() + "s"
	fmt.Fprintf(w, "%-13s intended %d, sent %d, dropped %d\n", unit, l.Requests.Intended, l.Requests.Sent, l.Requests.Dropped)
	fmt.Fprintf(w, "answers       ok %d, expected %d, unexpected %d (error rate %.4f%%)\n",
		l.Requests.OK, l.Requests.Expected, l.Requests.Unexpected, l.ErrorRate*100)
	latName := "latency"
	if l.IsFlow() {
		latName = "end-to-end"
	}
	writeLatencyText(w, latName, l.LatencyMS)
	if l.ApprovalToTokenMS != nil {
		writeLatencyText(w, "approval→token", *l.ApprovalToTokenMS)
	}
	fmt.Fprintf(w, "status        %s\n", countList(l.Status))
	if len(l.OAuthErrors) > 0 {
		fmt.Fprintf(w, "oauth errors  %s\n", countList(l.OAuthErrors))
	}
	for _, e := range l.Errors {
		fmt.Fprintf(w, "  unexpected  %d × %s\n", e.Count, safetext.Line(e.Error))
	}
	if c := l.CPU; c != nil {
		fmt.Fprint(w, "cpu           ")
		// A model saved before runs carried their CPU seconds has the
		// figure per request only: say nothing of the seconds, rather
		// than 0.00s as if it were measured.
		if c.Seconds > 0 {
			fmt.Fprintf(w, "%.2fs, ", c.Seconds)
		}
		fmt.Fprintf(w, "%.0fµs per %s", c.PerRequestMicros, l.UnitName())
		if c.Cores > 0 {
			fmt.Fprintf(w, ", %.0f%% of %d cores", c.Busy*100, c.Cores)
		}
		if c.IncludesTarget {
			fmt.Fprint(w, " (includes the embedded OP)")
		}
		if len(c.SharedWith) > 0 {
			fmt.Fprintf(w, " (one figure for %s and %s: they ran at once in one process)", l.Scenario, strings.Join(c.SharedWith, ", "))
		}
		if c.Attribution != "" {
			fmt.Fprintf(w, " (this mode's own, %s; the process used %.2fs)", safetext.Line(c.Attribution), c.ProcessSeconds)
		}
		fmt.Fprintln(w)
	}
}

// writeLoadGenerator writes what the generator itself did: in flight,
// connections, the assertion pool.
func writeLoadGenerator(w io.Writer, l *LoadRun) {
	if g := l.Generator; g != nil {
		fmt.Fprintf(w, "in flight     peak %d of cap %d", g.PeakInFlight, g.MaxInFlight)
		if g.WarmUpMS > 0 {
			fmt.Fprintf(w, " (cap sized from a %s warm-up latency)", durText(g.WarmUpMS))
		}
		if g.DroppedAtCap+g.DroppedLate > 0 {
			fmt.Fprintf(w, "; dropped %d at the cap, %d late", g.DroppedAtCap, g.DroppedLate)
		}
		fmt.Fprintln(w)
		if c := g.Connections; c != nil {
			fmt.Fprintf(w, "connections   %d opened (at most %d at once), %d TLS handshakes (%d resumed)", c.Opened, c.PeakOpen, c.TLSHandshakes, c.Resumed)
			if c.WaitedForStream > 0 {
				fmt.Fprintf(w, "; %d requests waited for a stream", c.WaitedForStream)
			}
			fmt.Fprintln(w)
		}
	}
	if p := l.Pool; p != nil {
		fmt.Fprintf(w, "assertions    signed %d, used %d, discarded stale %d, pool empty %d times\n", p.Signed, p.Taken, p.Stale, p.Waits)
	}
}

// writeLoadVerdict writes why the run stopped, the warnings, and every
// threshold with what was measured.
func writeLoadVerdict(w io.Writer, l *LoadRun) {
	if l.Aborted != "" {
		fmt.Fprintf(w, "aborted       %s\n", l.Aborted)
	}
	if d := l.Requests.Dropped; d > 0 {
		fmt.Fprintf(w, "warning       %d of %d intended %ss dropped (%.1f%%): the OP saw less load than asked for\n",
			d, l.Requests.Intended, l.UnitName(), float64(d)*100/float64(max(l.Requests.Intended, 1)))
	}
	if note := l.SaturationNote(); note != "" {
		fmt.Fprintf(w, "verdict       %s\n", note)
	}
	if len(l.Thresholds) == 0 {
		fmt.Fprintln(w, "thresholds    none set: nothing was judged")
		return
	}
	fmt.Fprintln(w, "thresholds")
	for _, t := range l.Thresholds {
		fmt.Fprintf(w, "  %s %s  (measured %s)\n", t.Mark(), t.Expr, thresholdText(t))
	}
}

func writeLatencyText(w io.Writer, name string, l Latency) {
	fmt.Fprintf(w, "%-13s min %s, avg %s, p50 %s, p90 %s, p99 %s, max %s\n", name,
		durText(l.Min), durText(l.Mean), durText(l.P50), durText(l.P90), durText(l.P99), durText(l.Max))
}

// durText writes milliseconds as a duration to 10 µs: "2.65ms".
func durText(ms float64) string {
	return time.Duration(ms * float64(time.Millisecond)).Round(10 * time.Microsecond).String()
}

func thresholdText(t Threshold) string {
	switch t.Unit {
	case "ms":
		return durText(t.Value)
	case "/s":
		return fmt.Sprintf("%.1f/s", t.Value)
	default:
		return fmt.Sprintf("%.4f", t.Value)
	}
}

// countList writes counts as "key×n" sorted by key, "-" when none.
func countList(m map[string]uint64) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s×%d", safetext.Line(k), m[k]))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// writeCompareText writes runs side by side, one metric a row.
func writeCompareText(w io.Writer, cv *compareView) {
	fmt.Fprintf(w, "\n%-24s", cv.Title)
	for _, r := range cv.Runs {
		fmt.Fprintf(w, " %14s", r.Label())
	}
	fmt.Fprintln(w)
	for _, row := range cv.Rows {
		fmt.Fprintf(w, "%-24s", row.Metric)
		for _, v := range row.Values {
			fmt.Fprintf(w, " %14s", v)
		}
		fmt.Fprintln(w)
	}
}
