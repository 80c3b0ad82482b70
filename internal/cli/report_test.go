package cli

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ciba-check/ciba-check/reports"
)

func TestNewCmdReportRender(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    ReportRenderOptions
		wantErr string
	}{
		{name: "all outputs", args: []string{"report", "render", "a.json", "b.json", "--html", "r.html", "--junit", "j.xml", "--md", "s.md", "--json", "m.json", "--md-limit", "65536"},
			want: ReportRenderOptions{Inputs: []string{"a.json", "b.json"}, HTMLFile: "r.html", JUnitFile: "j.xml", MarkdownOut: "s.md", JSONFile: "m.json", MDLimit: 65536}},
		{name: "step summary only", args: []string{"report", "render", "a.json", "--step-summary"},
			want: ReportRenderOptions{Inputs: []string{"a.json"}, StepSummary: true, MDLimit: reports.StepSummaryLimit}},
		{name: "no input", args: []string{"report", "render", "--html", "r.html"}, wantErr: "at least one JSON result file"},
		{name: "no output", args: []string{"report", "render", "a.json"}, wantErr: "nothing to write"},
		{name: "both to stdout", args: []string{"report", "render", "a.json", "--md", "-", "--json", "-"}, wantErr: "cannot both write to standard output"},
		{name: "negative limit", args: []string{"report", "render", "a.json", "--md", "s.md", "--md-limit", "-1"}, wantErr: "--md-limit"},
		{name: "unknown flag", args: []string{"report", "render", "a.json", "--pdf", "x"}, wantErr: "unknown flag"},
		{name: "no subcommand", args: []string{"report"}, wantErr: "name a subcommand"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, _, _ := TestStreams()
			f := &Factory{IO: ios, Version: "test"}
			root := NewCmdRoot(f)
			for _, c := range root.Commands() {
				if c.Name() == "report" {
					root.RemoveCommand(c)
				}
			}
			var got *ReportRenderOptions
			root.AddCommand(NewCmdReport(f, func(o *ReportRenderOptions) error { got = o; return nil }))
			err := executeFlags(t, root, tt.args, tt.wantErr)
			if tt.wantErr != "" {
				if exitCode(err) != ExitUsage {
					t.Errorf("exit code %d, want %d", exitCode(err), ExitUsage)
				}
				return
			}
			got.IO, got.Getenv = nil, nil
			if !equalRenderOptions(*got, tt.want) {
				t.Errorf("options = %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func equalRenderOptions(a, b ReportRenderOptions) bool {
	return strings.Join(a.Inputs, ",") == strings.Join(b.Inputs, ",") && a.HTMLFile == b.HTMLFile && a.JUnitFile == b.JUnitFile &&
		a.MarkdownOut == b.MarkdownOut && a.JSONFile == b.JSONFile && a.MDLimit == b.MDLimit && a.StepSummary == b.StepSummary
}

// conformanceJSON and loadJSON are results as run --json and load --json
// write them (docs/report-schema.md, docs/load-schema.md), trimmed.
const conformanceJSON = `{
  "schema": "ciba-check/conformance/v1",
  "tool": {"name": "ciba-check", "version": "v0.3.0"},
  "target": {"issuer": "https://127.0.0.1:8443", "device": "mockdevice"},
  "started": "2026-11-25T15:40:27Z",
  "duration_seconds": 2,
  "checks": [
    {"name": "acknowledges with JSON", "section": "Backchannel authentication endpoint", "spec_refs": ["CIBA-7.3"], "outcome": "passed", "duration_seconds": 0.01},
    {"name": "refuses alg none", "section": "Signed authentication request", "spec_refs": ["CIBA-7.1.1"], "outcome": "failed", "duration_seconds": 0.02,
     "failure": {"message": "expected HTTP 400, got 200 <script>x</script>", "location": "x.go:1"}},
    {"name": "pings the client", "section": "Ping callback", "spec_refs": ["CIBA-10.2"], "outcome": "skipped", "skip_reason": "no ping client"}
  ]
}`

func loadJSON(scenario string, passed bool) string {
	ok := "true"
	if !passed {
		ok = "false"
	}
	return `{"schema": "ciba-check/load/v1", "scenario": "` + scenario + `", "tool_version": "v0.3.0", "target": "https://127.0.0.1:8443",
  "started": "2026-11-25T15:41:00Z", "duration_seconds": 10,
  "rate": {"requested": "20/s", "intended": 20, "sent": 20, "achieved": 19.5},
  "requests": {"intended": 200, "sent": 200, "dropped": 0, "ok": 195, "expected": 0, "unexpected": 5},
  "error_rate": 0.025, "latency_ms": {"min": 1, "mean": 2, "p50": 2, "p90": 3, "p95": 4, "p99": 5, "max": 9},
  "status": {"200": 195, "400": 5}, "oauth_errors": {}, "thresholds": [{"expr": "errors<1%", "value": 0.025, "unit": "ratio", "ok": ` + ok + `}],
  "passed": ` + ok + `}`
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestReportRender(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"conf.json":      conformanceJSON,
		"load-poll.json": loadJSON("flow-poll", false),
		"load-ping.json": loadJSON("flow-ping", true),
	})
	summary := filepath.Join(dir, "step-summary.md")
	if err := os.WriteFile(summary, []byte("earlier step\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ios, _, out, errOut := TestStreams()
	in := func(n string) string { return filepath.Join(dir, n) }
	opts := &ReportRenderOptions{
		IO: ios, Getenv: func(k string) string { return map[string]string{envStepSummary: summary}[k] },
		Inputs:   []string{in("conf.json"), in("load-poll.json"), in("load-ping.json")},
		HTMLFile: in("r.html"), JUnitFile: in("j.xml"), JSONFile: in("m.json"), MarkdownOut: "-",
		MDLimit: reports.StepSummaryLimit, StepSummary: true,
	}
	if err := runReportRender(opts); err != nil {
		t.Fatal(err)
	}
	html, _ := os.ReadFile(in("r.html"))
	for _, want := range []string{`data-verdict="failed"`, "refuses alg none", "&lt;script&gt;x&lt;/script&gt;", "Poll vs ping", "flow-ping"} {
		if !bytes.Contains(html, []byte(want)) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	var junit struct {
		Suites []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name string `xml:"name,attr"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	data, _ := os.ReadFile(in("j.xml"))
	if err := xml.Unmarshal(data, &junit); err != nil || len(junit.Suites) != 2 || len(junit.Suites[0].Cases) != 3 || len(junit.Suites[1].Cases) != 2 {
		t.Errorf("JUnit = %+v (%v)", junit, err)
	}
	// The JSON model reads back and holds everything.
	f, err := os.Open(in("m.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := reports.DecodeJSON(f)
	if err != nil || len(m.Checks) != 3 || len(m.Load) != 2 || m.Target.Issuer != "https://127.0.0.1:8443" {
		t.Errorf("model = %+v (%v)", m, err)
	}
	if !strings.Contains(out.String(), "## ciba-check: ❌ failed") {
		t.Errorf("--md - wrote no summary to stdout: %q", out.String())
	}
	step, _ := os.ReadFile(summary)
	if !strings.HasPrefix(string(step), "earlier step\n## ciba-check: ❌ failed") {
		t.Errorf("step summary was not appended to: %.200q", step)
	}
	if !strings.Contains(errOut.String(), "report: failed (1 passed, 0 warnings, 1 failed, 1 skipped; 1 of 2 load runs with thresholds held them)") {
		t.Errorf("verdict line: %q", errOut.String())
	}
}

func TestReportRenderErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"future.json": `{"schema": "ciba-check/report/v9"}`,
		"junk.json":   `not json`,
		"good.json":   conformanceJSON,
	})
	in := func(n string) string { return filepath.Join(dir, n) }
	tests := []struct {
		name    string
		opts    ReportRenderOptions
		wantErr string
	}{
		{"missing file", ReportRenderOptions{Inputs: []string{in("nope.json")}, HTMLFile: in("r.html")}, "nope.json: no such file"},
		{"future schema", ReportRenderOptions{Inputs: []string{in("future.json")}, HTMLFile: in("r.html")}, `future.json: reports: report schema "ciba-check/report/v9" is not supported`},
		{"not json", ReportRenderOptions{Inputs: []string{in("junk.json")}, HTMLFile: in("r.html")}, "junk.json: reports: not a JSON object"},
		{"unwritable", ReportRenderOptions{Inputs: []string{in("good.json")}, HTMLFile: filepath.Join(dir, "no", "dir", "r.html")}, "no such file or directory"},
		{"step summary unset", ReportRenderOptions{Inputs: []string{in("good.json")}, StepSummary: true}, "$GITHUB_STEP_SUMMARY is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, _, _ := TestStreams()
			o := tt.opts
			o.IO, o.Getenv = ios, func(string) string { return "" }
			err := runReportRender(&o)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
			if exitCode(err) != ExitUsage {
				t.Errorf("exit code %d, want %d", exitCode(err), ExitUsage)
			}
		})
	}
}

func TestReportDiff(t *testing.T) {
	fixed := strings.Replace(conformanceJSON, `"outcome": "failed"`, `"outcome": "passed"`, 1)
	newFail := strings.Replace(conformanceJSON, `"spec_refs": ["CIBA-7.3"], "outcome": "passed"`, `"spec_refs": ["CIBA-7.3"], "outcome": "failed"`, 1)
	// The one passing check is skipped now: nothing failed, but that
	// requirement is no longer verified.
	lost := strings.Replace(conformanceJSON, `"spec_refs": ["CIBA-7.3"], "outcome": "passed"`, `"spec_refs": ["CIBA-7.3"], "outcome": "skipped", "skip_reason": "no poll client"`, 1)
	dir := writeFiles(t, map[string]string{"old.json": conformanceJSON, "fixed.json": fixed, "newfail.json": newFail, "lost.json": lost,
		"load.json": loadJSON("flow-poll", true)})
	in := func(n string) string { return filepath.Join(dir, n) }
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"identical", []string{"report", "diff", in("old.json"), in("old.json")}, ExitOK, "no regression: 0 new failures"},
		{"fixed", []string{"report", "diff", in("old.json"), in("fixed.json")}, ExitOK, "failed   → passed   refuses alg none"},
		{"new failure", []string{"report", "diff", in("old.json"), in("newfail.json")}, ExitFailed, "REGRESSION: 1 new failure,"},
		{"lost coverage", []string{"report", "diff", in("old.json"), in("lost.json")}, ExitFailed, "REGRESSION: 0 new failures, 0 fixed, 1 check lost coverage"},
		{"lost coverage section", []string{"report", "diff", in("old.json"), in("lost.json")}, ExitFailed, "Lost coverage (verified before, skipped now):\n  passed   → skipped  acknowledges with JSON"},
		{"conformance vs load", []string{"report", "diff", in("old.json"), in("load.json")}, ExitUsage, ""},
		{"load vs load", []string{"report", "diff", in("load.json"), in("load.json")}, ExitOK, "no regression"},
		{"one file", []string{"report", "diff", in("old.json")}, ExitUsage, ""},
		{"bad tolerance", []string{"report", "diff", in("old.json"), in("old.json"), "--tolerance", "10"}, ExitUsage, ""},
		{"missing", []string{"report", "diff", in("old.json"), in("nope.json")}, ExitUsage, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, out, _ := TestStreams()
			code := Run(context.Background(), tt.args, &Factory{IO: ios, Version: "test"})
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d; output:\n%s", code, tt.wantCode, out.String())
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("output lacks %q:\n%s", tt.wantOut, out.String())
			}
		})
	}
}

func TestParseTolerance(t *testing.T) {
	tests := []struct {
		in      string
		want    float64
		wantErr bool
	}{
		{"10%", 0.10, false},
		{"0.05", 0.05, false},
		{"2.5%", 0.025, false},
		{"1", 1, false},
		{"10", 0, true},
		{"0", 0, true},
		{"-5%", 0, true},
		{"ten", 0, true},
	}
	for _, tt := range tests {
		got, err := parseTolerance(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && math.Abs(got-tt.want) > 1e-12) {
			t.Errorf("parseTolerance(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func TestStepSummaryCapCountsWhatTheFileHolds(t *testing.T) {
	// A model whose summary is far over 20 kB: many failures with long
	// messages.
	m := &reports.Model{Schema: reports.SchemaVersion, Load: []reports.LoadRun{}}
	for i := range 400 {
		m.Checks = append(m.Checks, reports.Check{Name: fmt.Sprintf("check %03d", i), SpecRefs: []string{"CIBA 7.1"},
			Outcome: reports.Failed, Message: strings.Repeat("the OP answered wrongly ", 20)})
	}
	var full bytes.Buffer
	if err := reports.RenderMarkdown(&full, m, 0); err != nil {
		t.Fatal(err)
	}
	if full.Len() < 50_000 {
		t.Fatalf("test model's summary is only %d bytes", full.Len())
	}
	for _, tt := range []struct {
		name     string
		existing int // bytes already in the file; -1: no file
		whole    bool
		appended bool
	}{
		{"no file yet", -1, true, true},
		{"a little from earlier steps", 1000, true, true},
		{"most of the limit used: a shorter summary", reports.StepSummaryLimit - 20_000, false, true},
		{"no room left: nothing appended", reports.StepSummaryLimit - 100, false, false},
		{"over the limit already: nothing appended", reports.StepSummaryLimit + 5, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "summary.md")
			var before []byte
			if tt.existing >= 0 {
				before = bytes.Repeat([]byte("x"), tt.existing)
				if err := os.WriteFile(path, before, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			ios, _, _, errOut := TestStreams()
			getenv := func(k string) string { return map[string]string{envStepSummary: path}[k] }
			if err := writeReportOutputs(ios, getenv, m, ReportOutputs{StepSummary: true}); err != nil {
				t.Fatal(err)
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(after, before) {
				t.Fatal("the earlier content was changed")
			}
			added := after[len(before):]
			switch {
			case !tt.appended:
				if len(added) != 0 || !strings.Contains(errOut.String(), "no room") {
					t.Fatalf("appended %d bytes; stderr %q", len(added), errOut.String())
				}
				return
			case len(after) > reports.StepSummaryLimit:
				t.Fatalf("file is %d bytes, over GitHub's %d", len(after), reports.StepSummaryLimit)
			case tt.whole && !bytes.Equal(added, full.Bytes()):
				t.Fatalf("appended %d bytes, want the whole %d-byte summary", len(added), full.Len())
			case !tt.whole && (len(added) >= full.Len() || len(added) < 8192 || !bytes.Contains(added, []byte("## ciba-check"))):
				t.Fatalf("appended %d bytes, want a shortened summary of the %d-byte one", len(added), full.Len())
			}
		})
	}
}
