package reports

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestRenderMarkdown(t *testing.T) {
	var buf bytes.Buffer
	if err := RenderMarkdown(&buf, sampleModel(), StepSummaryLimit); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, ".md", buf.Bytes())
}

func TestRenderMarkdownPassedOnly(t *testing.T) {
	m := &Model{ToolVersion: "v1", GeneratedAt: sampleTime, Target: Target{Issuer: "https://op"},
		Checks: []Check{{Name: "a", SpecRefs: []string{"CIBA-7.3"}, Outcome: Passed}}}
	var buf bytes.Buffer
	if err := RenderMarkdown(&buf, m, 0); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, ".md", buf.Bytes())
}

// hugeModel has n checks, every third failing with a long message, and
// failures placed last so "failures first" is the renderer's doing.
func hugeModel(n int) *Model {
	m := &Model{ToolVersion: "v1", GeneratedAt: sampleTime, Target: Target{Issuer: "https://op.example.com"}}
	long := strings.Repeat("the OP answered something unexpected ", 20)
	for i := 0; i < n; i++ {
		c := Check{Name: fmt.Sprintf("check number %06d", i), SpecRefs: []string{"CIBA-7.1"}, Outcome: Passed}
		switch i % 3 {
		case 1:
			c.Outcome, c.Message = Skipped, "no ping client configured"
		case 2:
			c.Outcome, c.Message = Failed, long
		}
		m.Checks = append(m.Checks, c)
	}
	// Move passes to the front.
	var passes, rest []Check
	for _, c := range m.Checks {
		if c.Outcome == Passed {
			passes = append(passes, c)
		} else {
			rest = append(rest, c)
		}
	}
	m.Checks = append(passes, rest...)
	m.Load = []LoadRun{sampleLoadRun("flow-ping", "ping", 50, 3)}
	return m
}

func TestRenderMarkdownLimit(t *testing.T) {
	tests := []struct {
		name  string
		n     int
		limit int
	}{
		{"step summary", 30000, StepSummaryLimit},
		{"PR comment", 3000, PRCommentLimit},
		{"minimum", 500, minMarkdownLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := hugeModel(tt.n)
			var buf bytes.Buffer
			if err := RenderMarkdown(&buf, m, tt.limit); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			if len(out) > tt.limit {
				t.Fatalf("summary is %d bytes, over the %d limit", len(out), tt.limit)
			}
			if !strings.Contains(out, "ciba-check: ❌ failed") || !strings.Contains(out, fmt.Sprintf("| ❌ failed | %d |", m.Counts().Failed)) {
				t.Errorf("summary lacks the verdict or counts:\n%.600s", out)
			}
			if !strings.Contains(out, "HTML report artifact") {
				t.Errorf("a truncated summary lacks the note pointing at the HTML report")
			}
			failures := strings.Index(out, "Failures (")
			passed := strings.Index(out, "Passed (")
			if failures < 0 {
				t.Fatalf("no failures listed:\n%.1000s", out)
			}
			if passed >= 0 && passed < failures {
				t.Errorf("passed checks are listed before the failures")
			}
			if strings.Count(out, "<details>") != strings.Count(out, "</details>") {
				t.Errorf("unbalanced <details> in the truncated summary")
			}
		})
	}
}

func TestRenderMarkdownSmallNotTruncated(t *testing.T) {
	var buf bytes.Buffer
	if err := RenderMarkdown(&buf, sampleModel(), 0); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "shortened") {
		t.Errorf("a small report was marked truncated")
	}
}

func TestRenderMarkdownLimitTooSmall(t *testing.T) {
	err := RenderMarkdown(&bytes.Buffer{}, sampleModel(), 100)
	if err == nil || !strings.Contains(err.Error(), "too small") {
		t.Fatalf("RenderMarkdown(limit 100) = %v, want a too-small error", err)
	}
}

func TestMarkdownEscapes(t *testing.T) {
	var buf bytes.Buffer
	if err := RenderMarkdown(&buf, sampleModel(), 0); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "<script") || strings.Contains(out, "<img") {
		t.Errorf("OP text reached the Markdown unescaped")
	}
	if !strings.Contains(out, "&lt;script&gt;") {
		t.Errorf("the hostile text is not shown escaped")
	}
	tests := []struct{ in, want string }{
		{"a|b", `a\|b`},
		{"line1\nline2", "line1 line2"},
		{"*bold* _it_ `code` [link](x)", "\\*bold\\* \\_it\\_ \\`code\\` \\[link\\](x)"},
		{"<b>&", "&lt;b&gt;&amp;"},
	}
	for _, tt := range tests {
		if got := mdEscape(tt.in); got != tt.want {
			t.Errorf("mdEscape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := mdCode("a`b"); got != "a\\`b" {
		t.Errorf("mdCode with a backtick = %q", got)
	}
}
