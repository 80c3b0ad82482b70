package load

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/targetclient"
	"github.com/ciba-check/ciba-check/reports"
)

// flowRun is one mode's run of a flow plan.
type flowRun struct {
	cfg FlowConfig
	out *ResultsFile
}

// runFlowPlan runs the flows of every mode at once, under the same
// conditions, so the comparison is fair.
func runFlowPlan(ctx context.Context, s *targetclient.Session, p *Plan) ([]*reports.LoadRun, error) {
	runs, err := p.flowRuns(s)
	defer func() {
		for _, r := range runs {
			r.cfg.Client.CloseIdleConnections()
		}
	}()
	if err == nil {
		err = p.waitStart(ctx)
	}
	if err != nil {
		for _, r := range runs {
			_ = r.out.Close()
		}
		return nil, err
	}
	// Their CPU is then one process's: sampled per mode (cpu_attr.go).
	cpu := startFlowCPU(len(runs))
	sums := make([]*reports.LoadRun, len(runs))
	errs := make([]error, len(runs))
	var wg sync.WaitGroup
	for i, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sums[i], errs[i] = RunFlows(ctx, r.cfg)
			errs[i] = errors.Join(errs[i], r.out.Close())
		}()
	}
	wg.Wait()
	cpu.attribute(sums)
	return sums, errors.Join(errs...)
}

// flowRuns builds the run of every mode: its client, results file and,
// for ping and push, its notification receiver.
func (p *Plan) flowRuns(s *targetclient.Session) ([]*flowRun, error) {
	user, err := p.pickUser(s.Target)
	if err != nil {
		return nil, err
	}
	if caps := s.Driver.Capabilities(); !caps.Hold || !caps.Approve {
		return nil, fmt.Errorf("the target's %s device cannot hold a request and approve it on demand", s.Driver.Kind())
	}
	var runs []*flowRun
	for _, mode := range p.Modes {
		tc, err := p.pickClient(s.Target, mode)
		if err != nil {
			return runs, err
		}
		stats := &ConnStats{}
		c, _, err := p.newClient(s, tc, stats)
		if err != nil {
			return runs, err
		}
		outPath := p.Output
		if len(p.Modes) > 1 {
			outPath = Suffixed(p.Output, string(mode))
		}
		out, err := CreateResults(outPath)
		if err != nil {
			c.CloseIdleConnections()
			return runs, err
		}
		r := &flowRun{out: out, cfg: FlowConfig{
			RunOptions: p.runOptions(s, tc.ID, out.Writer(), stats),
			Client:     c, Device: s.Driver, User: user, Scope: scopeOf(tc),
			ApproveDelay: p.ApproveDelay, MaxInFlight: p.MaxInFlight,
		}}
		runs = append(runs, r)
		if mode == ciba.ModePing || mode == ciba.ModePush {
			if r.cfg.Receiver = s.Receivers.For(tc.ID); r.cfg.Receiver == nil {
				return runs, fmt.Errorf("%s client %s has no notification section in the target", mode, tc.ID)
			}
		}
	}
	// One progress line for the runs side by side: several would
	// interleave.
	for _, r := range runs[min(1, len(runs)):] {
		r.cfg.Progress = nil
	}
	return runs, nil
}
