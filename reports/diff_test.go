package reports

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestCompare(t *testing.T) {
	old := sampleModel()
	new := sampleModel()
	// "rejects more than one hint" regresses, the slow_down check is fixed,
	// one check is new and failing, one is gone.
	find := func(m *Model, name string) *Check {
		for i := range m.Checks {
			if m.Checks[i].Name == name {
				return &m.Checks[i]
			}
		}
		t.Fatalf("no check %q", name)
		return nil
	}
	find(new, "rejects more than one hint").Outcome = Failed
	find(new, "answers slow_down when polled faster than the interval").Outcome = Passed
	find(new, "sends only auth_req_id in the ping body").Outcome = Passed                   // skipped -> passed
	find(new, "publishes backchannel_authentication_endpoint over https").Outcome = Skipped // lost coverage
	new.Checks = append(new.Checks, Check{Name: "brand new", Group: "Token endpoint", SpecRefs: []string{"CIBA-11"}, Outcome: Failed})
	old.Checks = append(old.Checks, Check{Name: "retired", Group: "Discovery", SpecRefs: []string{"CIBA-4"}, Outcome: Passed})
	// Load: ping p99 gets 50 % worse, poll rate 5 % worse (within 10 %).
	new.Load[1].LatencyMS.P99 *= 1.5
	new.Load[0].Rate.Achieved *= 0.95

	d := Compare(old, new, 0)
	if d.Tolerance != DefaultTolerance {
		t.Errorf("tolerance = %v", d.Tolerance)
	}
	names := func(cs []CheckChange) string {
		var s []string
		for _, c := range cs {
			s = append(s, c.Name)
		}
		return strings.Join(s, ",")
	}
	if got := names(d.NewFailures()); got != "rejects more than one hint,brand new" {
		t.Errorf("new failures = %q", got)
	}
	if got := names(d.Fixed()); got != "answers slow_down when polled faster than the interval" {
		t.Errorf("fixed = %q", got)
	}
	if got := names(d.Removed); got != "retired" {
		t.Errorf("removed = %q", got)
	}
	if got := names(d.LostCoverage()); got != "publishes backchannel_authentication_endpoint over https" {
		t.Errorf("lost coverage = %q", got)
	}
	if len(d.Changed) != 4 {
		t.Errorf("changed = %v", d.Changed)
	}
	var regressions []string
	for _, m := range d.Load {
		if m.Regression {
			regressions = append(regressions, m.Run+" "+m.Metric)
		}
		if m.Run == "flow-poll" && m.Metric == "rate achieved" && (!m.Worse || math.Abs(m.ChangePct+5) > 0.01) {
			t.Errorf("poll rate change = %+v, want worse by -5%%", m)
		}
	}
	if strings.Join(regressions, ",") != "flow-ping latency p99" {
		t.Errorf("load regressions = %v", regressions)
	}
	if !d.Regressed() {
		t.Error("Regressed() = false")
	}

	var text, md bytes.Buffer
	if err := RenderDiffText(&text, d); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, ".txt", text.Bytes())
	if err := RenderDiffMarkdown(&md, d, 0); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, ".md", md.Bytes())
}

func TestCompareTolerance(t *testing.T) {
	tests := []struct {
		name      string
		tolerance float64
		old, new  float64
		want      bool
	}{
		{"within", 0.10, 100, 109, false},
		{"beyond", 0.10, 100, 111, true},
		{"better", 0.10, 100, 50, false},
		{"strict", 0.01, 100, 102, true},
		{"from zero", 0.10, 0, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := func(p99 float64) *Model {
				return &Model{Load: []LoadRun{{Name: "poll", Passed: true, LatencyMS: Latency{P99: p99}}}}
			}
			d := Compare(run(tt.old), run(tt.new), tt.tolerance)
			if d.Regressed() != tt.want {
				t.Errorf("Regressed() = %v, want %v (%+v)", d.Regressed(), tt.want, d.Load)
			}
		})
	}
}

func TestCompareIdentical(t *testing.T) {
	d := Compare(sampleModel(), sampleModel(), 0)
	if d.Regressed() || len(d.Changed)+len(d.Added)+len(d.Removed) != 0 {
		t.Errorf("identical reports differ: %+v", d)
	}
	// An already failing check is not a new failure.
	if len(d.NewFailures()) != 0 {
		t.Errorf("new failures in identical reports: %v", d.NewFailures())
	}
}

// TestCompareLostCoverage: checks that passed before and are skipped now
// are a regression of their own, even with no failure at all.
func TestCompareLostCoverage(t *testing.T) {
	old, new := &Model{}, &Model{}
	for i := range 22 {
		name := "check " + string(rune('a'+i))
		old.Checks = append(old.Checks, Check{Name: name, Group: "G", Outcome: Passed})
		new.Checks = append(new.Checks, Check{Name: name, Group: "G", Outcome: Skipped})
	}
	d := Compare(old, new, 0)
	if !d.Regressed() || len(d.LostCoverage()) != 22 || len(d.NewFailures()) != 0 {
		t.Fatalf("Regressed %v, lost %d, new failures %d", d.Regressed(), len(d.LostCoverage()), len(d.NewFailures()))
	}
	var text bytes.Buffer
	if err := RenderDiffText(&text, d); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"REGRESSION: 0 new failures, 0 fixed, 22 checks lost coverage, 0 other outcome changes", "\nLost coverage (verified before, skipped now):\n"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("diff lacks %q:\n%s", want, text.String())
		}
	}
	if strings.Contains(text.String(), "Other outcome changes") {
		t.Errorf("lost coverage is listed again as another change:\n%s", text.String())
	}
}

// TestComparable: a conformance run and load runs have nothing in common.
func TestComparable(t *testing.T) {
	conf := &Model{Checks: []Check{{Name: "a", Outcome: Passed}}}
	load := &Model{Load: []LoadRun{{Name: "poll", Passed: true}}}
	both := &Model{Checks: conf.Checks, Load: load.Load}
	tests := []struct {
		old, new *Model
		ok       bool
	}{
		{conf, conf, true}, {load, load, true}, {both, conf, true}, {load, both, true},
		{conf, load, false}, {load, conf, false}, {&Model{}, conf, false},
	}
	for i, tt := range tests {
		if err := Comparable(tt.old, tt.new); (err == nil) != tt.ok {
			t.Errorf("%d: Comparable = %v, want ok %v", i, err, tt.ok)
		}
	}
}
