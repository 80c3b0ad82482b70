package load

import (
	"bytes"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/ciba-check/ciba-check/internal/targetclient"
	"github.com/ciba-check/ciba-check/reports"
)

// cpuProfile builds a CPU profile with one sample per entry: its CPU
// nanoseconds and labels.
func cpuProfile(t *testing.T, samples []labelled) *bytes.Buffer {
	t.Helper()
	fn := &profile.Function{ID: 1, Name: "f"}
	loc := &profile.Location{ID: 1, Line: []profile.Line{{Function: fn}}}
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		Function:   []*profile.Function{fn}, Location: []*profile.Location{loc},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"}, Period: 1e7,
	}
	for _, s := range samples {
		p.Sample = append(p.Sample, &profile.Sample{Location: []*profile.Location{loc}, Value: []int64{s.ns / 1e7, s.ns}, Label: s.labels})
	}
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return &buf
}

type labelled struct {
	ns     int64
	labels map[string][]string
}

func mode(s Scenario) map[string][]string { return map[string][]string{cpuLabelKey: {string(s)}} }

// TestAttributeCPUChargesEachModeItsSamples: with modes run at once, each
// summary's CPU is the process's CPU times its mode's share of the
// samples (the receiver's to ping), unlabelled work goes to neither, the
// figures sum to at most the process's, and the saturation verdict is
// still judged on the whole process.
func TestAttributeCPUChargesEachModeItsSamples(t *testing.T) {
	receiver := map[string][]string{targetclient.ReceiverLabelKey: {targetclient.ReceiverLabel}}
	for _, tt := range []struct {
		name               string
		samples            []labelled
		process            time.Duration
		wantPoll, wantPing float64 // seconds
		wantSaturated      bool
	}{
		{"modes, receiver and unlabelled work", []labelled{{4e8, mode(ScenarioFlowPoll)}, {2e8, mode(ScenarioFlowPing)}, {1e8, receiver}, {3e8, nil}},
			2 * time.Second, 0.8, 0.6, false},
		{"one mode did all", []labelled{{5e8, mode(ScenarioFlowPoll)}}, time.Second, 1, 0, false},
		{"no samples", nil, time.Second, 0, 0, false},
		// 3.8 s of 2 cores for 2 s is 95%: the process saturated, though
		// neither mode's share alone is over 90%.
		{"saturated process", []labelled{{1e9, mode(ScenarioFlowPoll)}, {1e9, mode(ScenarioFlowPing)}}, 3800 * time.Millisecond, 1.9, 1.9, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			shares, err := scenarioShares(cpuProfile(t, tt.samples))
			if err != nil {
				t.Fatal(err)
			}
			sums := []*reports.LoadRun{
				{Scenario: string(ScenarioFlowPoll), DurationSeconds: 2, Requests: reports.LoadCount{Sent: 10}, Generator: &reports.LoadGenerator{}},
				{Scenario: string(ScenarioFlowPing), DurationSeconds: 2, Requests: reports.LoadCount{Sent: 5}, Generator: &reports.LoadGenerator{}},
			}
			attributeCPUOn(sums, tt.process, shares, 2)
			poll, ping := sums[0].CPU, sums[1].CPU
			for _, c := range []struct {
				sum  *reports.LoadRun
				want float64
				sent float64
			}{{sums[0], tt.wantPoll, 10}, {sums[1], tt.wantPing, 5}} {
				got := c.sum.CPU
				if math.Abs(got.Seconds-c.want) > 1e-9 || got.ProcessSeconds != tt.process.Seconds() || got.Attribution != AttributionSampled {
					t.Fatalf("cpu %+v, want %.2fs of the process's %v, sampled", got, c.want, tt.process)
				}
				if math.Abs(got.PerRequestMicros-c.want*1e6/c.sent) > 1e-6 || len(got.SharedWith) > 0 {
					t.Fatalf("cpu %+v, %.0fµs per flow, shared with %v: per flow must be the mode's own over its flows, not shared",
						got, got.PerRequestMicros, got.SharedWith)
				}
			}
			if poll.Seconds+ping.Seconds > tt.process.Seconds()+1e-9 {
				t.Fatalf("poll %.2fs + ping %.2fs exceed the process's %v", poll.Seconds, ping.Seconds, tt.process)
			}
			for _, s := range sums {
				if s.Generator.Saturated != tt.wantSaturated {
					t.Fatalf("%s saturated %v (%v), want %v", s.Scenario, s.Generator.Saturated, s.Generator.Reasons, tt.wantSaturated)
				}
			}
		})
	}
}

// TestFlowModesSideBySideCPUIsPerMode runs poll and ping flows at once, as
// `load flow --mode both` does, and checks that each mode's CPU is its own
// sampled share: neither the whole process's, together above 0 and at
// most the process's (the old figure gave each the whole, twice in all).
func TestFlowModesSideBySideCPUIsPerMode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs flows against the embedded OP")
	}
	fw := startFlowWorld(t)
	ids := []string{"poll-mtls", "ping-mtls"}
	cfgs := make([]FlowConfig, len(ids))
	for i, id := range ids {
		w := newWorld(t, fw.env, id)
		cfgs[i] = FlowConfig{
			RunOptions: RunOptions{Rate: Rate{Freq: 20, Per: time.Second}, Duration: time.Second},
			Client:     w.c, Receiver: fw.receivers.For(id), Device: fw.driver, User: w.user,
		}
	}
	cpu := startFlowCPU(len(cfgs))
	if cpu.prof == nil {
		t.Skip("the CPU profiler is in use (-cpuprofile?): the modes get the combined figure")
	}
	sums := make([]*reports.LoadRun, len(cfgs))
	errs := make([]error, len(cfgs))
	var wg sync.WaitGroup
	for i := range cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sums[i], errs[i] = RunFlows(t.Context(), cfgs[i])
		}()
	}
	wg.Wait()
	cpu.attribute(sums)
	var total float64
	for i, s := range sums {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		c := s.CPU
		if s.Requests.OK == 0 || c == nil || c.Attribution != AttributionSampled {
			t.Fatalf("%s: requests %+v cpu %+v", s.Scenario, s.Requests, c)
		}
		if c.ProcessSeconds <= 0 || c.Seconds >= c.ProcessSeconds {
			t.Fatalf("%s: %.3fs of the process's %.3fs: want its own share, below the whole", s.Scenario, c.Seconds, c.ProcessSeconds)
		}
		total += c.Seconds
		t.Logf("%s: %d flows, %.3fs CPU (%.0fµs per flow) of the process's %.3fs", s.Scenario, s.Requests.Sent, c.Seconds, c.PerRequestMicros, c.ProcessSeconds)
	}
	if p := sums[0].CPU.ProcessSeconds; total <= 0 || total > p+1e-9 {
		t.Fatalf("the modes' CPU sums to %.3fs, want above 0 and at most the process's %.3fs", total, p)
	}
}
