package load

import (
	"math"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/ciba-check/ciba-check/clock"
)

// Pacer is a constant-rate vegeta.Pacer for an open model with bounded
// concurrency, as k6's constant-arrival-rate executor: hits are due on a
// fixed schedule whatever the answers do; at most MaxInFlight are in
// flight; a hit that cannot start on time is dropped and counted (k6's
// dropped_iterations), never queued into a later burst.
//
// A hit cannot start on time when, at its due time, MaxInFlight hits are
// in flight (k6 drops then too: no VU is free). When the pacer itself
// reaches a hit late (the generator stalled: a GC pause, a busy core) it
// still starts, at once, if a slot is free and it is at most the slack
// late; k6 starts late ticks at once whatever their lateness. Such a
// catch-up never exceeds the cap, so it is no burst beyond MaxInFlight;
// only hits more than the slack late are dropped as late (the generator
// could not keep up). vegeta's own ConstantPacer, when all workers are
// busy, blocks and later fires the backlog at once, so the intended rate
// is silently not the one measured; and vegeta with many workers lets
// in-flight requests grow without bound until the OP's connections
// overflow.
//
// vegeta sends a hit after every Pace call (after sleeping the wait it
// returns), so with a cap the pacer itself waits, on its clock, until the
// next hit is due and judges the cap then; it returns 0 only for a hit
// that may go now. In flight is the number of hits handed to vegeta (its
// hits argument) minus the results the runner has taken back (Done).
//
// A Max rate never drops: it asks for hits as fast as workers take them,
// and the worker count is the cap.
type Pacer struct {
	rate Rate
	o    PacerOptions
	// maxInFlight caps hits in flight (0: no cap).
	maxInFlight uint64

	late, atCap atomic.Uint64
	done, peak  atomic.Uint64
	// maxLate is the latest start, in nanoseconds after its due time.
	maxLate atomic.Int64
	// timer is reused for waits on the real clock (vegeta calls Pace from
	// one goroutine), sparing a timer and a goroutine per hit.
	timer *time.Timer
}

// PacerOptions configure a Pacer; the zero value is no cap, DefaultSlack.
type PacerOptions struct {
	// Slack is how late a hit may start and still count as on time
	// (<= 0: DefaultSlack).
	Slack time.Duration
	// MaxInFlight caps hits in flight (<= 0: no cap).
	MaxInFlight int
	// End is the run's duration: the first hit due at or after it stops
	// the attack, so hits sent never exceed Intended: vegeta checks the
	// duration before pacing, and would otherwise send the hit due at
	// exactly End once the wait for it ends (250/s for 10 s: 2,501 sent
	// of 2,500 intended). 0: none.
	End time.Duration
	// Clock is what the pacer waits on (nil: the real clock); Stop ends a
	// wait (the run was stopped).
	Clock clock.Clock
	Stop  <-chan struct{}
}

var _ vegeta.Pacer = (*Pacer)(nil)

// DefaultSlack is how late a hit may start before it counts as dropped:
// about twice the generator stalls seen in most runs on a loaded 2-core
// machine (GC pauses to 117 ms, goroutine scheduling delays to 134 ms at
// load average 8). At 50 ms, hits due during such a stall were dropped
// whether or not the cap had room; a longer stall (336 ms was seen once)
// still drops them: the generator did not keep up.
const DefaultSlack = 250 * time.Millisecond

