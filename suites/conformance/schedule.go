package conformance

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/ciba-check/ciba-check/internal/target"
)

// The parallel run (run --parallel N), in-process. Ginkgo runs the specs
// one after another in one process, and a second RunSpecs ends the
// process; and the notification receivers listen on the one address each
// ping client registered. So the concurrency lives beside Ginkgo: N-1
// workers run the selected checks ahead, in spec order, each with its
// own recording fixture (sink.go); when Ginkgo reaches a check's spec,
// the spec replays the check's record (waiting for it if it is still
// running), or, when no worker has taken it yet, runs it itself exactly as
// a sequential run does. At most N checks run at once (N-1 workers and
// the spec), and --parallel 1 is the sequential run. Results come from
// Ginkgo's report, so they are in spec order.
//
// Test users are leased: a check is given a user that no other running
// check holds (a peer of the sequential run's choice: same outcome,
// delay, hint kind and user_code presence), unless target.yaml marks the
// user shared: true. A check waits for a free peer; a worker that would
// wait while holding another user gives the check up instead (it goes
// back to the end of the queue, or its spec runs it), so two checks never
// wait on each other.

// DefaultParallel is `run --parallel`'s default: how many checks may run
// at once. A check sends its requests one after another, so a run has at
// most about this many requests in flight at the OP (the exactly-once
// check sends two at once): a handful, which any OP a bank tests with
// serves, and never two checks on one test user (per-login_hint rate
// limits, FAPI-CIBA 7.2). Six is where the measured run time stopped
// improving against oidc-provider with a 1 s device and no interval (4:
// 26.6 s, 6: 20.8 s, 8: 22.1 s; README).
const DefaultParallel = 6

// runState is what the checks of one run share beyond Env: user leases
// and shared flows. It lives from Run's start to its end.
type runState struct {
	env          *Env
	checkTimeout time.Duration
	ctx          context.Context
	cancel       context.CancelFunc
	wg           sync.WaitGroup
	leases       *leases
	flowsMu      sync.Mutex
	flows        map[string]*sharedFlow
	running      *runningSet
	noSharing    bool
}

// startScheduler sets up the parallel run of Run: the scheduler with the
// selected checks and its workers, and the prefetched shared flow.
func startScheduler(fw *Framework, cfg RunConfig) {
	par := max(cfg.Parallel, 1)
	manual := cfg.Env.Target.Device.Kind == target.DeviceManual
	if cfg.FailFast || manual {
		par = 1
	}
	sel := newSelector(cfg)
	sharing := false
	var selected []registered
	for _, c := range fw.checks {
		if sel.selected(CheckResult{Section: c.section, Name: c.name, Labels: c.labels}) {
			selected = append(selected, c)
			sharing = sharing || c.sharesFlow
		}
	}
	if sharing && !manual && !fw.run.noSharing {
		fw.run.prefetch()
	}
	if par == 1 {
		return
	}
	fw.sched = newScheduler(fw.run)
	// Slow checks first, each kind in spec order.
	slices.SortStableFunc(selected, func(a, b registered) int {
		switch {
		case a.slow == b.slow:
			return 0
		case a.slow:
			return -1
		}
		return 1
	})
	for _, c := range selected {
		fw.sched.add(c.name, c.body)
	}
	fw.sched.start(par - 1)
}

// runningSet is the checks running now, for the status line.
type runningSet struct {
	mu     sync.Mutex
	names  []string
	notify func([]string)
}

func newRunningSet(notify func([]string)) *runningSet { return &runningSet{notify: notify} }

func (r *runningSet) add(name string) {
	if r == nil || r.notify == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.names = append(r.names, name)
	r.notify(slices.Clone(r.names))
}

func (r *runningSet) remove(name string) {
	if r == nil || r.notify == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if i := slices.Index(r.names, name); i >= 0 {
		r.names = slices.Delete(r.names, i, i+1)
		r.notify(slices.Clone(r.names))
	}
}

func newRunState(env *Env, checkTimeout time.Duration) *runState {
	ctx, cancel := context.WithCancel(context.Background())
	return &runState{env: env, checkTimeout: checkTimeout, ctx: ctx, cancel: cancel, leases: newLeases(), flows: map[string]*sharedFlow{}}
}

