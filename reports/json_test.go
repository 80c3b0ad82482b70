package reports

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func TestRenderJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := RenderJSON(&buf, sampleModel()); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, ".json", buf.Bytes())
}

func TestJSONRoundTrip(t *testing.T) {
	in := sampleModel()
	var buf bytes.Buffer
	if err := RenderJSON(&buf, in); err != nil {
		t.Fatal(err)
	}
	out, err := DecodeJSON(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("DecodeJSON(RenderJSON(m)) differs from m:\n in: %+v\nout: %+v", in.Checks[7], out.Checks[7])
	}
	// Decode (the sniffing reader) gives the same model.
	out2, err := Decode(bytes.NewReader(buf.Bytes()))
	if err != nil || !reflect.DeepEqual(in, out2) {
		t.Errorf("Decode differs from DecodeJSON (err %v)", err)
	}
}

func TestRenderJSONSetsSchema(t *testing.T) {
	m := &Model{Checks: []Check{{Name: "a", Outcome: Passed}}}
	var buf bytes.Buffer
	if err := RenderJSON(&buf, m); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"schema": "`+SchemaVersion+`"`) || !strings.Contains(buf.String(), `"load": []`) {
		t.Errorf("RenderJSON output lacks the schema or an empty load list:\n%s", buf.String())
	}
	if m.Schema != "" {
		t.Error("RenderJSON changed its input")
	}
}

func TestDecodeJSONErrors(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
	}{
		{"empty", "", "empty"},
		{"not json", "<html>", "not a JSON object"},
		{"array", "[1]", "not a JSON object"},
		{"no schema", `{"checks":[]}`, `no "schema" member`},
		{"newer version", `{"schema":"ciba-check/report/v2"}`, `report schema "ciba-check/report/v2" is not supported: this ciba-check reads "ciba-check/report/v1"`},
		{"other tool", `{"schema":"k6/summary"}`, `unknown schema "k6/summary"`},
		{"load summary is not a model", `{"schema":"ciba-check/load/v1"}`, `unknown schema "ciba-check/load/v1"`},
		{"bad outcome", `{"schema":"ciba-check/report/v1","checks":[{"name":"x","outcome":"great"}]}`, `outcome "great"`},
		{"wrong type", `{"schema":"ciba-check/report/v1","checks":{}}`, "does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeJSON(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("DecodeJSON(%q) = %v, want an error containing %q", tt.in, err, tt.wantErr)
			}
		})
	}
}

// loadSummary is a ciba-check/load/v1 summary as the load runner writes it
// (docs/load-schema.md), trimmed to a few members.
const loadSummary = `{
  "schema": "ciba-check/load/v1",
  "scenario": "flow-ping",
  "tool_version": "v0.4.0",
  "target": "https://op.example.com",
  "client_id": "c1",
  "started": "2026-11-25T14:00:00Z",
  "duration_seconds": 30,
  "rate": {"requested": "20/s", "intended": 20, "sent": 19.9, "achieved": 19.5},
  "requests": {"intended": 600, "sent": 597, "dropped": 3, "ok": 585, "expected": 0, "unexpected": 12},
  "error_rate": 0.0201,
  "latency_ms": {"min": 100, "mean": 150, "p50": 140, "p90": 190, "p95": 210, "p99": 260, "max": 400},
  "approval_to_token_ms": {"min": 10, "mean": 20, "p50": 18, "p90": 30, "p95": 35, "p99": 50, "max": 80},
  "status": {"200": 585, "400": 12},
  "oauth_errors": {"invalid_grant": 12},
  "errors": [{"error": "400 invalid_grant", "count": 12}],
  "cpu": {"seconds": 1.2, "per_request_us": 2010, "includes_target": true},
  "assertion_pool": {"signed": 700},
  "thresholds": [{"expr": "errors<1%", "value": 0.0201, "unit": "ratio", "ok": false}],
  "passed": false,
  "some_future_member": {"ignored": true}
}`

func TestFromLoadJSON(t *testing.T) {
	for name, decode := range map[string]func(string) (*Model, error){
		"FromLoadJSON": func(s string) (*Model, error) { return FromLoadJSON(strings.NewReader(s)) },
		"Decode":       func(s string) (*Model, error) { return Decode(strings.NewReader(s)) },
	} {
		t.Run(name, func(t *testing.T) {
			m, err := decode(loadSummary)
			if err != nil {
				t.Fatal(err)
			}
			if m.ToolVersion != "v0.4.0" || m.Target.Issuer != "https://op.example.com" || len(m.Load) != 1 || len(m.Checks) != 0 {
				t.Fatalf("model = %+v", m)
			}
			l := m.Load[0]
			if l.Scenario != "flow-ping" || l.Mode != "ping" || l.Rate.Achieved != 19.5 || l.Requests.Dropped != 3 ||
				l.LatencyMS.P99 != 260 || l.ApprovalToTokenMS == nil || l.ApprovalToTokenMS.P50 != 18 ||
				l.CPU == nil || l.CPU.PerRequestMicros != 2010 || l.Passed || len(l.Thresholds) != 1 || l.Thresholds[0].OK ||
				l.Status["400"] != 12 || l.Errors[0].Count != 12 || l.Started.IsZero() {
				t.Errorf("load run = %+v", l)
			}
			if want := l.Started.Add(30e9); !m.GeneratedAt.Equal(want) {
				t.Errorf("GeneratedAt = %v, want the run's end %v", m.GeneratedAt, want)
			}
			if m.Passed() {
				t.Error("a run with a breached threshold passed")
			}
		})
	}
	if _, err := FromLoadJSON(strings.NewReader(`{"schema":"ciba-check/report/v1"}`)); err == nil || !strings.Contains(err.Error(), "is not \"ciba-check/load/v1\"") {
		t.Errorf("FromLoadJSON(report) = %v, want a schema error", err)
	}
}

// conformanceRun is a ciba-check/conformance/v1 run as `run --json` writes
// it (docs/report-schema.md).
const conformanceRun = `{
  "schema": "ciba-check/conformance/v1",
  "tool": {"name": "ciba-check", "version": "v0.3.0"},
  "target": {"issuer": "https://127.0.0.1:8443", "device": "mockdevice"},
  "started": "2026-11-25T15:40:27Z",
  "duration_seconds": 5.5,
  "summary": {"total": 6, "passed": 1, "warnings": 1, "failed": 2, "skipped": 2},
  "checks": [
    {"id": "a", "name": "passes", "section": "Discovery", "spec_refs": ["CIBA-4"], "labels": ["CIBA-4"], "modes": [], "auth": [], "negative": false, "oidf_modules": [], "outcome": "passed", "duration_seconds": 0.01},
    {"id": "b", "name": "fails", "section": "Signed authentication request", "spec_refs": ["CIBA-7.1.1", "FAPI-RW-8.6"], "modes": ["poll"], "auth": ["private_key_jwt"], "negative": true, "oidf_modules": ["fapi-ciba-id1-x"], "outcome": "failed", "duration_seconds": 0.012,
     "failure": {"message": "expected HTTP [400], got a success\n  > POST https://op/bc", "location": "checks_requestobject.go:130",
       "expected": "HTTP 400", "got": "HTTP 200", "exchanges": [{"method": "POST", "url": "https://op/bc", "status": 200}]}},
    {"id": "c", "name": "times out", "section": "Token endpoint", "spec_refs": ["CIBA-11"], "outcome": "timedout", "duration_seconds": 120, "failure": {"message": "waited too long"}},
    {"id": "d", "name": "skips", "section": "Ping callback", "spec_refs": ["CIBA-10.2"], "outcome": "skipped", "skip_reason": "no ping client"},
    {"id": "e", "name": "pends", "section": "Ping callback", "spec_refs": ["CIBA-10.2"], "outcome": "pending"},
    {"id": "f", "name": "warns", "section": "Token endpoint", "spec_refs": ["CIBA-11"], "severity": "should", "outcome": "warning", "duration_seconds": 0.02,
     "warning": {"message": "expected slow_down, got \"authorization_pending\"\n  < HTTP 400", "location": "checks_token.go:300"}}
  ]
}`

func TestFromConformanceJSON(t *testing.T) {
	m, err := FromConformanceJSON(strings.NewReader(conformanceRun))
	if err != nil {
		t.Fatal(err)
	}
	if m.ToolVersion != "v0.3.0" || m.Target.Issuer != "https://127.0.0.1:8443" || m.Environment["device"] != "mockdevice" {
		t.Errorf("header = %+v", m)
	}
	if want := "2026-11-25T15:40:32.5Z"; m.GeneratedAt.Format("2006-01-02T15:04:05.9Z07:00") != want {
		t.Errorf("GeneratedAt = %v, want the run's end %s", m.GeneratedAt, want)
	}
	if c := m.Counts(); c != (Counts{Passed: 1, Warnings: 1, Failed: 2, Skipped: 2}) {
		t.Errorf("counts = %+v", c)
	}
	b := m.Checks[1]
	if b.Group != "Signed authentication request" || b.Section() != "CIBA-7.1.1" || !b.Negative || b.Location != "checks_requestobject.go:130" ||
		!strings.HasPrefix(b.Message, "expected HTTP [400]") || b.Modes[0] != "poll" || b.OIDFModules[0] != "fapi-ciba-id1-x" ||
		b.Expected != "HTTP 400" || b.Got != "HTTP 200" || len(b.Exchanges) != 1 || b.Exchanges[0].Status != 200 {
		t.Errorf("failed check = %+v", b)
	}
	if got := m.Checks[2]; got.Outcome != Failed || got.Message != "timedout: waited too long" {
		t.Errorf("timed-out check = %+v", got)
	}
	if got := m.Checks[3]; got.Outcome != Skipped || got.Message != "no ping client" {
		t.Errorf("skipped check = %+v", got)
	}
	if got := m.Checks[4]; got.Outcome != Skipped || got.Message == "" {
		t.Errorf("pending check = %+v", got)
	}
	if got := m.Checks[5]; got.Outcome != Warning || !got.Should || got.Location != "checks_token.go:300" || !strings.HasPrefix(got.Message, "expected slow_down") {
		t.Errorf("warning check = %+v", got)
	}
	// Warnings do not fail the verdict; the failures here do.
	noFailures := &Model{Checks: []Check{m.Checks[0], m.Checks[5]}}
	if !noFailures.Passed() {
		t.Errorf("a model with a pass and a warning has not passed")
	}
	// Decode sniffs the same.
	if m2, err := Decode(strings.NewReader(conformanceRun)); err != nil || len(m2.Checks) != 6 {
		t.Errorf("Decode(conformance) = %v, %v", m2, err)
	}
	bad := strings.Replace(conformanceRun, `"outcome": "pending"`, `"outcome": "exploded"`, 1)
	if _, err := FromConformanceJSON(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), `unknown outcome "exploded"`) {
		t.Errorf("unknown outcome: %v", err)
	}
	// Endpoints on another host than the issuer are named in the
	// environment, which HTML shows.
	offHost := strings.Replace(conformanceRun, `"device": "mockdevice"`, `"device": "mockdevice", "off_host_endpoints": ["token_endpoint https://other.example/token"]`, 1)
	m, err = FromConformanceJSON(strings.NewReader(offHost))
	if err != nil || m.Environment["endpoints off the issuer's host"] != "token_endpoint https://other.example/token" {
		t.Errorf("off-host endpoints: environment %v, %v", m.Environment, err)
	}
	var page bytes.Buffer
	if err := RenderHTML(&page, m); err != nil || !strings.Contains(page.String(), "https://other.example/token") {
		t.Errorf("the HTML report does not name the off-host endpoint (%v)", err)
	}
	early := strings.Replace(conformanceRun, `"checks": [`, `"error": "the OP became unreachable", "checks": [`, 1)
	m, err = FromConformanceJSON(strings.NewReader(early))
	if err != nil || m.Error != "the OP became unreachable" || m.Passed() {
		t.Errorf("run that ended early: %+v, %v", m, err)
	}
}

// TestFromLoadJSONSeries: when the load summary carries series and
// histogram under the model's member names, they reach the charts.
func TestFromLoadJSONSeries(t *testing.T) {
	in := strings.Replace(loadSummary, `"passed": false,`, `"passed": false,
  "series": [{"offset_seconds": 0, "bucket_seconds": 5, "sent": 100, "ok": 98, "unexpected": 2, "p50_ms": 140, "p99_ms": 250}],
  "histogram": [{"up_to_ms": 100, "count": 40}, {"up_to_ms": 200, "count": 60}],`, 1)
	m, err := FromLoadJSON(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	l := m.Load[0]
	if len(l.Series) != 1 || l.Series[0].P99MS != 250 || len(l.Histogram) != 2 || l.Histogram[1].Count != 60 {
		t.Fatalf("series %+v, histogram %+v", l.Series, l.Histogram)
	}
	var html bytes.Buffer
	if err := RenderHTML(&html, m); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Latency over time", "Throughput over time", "Latency distribution"} {
		if !strings.Contains(html.String(), want) {
			t.Errorf("HTML lacks the %q chart", want)
		}
	}
}
