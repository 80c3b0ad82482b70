package load

import (
	"cmp"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/ciba-check/ciba-check/reports"
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
		PeakOpen: now.PeakOpen, WaitedForStream: now.WaitedForStream - before.WaitedForStream,
	}
}

// judge sets Saturated and Reasons from the run's figures.
func (g *GeneratorSummary) judge(s *reports.LoadRun, rateMax bool) {
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
// them: one combined figure, for when it cannot be sampled per mode
// (cpu_attr.go). CPU.PerRequestMicros is it over the requests (flows) of
// all the runs; each names the others in CPU.SharedWith. Nil summaries are
// skipped.
func ShareCPU(sums []*reports.LoadRun, cpu time.Duration) {
	shareCPUOn(sums, cpu, runtime.GOMAXPROCS(0))
}

// shareCPUOn is ShareCPU with the cores given.
func shareCPUOn(sums []*reports.LoadRun, cpu time.Duration, cores int) {
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
	for _, s := range sums {
		if s == nil {
			continue
		}
		c := reports.LoadCPU{Seconds: cpu.Seconds(), Cores: cores, IncludesTarget: s.CPU != nil && s.CPU.IncludesTarget}
		if sent > 0 {
			c.PerRequestMicros = c.Seconds * 1e6 / float64(sent)
		}
		if dur > 0 {
			c.Busy = c.Seconds / (dur * float64(cores))
		}
		for _, o := range all {
			if o != s.Scenario {
				c.SharedWith = append(c.SharedWith, o)
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

func latencySummary(l vegeta.LatencyMetrics, n uint64) reports.Latency {
	if n == 0 {
		return reports.Latency{}
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return reports.Latency{
		Min: ms(l.Min), Mean: ms(l.Total / time.Duration(n)),
		P50: ms(l.Quantile(0.5)), P90: ms(l.Quantile(0.9)), P95: ms(l.Quantile(0.95)),
		P99: ms(l.Quantile(0.99)), Max: ms(l.Max),
	}
}

// RunInfo is what the runner knows beyond the results.
type RunInfo struct {
	Target, ClientID string
	Shards           []string
	Rate             Rate
	// Planned is the requested duration; Elapsed the measured one (0:
	// the span of the results).
	Planned, Elapsed time.Duration
	// Intended and Dropped come from the Pacer; with Intended 0 and a
	// constant rate, intended is rate × duration.
	Intended, Dropped uint64
	CPU               *reports.LoadCPU
	Pool              *reports.LoadPool
	Generator         *GeneratorSummary
	Thresholds        []Threshold
	Aborted           string
}

// cpuSince is the process CPU used since cpu0 (taken when cpu0OK), keeping
// prev's note on whether the target's CPU is included; prev when the CPU
// cannot be measured.
func cpuSince(cpu0 time.Duration, cpu0OK bool, prev *reports.LoadCPU) *reports.LoadCPU {
	cpu1, ok := processCPU()
	if !ok || !cpu0OK {
		return prev
	}
	cpu := reports.LoadCPU{Seconds: (cpu1 - cpu0).Seconds(), Cores: runtime.GOMAXPROCS(0)}
	if prev != nil {
		cpu.IncludesTarget = prev.IncludesTarget
	}
	return &cpu
}

// Summary builds the end-of-run result.
func (r *Recorder) Summary(info RunInfo) *reports.LoadRun {
	r.mu.Lock()
	defer r.mu.Unlock()
	elapsed := info.Elapsed
	if elapsed <= 0 {
		elapsed = r.span()
	}
	// Requests were started during the planned duration (or until the
	// run ended early); after it, only in-flight ones completed. The send
	// rate and the intended count are over the first, the achieved rate
	// over the whole run.
	sendWindow := elapsed
	if info.Planned > 0 && info.Planned < elapsed {
		sendWindow = info.Planned
	}
	s := &reports.LoadRun{
		Scenario:        string(r.scenario),
		Mode:            reports.ModeOfScenario(string(r.scenario)),
		Target:          info.Target,
		ClientID:        info.ClientID,
		Shards:          info.Shards,
		Started:         r.start.UTC(),
		DurationSeconds: elapsed.Seconds(),
		SendSeconds:     sendWindow.Seconds(),
		Requests:        r.countsLocked(info, sendWindow),
		LatencyMS:       latencySummary(r.m.Latencies, r.m.Requests),
		Status:          map[string]uint64{},
		OAuthErrors:     maps.Clone(r.oauth),
		Errors:          r.errorsLocked(),
		CPU:             info.CPU,
		Pool:            info.Pool,
		Aborted:         info.Aborted,
		Series:          r.series.series(),
		Histogram:       r.series.histogram(),
	}
	for code, n := range r.m.StatusCodes {
		s.Status[code] = uint64(n)
	}
	if r.scenario != ScenarioPoll {
		a := latencySummary(r.approval, r.approvalN)
		s.ApprovalToTokenMS = &a
	}
	s.Rate = rates(info.Rate, s.Requests, sendWindow, elapsed)
	if sent := s.Requests.Sent; sent > 0 {
		s.ErrorRate = float64(s.Requests.Unexpected) / float64(sent)
	}
	setCPU(s, elapsed)
	if info.Generator != nil {
		g := *info.Generator
		g.judge(s, info.Rate.Max)
		s.Generator = (*reports.LoadGenerator)(&g)
	}
	s.Thresholds, s.Passed = r.evaluateLocked(info.Thresholds, elapsed)
	if s.Aborted != "" {
		// A run stopped early (interrupted, or a threshold broke under
		// --abort-on-fail) measured less than it was asked to: no pass.
		s.Passed = false
	}
	return s
}

// countsLocked counts the requests (flows): intended over the send
// window (from the pacer when it counted them), sent, dropped and how
// the answers were classed.
func (r *Recorder) countsLocked(info RunInfo, sendWindow time.Duration) reports.LoadCount {
	sent := r.m.Requests
	intended := info.Intended
	if intended == 0 && !info.Rate.Max {
		intended = info.Rate.hitsBefore(sendWindow)
	}
	if info.Rate.Max {
		intended = sent + info.Dropped
	}
	dropped := info.Dropped
	if intended > sent+dropped {
		dropped = intended - sent
	}
	return reports.LoadCount{
		Intended: intended, Sent: sent, Dropped: dropped,
		OK: r.classes[ClassOK], Expected: r.classes[ClassExpected], Unexpected: r.classes[ClassUnexpected],
	}
}

// rates are the rates of a run at rate whose requests (flows) were
// sent during sendWindow and answered by the end of elapsed: sent per
// second of the first, successful answers per second of the second.
func rates(rate Rate, c reports.LoadCount, sendWindow, elapsed time.Duration) reports.LoadRate {
	out := reports.LoadRate{Requested: rate.String(), Intended: rate.PerSecond()}
	if sendWindow > 0 {
		out.Sent = float64(c.Sent) / sendWindow.Seconds()
	}
	if elapsed > 0 {
		out.Achieved = float64(c.OK+c.Expected) / elapsed.Seconds()
	}
	return out
}

// errorsLocked are the unexpected answers by kind, most frequent first.
func (r *Recorder) errorsLocked() []reports.ErrorCount {
	var out []reports.ErrorCount
	for msg, n := range r.errs {
		out = append(out, reports.ErrorCount{Error: msg, Count: n})
	}
	if r.otherErrs > 0 {
		out = append(out, reports.ErrorCount{Error: "(other kinds)", Count: r.otherErrs})
	}
	slices.SortFunc(out, func(a, b reports.ErrorCount) int {
		if a.Count != b.Count {
			return cmp.Compare(b.Count, a.Count)
		}
		return cmp.Compare(a.Error, b.Error)
	})
	return out
}

// setCPU derives the CPU per request and the share of the cores busy
// from the CPU seconds measured over elapsed.
func setCPU(s *reports.LoadRun, elapsed time.Duration) {
	cpu := s.CPU
	if cpu == nil {
		return
	}
	if sent := s.Requests.Sent; sent > 0 {
		cpu.PerRequestMicros = cpu.Seconds * 1e6 / float64(sent)
	}
	if cpu.Cores > 0 && elapsed > 0 {
		cpu.Busy = cpu.Seconds / (elapsed.Seconds() * float64(cpu.Cores))
	}
}