// NewPacer returns a pacer for r.
func NewPacer(r Rate, o PacerOptions) *Pacer {
	if o.Slack <= 0 {
		o.Slack = DefaultSlack
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	return &Pacer{rate: r, o: o, maxInFlight: uint64(max(o.MaxInFlight, 0))}
}

// Done records that one hit handed out is no longer in flight (its result
// was taken back). Every hit must be reported exactly once.
func (p *Pacer) Done() { p.done.Add(1) }

// inFlight is hits handed out minus hits done; it records the peak. A
// worker may take its next hit a moment before the runner has counted its
// result done, so the figure can exceed the workers by that moment; the
// peak is clamped to the cap, which vegeta's worker count enforces.
func (p *Pacer) inFlight(hits uint64) uint64 {
	done := p.done.Load()
	var n uint64
	if hits > done {
		n = hits - done
	}
	rec := n
	if p.maxInFlight > 0 {
		rec = min(rec, p.maxInFlight)
	}
	for {
		peak := p.peak.Load()
		if rec <= peak || p.peak.CompareAndSwap(peak, rec) {
			return n
		}
	}
}

// dropLate skips, in one step, every hit from n on due more than the
// slack before at, and returns the first one still on time.
func (p *Pacer) dropLate(at time.Duration, n uint64) uint64 {
	late := at - p.o.Slack
	if late <= 0 || at-p.rate.dueAt(n) <= p.o.Slack {
		return n
	}
	first := uint64(math.Ceil(p.rate.hitsAt(late)))
	if p.rate.dueAt(first) < late {
		first++
	}
	if first > n {
		p.late.Add(first - n)
		return first
	}
	return n
}

// sleep waits d on the pacer's clock; false when stopped first.
func (p *Pacer) sleep(d time.Duration) bool {
	if _, real := p.o.Clock.(clock.Real); real {
		if p.timer == nil {
			p.timer = time.NewTimer(d)
		} else {
			p.timer.Reset(d)
		}
		select {
		case <-p.timer.C:
			return true
		case <-p.o.Stop:
			p.timer.Stop()
			return false
		}
	}
	tick := make(chan struct{})
	t := p.o.Clock.AfterFunc(d, func() { close(tick) })
	select {
	case <-tick:
		return true
	case <-p.o.Stop:
		t.Stop()
		return false
	}
}

// Pace implements vegeta.Pacer. hits counts the hits already handed to
// vegeta; the dropped ones are added so the schedule stays the intended
// one.
func (p *Pacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	p.inFlight(hits)
	if p.rate.Max {
		return 0, false
	}
	t0 := p.o.Clock.Now()
	at := elapsed
	for {
		n := p.dropLate(at, hits+p.Dropped())
		due := p.rate.dueAt(n)
		if p.o.End > 0 && due >= p.o.End {
			return 0, true
		}
		if due > at {
			if p.maxInFlight == 0 {
				return due - at, false
			}
			if !p.sleep(due - at) {
				return 0, true
			}
			at = elapsed + p.o.Clock.Now().Sub(t0)
			continue
		}
		if p.maxInFlight > 0 && p.inFlight(hits) >= p.maxInFlight {
			// Due now, and the cap is full: it cannot start on time.
			p.atCap.Add(1)
			continue
		}
		p.noteLate(at - due)
		return 0, false
	}
}

// Rate implements vegeta's rate reporting (hits per second).
func (p *Pacer) Rate(time.Duration) float64 { return p.rate.PerSecond() }

// Dropped is how many hits were skipped because they could not start on
// time: DroppedLate plus DroppedAtCap.
func (p *Pacer) Dropped() uint64 { return p.late.Load() + p.atCap.Load() }

// DroppedLate is how many hits were dropped because the generator asked
// for them more than the slack after they were due.
func (p *Pacer) DroppedLate() uint64 { return p.late.Load() }

// DroppedAtCap is how many hits were dropped because MaxInFlight hits were
// in flight when they were due.
func (p *Pacer) DroppedAtCap() uint64 { return p.atCap.Load() }

// noteLate records a hit starting late after its due time.
func (p *Pacer) noteLate(late time.Duration) {
	for {
		m := p.maxLate.Load()
		if int64(late) <= m || p.maxLate.CompareAndSwap(m, int64(late)) {
			return
		}
	}
}

// MaxLate is how late after its due time the latest hit started (at most
// the slack; 0 for Max).
func (p *Pacer) MaxLate() time.Duration { return time.Duration(p.maxLate.Load()) }

// PeakInFlight is the most hits seen in flight at once.
func (p *Pacer) PeakInFlight() uint64 { return p.peak.Load() }

// StopAt sets PacerOptions.End to d and returns p.
func (p *Pacer) StopAt(d time.Duration) *Pacer {
	p.o.End = d
	return p
}

// Intended is how many hits the rate schedules in elapsed (0 for Max):
// those due before elapsed, or before the end when elapsed is past it.
// The attack sends no hit due at or after the end, and any hit it sent
// was due before it finished, so sent never exceeds Intended.
func (p *Pacer) Intended(elapsed time.Duration) uint64 {
	if p.rate.Max {
		return 0
	}
	if p.o.End > 0 {
		elapsed = min(elapsed, p.o.End)
	}
	return p.rate.hitsBefore(elapsed)
}

// Bounds of DefaultMaxInFlight.
const (
	// LatencyHeadroom is how many times the warm-up latency a poll may
	// take before the default cap starts dropping hits.
	LatencyHeadroom = 4
	// MinExpectedLatency floors the latency the default cap is sized for,
	// so a fast loopback warm-up still leaves room for a blip (a GC pause,
	// a busy core) before hits are dropped. A higher floor turns the
	// drops of a blip into queue, raising p99. It was 40 ms while the cap
	// was also what kept the connections at 4 (600 in flight, 150 streams
	// on each); with connSpread's stream budget, requests past the
	// budgets wait in the client. BenchmarkLoadCapacity, one morning
	// (a budget of 150 streams, Go told to wait for one): 0.9× of the
	// max rate held with 0 drops in 15 of 17 runs at 100 ms, 5 of 9 at
	// 40 ms (which dropped the hits of any blip over 40 ms: 36-305); p99
	// 0.8-18.9× the max-rate p99 at 100 ms, 1.3-6.1× at 40 ms, whose
	// percentiles missed the dropped hits of the blips.
	MinExpectedLatency = 100 * time.Millisecond
	// minDefaultInFlight is twice the workers of a max-rate run, which
	// by Little's law carry any rate below the OP's capacity at its
	// unloaded latency.
	minDefaultInFlight = 2 * DefaultMaxRateWorkers
	// maxDefaultInFlight bounds the default cap, and so the run's
	// workers: 40,960 polls/s at the 100 ms floor. The connections do not
	// bound it: past DefaultStreamsPerConn on each, requests wait in the
	// client for a stream (connSpread).
	maxDefaultInFlight = 4096
)

// DefaultMaxInFlight is the in-flight cap used when none is given:
//
//	Max rate:   DefaultMaxRateWorkers (32)
//	fixed rate: clamp(⌈rate/s × max(4 × latency, 100 ms)⌉, 64, 4096)
//
// where latency is the median of the warm-up polls. By Little's law
// rate × latency requests are in flight on average; the cap lets latency
// grow fourfold (or to 100 ms) before a hit is dropped. A larger cap does
// not buy throughput: past the OP's (or the generator's) capacity it only
// queues, and measured on the embedded OP, before requests were spread
// over the connections, a cap of 360 at 3,600 polls/s gave 1,950/s at
// p99 890 ms where 64 gave 3,560/s at p99 15 ms.
func DefaultMaxInFlight(r Rate, latency time.Duration) int {
	if r.Max {
		return DefaultMaxRateWorkers
	}
	expect := max(LatencyHeadroom*latency, MinExpectedLatency)
	want := math.Ceil(r.PerSecond() * expect.Seconds())
	return int(min(max(want, minDefaultInFlight), maxDefaultInFlight))
}
