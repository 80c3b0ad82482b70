package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/ciba-check/ciba-check/clock"
	"github.com/ciba-check/ciba-check/reports"
)

// Abort reasons recorded in reports.LoadRun.Aborted.
const (
	AbortThreshold   = "threshold"
	AbortInterrupted = "interrupted"
)

// AbortGrace is how long a run goes before --abort-on-fail judges it:
// early figures (a rate over the first milliseconds) mean little, as
// k6's delayAbortEval acknowledges.
const AbortGrace = 2 * time.Second

// RunOptions are shared by the poll and flow scenarios.
type RunOptions struct {
	Rate     Rate
	Duration time.Duration
	Shard    Shard
	// Thresholds are evaluated at the end; with AbortOnFail also every
	// second after AbortGrace, stopping the run at the first breach.
	Thresholds  []Threshold
	AbortOnFail bool
	// Output receives every result in vegeta's gob encoding (nil: none),
	// token values redacted unless KeepSecrets.
	Output      io.Writer
	KeepSecrets bool
	// Conns, when set, is the ConnStats of the HTTP client(s) of the run
	// (TransportOptions.Stats); the summary reports it.
	Conns *ConnStats
	// Progress draws live state (nil: none).
	Progress *Progress
	// Info is copied into the summary (target, client, version, CPU flag).
	Info  RunInfo
	Clock clock.Clock
}

func (o *RunOptions) check() error {
	if o.Duration <= 0 {
		return errors.New("load: the duration must be positive (runs are bounded)")
	}
	if !o.Rate.Max && (o.Rate.Freq <= 0 || o.Rate.Per <= 0) {
		return errors.New("load: the rate must be positive or max")
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Shard.Count == 0 {
		o.Shard = whole
	}
	return nil
}

// collector folds a stream of results into a recorder and the output,
// watches thresholds and the context, and stops the source when either
// says so.
type collector struct {
	opts     *RunOptions
	rec      *Recorder
	enc      vegeta.Encoder
	stop     func()
	dropped  func() uint64
	started  time.Time
	mu       sync.Mutex
	aborted  string
	encodeEr error
}

func (c *collector) elapsed() time.Duration { return c.opts.Clock.Now().Sub(c.started) }

func (c *collector) abort(reason string) {
	c.mu.Lock()
	if c.aborted == "" {
		c.aborted = reason
	}
	c.mu.Unlock()
	c.stop()
}

func (c *collector) snapshot() Snapshot {
	s := c.rec.Snapshot(c.elapsed())
	s.Total = c.opts.Duration
	if c.dropped != nil {
		s.Dropped = c.dropped()
	}
	return s
}

// watch runs the progress display, the abort checks and the interrupt
// handling until done is closed.
func (c *collector) watch(ctx context.Context, done <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	watchCtx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-ctx.Done():
			c.abort(AbortInterrupted)
		case <-done:
		}
		cancel()
	}()
	if c.opts.Progress != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.opts.Progress.Run(watchCtx, c.snapshot)
		}()
	}
	if c.opts.AbortOnFail && len(c.opts.Thresholds) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				tick := make(chan struct{})
				t := c.opts.Clock.AfterFunc(time.Second, func() { close(tick) })
				select {
				case <-watchCtx.Done():
					t.Stop()
					return
				case <-tick:
				}
				el := c.elapsed()
				if el < AbortGrace {
					continue
				}
				if _, ok := c.rec.Evaluate(c.opts.Thresholds, el); !ok {
					c.abort(AbortThreshold)
					return
				}
			}
		}()
	}
	return &wg
}

func (c *collector) add(res *vegeta.Result) {
	c.rec.Add(res)
	if c.enc != nil && c.encodeEr == nil {
		if !c.opts.KeepSecrets {
			res = redacted(res)
		}
		if err := c.enc.Encode(res); err != nil {
			c.encodeEr = fmt.Errorf("load: writing results: %w", err)
		}
	}
}

// PollConfig configures RunPoll.
type PollConfig struct {
	RunOptions
	Targets PollTargets
	// HTTPClient sends the polls (NewHTTPClient).
	HTTPClient *http.Client
	// MaxInFlight caps polls in flight (vegeta's workers). 0: with a Max
	// rate DefaultMaxRateWorkers; with a fixed rate DefaultMaxInFlight of
	// the rate and the median latency of WarmUpPolls polls sent one by one
	// before the run (WarmUp).
	MaxInFlight int
	// WarmUpLatency, when MaxInFlight was sized by the caller from WarmUp,
	// is the latency it measured (reported in the summary).
	WarmUpLatency time.Duration
	// Pool, when set, is reported in the summary.
	Pool *AssertionPool
	// onPacer, when set, is given the run's pacer (benchmarks read its
	// MaxLate).
	onPacer func(*Pacer)
}

