package load

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/ciba-check/ciba-check/reports"
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
func Merge(inputs []MergeInput, o MergeOptions) (*reports.LoadRun, error) {
	if len(inputs) == 0 {
		return nil, errors.New("load: merge needs at least one results file")
	}
	m := &merger{shards: map[string]attackInfo{}, fileOf: map[string]string{}, spans: map[string][2]time.Time{}}
	if o.Output != nil {
		m.enc = vegeta.NewEncoder(o.Output)
	}
	for _, in := range inputs {
		if err := m.read(in); err != nil {
			return nil, err
		}
	}
	return m.summary(o.Thresholds), nil
}

// merger folds the results of shards into one recorder.
type merger struct {
	rec      *Recorder
	scenario Scenario
	enc      vegeta.Encoder
	shards   map[string]attackInfo   // attack name -> its shard
	fileOf   map[string]string       // attack name -> the file that had it first
	spans    map[string][2]time.Time // attack name -> first start, last end
	total    Rate
	planned  time.Duration
}

// read folds in one results file.
func (m *merger) read(in MergeInput) error {
	dec := vegeta.DecoderFor(in.R)
	if dec == nil {
		return fmt.Errorf("load: %s: not vegeta results (gob, JSON or CSV)", in.Name)
	}
	n := 0
	for {
		var res vegeta.Result
		err := dec.Decode(&res)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("load: %s: result %d: %w", in.Name, n+1, err)
		}
		n++
		if err := m.add(in.Name, &res); err != nil {
			return err
		}
	}
	if n == 0 {
		return fmt.Errorf("load: %s holds no results", in.Name)
	}
	return nil
}

// add folds in one result of file.
func (m *merger) add(file string, res *vegeta.Result) error {
	if _, ok := m.shards[res.Attack]; !ok {
		if err := m.addShard(file, res.Attack); err != nil {
			return err
		}
	} else if m.fileOf[res.Attack] != file {
		// The same shard's results in two files: merging both would
		// count that shard twice.
		return fmt.Errorf("load: %s and %s hold results of the same shard (%s)", m.fileOf[res.Attack], file, res.Attack)
	}
	sp, seen := m.spans[res.Attack]
	if !seen || res.Timestamp.Before(sp[0]) {
		sp[0] = res.Timestamp
	}
	if e := res.End(); e.After(sp[1]) {
		sp[1] = e
	}
	m.spans[res.Attack] = sp
	m.rec.Add(res)
	if m.enc != nil {
		if err := m.enc.Encode(res); err != nil {
			return fmt.Errorf("load: writing merged results: %w", err)
		}
	}
	return nil
}

// addShard registers the shard whose results are named attack, first
// seen in file: one scenario, one OP, each shard once.
func (m *merger) addShard(file, attack string) error {
	info, err := parseAttackName(attack)
	if err != nil {
		return fmt.Errorf("load: %s: %w", file, err)
	}
	if m.rec == nil {
		m.scenario = info.Scenario
		m.rec = NewRecorder(m.scenario)
	} else if info.Scenario != m.scenario {
		return fmt.Errorf("load: %s holds %s results; the others are %s", file, info.Scenario, m.scenario)
	}
	for _, other := range m.shards {
		if other.Shard == info.Shard {
			return fmt.Errorf("load: %s: shard %q appears twice (with different settings)", file, info.Shard)
		}
	}
	for _, other := range m.shards {
		if other.Target != info.Target {
			return fmt.Errorf("load: %s holds results of %s; the others are of %s: one merge is one OP", file, orUnknown(info.Target), orUnknown(other.Target))
		}
	}
	m.fileOf[attack] = file
	m.shards[attack] = info
	m.total = addRates(m.total, info.Rate)
	m.planned = max(m.planned, info.Planned)
	return nil
}

// summary is the merged run judged by thresholds.
func (m *merger) summary(thresholds []Threshold) *reports.LoadRun {
	var names []string
	var intended uint64
	var target string
	for attack, info := range m.shards {
		if info.Shard != "" {
			names = append(names, info.Shard)
		}
		if !info.Rate.Max {
			// A shard stopped early (interrupted, aborted) intended only
			// what its time allowed.
			sp := m.spans[attack]
			intended += info.Rate.hitsBefore(min(info.Planned, sp[1].Sub(sp[0])))
		}
		target = info.Target // all equal, checked in addShard
	}
	slices.Sort(names)
	return m.rec.Summary(RunInfo{
		Target:     target,
		Shards:     names,
		Rate:       m.total,
		Planned:    m.planned,
		Intended:   intended,
		Thresholds: thresholds,
	})
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
