package reports

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestRenderText(t *testing.T) {
	var b bytes.Buffer
	if err := RenderText(&b, sampleModel(), 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, ".txt", b.Bytes())
}

// TestRenderTextMatchesHTML: the terminal summary lists the sections of
// the HTML matrix, in its order (numeric: CIBA-4 before CIBA-10.1), list
// items folded into their section, each check counted once per section.
func TestRenderTextMatchesHTML(t *testing.T) {
	m := &Model{
		Schema: SchemaVersion, Target: Target{Profile: "FAPI-CIBA"},
		Checks: []Check{
			{Name: "a", SpecRefs: []string{"CIBA-10.1"}, Outcome: Passed},
			{Name: "b", SpecRefs: []string{"CIBA-4"}, Outcome: Passed},
			{Name: "c", SpecRefs: []string{"FAPI-CIBA-5.2.2-9", "FAPI-CIBA-5.2.2-10"}, Outcome: Failed, Message: "expected x, got y"},
			{Name: "d", SpecRefs: []string{"FAPI-CIBA-5.2.2-3"}, Outcome: Skipped, Message: NotRun},
			{Name: "e", SpecRefs: []string{"CIBA-7.1"}, Outcome: Skipped, Message: "no ping client"},
		},
	}
	var b bytes.Buffer
	if err := RenderText(&b, m, time.Second); err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`(?m)^  (\S+)\s+(ok|FAILED|WARN|SKIP|NOTRUN)\s`)
	var text []string
	for _, mm := range row.FindAllStringSubmatch(b.String(), -1) {
		text = append(text, mm[1])
	}
	html := buildView(m).Sections
	if strings.Join(text, " ") != strings.Join(html, " ") {
		t.Errorf("terminal sections %v, HTML sections %v", text, html)
	}
	want := []string{"CIBA-4", "CIBA-7.1", "CIBA-10.1", "FAPI-CIBA-5.2.2"}
	if strings.Join(text, " ") != strings.Join(want, " ") {
		t.Errorf("terminal sections %v, want %v", text, want)
	}
	if !strings.Contains(b.String(), "  FAPI-CIBA-5.2.2        FAILED   0 passed   0 warnings   1 failed   0 skipped   1 not run\n") {
		t.Errorf("the folded section does not count c once and d as not run:\n%s", b.String())
	}
}
