package reports

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fullLoadRun has every member of a load summary set.
func fullLoadRun() LoadRun {
	lat := Latency{Min: 1, Mean: 2, P50: 2, P90: 3, P95: 4, P99: 5, Max: 9}
	return LoadRun{
		Scenario: "flow-poll", Mode: "poll", Target: "https://op.example", ClientID: "c1", Shards: []string{"0/2", "1/2"},
		Started: time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC), DurationSeconds: 10.5, SendSeconds: 10,
		Rate:     LoadRate{Requested: "10/s", Intended: 10, Sent: 10, Achieved: 9.5},
		Requests: LoadCount{Intended: 100, Sent: 99, Dropped: 1, OK: 98, Unexpected: 1}, ErrorRate: 1.0 / 99,
		LatencyMS: lat, ApprovalToTokenMS: &lat,
		Status: map[string]uint64{"200": 98, "400": 1}, OAuthErrors: map[string]uint64{"access_denied": 1},
		Errors:     []ErrorCount{{Error: "400 access_denied", Count: 1}},
		Thresholds: []Threshold{{Expr: "errors<1%", Value: 1.0 / 99, Unit: "ratio", OK: false}},
		CPU:        &LoadCPU{Seconds: 1.5, PerRequestMicros: 150, IncludesTarget: true, Cores: 2, Busy: 0.07, SharedWith: []string{"flow-ping"}},
		Pool:       &LoadPool{Signed: 120, Taken: 99, Stale: 1, Waits: 2},
		Generator:  &LoadGenerator{MaxInFlight: 64, PeakInFlight: 3, DroppedLate: 1, Connections: &LoadConnections{Opened: 2, TLSHandshakes: 2, PeakOpen: 2, WaitedForStream: 7}},
		Aborted:    "interrupted",
		Series:     []SeriesPoint{{BucketSeconds: 1, Sent: 10, OK: 10, P50MS: 2, P99MS: 5}},
		Histogram:  []HistogramBin{{UpToMS: 5, Count: 99}},
	}
}

// TestWriteLoadJSON: a load run is written with the members of
// docs/load-schema.md in their order, and reads back as it was.
func TestWriteLoadJSON(t *testing.T) {
	run := fullLoadRun()
	var buf bytes.Buffer
	if err := WriteLoadJSON(&buf, &run, "v1.2.3"); err != nil {
		t.Fatal(err)
	}
	want := []string{"schema", "scenario", "tool_version", "target", "client_id", "shards", "started", "duration_seconds",
		"send_seconds", "rate", "requests", "error_rate", "latency_ms", "approval_to_token_ms", "status", "oauth_errors",
		"errors", "cpu", "assertion_pool", "generator", "thresholds", "passed", "aborted", "series", "histogram"}
	if got := topLevelKeys(t, buf.Bytes()); !reflect.DeepEqual(got, want) {
		t.Errorf("members\n%v, want\n%v", got, want)
	}
	for _, member := range []string{`"per_request_us": 150`, `"shared_with": [`, `"includes_target": true`, `"waits": 2`} {
		if !strings.Contains(buf.String(), member) {
			t.Errorf("summary lacks %s:\n%s", member, buf.String())
		}
	}
	m, err := FromLoadJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if m.ToolVersion != "v1.2.3" || m.Target.Issuer != run.Target || !reflect.DeepEqual(m.Load[0], run) {
		t.Errorf("read back\n%+v\nwant\n%+v", m.Load[0], run)
	}
	// A merge has neither CPU nor pool; the maps and thresholds of a run
	// without results are still written, empty.
	var empty bytes.Buffer
	if err := WriteLoadJSON(&empty, &LoadRun{Scenario: "poll"}, ""); err != nil {
		t.Fatal(err)
	}
	for _, member := range []string{`"status": {}`, `"oauth_errors": {}`, `"thresholds": []`} {
		if !strings.Contains(empty.String(), member) {
			t.Errorf("empty summary lacks %s:\n%s", member, empty.String())
		}
	}
	if strings.Contains(empty.String(), `"cpu"`) || strings.Contains(empty.String(), `"assertion_pool"`) || strings.Contains(empty.String(), `"tool_version"`) {
		t.Errorf("empty summary has members it should not:\n%s", empty.String())
	}
}

