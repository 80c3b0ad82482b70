package load

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/google/pprof/profile"

	"github.com/ciba-check/ciba-check/internal/targetclient"
	"github.com/ciba-check/ciba-check/reports"
)

// CPU per mode when flow modes run at once in one process (load flow
// --mode both or all). The process's CPU (getrusage) is then the modes' work plus
// work of neither, and the kernel cannot split it between goroutines. So
// it is sampled: RunFlows labels its goroutine with its scenario
// (cpuLabelKey), and pprof labels pass to every goroutine started from it:
// its flows, their HTTP connections and TLS handshakes, its collector.
// The notification receivers carry targetclient.ReceiverLabel (they serve
// ping and push: their samples go to those runs in proportion to their
// flows, receiverShares). While the modes run, Go's CPU
// profiler samples the process (100 Hz); a mode's CPU is the process's
// CPU times its share of the samples. Samples without a mode (the
// runtime's background GC, the embedded OP and device when in process,
// connections opened before the runs) are charged to none, so the modes'
// figures sum to at most the process's and never count it twice. A
// connection both modes use (the device driver's) carries the label of
// the flow that opened it, so its reading goroutine is charged to that
// mode.
//
// The profiler is one per process: when it is already running (e.g. `go
// test -cpuprofile`), the modes get the one combined figure (ShareCPU).

// cpuLabelKey is the pprof label whose value is the scenario of a flow run.
const cpuLabelKey = "ciba-check-load"

// AttributionSampled is reports.LoadCPU.Attribution for a figure sampled per
// mode.
const AttributionSampled = "sampled per mode"

// withScenarioLabel runs f with the calling goroutine (and so every
// goroutine f starts) labelled with scenario.
func withScenarioLabel(ctx context.Context, scenario Scenario, f func(context.Context)) {
	pprof.Do(ctx, pprof.Labels(cpuLabelKey, string(scenario)), f)
}

// flowCPU measures the CPU of flow runs going at once.
type flowCPU struct {
	cpu0 time.Duration
	ok   bool
	// prof receives the CPU profile; nil when not sampling.
	prof *bytes.Buffer
}

// startFlowCPU starts measuring the CPU of runs flow runs about to start
// at once; with one run there is nothing to split (RunFlows measures it).
func startFlowCPU(runs int) *flowCPU {
	f := &flowCPU{}
	if runs < 2 {
		return f
	}
	f.cpu0, f.ok = processCPU()
	if !f.ok {
		return f
	}
	buf := &bytes.Buffer{}
	if pprof.StartCPUProfile(buf) == nil {
		f.prof = buf
	}
	return f
}

// attribute sets each summary's CPU once the runs have ended: its mode's
// sampled share of the process's CPU, or, when the profile could not be
// taken, the process's combined figure (ShareCPU).
func (f *flowCPU) attribute(sums []*reports.LoadRun) {
	if f.prof != nil {
		pprof.StopCPUProfile()
	}
	cpu1, ok := processCPU()
	if !f.ok || !ok {
		return
	}
	process := cpu1 - f.cpu0
	if f.prof == nil {
		ShareCPU(sums, process)
		return
	}
	shares, err := scenarioShares(f.prof)
	if err != nil {
		ShareCPU(sums, process)
		return
	}
	attributeCPU(sums, process, shares)
}

// scenarioShares reads a CPU profile and returns, per value of
// cpuLabelKey (and targetclient.ReceiverLabel), its share of all the CPU
// sampled.
func scenarioShares(r io.Reader) (map[string]float64, error) {
	p, err := profile.Parse(r)
	if err != nil {
		return nil, fmt.Errorf("load: reading the CPU profile: %w", err)
	}
	cpuAt := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" {
			cpuAt = i
		}
	}
	if cpuAt < 0 {
		return nil, fmt.Errorf("load: the profile has no cpu samples")
	}
	var total int64
	by := map[string]int64{}
	for _, s := range p.Sample {
		v := s.Value[cpuAt]
		total += v
		if l := s.Label[cpuLabelKey]; len(l) > 0 {
			by[l[0]] += v
		} else if l := s.Label[targetclient.ReceiverLabelKey]; len(l) > 0 && l[0] == targetclient.ReceiverLabel {
			by[targetclient.ReceiverLabel] += v
		}
	}
	shares := make(map[string]float64, len(by))
	if total > 0 {
		for k, v := range by {
			shares[k] = float64(v) / float64(total)
		}
	}
	return shares, nil
}

// attributeCPU gives each summary its scenario's share of process (the
// receivers' share to ping). The saturation verdict is judged first on
// the whole process's CPU (ShareCPU), since the process is what
// saturates; the figure then shown is the mode's.
func attributeCPU(sums []*reports.LoadRun, process time.Duration, shares map[string]float64) {
	attributeCPUOn(sums, process, shares, runtime.GOMAXPROCS(0))
}

// attributeCPUOn is attributeCPU with the cores given.
func attributeCPUOn(sums []*reports.LoadRun, process time.Duration, shares map[string]float64, cores int) {
	shareCPUOn(sums, process, cores)
	receiverShare := receiverShares(sums, shares[targetclient.ReceiverLabel])
	for i, s := range sums {
		if s == nil || s.CPU == nil {
			continue
		}
		share := shares[s.Scenario] + receiverShare[i]
		c := *s.CPU
		c.ProcessSeconds = c.Seconds
		c.Seconds = c.ProcessSeconds * share
		c.PerRequestMicros = 0
		if s.Requests.Sent > 0 {
			c.PerRequestMicros = c.Seconds * 1e6 / float64(s.Requests.Sent)
		}
		if c.Cores > 0 && s.DurationSeconds > 0 {
			c.Busy = c.Seconds / (s.DurationSeconds * float64(c.Cores))
		}
		// The figure is this mode's goroutines': neither combined nor
		// the embedded OP's.
		c.SharedWith, c.IncludesTarget = nil, false
		c.Attribution = AttributionSampled
		s.CPU = &c
	}
}

// receiverShares splits the receivers' share among the runs they serve:
// ping and push share one receiver per listen address, so its share goes
// to them in proportion to their flows.
func receiverShares(sums []*reports.LoadRun, share float64) []float64 {
	out := make([]float64, len(sums))
	var flows uint64
	for _, s := range sums {
		if notified(s) {
			flows += s.Requests.Sent
		}
	}
	for i, s := range sums {
		switch {
		case !notified(s):
		case flows == 0:
			out[i] = share // one notified run, or none sent: undivided
		default:
			out[i] = share * float64(s.Requests.Sent) / float64(flows)
		}
	}
	return out
}

// notified reports whether s's tokens come by notification (ping, push).
func notified(s *reports.LoadRun) bool {
	return s != nil && (s.Scenario == string(ScenarioFlowPing) || s.Scenario == string(ScenarioFlowPush))
}
