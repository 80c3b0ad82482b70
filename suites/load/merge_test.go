package load

import (
	"bytes"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// shardFile encodes n poll results of one shard as vegeta gob, spread so
// the last ends 1 s (the planned duration) after the first starts.
// shardOP is the issuer the shard files below were recorded against.
const shardOP = "https://op"

func shardFile(t *testing.T, scenario Scenario, shard Shard, n int, latency time.Duration, body string) *bytes.Buffer {
	return shardFileOver(t, scenario, shard, n, latency, body, time.Second, shardOP)
}

func shardFileOver(t *testing.T, scenario Scenario, shard Shard, n int, latency time.Duration, body string, span time.Duration, target string) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	enc := vegeta.NewEncoder(&buf)
	name := AttackName(scenario, shard, Rate{Freq: 100, Per: time.Second}.Split(shard.Count), time.Second, target)
	start := time.Unix(1_700_000_000, 0)
	for i := range n {
		res := &vegeta.Result{Attack: name, Seq: uint64(i), Code: 400, Body: []byte(body), Method: "POST", URL: "https://op/token",
			Timestamp: start.Add(time.Duration(i) * (span - latency) / time.Duration(max(n-1, 1))), Latency: latency}
		if err := enc.Encode(res); err != nil {
			t.Fatal(err)
		}
	}
	return &buf
}

func TestMergeShards(t *testing.T) {
	pending := `{"error":"authorization_pending"}`
	// Shard 0 is fast, shard 1 slow: the fleet's p99 is the slow one's,
	// which neither shard's own p99 threshold over the other would show.
	a := shardFile(t, ScenarioPoll, Shard{0, 2}, 50, 2*time.Millisecond, pending)
	b := shardFile(t, ScenarioPoll, Shard{1, 2}, 45, 80*time.Millisecond, pending)
	ts, _ := ParseThresholds([]string{"p(99)<50ms", "errors<0.01"})
	var merged bytes.Buffer
	s, err := Merge([]MergeInput{{"a.bin", a}, {"b.bin", b}}, MergeOptions{Thresholds: ts, Output: &merged})
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests.Sent != 95 || s.Requests.Expected != 95 || s.Requests.Intended != 100 || s.Requests.Dropped != 5 {
		t.Fatalf("counts %+v: want 95 sent of 100 intended (2 × 50/s × 1s)", s.Requests)
	}
	if strings.Join(s.Shards, ",") != "0/2,1/2" || s.Scenario != string(ScenarioPoll) || s.Rate.Intended != 100 || s.Target != shardOP {
		t.Fatalf("shards %v scenario %s rate %+v target %q", s.Shards, s.Scenario, s.Rate, s.Target)
	}
	if s.Passed || s.Thresholds[0].OK || !s.Thresholds[1].OK {
		t.Fatalf("thresholds %+v: the merged p99 (80ms) breaks p(99)<50ms", s.Thresholds)
	}
	// The merged output is itself mergeable and holds every result.
	again, err := Merge([]MergeInput{{"merged.bin", &merged}}, MergeOptions{})
	if err != nil || again.Requests.Sent != 95 {
		t.Fatalf("re-merge: %+v, %v", again, err)
	}
}

func TestMergeInterruptedShardIntendsLess(t *testing.T) {
	// Planned 1 s at 50/s, stopped after 0.5 s with 25 sent (0, 20, ...
	// 480 ms, the last answered at 481 ms): nothing dropped.
	a := shardFileOver(t, ScenarioPoll, Shard{0, 2}, 25, time.Millisecond, `{"error":"slow_down"}`, 481*time.Millisecond, shardOP)
	s, err := Merge([]MergeInput{{"a.bin", a}}, MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests.Intended != 25 || s.Requests.Dropped != 0 {
		t.Fatalf("counts %+v, want 25 intended and none dropped", s.Requests)
	}
}

func TestMergeRefuses(t *testing.T) {
	pending := `{"error":"authorization_pending"}`
	tests := []struct {
		name    string
		inputs  func() []MergeInput
		wantErr string
	}{
		{"nothing", func() []MergeInput { return nil }, "at least one"},
		{"garbage", func() []MergeInput {
			return []MergeInput{{"x.bin", strings.NewReader("\x00\x01 not results")}}
		}, "x.bin"},
		{"empty", func() []MergeInput { return []MergeInput{{"e.bin", &bytes.Buffer{}}} }, "e.bin"},
		{"mixed scenarios", func() []MergeInput {
			return []MergeInput{
				{"a.bin", shardFile(t, ScenarioPoll, Shard{0, 2}, 3, time.Millisecond, pending)},
				{"b.bin", shardFile(t, ScenarioFlowPing, Shard{1, 2}, 3, time.Millisecond, "")},
			}
		}, "flow-ping results"},
		{"two OPs", func() []MergeInput {
			return []MergeInput{
				{"a.bin", shardFile(t, ScenarioPoll, Shard{0, 2}, 3, time.Millisecond, pending)},
				{"b.bin", shardFileOver(t, ScenarioPoll, Shard{1, 2}, 3, time.Millisecond, pending, time.Second, "https://other-op")},
			}
		}, "one merge is one OP"},
		{"same shard twice", func() []MergeInput {
			var b bytes.Buffer
			enc := vegeta.NewEncoder(&b)
			_ = enc.Encode(&vegeta.Result{Attack: AttackName(ScenarioPoll, Shard{0, 2}, Rate{Freq: 7, Per: time.Second}, time.Second, "")})
			return []MergeInput{{"a.bin", shardFile(t, ScenarioPoll, Shard{0, 2}, 3, time.Millisecond, pending)}, {"b.bin", &b}}
		}, "appears twice"},
		{"foreign attack", func() []MergeInput {
			var b bytes.Buffer
			_ = vegeta.NewEncoder(&b).Encode(&vegeta.Result{Attack: "someone else"})
			return []MergeInput{{"f.bin", &b}}
		}, "not written by ciba-check"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Merge(tt.inputs(), MergeOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Merge error %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestAttackNameRoundTrip(t *testing.T) {
	name := AttackName(ScenarioFlowPoll, Shard{2, 3}, Rate{Freq: 50, Per: 3 * time.Second}, 90*time.Second, "https://op.example/realms/a?b")
	info, err := parseAttackName(name)
	if err != nil {
		t.Fatal(err)
	}
	if info.Scenario != ScenarioFlowPoll || info.Shard != "2/3" || info.Planned != 90*time.Second || info.Rate.Freq != 50 || info.Rate.Per != 3*time.Second ||
		info.Target != "https://op.example/realms/a?b" {
		t.Fatalf("parsed %+v from %q", info, name)
	}
}

func TestMergeRefusesTheSameShardFileTwice(t *testing.T) {
	pending := `{"error":"authorization_pending"}`
	a := shardFile(t, ScenarioPoll, Shard{0, 2}, 3, time.Millisecond, pending)
	b := bytes.NewBuffer(append([]byte(nil), a.Bytes()...))
	_, err := Merge([]MergeInput{{"a.bin", a}, {"copy.bin", b}}, MergeOptions{})
	if err == nil || !strings.Contains(err.Error(), "same shard") {
		t.Fatalf("Merge error %v, want a refusal to count a shard twice", err)
	}
}
