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
	if due := p.rate.dueAt(n); due > elapsed {
		return due - elapsed, false
	}
	return 0, false
}

// Rate implements vegeta's rate reporting (hits per second).
func (p *Pacer) Rate(time.Duration) float64 { return p.rate.PerSecond() }

// Dropped is how many hits were skipped because they could not start on time.
func (p *Pacer) Dropped() uint64 { return p.dropped.Load() }

// Intended is how many hits the rate schedules in elapsed (0 for Max).
func (p *Pacer) Intended(elapsed time.Duration) uint64 {
	if p.rate.Max {
		return 0
	}
	return uint64(p.rate.hitsAt(elapsed))
}