// DefaultMaxRateWorkers is the number of workers a Max-rate run uses when
// none is given: enough to keep a local OP's cores busy.
const DefaultMaxRateWorkers = 32

// recordQueue is how many results may wait to be recorded before the
// attack's result loop waits for the recorder. Each may hold a body of up
// to --max-body: against an OP answering 100 MB bodies, the peak RSS of a
// max-rate run was 28 MB unqueued, 32 MB with 32, 52-60 MB with 256 and
// 4,096 (TestLoadPollRSSAgainstHugeBodies).
const recordQueue = 32

// WarmUpPolls is how many polls are sent one at a time over the attack's
// client before a run: they connect it (over every connection a
// connSpread has) and, for a fixed-rate run without MaxInFlight, measure
// the latency the cap is sized for.
const WarmUpPolls = 8

// RunPoll polls the token endpoint for PollTargets.AuthReqIDs at the rate
// for the duration, and returns the summary. Ctrl-C (ctx) stops the attack
// and still returns the summary of what ran, with Aborted set.
func RunPoll(ctx context.Context, cfg PollConfig) (*reports.LoadRun, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.HTTPClient == nil {
		return nil, errors.New("load: PollConfig.HTTPClient is nil")
	}
	if cfg.MaxInFlight < 0 {
		return nil, errors.New("load: PollConfig.MaxInFlight must not be negative")
	}
	attackCtx, cancelTargets := context.WithCancel(ctx)
	defer cancelTargets()
	cfg.Targets.Ctx = attackCtx
	tr, err := cfg.Targets.Targeter()
	if err != nil {
		return nil, err
	}
	conns0 := cfg.Conns.Counts() // the warm-up's connections count too
	gen := &GeneratorSummary{MaxInFlight: cfg.MaxInFlight, WarmUpMS: durMS(cfg.WarmUpLatency)}
	if gen.MaxInFlight == 0 {
		var warm time.Duration
		if !cfg.Rate.Max {
			warm, err = warmUp(attackCtx, tr, cfg.HTTPClient, cfg.Clock, WarmUpPolls)
			if err != nil {
				return nil, err
			}
			gen.WarmUpMS = durMS(warm)
		}
		gen.MaxInFlight = DefaultMaxInFlight(cfg.Rate, warm)
	} else if _, err := warmUp(attackCtx, tr, cfg.HTTPClient, cfg.Clock, WarmUpPolls); err != nil {
		// Connect before the clock starts (the warm-up above did): hits
		// due while the first connections are still in their TLS
		// handshakes pile up on them, past the 100 streams Go's client
		// allows a connection before the server's SETTINGS arrive, and it
		// dials more (600 requests at once over the 4-connection cap: 7
		// connections cold, 4 connected first).
		return nil, err
	}
	pacer := NewPacer(cfg.Rate, PacerOptions{MaxInFlight: gen.MaxInFlight, End: cfg.Duration, Clock: cfg.Clock, Stop: attackCtx.Done()})
	if cfg.onPacer != nil {
		cfg.onPacer(pacer)
	}
	// vegeta's workers are the in-flight cap; the pacer drops what they
	// cannot take on time instead of letting vegeta block and burst.
	workers := uint64(gen.MaxInFlight)
	initial := min(workers, 10)
	if cfg.Rate.Max {
		initial = workers
	}
	atk := vegeta.NewAttacker(vegeta.Client(cfg.HTTPClient), vegeta.Redirects(vegeta.NoFollow),
		vegeta.Workers(initial), vegeta.MaxWorkers(workers))
	var enc vegeta.Encoder
	if cfg.Output != nil {
		enc = vegeta.NewEncoder(cfg.Output)
	}
	col := &collector{
		opts: &cfg.RunOptions, rec: NewRecorder(ScenarioPoll), enc: enc,
		stop: func() { atk.Stop(); cancelTargets() }, dropped: pacer.Dropped,
	}
	cpu0, cpuOK := processCPU()
	col.started = cfg.Clock.Now()
	name := AttackName(ScenarioPoll, cfg.Shard, cfg.Rate, cfg.Duration, cfg.Info.Target)
	done := make(chan struct{})
	wg := col.watch(ctx, done)
	// At a fixed rate the pacer ends the attack (PacerOptions.End), after
	// the last hit due before the end: vegeta's own check of the duration,
	// made before it asks the pacer, would stop it when the pacer's wait
	// for one of those last hits ended a moment past the end, leaving hits
	// due in the run never sent and counted dropped for no reason.
	attackFor := cfg.Duration
	if !cfg.Rate.Max {
		attackFor = 0
	}
	targetErr := col.collect(attackCtx, atk.Attack(tr, pacer, attackFor, name), pacer)
	elapsed := col.elapsed()
	close(done)
	wg.Wait()
	info := cfg.Info
	info.Rate, info.Planned, info.Elapsed = cfg.Rate, cfg.Duration, elapsed
	info.Thresholds = cfg.Thresholds
	info.Dropped = pacer.Dropped()
	info.Intended = pacer.Intended(min(elapsed, cfg.Duration))
	if cfg.Shard.Count > 1 {
		info.Shards = []string{cfg.Shard.String()}
	}
	info.CPU = cpuSince(cpu0, cpuOK, info.CPU)
	if cfg.Pool != nil {
		st := cfg.Pool.Stats()
		info.Pool = &st
	}
	gen.PeakInFlight = pacer.PeakInFlight()
	gen.DroppedAtCap, gen.DroppedLate = pacer.DroppedAtCap(), pacer.DroppedLate()
	gen.setConns(cfg.Conns, conns0)
	info.Generator = gen
	col.mu.Lock()
	info.Aborted = col.aborted
	col.mu.Unlock()
	sum := col.rec.Summary(info)
	if targetErr != "" {
		return sum, fmt.Errorf("load: building requests: %s", targetErr)
	}
	return sum, col.encodeEr
}

