package load

import (
	"fmt"
	"runtime"
	"time"

	"github.com/ciba-check/ciba-check/reports"
)

// Summary is the end-of-run result of a load run or a merge: the report
// model's load run itself, not a copy of it. reports.WriteLoadJSON writes
// it as the load summary of docs/load-schema.md (ciba-check/load/v1),
// reports.RenderLoadText as the terminal report.
type Summary = reports.LoadRun

// The parts of a summary are the report model's types.
type (
	// LatencySummary is a latency distribution in milliseconds.
	LatencySummary = reports.Latency
	// CPUSummary is the load generator's CPU use; the run's
	// CPUPerRequestMicros and CPUSharedWith complete it.
	CPUSummary = reports.LoadCPU
)

// SaturatedVerdict is the verdict of a run whose generator was the
// bottleneck. The figures then say what the generator managed, not what
// the OP can take.
const SaturatedVerdict = "generator saturated: figures are a lower bound on the OP's capacity"

// SaturatedCPU is the share of the cores above which the generator's CPU
// counts as saturated.
const SaturatedCPU = 0.9

// GeneratorSummary is what the load generator itself did
// (reports.LoadGenerator, with the methods that fill it). Saturated is
// set when the generator was the bottleneck: it dropped hits, its
// in-flight requests reached the cap at a fixed rate, or its CPU was busy
// over SaturatedCPU of the cores (only judged when the OP ran elsewhere).
// Reasons say which; Verdict is SaturatedVerdict, for reports to quote.
type GeneratorSummary reports.LoadGenerator

func (g *GeneratorSummary) setConns(st *ConnStats, before ConnCounts) {
	if st == nil {
		return
	}
	now := st.Counts()
	g.Connections = &reports.LoadConnections{
		Opened: now.Opened - before.Opened, TLSHandshakes: now.Handshakes - before.Handshakes, Resumed: now.Resumed - before.Resumed,
		PeakOpen: now.PeakOpen,
	}
}

// judge sets Saturated and Reasons from the run's figures.
func (g *GeneratorSummary) judge(s *Summary, rateMax bool) {
	g.Reasons = nil
	if !rateMax {
		if d := s.Requests.Dropped; d > 0 {
			g.Reasons = append(g.Reasons, fmt.Sprintf("%d of %d intended hits dropped (could not start on time)", d, s.Requests.Intended))
		}
		if g.MaxInFlight > 0 && g.PeakInFlight >= uint64(g.MaxInFlight) {
			g.Reasons = append(g.Reasons, fmt.Sprintf("in-flight reached the cap of %d (--max-in-flight)", g.MaxInFlight))
		}
	}
	if c := s.CPU; c != nil && !c.IncludesTarget && c.Busy >= SaturatedCPU {
		g.Reasons = append(g.Reasons, fmt.Sprintf("generator CPU %.0f%% of %d cores", c.Busy*100, c.Cores))
	}
	g.Saturated = len(g.Reasons) > 0
	g.Verdict = ""
	if g.Saturated {
		g.Verdict = SaturatedVerdict
	}
}

func durMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ms writes v milliseconds as a duration to 10 µs.
func ms(v float64) string {
	return time.Duration(v * float64(time.Millisecond)).Round(10 * time.Microsecond).String()
}

// ProcessCPU is the user+system CPU time the process has used so far;
// false where it cannot be measured.
func ProcessCPU() (time.Duration, bool) { return processCPU() }

// ShareCPU sets, on summaries of runs that went at the same time in one
// process (load flow --mode both), the CPU the process used over all of
// them: one combined figure, since process CPU cannot be split between
// goroutines. CPUPerRequestMicros is it over the requests (flows) of all
// the runs; each names the others in CPUSharedWith. Nil summaries are
// skipped.
func ShareCPU(sums []*Summary, cpu time.Duration) {
	var sent uint64
	var dur float64
	var all []string
	for _, s := range sums {
		if s != nil {
			sent += s.Requests.Sent
			dur = max(dur, s.DurationSeconds)
			all = append(all, s.Scenario)
		}
	}
	cores := runtime.GOMAXPROCS(0)
	for _, s := range sums {
		if s == nil {
			continue
		}
		c := CPUSummary{Seconds: cpu.Seconds(), Cores: cores, IncludesTarget: s.CPU != nil && s.CPU.IncludesTarget}
		s.CPUPerRequestMicros = 0
		if sent > 0 {
			s.CPUPerRequestMicros = c.Seconds * 1e6 / float64(sent)
		}
		if dur > 0 {
			c.Busy = c.Seconds / (dur * float64(cores))
		}
		s.CPUSharedWith = nil
		for _, o := range all {
			if o != s.Scenario {
				s.CPUSharedWith = append(s.CPUSharedWith, o)
			}
		}
		s.CPU = &c
		if s.Generator != nil {
			g := GeneratorSummary(*s.Generator)
			g.judge(s, s.Rate.Requested == "max")
			s.Generator = (*reports.LoadGenerator)(&g)
		}
	}
}
