package reports

import (
	"strings"
	"testing"
	"time"
)

func TestSectionOf(t *testing.T) {
	tests := []struct{ ref, want string }{
		{"CIBA-7.1.1", "CIBA-7.1.1"},
		{"FAPI-CIBA-5.2.2-9", "FAPI-CIBA-5.2.2"},
		{"FAPI-CIBA-5.2.2", "FAPI-CIBA-5.2.2"},
		{"RFC8705-3", "RFC8705-3"},
		{"RFC8705-3-1", "RFC8705-3"},
		{"CIBA-11", "CIBA-11"},
		{" CIBA-13 ", "CIBA-13"},
	}
	for _, tt := range tests {
		if got := SectionOf(tt.ref); got != tt.want {
			t.Errorf("SectionOf(%q) = %q, want %q", tt.ref, got, tt.want)
		}
	}
	if got := (&Check{}).Section(); got != "unreferenced" {
		t.Errorf("Section of a check without refs = %q, want unreferenced", got)
	}
}

func TestCompareSections(t *testing.T) {
	tests := []struct {
		a, b string
		less bool
	}{
		{"CIBA-7.9", "CIBA-7.10", true},
		{"CIBA-7.3", "CIBA-10.1", true},
		{"CIBA-7.1", "CIBA-7.1.1", true},
		{"CIBA-13", "FAPI-CIBA-5.2.2", true},
		{"CIBA-10.1", "CIBA-7.3", false},
	}
	for _, tt := range tests {
		if got := compareSections(tt.a, tt.b) < 0; got != tt.less {
			t.Errorf("compareSections(%q, %q) < 0 = %v, want %v", tt.a, tt.b, got, tt.less)
		}
	}
}

func TestModelVerdict(t *testing.T) {
	pass := Check{Name: "a", Outcome: Passed}
	fail := Check{Name: "b", Outcome: Failed}
	skip := Check{Name: "c", Outcome: Skipped}
	warn := Check{Name: "d", Outcome: Warning, Should: true, Message: "expected slow_down"}
	held := Threshold{Expr: "p(99)<1s", OK: true}
	tests := []struct {
		name    string
		m       Model
		want    bool
		verdict Verdict
	}{
		{"empty has not passed", Model{}, false, VerdictEmpty},
		{"passes and skips pass", Model{Checks: []Check{pass, skip}}, true, VerdictPassed},
		{"only skips pass", Model{Checks: []Check{skip}}, true, VerdictPassed},
		{"a failure fails", Model{Checks: []Check{pass, fail}}, false, VerdictFailed},
		{"warnings pass", Model{Checks: []Check{pass, warn}}, true, VerdictPassed},
		{"a failure beside a warning fails", Model{Checks: []Check{warn, fail}}, false, VerdictFailed},
		{"a failed load run fails", Model{Checks: []Check{pass}, Load: []LoadRun{{Passed: false}}}, false, VerdictFailed},
		{"a passed load run passes", Model{Load: []LoadRun{{Passed: true, Thresholds: []Threshold{held}}}}, true, VerdictPassed},
		{"a load run without thresholds is not judged", Model{Load: []LoadRun{{Passed: true}}}, true, VerdictUnjudged},
		{"an early end is incomplete", Model{Checks: []Check{pass}, Error: "target lost"}, false, VerdictIncomplete},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.Passed(); got != tt.want {
				t.Errorf("Passed() = %v, want %v", got, tt.want)
			}
			if got := tt.m.Verdict(); got != tt.verdict {
				t.Errorf("Verdict() = %q, want %q", got, tt.verdict)
			}
		})
	}
	c := (&Model{Checks: []Check{pass, pass, warn, fail, skip}}).Counts()
	if c != (Counts{Passed: 2, Warnings: 1, Failed: 1, Skipped: 1}) || c.Total() != 5 {
		t.Errorf("Counts() = %+v", c)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		m       *Model
		wantErr string
	}{
		{"nil", nil, "no model"},
		{"unknown outcome", &Model{Checks: []Check{{Name: "x", Outcome: "maybe"}}}, `check "x": outcome "maybe"`},
		{"no name", &Model{Checks: []Check{{Outcome: Passed}}}, "check 1 has no name"},
		{"negative duration", &Model{Checks: []Check{{Name: "x", Outcome: Passed, DurationSeconds: -1}}}, "negative duration"},
		{"zero bucket", &Model{Load: []LoadRun{{Name: "r", Series: []SeriesPoint{{BucketSeconds: 0}}}}}, "bucket_seconds 0"},
		{"valid", sampleModel(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.m.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	t1 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	conf := &Model{ToolVersion: "v1", GeneratedAt: t1, Target: Target{Issuer: "https://op"}, Environment: map[string]string{"go": "1.26"},
		Checks: []Check{{Name: "a", Outcome: Passed, SpecRefs: []string{"CIBA-7.3"}}}}
	load := &Model{ToolVersion: "v2", GeneratedAt: t2, Target: Target{Issuer: "https://other"}, Environment: map[string]string{"go": "1.25", "os": "linux"},
		Load: []LoadRun{{Name: "poll", Passed: true}}}
	m := Merge(conf, nil, load)
	if m.Schema != SchemaVersion || m.ToolVersion != "v1" || m.Target.Issuer != "https://op" || !m.GeneratedAt.Equal(t2) {
		t.Errorf("merged header = %q %q %q %v", m.Schema, m.ToolVersion, m.Target.Issuer, m.GeneratedAt)
	}
	if len(m.Checks) != 1 || len(m.Load) != 1 {
		t.Fatalf("merged %d checks and %d runs, want 1 and 1", len(m.Checks), len(m.Load))
	}
	if m.Environment["go"] != "1.26" || m.Environment["os"] != "linux" {
		t.Errorf("environment = %v", m.Environment)
	}
	m.Checks[0].SpecRefs[0] = "changed"
	if conf.Checks[0].SpecRefs[0] != "CIBA-7.3" {
		t.Error("Merge shares slices with its input")
	}
	if e := Merge(); e == nil || e.Checks == nil || e.Load == nil {
		t.Errorf("Merge() = %+v, want an empty model with empty lists", e)
	}
}
