package load

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/ciba-check/ciba-check/clock"
)

// Progress intervals: a terminal is redrawn a few times a second; a log
// gets one line every few seconds.
const (
	TTYRefresh = 250 * time.Millisecond
	LogRefresh = 5 * time.Second
)

// Progress writes the live state of a run to W (stderr): one redrawn line
// on a terminal, a plain line every LogRefresh otherwise. vegeta has no
// such display; k6 does.
type Progress struct {
	W     io.Writer
	TTY   bool
	Clock clock.Clock
}

// Line renders one progress line.
func (p *Progress) Line(s Snapshot) string {
	total := ""
	if s.Total > 0 {
		total = "/" + s.Total.Round(time.Second).String()
	}
	line := fmt.Sprintf("%s%s  %d sent  %.1f/s ok  p99 %s  %d unexpected",
		s.Elapsed.Round(time.Second), total, s.Count, s.Rate, s.P99.Round(10*time.Microsecond), s.Unexpected)
	if s.Dropped > 0 {
		line += fmt.Sprintf("  %d dropped", s.Dropped)
	}
	return line
}

// Write draws one update.
func (p *Progress) Write(s Snapshot) {
	if p.TTY {
		// \r and erase-line redraw in place (ECMA-48 EL).
		fmt.Fprintf(p.W, "\r\x1b[K%s", p.Line(s))
		return
	}
	fmt.Fprintln(p.W, p.Line(s))
}

// Run draws updates from snapshot until ctx ends, then ends a terminal
// line so the summary starts on its own.
func (p *Progress) Run(ctx context.Context, snapshot func() Snapshot) {
	clk := p.Clock
	if clk == nil {
		clk = clock.Real{}
	}
	every := LogRefresh
	if p.TTY {
		every = TTYRefresh
	}
	for {
		tick := make(chan struct{})
		t := clk.AfterFunc(every, func() { close(tick) })
		select {
		case <-ctx.Done():
			t.Stop()
			if p.TTY {
				p.Write(snapshot())
				fmt.Fprintln(p.W)
			}
			return
		case <-tick:
			p.Write(snapshot())
		}
	}
}
