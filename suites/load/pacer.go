package load

import (
	"math"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Pacer is a constant-rate vegeta.Pacer that drops hits it cannot send on
// time instead of bursting to catch up, and counts them (k6's
// dropped_iterations). vegeta's own ConstantPacer, when all workers are
// busy, blocks and later fires the backlog at once, so the intended rate
// is silently not the one measured.
//
// A Max rate never drops: it asks for hits as fast as workers take them.
type Pacer struct {
	rate Rate
	// slack is how late a hit may start and still count as on time.
	slack   time.Duration
	dropped atomic.Uint64
	// end is the run's planned duration (StopAt); 0 means none.
	end time.Duration
}

// StopAt makes the pacer end the attack at the first hit due at or after
// d, the run's duration, so that hits sent never exceed Intended: vegeta
// checks the duration before pacing, and would otherwise send the hit due
// at exactly d once the wait for it ends (250/s for 10 s: 2,501 sent of
// 2,500 intended). It returns p.
func (p *Pacer) StopAt(d time.Duration) *Pacer {
	p.end = d
	return p
}

var _ vegeta.Pacer = (*Pacer)(nil)

// DefaultSlack is how late a hit may start before it counts as dropped.
const DefaultSlack = 50 * time.Millisecond

// NewPacer returns a pacer for r; slack <= 0 means DefaultSlack.
func NewPacer(r Rate, slack time.Duration) *Pacer {
	if slack <= 0 {
		slack = DefaultSlack
	}
	return &Pacer{rate: r, slack: slack}
}

// Pace implements vegeta.Pacer. hits counts the hits already sent; the
// dropped ones are added so the schedule stays the intended one.
func (p *Pacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if p.rate.Max {
		return 0, false
	}
	n := hits + p.dropped.Load()
	if late := elapsed - p.slack; late > 0 && elapsed-p.rate.dueAt(n) > p.slack {
		// Skip, in one step, every hit due before elapsed-slack: the
		// first still on time is the ceiling of the hits due by then.
		first := uint64(math.Ceil(p.rate.hitsAt(late)))
		if p.rate.dueAt(first) < late {
			first++
		}
		if first > n {
			p.dropped.Add(first - n)
			n = first
		}
	}
	due := p.rate.dueAt(n)
	if p.end > 0 && due >= p.end {
		return 0, true
	}
	if due > elapsed {
		return due - elapsed, false
	}
	return 0, false
}

// Rate implements vegeta's rate reporting (hits per second).
func (p *Pacer) Rate(time.Duration) float64 { return p.rate.PerSecond() }

// Dropped is how many hits were skipped because they could not start on time.
func (p *Pacer) Dropped() uint64 { return p.dropped.Load() }

// Intended is how many hits the rate schedules in elapsed (0 for Max):
// those due before elapsed, or before the end (StopAt) when elapsed is
// past it. The attack sends no hit due at or after the end, and any hit
// it sent was due before it finished, so sent never exceeds Intended.
func (p *Pacer) Intended(elapsed time.Duration) uint64 {
	if p.rate.Max {
		return 0
	}
	if p.end > 0 {
		elapsed = min(elapsed, p.end)
	}
	return p.rate.hitsBefore(elapsed)
}