func topLevelKeys(t *testing.T, data []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// TestRenderLoadText: each run's figures and thresholds, then poll vs
// ping side by side with the HTML's rows; what the OP wrote is escaped.
func TestRenderLoadText(t *testing.T) {
	poll := fullLoadRun()
	poll.OAuthErrors = map[string]uint64{"bad\x1b[2Jcode": 1}
	ping := fullLoadRun()
	ping.Scenario, ping.Mode, ping.Aborted = "flow-ping", "ping", ""
	var buf bytes.Buffer
	if err := RenderLoadText(&buf, LoadModel("", poll, ping)); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"scenario      flow-poll (client c1)", "scenario      flow-ping", "shards        0/2 1/2",
		"draining in-flight flows", "approval→token min 1ms", "  ✗ errors<1%  (measured 0.0101)", "aborted       interrupted",
		"assertions    signed 120, used 99, discarded stale 1, pool empty 2 times", `bad\x1b[2Jcode×1`,
		"one figure for flow-poll and flow-ping", "Poll vs ping", "Approval→token p50"} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("an escape character reached the terminal:\n%q", out)
	}
	one := LoadModel("", LoadRun{Scenario: "poll"})
	buf.Reset()
	if err := RenderLoadText(&buf, one); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "thresholds    none set: nothing was judged") || strings.Contains(buf.String(), "side by side") {
		t.Errorf("one run without thresholds:\n%s", buf.String())
	}
}

// TestLoadRunInModel: inside a report model a load run carries its name
// and mode and reads back as it was; a run written before the model had
// cpu (the CPU per request flat) still reads, into CPU.
func TestLoadRunInModel(t *testing.T) {
	full := fullLoadRun()
	full.Name = "poll at 10/s"
	tests := []struct {
		name  string
		input func(t *testing.T) []byte
		want  LoadRun
	}{
		{"written by this version", func(t *testing.T) []byte {
			data, err := json.Marshal(full)
			if err != nil {
				t.Fatal(err)
			}
			return data
		}, full},
		{"written before cpu", func(*testing.T) []byte {
			return []byte(`{"name":"p","scenario":"flow-poll","mode":"poll","status":{"200":1},"cpu_per_request_us":150,"cpu_shared_with":["flow-ping"],"passed":true}`)
		}, LoadRun{Name: "p", Scenario: "flow-poll", Mode: "poll", Status: map[string]uint64{"200": 1},
			CPU: &LoadCPU{PerRequestMicros: 150, SharedWith: []string{"flow-ping"}}, Passed: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.input(t)
			var got LoadRun
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("read\n%+v\nwant\n%+v\nfrom %s", got, tt.want, data)
			}
		})
	}
	data, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	for _, member := range []string{`"name":"poll at 10/s"`, `"mode":"poll"`, `"cpu_per_request_us":150`, `"cpu_shared_with":["flow-ping"]`} {
		if !strings.Contains(string(data), member) {
			t.Errorf("model member lacks %s:\n%s", member, data)
		}
	}
}

// TestRenderLoadTextOldModelCPU: a model saved before runs carried their
// CPU seconds shows the per-request figure it has, never "0.00s" as if
// the seconds had been measured.
func TestRenderLoadTextOldModelCPU(t *testing.T) {
	tests := []struct {
		name      string
		cpu       LoadCPU
		want, not string
	}{
		{"seconds measured", LoadCPU{Seconds: 1.5, PerRequestMicros: 150}, "cpu           1.50s, 150µs per", ""},
		{"per request only", LoadCPU{PerRequestMicros: 150}, "cpu           150µs per", "cpu           0.00s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := LoadRun{Name: "p", Scenario: "poll", Mode: "poll", CPU: &tt.cpu, Passed: true}
			var buf bytes.Buffer
			if err := RenderLoadText(&buf, LoadModel("", run)); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(buf.String(), tt.want) || tt.not != "" && strings.Contains(buf.String(), tt.not) {
				t.Errorf("want %q (and no %q) in:\n%s", tt.want, tt.not, buf.String())
			}
		})
	}
}