// stop cancels what still runs (a worker ahead of a fail-fast stop, a
// prefetched flow no check asked for) and waits for it, up to a grace
// period like Ginkgo's for a check that ignores its context.
func (r *runState) stop() {
	r.cancel()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// go runs fn on a goroutine the run waits for at its end.
func (r *runState) spawn(fn func()) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		fn()
	}()
}

// job is one selected check for the scheduler.
type job struct {
	name  string
	body  func(ctx context.Context, f *Fixture)
	state jobState
	done  chan struct{}
	rec   *recorder
	// claimed: its spec waits for it (an abandoned run then ends it
	// inline instead of going back to the queue).
	claimed bool
}

type jobState int

const (
	jobQueued  jobState = iota
	jobRunning          // in a worker
	jobDone             // recorded
	jobInline           // its spec runs it (not taken, or given up)
)

// scheduler hands the selected checks to workers in spec order.
type scheduler struct {
	run  *runState
	mu   sync.Mutex
	jobs map[string]*job
	next []*job
}

func newScheduler(run *runState) *scheduler {
	return &scheduler{run: run, jobs: map[string]*job{}}
}

func (s *scheduler) add(name string, body func(ctx context.Context, f *Fixture)) {
	j := &job{name: name, body: body, done: make(chan struct{})}
	s.jobs[name] = j
	s.next = append(s.next, j)
}

// start runs workers goroutines until the queue is empty.
func (s *scheduler) start(workers int) {
	for range workers {
		s.run.spawn(s.work)
	}
}

func (s *scheduler) take() *job {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.next) > 0 {
		j := s.next[0]
		s.next = s.next[1:]
		if j.state == jobQueued {
			j.state = jobRunning
			return j
		}
	}
	return nil
}

func (s *scheduler) work() {
	for {
		if s.run.ctx.Err() != nil || s.run.env.Lost() != nil {
			return
		}
		j := s.take()
		if j == nil {
			return
		}
		s.runJob(j)
	}
}

func (s *scheduler) runJob(j *job) {
	ctx, cancel := context.WithTimeout(s.run.ctx, s.run.checkTimeout)
	defer cancel()
	f := newFixture(s.run.env)
	f.run, f.worker = s.run, true
	s.run.running.add(j.name)
	rec, abandoned := recordCheck(ctx, f, func() { j.body(ctx, f) })
	f.cleanup()
	s.run.running.remove(j.name)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case abandoned && s.run.ctx.Err() == nil && !j.claimed:
		// Given up for a user: back to the end of the queue, for a
		// worker to try again when users are free (or its spec to run).
		j.state = jobQueued
		s.next = append(s.next, j)
		return
	case abandoned || s.run.ctx.Err() != nil:
		j.state = jobInline
	default:
		j.state, j.rec = jobDone, rec
	}
	close(j.done)
}

// claim is called by the check's spec: the record of a check a worker
// ran (waiting for it when it still runs), or nil when the spec must run
// the check itself.
func (s *scheduler) claim(ctx context.Context, name string) *recorder {
	s.mu.Lock()
	j := s.jobs[name]
	if j == nil || j.state == jobQueued || j.state == jobInline {
		if j != nil {
			j.state = jobInline
		}
		s.mu.Unlock()
		return nil
	}
	j.claimed = true
	s.mu.Unlock()
	// While a worker runs it, this goroutine is a worker too: it runs
	// queued checks ahead (recorded), so that a spec waiting for a slow
	// check does not hold up the fast ones behind it.
	for {
		select {
		case <-j.done:
		case <-ctx.Done():
			// Interrupted or timed out waiting: Ginkgo reports it.
			return &recorder{end: recEvent{kind: endTimeout}}
		default:
			if next := s.take(); next != nil {
				s.runJob(next)
				continue
			}
			select {
			case <-j.done:
			case <-ctx.Done():
				return &recorder{end: recEvent{kind: endTimeout}}
			}
		}
		break
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if j.state == jobInline {
		return nil
	}
	return j.rec
}
