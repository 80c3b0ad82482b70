package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/ciba-check/ciba-check/internal/clock"
)

// Abort reasons recorded in Summary.Aborted.
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
	// Output receives every result in vegeta's gob encoding (nil: none).
	Output io.Writer
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
	// Workers caps concurrent requests (0: 10 initially, growing as
	// vegeta needs, up to 10000; with a Max rate, 4 × GOMAXPROCS... see
	// DefaultMaxWorkers).
	Workers int
	// Pool, when set, is reported in the summary.
	Pool *AssertionPool
}

// DefaultMaxRateWorkers is the number of workers a Max-rate run uses when
// none is given: enough to keep a local OP's cores busy.
const DefaultMaxRateWorkers = 32

// RunPoll polls the token endpoint for PollTargets.AuthReqIDs at the rate
// for the duration, and returns the summary. Ctrl-C (ctx) stops the attack
// and still returns the summary of what ran, with Aborted set.
func RunPoll(ctx context.Context, cfg PollConfig) (*Summary, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.HTTPClient == nil {
		return nil, errors.New("load: PollConfig.HTTPClient is nil")
	}
	attackCtx, cancelTargets := context.WithCancel(ctx)
	defer cancelTargets()
	cfg.Targets.Ctx = attackCtx
	tr, err := cfg.Targets.Targeter()
	if err != nil {
		return nil, err
	}
	pacer := NewPacer(cfg.Rate, 0).StopAt(cfg.Duration)
	opts := []func(*vegeta.Attacker){vegeta.Client(cfg.HTTPClient), vegeta.Redirects(vegeta.NoFollow)}
	switch {
	case cfg.Workers > 0:
		opts = append(opts, vegeta.Workers(uint64(min(cfg.Workers, 10))), vegeta.MaxWorkers(uint64(cfg.Workers)))
		if cfg.Rate.Max {
			opts = append(opts, vegeta.Workers(uint64(cfg.Workers)))
		}
	case cfg.Rate.Max:
		opts = append(opts, vegeta.Workers(DefaultMaxRateWorkers), vegeta.MaxWorkers(DefaultMaxRateWorkers))
	default:
		opts = append(opts, vegeta.MaxWorkers(10000))
	}
	atk := vegeta.NewAttacker(opts...)
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
	name := AttackName(ScenarioPoll, cfg.Shard, cfg.Rate, cfg.Duration)
	done := make(chan struct{})
	wg := col.watch(ctx, done)
	var targetErr string
	for res := range atk.Attack(tr, pacer, cfg.Duration, name) {
		if res.Method == "" {
			// The targeter failed (vegeta then stops): no request was
			// made. After a stop that is the cancelled assertion wait;
			// otherwise it is a real failure, e.g. signing.
			if attackCtx.Err() == nil && targetErr == "" {
				targetErr = res.Error
			}
			continue
		}
		col.add(res)
	}
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
	col.mu.Lock()
	info.Aborted = col.aborted
	col.mu.Unlock()
	sum := col.rec.Summary(info)
	if targetErr != "" {
		return sum, fmt.Errorf("load: building requests: %s", targetErr)
	}
	return sum, col.encodeEr
}
