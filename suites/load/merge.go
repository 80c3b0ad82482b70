package load

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// MergeInput is one shard's results file.
type MergeInput struct {
	Name string
	R    io.Reader
}

// MergeOptions configure Merge.
type MergeOptions struct {
	Thresholds []Threshold
	// Output, when set, receives every result re-encoded (gob), so one file
	// holds the fleet's run for vegeta report/plot.
	Output io.Writer
}

// Merge re-reads the raw results of every shard (vegeta gob, JSON or CSV,
// sniffed) and folds them into one summary; thresholds are evaluated on
// the merged figures, never per shard (a fleet's p99 is not any shard's
// p99, and vegeta's Metrics cannot be merged: their quantile digest is
// unexported). Intended counts come from each shard's rate and planned
// duration, carried in the attack name.
func Merge(inputs []MergeInput, o MergeOptions) (*Summary, error) {
	if len(inputs) == 0 {
		return nil, errors.New("load: merge needs at least one results file")
	}
	var (
		rec      *Recorder
		scenario Scenario
		enc      vegeta.Encoder
		shards   = map[string]attackInfo{}
		fileOf   = map[string]string{} // attack name -> the file that had it first
		spans    = map[string][2]time.Time{}
		total    Rate
		planned  time.Duration
	)
	if o.Output != nil {
		enc = vegeta.NewEncoder(o.Output)
	}
	for _, in := range inputs {
		dec := vegeta.DecoderFor(in.R)
		if dec == nil {
			return nil, fmt.Errorf("load: %s: not vegeta results (gob, JSON or CSV)", in.Name)
		}
		n := 0
		for {
			var res vegeta.Result
			err := dec.Decode(&res)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("load: %s: result %d: %w", in.Name, n+1, err)
			}
			n++
			info, ok := shards[res.Attack]
			if ok && fileOf[res.Attack] != in.Name {
				// The same shard's results in two files: merging both
				// would count that shard twice.
				return nil, fmt.Errorf("load: %s and %s hold results of the same shard (%s)", fileOf[res.Attack], in.Name, res.Attack)
			}
			if !ok {
				fileOf[res.Attack] = in.Name
				info, err = parseAttackName(res.Attack)
				if err != nil {
					return nil, fmt.Errorf("load: %s: %w", in.Name, err)
				}
				if rec == nil {
					scenario = info.Scenario
					rec = NewRecorder(scenario)
				} else if info.Scenario != scenario {
					return nil, fmt.Errorf("load: %s holds %s results; the others are %s", in.Name, info.Scenario, scenario)
				}
				for _, other := range shards {
					if other.Shard == info.Shard {
						return nil, fmt.Errorf("load: %s: shard %q appears twice (with different settings)", in.Name, info.Shard)
					}
				}
				for _, other := range shards {
					if other.Target != info.Target {
						return nil, fmt.Errorf("load: %s holds results of %s; the others are of %s: one merge is one OP", in.Name, orUnknown(info.Target), orUnknown(other.Target))
					}
				}
				shards[res.Attack] = info
				total = addRates(total, info.Rate)
				planned = max(planned, info.Planned)
			}
			sp, seen := spans[res.Attack]
			if !seen || res.Timestamp.Before(sp[0]) {
				sp[0] = res.Timestamp
			}
			if e := res.End(); e.After(sp[1]) {
				sp[1] = e
			}
			spans[res.Attack] = sp
			rec.Add(&res)
			if enc != nil {
				if err := enc.Encode(&res); err != nil {
					return nil, fmt.Errorf("load: writing merged results: %w", err)
				}
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("load: %s holds no results", in.Name)
		}
	}
	var names []string
	var intended uint64
	for attack, info := range shards {
		if info.Shard != "" {
			names = append(names, info.Shard)
		}
		if !info.Rate.Max {
			// A shard stopped early (interrupted, aborted) intended only
			// what its time allowed.
			sp := spans[attack]
			intended += info.Rate.hitsBefore(min(info.Planned, sp[1].Sub(sp[0])))
		}
	}
	slices.Sort(names)
	var target string
	for _, info := range shards {
		target = info.Target // all equal, checked above
	}
	return rec.Summary(RunInfo{
		Target:     target,
		Shards:     names,
		Rate:       total,
		Planned:    planned,
		Intended:   intended,
		Thresholds: o.Thresholds,
	}), nil
}

// addRates sums shard rates as requests per second (max stays max).
func addRates(a, b Rate) Rate {
	if a.Max || b.Max {
		return Rate{Max: true}
	}
	if a.Freq == 0 {
		return b
	}
	// Express both per nanosecond-exact common unit: per second, rounded.
	sum := a.PerSecond() + b.PerSecond()
	return Rate{Freq: int(sum + 0.5), Per: time.Second}
}

// orUnknown names a target in a message, or says none was recorded.
func orUnknown(target string) string {
	if target == "" {
		return "an OP not recorded (results written before ciba-check recorded it)"
	}
	return target
}