// collect takes the attack's results until it ends: each frees its hit's
// slot at once (pacer.Done) and is recorded on another goroutine, so a
// worker hands its result over at once and the in-flight count the cap
// judges is not held up by recording. It returns the targeter's failure,
// if any.
func (c *collector) collect(attackCtx context.Context, results <-chan *vegeta.Result, pacer *Pacer) (targetErr string) {
	recorded := make(chan *vegeta.Result, recordQueue)
	recDone := make(chan struct{})
	go func() {
		defer close(recDone)
		for res := range recorded {
			c.add(res)
		}
	}()
	for res := range results {
		pacer.Done()
		if res.Method == "" {
			// The targeter failed (vegeta then stops): no request was
			// made. After a stop that is the cancelled assertion wait;
			// otherwise it is a real failure, e.g. signing.
			if attackCtx.Err() == nil && targetErr == "" {
				targetErr = res.Error
			}
			continue
		}
		recorded <- res
	}
	close(recorded)
	<-recDone
	return targetErr
}

// WarmUp sends n polls of pt one at a time with hc and returns their
// median latency, for sizing DefaultMaxInFlight before building the
// attack's client (whose per-host connection cap follows the in-flight
// cap with HTTP/1.1). The polls are not part of any run.
func WarmUp(ctx context.Context, pt PollTargets, hc *http.Client, n int) (time.Duration, error) {
	pt.Ctx = ctx
	tr, err := pt.Targeter()
	if err != nil {
		return 0, err
	}
	return warmUp(ctx, tr, hc, clock.Real{}, n)
}

// warmUp sends n polls one at a time and returns their median latency; a
// poll that fails in transport is left out (0 when all failed: the
// default cap then assumes MinExpectedLatency). An error is the
// targeter's (no request could be built).
func warmUp(ctx context.Context, tr vegeta.Targeter, hc *http.Client, clk clock.Clock, n int) (time.Duration, error) {
	var lats []time.Duration
	for range n {
		var tgt vegeta.Target
		if err := tr(&tgt); err != nil {
			return 0, fmt.Errorf("load: building requests: %w", err)
		}
		req, err := tgt.Request()
		if err != nil {
			return 0, fmt.Errorf("load: building requests: %w", err)
		}
		t0 := clk.Now()
		resp, err := hc.Do(req.WithContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			continue
		}
		_, err = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if err == nil {
			lats = append(lats, clk.Now().Sub(t0))
		}
	}
	if len(lats) == 0 {
		return 0, nil
	}
	slices.Sort(lats)
	return lats[len(lats)/2], nil
}
