package load

import (
	"bytes"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Flag values come from users and CI files: parsing must refuse clearly,
// never panic, and what it accepts must evaluate.
func FuzzParseFlags(f *testing.F) {
	for _, s := range []string{"p(99)<50ms", "errors<0.1%", "rate>=1000/s", "med==3", "2000/s", "max", "50/1m", "1/4", "/4", "p(1e309)<1"} {
		f.Add(s)
	}
	var lat vegeta.LatencyMetrics
	lat.Add(time.Millisecond)
	f.Fuzz(func(t *testing.T, s string) {
		if th, err := ParseThreshold(s); err == nil {
			th.Evaluate(Measures{Latency: &lat, Count: 1, Rate: 1})
		}
		if r, err := ParseRate(s); err == nil && !r.Max {
			if r.Freq <= 0 || r.Per <= 0 {
				t.Fatalf("ParseRate(%q) accepted %+v", s, r)
			}
			NewPacer(r, PacerOptions{}).Pace(time.Second, 3)
		}
		if sh, err := ParseShard(s, func(string) string { return "0" }); err == nil && (sh.Index < 0 || sh.Index >= sh.Count) {
			t.Fatalf("ParseShard(%q) accepted %+v", s, sh)
		}
	})
}

// Results files come from other machines: merge must refuse garbage.
func FuzzMerge(f *testing.F) {
	var good bytes.Buffer
	_ = vegeta.NewEncoder(&good).Encode(&vegeta.Result{Attack: AttackName(ScenarioPoll, Shard{0, 2}, Rate{Freq: 5, Per: time.Second}, time.Second, ""), Code: 400,
		Body: []byte(`{"error":"slow_down"}`)})
	f.Add(good.Bytes())
	f.Add([]byte(`{"attack":"ciba-check/poll?rate=max&duration=1s","code":200}` + "\n"))
	f.Add([]byte("ciba-check/flow-ping?rate=1%2Fs&duration=1s,0,200,0,0,0,,,GET,u,\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Merge([]MergeInput{{"f", bytes.NewReader(data)}}, MergeOptions{})
		if err == nil && (s.Requests.Sent == 0 || !Scenario(s.Scenario).valid()) {
			t.Fatalf("merge accepted %q as %+v", data, s)
		}
	})
}
