package reports

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ciba-check/ciba-check/internal/safetext"
)

// RenderText writes the terminal summary of m's checks: the outcome per
// spec section (the rows and order of the HTML matrix), every warning and
// every failure in full, then the totals on one line starting with the
// profile. elapsed is the run's wall time. Checks the filters did not
// select are left out (a section with nothing else is not listed); checks
// the run stopped before are counted as not run, not as skipped. What the
// OP wrote is shown with its control characters escaped (safetext).
func RenderText(w io.Writer, m *Model, elapsed time.Duration) error {
	if err := m.Validate(); err != nil {
		return err
	}
	ew := &errWriter{w: w}
	writeSectionLines(ew, sectionRows(m))
	writeDetails(ew, m, Warning, "\nWarnings (SHOULD-level expectations not met; they do not fail the run)")
	writeDetails(ew, m, Failed, "\nFailures")
	writeTotals(ew, m, elapsed)
	return ew.err
}

func writeSectionLines(w io.Writer, rows []sectionRow) {
	fmt.Fprintln(w, "\nSummary by spec section")
	for _, r := range rows {
		skipped := r.Skipped - r.NotRun - r.NotSelected
		if r.Total() == r.NotSelected {
			continue
		}
		status := "ok"
		switch {
		case r.Failed > 0:
			status = "FAILED"
		case r.Warnings > 0:
			status = "WARN"
		case r.Passed == 0 && skipped > 0:
			// Nothing in the section was verified: not "ok".
			status = "SKIP"
		case r.Passed == 0:
			status = "NOTRUN"
		}
		warnings := "warnings"
		if r.Warnings == 1 {
			warnings = "warning " // the column stays aligned
		}
		line := fmt.Sprintf("  %-22s %-6s %3d passed %3d %s %3d failed %3d skipped", safetext.Line(r.Section), status, r.Passed, r.Warnings, warnings, r.Failed, skipped)
		if r.NotRun > 0 {
			line += fmt.Sprintf(" %3d not run", r.NotRun)
		}
		fmt.Fprintln(w, line)
	}
}

// writeDetails lists the checks of outcome o (Warning or Failed) under
// heading, each with its spec references, location and message.
func writeDetails(w io.Writer, m *Model, o Outcome, heading string) {
	first := true
	for i := range m.Checks {
		c := &m.Checks[i]
		if c.Outcome != o {
			continue
		}
		if first {
			fmt.Fprintln(w, heading)
			first = false
		}
		refs := safetext.Line(strings.Join(c.SpecRefs, ", "))
		if o == Warning {
			fmt.Fprintf(w, "\nWARN %s [%s]\n  at %s\n", safetext.Line(c.Name), refs, safetext.Line(c.Location))
		} else {
			fmt.Fprintf(w, "\n%s [%s] (%s)\n  at %s\n", safetext.Line(c.Name), refs, c.Outcome, safetext.Line(c.Location))
		}
		for _, line := range strings.Split(strings.TrimRight(c.Message, "\n"), "\n") {
			fmt.Fprintf(w, "  %s\n", safetext.Escape(line))
		}
	}
}

func writeTotals(w io.Writer, m *Model, elapsed time.Duration) {
	n := m.Counts()
	notSelected, notRun := 0, 0
	for i := range m.Checks {
		if m.Checks[i].Outcome != Skipped {
			continue
		}
		switch m.Checks[i].Message {
		case NotSelected:
			notSelected++
		case NotRun:
			notRun++
		}
	}
	fmt.Fprintf(w, "\n%s: %d passed, %s, %d failed, %d skipped", safetext.Line(m.Target.Profile), n.Passed, Count(n.Warnings, "warning", "warnings"), n.Failed, n.Skipped-notSelected-notRun)
	if notRun > 0 {
		fmt.Fprintf(w, ", %d not run (the run stopped early)", notRun)
	}
	if notSelected > 0 {
		fmt.Fprintf(w, " (%d not selected)", notSelected)
	}
	fmt.Fprintf(w, " in %s\n", elapsed.Round(10*time.Millisecond))
}

// errWriter keeps the first write error, so a renderer writes on and
// checks once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return len(p), nil
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
