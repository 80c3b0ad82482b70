package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/ciba-check/ciba-check/internal/safetext"
	"github.com/ciba-check/ciba-check/reports"
	"github.com/ciba-check/ciba-check/suites/conformance"
)

// runProgress prints a line per finished check when the output is not a
// terminal, and a rewritten status line ("[12/98] name, name") naming the
// checks running now when it is. Finished checks are reported in spec
// order, whatever order they ran in.
type runProgress struct {
	io    *IOStreams
	tty   bool
	total int
	done  int
	mu    sync.Mutex // running is called from the scheduler's workers
	now   []string
}

func newRunProgress(s *IOStreams) *runProgress { return &runProgress{io: s, tty: s.IsStdoutTTY()} }

func (p *runProgress) start(total int) {
	p.total = total
	fmt.Fprintf(p.io.Out, "running %d checks\n", total)
}

// running is told the checks running now.
func (p *runProgress) running(names []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.now = names
	p.status()
}

// status rewrites the status line; p.mu is held.
func (p *runProgress) status() {
	if p.tty && len(p.now) > 0 {
		fmt.Fprintf(p.io.Out, "\r\033[K[%d/%d] %s", p.done+1, p.total, clipLine(strings.Join(p.now, ", "), 160))
	}
}

func clipLine(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func (p *runProgress) check(c conformance.CheckResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	mark := map[bool]string{true: "FAIL", false: "ok  "}[c.Failed()]
	switch {
	case c.Warned():
		mark = "WARN"
	case c.Outcome == string(reports.Skipped):
		mark = "skip"
	}
	if p.tty {
		if c.Failed() || c.Warned() {
			fmt.Fprintf(p.io.Out, "\r\033[K%s %s — %s\n", mark, c.Name, runFirstLine(c.Failure))
		}
		p.status()
		return
	}
	line := fmt.Sprintf("%s [%d/%d] %s", mark, p.done, p.total, c.Name)
	switch {
	case c.Outcome == string(reports.Skipped) && c.SkipReason != "":
		line += " (" + runFirstLine(c.SkipReason) + ")"
	case c.Warned():
		line += " — " + runFirstLine(c.Failure)
	}
	fmt.Fprintln(p.io.Out, line)
}

func (p *runProgress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprint(p.io.Out, "\r\033[K")
	}
}

// runFirstLine is the first line of a message, its control characters
// escaped (safetext): messages quote what the OP answered.
func runFirstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return safetext.Line(s)
}

// printRunSummary prints the run's summary to the terminal: the reports
// text renderer over the same model and grouping as the HTML.
func printRunSummary(w io.Writer, checks []conformance.CheckResult, elapsed time.Duration, profile string) {
	m, err := conformance.RunModel(checks, conformance.ReportInfo{Profile: profile})
	if err == nil {
		err = reports.RenderText(w, m, elapsed)
	}
	if err != nil {
		fmt.Fprintf(w, "ciba-check: the summary cannot be printed: %s\n", safetext.Line(err.Error()))
	}
}
