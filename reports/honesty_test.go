package reports

import (
	"bytes"
	"strings"
	"testing"
)

// TestLoadReportsClaimOnlyWhatWasMeasured: a report never says a load run
// held thresholds it did not have, shows dropped load as a warning, puts
// the judged latency beside the thresholds, names the target the runs
// name and the unit they count.
func TestLoadReportsClaimOnlyWhatWasMeasured(t *testing.T) {
	flow := func(name string, dropped uint64, ths []Threshold) LoadRun {
		passed := true
		for _, th := range ths {
			passed = passed && th.OK
		}
		return LoadRun{Name: name, Scenario: "flow-" + name, Mode: name, Target: "https://op.example/realms/bank",
			Rate:     LoadRate{Requested: "10/s", Intended: 10, Sent: 10, Achieved: 9.6},
			Requests: LoadCount{Intended: 200, Sent: 200 - dropped, Dropped: dropped, OK: 200 - dropped},
			// End to end 1.01 s, approval → token 503 ms.
			LatencyMS:         Latency{P50: 700, P99: 1010, Max: 1100},
			ApprovalToTokenMS: &Latency{P50: 480, P99: 503, Max: 520},
			CPU:               &LoadCPU{PerRequestMicros: 800}, Thresholds: ths, Passed: passed}
	}
	tests := []struct {
		name      string
		runs      []LoadRun
		want, not []string
	}{
		{"no thresholds, 13% dropped",
			[]LoadRun{flow("poll", 26, nil), flow("ping", 26, nil)},
			[]string{"Not judged: no thresholds set", "2 load runs with no thresholds set", "NO THRESHOLDS",
				"26 of 200 intended flows dropped (13%)", `<dt>Target</dt><dd class="mono">https://op.example/realms/bank`, "800 µs per flow"},
			[]string{"held their thresholds", "Passed", "✓ PASS", "not recorded", "per request"}},
		{"threshold on approval → token",
			[]LoadRun{flow("poll", 0, []Threshold{{Expr: "p(99)<600ms", Value: 503, Unit: "ms", OK: true}})},
			[]string{"p50 / p99 approval → token", "p99 503 ms", "1 of 1 load runs with thresholds held them"},
			[]string{"p99 1.01 s", "Warning:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// As `report render a.json b.json` merges load summaries.
			var models []*Model
			for _, r := range tt.runs {
				models = append(models, &Model{Load: []LoadRun{r}})
			}
			m := Merge(models...)
			var html, md bytes.Buffer
			if err := RenderHTML(&html, m); err != nil {
				t.Fatal(err)
			}
			if err := RenderMarkdown(&md, m, 0); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(html.String(), w) {
					t.Errorf("HTML lacks %q", w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(html.String(), n) {
					t.Errorf("HTML says %q", n)
				}
			}
			mdText := md.String()
			if tt.runs[0].Thresholds == nil {
				for _, w := range []string{"not judged: no thresholds set", "⚪ no thresholds", "⚠️ 26", "`https://op.example/realms/bank`"} {
					if !strings.Contains(mdText, w) {
						t.Errorf("Markdown lacks %q:\n%s", w, mdText)
					}
				}
			} else if !strings.Contains(mdText, "| 480 ms | 503 ms |") || strings.Contains(mdText, "1.01 s") {
				t.Errorf("Markdown does not show approval → token beside its threshold:\n%s", mdText)
			}
		})
	}
}

// TestCompareLikeWithLike: a `load poll` run (token-endpoint polls) is
// never put side by side with flow runs, nor made a "winner" over them.
func TestCompareLikeWithLike(t *testing.T) {
	poll := LoadRun{Name: "token polls", Scenario: "poll", Mode: "poll", Rate: LoadRate{Achieved: 9000}, LatencyMS: Latency{P50: 2, P99: 9, Max: 12}, Passed: true}
	fp := LoadRun{Name: "flows poll", Scenario: "flow-poll", Mode: "poll", Rate: LoadRate{Achieved: 9.6}, LatencyMS: Latency{P50: 700, P99: 1000, Max: 1100}, ApprovalToTokenMS: &Latency{P50: 500, P99: 503, Max: 510}, Passed: true}
	fg := LoadRun{Name: "flows ping", Scenario: "flow-ping", Mode: "ping", Rate: LoadRate{Achieved: 9.7}, LatencyMS: Latency{P50: 210, P99: 230, Max: 240}, ApprovalToTokenMS: &Latency{P50: 1, P99: 5, Max: 6}, Passed: true}
	fu := LoadRun{Name: "flows push", Scenario: "flow-push", Mode: ModeOfScenario("flow-push"), Rate: LoadRate{Achieved: 9.7}, LatencyMS: Latency{P50: 205, P99: 220, Max: 230}, ApprovalToTokenMS: &Latency{P50: 1, P99: 4, Max: 5}, Passed: true}
	tests := []struct {
		name   string
		runs   []LoadRun
		tables []string // titles of the side-by-side tables
	}{
		{"poll run and two flows", []LoadRun{poll, fp, fg}, []string{"Poll vs ping"}},
		{"three flow modes", []LoadRun{fp, fg, fu}, []string{"Poll vs ping vs push"}},
		{"ping and push", []LoadRun{fu, fg}, []string{"Ping vs push"}},
		{"poll run and one flow", []LoadRun{poll, fp}, nil},
		{"two poll runs", []LoadRun{poll, poll}, []string{"Poll runs side by side"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := buildView(&Model{Load: tt.runs})
			var titles []string
			for _, c := range v.Compares {
				titles = append(titles, c.Title)
				for _, r := range c.Runs {
					if r.IsFlow() != c.Runs[0].IsFlow() {
						t.Errorf("table %q mixes %s with %s", c.Title, r.Scenario, c.Runs[0].Scenario)
					}
				}
			}
			if strings.Join(titles, ",") != strings.Join(tt.tables, ",") {
				t.Errorf("side-by-side tables %v, want %v", titles, tt.tables)
			}
		})
	}
}
