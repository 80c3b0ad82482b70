package load

import (
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in      string
		want    Rate
		perSec  float64
		wantErr string
	}{
		{in: "2000/s", want: Rate{Freq: 2000, Per: time.Second}, perSec: 2000},
		{in: "50/1m", want: Rate{Freq: 50, Per: time.Minute}, perSec: 50.0 / 60},
		{in: "50/m", want: Rate{Freq: 50, Per: time.Minute}, perSec: 50.0 / 60},
		{in: "10", want: Rate{Freq: 10, Per: time.Second}, perSec: 10},
		{in: "5/100ms", want: Rate{Freq: 5, Per: 100 * time.Millisecond}, perSec: 50},
		{in: "MAX", want: Rate{Max: true}},
		{in: "0/s", wantErr: "positive whole number"},
		{in: "-3/s", wantErr: "positive whole number"},
		{in: "abc", wantErr: "positive whole number"},
		{in: "10/fortnight", wantErr: "not a positive duration"},
		{in: "10/-1s", wantErr: "not a positive duration"},
		{in: "1/1ns", wantErr: "over 100000000 per second"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRate(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseRate(%q) error %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseRate(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			if d := got.PerSecond() - tt.perSec; d > 1e-9 || d < -1e-9 {
				t.Fatalf("PerSecond = %v, want %v", got.PerSecond(), tt.perSec)
			}
		})
	}
}

func TestRateSplit(t *testing.T) {
	r := Rate{Freq: 1000, Per: time.Second}
	third := r.Split(3)
	if got := third.PerSecond() * 3; got < 999.999 || got > 1000.001 {
		t.Fatalf("three thirds of 1000/s make %v/s", got)
	}
	if r.Split(1) != r || (Rate{Max: true}).Split(4) != (Rate{Max: true}) {
		t.Fatal("splitting into one part or splitting max must not change the rate")
	}
}

