package load

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Rate is a request (or flow) rate: Freq per Per, or as fast as possible
// when Max is set.
type Rate struct {
	Freq int
	Per  time.Duration
	Max  bool
}

// ParseRate reads "2000/s", "50/1m", "10" (per second) or "max".
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "max") {
		return Rate{Max: true}, nil
	}
	num, per, hasPer := strings.Cut(s, "/")
	freq, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil || freq <= 0 {
		return Rate{}, fmt.Errorf("rate %q: want a positive whole number per unit, e.g. 2000/s, 50/1m, or max", s)
	}
	r := Rate{Freq: freq, Per: time.Second}
	if hasPer {
		per = strings.TrimSpace(per)
		switch per {
		case "s":
			per = "1s"
		case "m":
			per = "1m"
		case "h":
			per = "1h"
		case "ms":
			per = "1ms"
		}
		d, err := time.ParseDuration(per)
		if err != nil || d <= 0 {
			return Rate{}, fmt.Errorf("rate %q: unit %q is not a positive duration such as s, 1m or 100ms", s, per)
		}
		r.Per = d
	}
	// Beyond any generator; also keeps the pacer's arithmetic far from
	// overflow.
	if r.PerSecond() > maxRate {
		return Rate{}, fmt.Errorf("rate %q is over %.0f per second; use max for as fast as possible", s, float64(maxRate))
	}
	return r, nil
}

// maxRate caps a parsed rate, per second.
const maxRate = 1e8

// PerSecond is the rate in hits per second; 0 for Max.
func (r Rate) PerSecond() float64 {
	if r.Max || r.Per <= 0 {
		return 0
	}
	return float64(r.Freq) / r.Per.Seconds()
}

// Split is the rate of one of n shards: 1/n of r (Per scaled so no
// precision is lost to integer division).
func (r Rate) Split(n int) Rate {
	if r.Max || n <= 1 {
		return r
	}
	return Rate{Freq: r.Freq, Per: r.Per * time.Duration(n)}
}

func (r Rate) String() string {
	if r.Max {
		return "max"
	}
	if r.Per == time.Second {
		return fmt.Sprintf("%d/s", r.Freq)
	}
	return fmt.Sprintf("%d/%s", r.Freq, r.Per)
}

// hitsAt is how many hits a constant rate has scheduled by elapsed.
func (r Rate) hitsAt(elapsed time.Duration) float64 {
	return float64(r.Freq) * float64(elapsed) / float64(r.Per)
}

// hitsBefore is how many hits are due strictly before t: hit n (0-based)
// is due at dueAt(n), so for a run of duration t the intended hits are
// those due at 0, 1/rate, ... before t, and a hit due at exactly t is not
// part of the run (the pacer stops there). 250/s for 10 s is 2,500 hits;
// 3/s for 1.5 s is 5 (due at 0, 0.33, 0.67, 1, 1.33 s).
func (r Rate) hitsBefore(t time.Duration) uint64 {
	if t <= 0 || r.Freq <= 0 || r.Per <= 0 || r.Max {
		return 0
	}
	c := uint64(math.Ceil(r.hitsAt(t)))
	for c > 0 && r.dueAt(c-1) >= t {
		c--
	}
	for r.dueAt(c) < t {
		c++
	}
	return c
}

// dueAt is when hit n (0-based) is due.
func (r Rate) dueAt(n uint64) time.Duration {
	return time.Duration(math.Round(float64(n) * float64(r.Per) / float64(r.Freq)))
}