func TestParseShard(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == EnvJobCompletionIndex {
				return v
			}
			return ""
		}
	}
	tests := []struct {
		in      string
		env     string
		want    Shard
		wantErr string
	}{
		{in: "", want: Shard{0, 1}},
		{in: "0/4", want: Shard{0, 4}},
		{in: "3/4", want: Shard{3, 4}},
		{in: "/4", env: "2", want: Shard{2, 4}},
		{in: "1/4", env: "2", want: Shard{1, 4}},
		{in: "4/4", wantErr: "from 0 to 3"},
		{in: "-1/4", wantErr: "from 0 to 3"},
		{in: "/4", wantErr: "JOB_COMPLETION_INDEX is not set"},
		{in: "/4", env: "9", wantErr: "JOB_COMPLETION_INDEX"},
		{in: "2", wantErr: "want i/n"},
		{in: "1/0", wantErr: "shard count"},
		{in: "a/b", wantErr: "shard count"},
	}
	for _, tt := range tests {
		t.Run(tt.in+"_"+tt.env, func(t *testing.T) {
			got, err := ParseShard(tt.in, env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseShard(%q) error %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseShard(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestShardSplitCoversTotal(t *testing.T) {
	for _, total := range []int{1, 7, 500, 1001} {
		for _, n := range []int{1, 2, 3, 8} {
			if total < n {
				continue
			}
			sum := 0
			for i := range n {
				sum += Shard{Index: i, Count: n}.Split(total)
			}
			if sum != total {
				t.Fatalf("%d split into %d shards sums to %d", total, n, sum)
			}
		}
	}
}

func TestParseThreshold(t *testing.T) {
	tests := []struct {
		in      string
		want    Threshold
		wantErr string
	}{
		{in: "p(99)<50ms", want: Threshold{Metric: "latency", Agg: "p", Percentile: 99, Op: "<", Value: 50}},
		{in: " p( 99.9 ) <= 1.5s ", want: Threshold{Metric: "latency", Agg: "p", Percentile: 99.9, Op: "<=", Value: 1500}},
		{in: "p95<200", want: Threshold{Metric: "latency", Agg: "p", Percentile: 95, Op: "<", Value: 200}},
		{in: "avg<10", want: Threshold{Metric: "latency", Agg: "avg", Op: "<", Value: 10}},
		{in: "med>=250us", want: Threshold{Metric: "latency", Agg: "med", Op: ">=", Value: 0.25}},
		{in: "max==1s", want: Threshold{Metric: "latency", Agg: "max", Op: "==", Value: 1000}},
		{in: "min>0", want: Threshold{Metric: "latency", Agg: "min", Op: ">", Value: 0}},
		{in: "rate>1000", want: Threshold{Metric: "rate", Op: ">", Value: 1000}},
		{in: "rate>=50/s", want: Threshold{Metric: "rate", Op: ">=", Value: 50}},
		{in: "errors<0.001", want: Threshold{Metric: "errors", Op: "<", Value: 0.001}},
		{in: "errors<0.5%", want: Threshold{Metric: "errors", Op: "<", Value: 0.005}},
		{in: "p(0)<5ms", wantErr: "not in (0, 100]"},
		{in: "p(101)<5ms", wantErr: "not in (0, 100]"},
		{in: "p(99)<fast", wantErr: "not a duration"},
		{in: "errors<2", wantErr: "between 0 and 1"},
		{in: "rate>lots", wantErr: "not a number"},
		{in: "p99 = 5ms", wantErr: "want AGGREGATION OPERATOR VALUE"},
		{in: "count>5", wantErr: "want AGGREGATION OPERATOR VALUE"},
		{in: "", wantErr: "want AGGREGATION OPERATOR VALUE"},
		{in: "p(99)<", wantErr: "want AGGREGATION OPERATOR VALUE"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseThreshold(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseThreshold(%q) error %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Expr = strings.TrimSpace(tt.in)
			if diff := got.Value - tt.want.Value; diff > 1e-9 || diff < -1e-9 {
				t.Fatalf("value %v, want %v", got.Value, tt.want.Value)
			}
			got.Value = tt.want.Value
			if got != tt.want {
				t.Fatalf("ParseThreshold(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestThresholdEvaluate(t *testing.T) {
	var lat vegeta.LatencyMetrics
	for i := 1; i <= 100; i++ {
		lat.Add(time.Duration(i) * time.Millisecond) // 1..100 ms
	}
	lat.Mean = lat.Total / 100
	m := Measures{Latency: &lat, Rate: 1200, Errors: 0.002, Count: 100}
	tests := []struct {
		expr string
		ok   bool
		val  float64
	}{
		{"p(99)<100ms", true, 99.5},
		{"p(99)<90ms", false, 99.5},
		{"max<=100", true, 100},
		{"max<100", false, 100},
		{"min==1ms", true, 1},
		{"avg<50ms", false, 50.5},
		{"avg<51ms", true, 50.5},
		{"med<60", true, 50.5},
		{"rate>1000", true, 1200},
		{"rate>2000", false, 1200},
		{"errors<0.001", false, 0.002},
		{"errors<=0.2%", true, 0.002},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			th, err := ParseThreshold(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			r := th.Evaluate(m)
			if r.OK != tt.ok {
				t.Fatalf("%s: ok=%v (measured %v), want %v", tt.expr, r.OK, r.Value, tt.ok)
			}
			if d := r.Value - tt.val; d > 1.01 || d < -1.01 {
				t.Fatalf("%s: measured %v, want about %v", tt.expr, r.Value, tt.val)
			}
		})
	}
	// Nothing measured proves nothing: every threshold fails.
	th, _ := ParseThreshold("errors<0.5")
	if th.Evaluate(Measures{}).OK {
		t.Fatal("a threshold held over zero results")
	}
	if _, ok := EvaluateAll([]Threshold{th}, m); !ok {
		t.Fatal("EvaluateAll: errors 0.002 < 0.5 should hold")
	}
}
