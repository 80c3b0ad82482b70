package reports

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

func renderHTML(t *testing.T, m *Model) string {
	t.Helper()
	var buf bytes.Buffer
	if err := RenderHTML(&buf, m); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestRenderHTML(t *testing.T) {
	checkGolden(t, ".html", []byte(renderHTML(t, sampleModel())))
}

func TestRenderHTMLConformanceOnly(t *testing.T) {
	m := sampleModel()
	m.Load = nil
	out := renderHTML(t, m)
	checkGolden(t, ".html", []byte(out))
	if strings.Contains(out, `id="load"`) {
		t.Error("a report without load runs has a load section")
	}
}

func TestRenderHTMLLoadOnly(t *testing.T) {
	m := sampleModel()
	m.Checks = nil
	m.Load = m.Load[1:]
	m.Load[0].Series, m.Load[0].Histogram = nil, nil
	out := renderHTML(t, m)
	checkGolden(t, ".html", []byte(out))
	for _, unwanted := range []string{`id="matrix"`, `id="checks"`, "Poll vs ping"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("load-only report with one run contains %q", unwanted)
		}
	}
	if !strings.Contains(out, "No time series was recorded") || !strings.Contains(out, "Latency by percentile") {
		t.Error("a run without series lacks the note or the percentile chart")
	}
}

func TestRenderHTMLEmpty(t *testing.T) {
	out := renderHTML(t, &Model{})
	if !strings.Contains(out, `data-verdict="empty"`) || !strings.Contains(out, "No results") {
		t.Error("an empty model does not say it has no results")
	}
}

func TestRenderHTMLInvalid(t *testing.T) {
	err := RenderHTML(&bytes.Buffer{}, &Model{Checks: []Check{{Name: "x", Outcome: "odd"}}})
	if err == nil || !strings.Contains(err.Error(), `outcome "odd"`) {
		t.Fatalf("RenderHTML(invalid) = %v", err)
	}
	if err := RenderHTML(&bytes.Buffer{}, nil); err == nil {
		t.Fatal("RenderHTML(nil) succeeded")
	}
}

// TestRenderHTMLEscapes puts hostile OP text in every place the model
// reaches the page: none may come out as markup.
func TestRenderHTMLEscapes(t *testing.T) {
	m := sampleModel()
	h := hostileText + `"'><svg onload=alert(1)>`
	m.Target.Issuer = h
	m.Target.Description = h
	m.Target.Profile = h
	m.ToolVersion = h
	m.Environment = map[string]string{h: h}
	c := &m.Checks[0]
	c.Name, c.Group, c.Message, c.Expected, c.Got, c.Location = h, h, h, h, h, h
	c.SpecRefs, c.Modes, c.Auth, c.OIDFModules = []string{h}, []string{h}, []string{h}, []string{h}
	c.Exchanges = []Exchange{{Method: h, URL: h, RequestHeaders: []Header{{h, h}}, RequestBody: h, Status: 400, ResponseHeaders: []Header{{h, h}}, ResponseBody: h, Error: h}}
	l := &m.Load[0]
	l.Name, l.Scenario, l.Mode, l.Target, l.ClientID, l.Aborted = h, h, h, h, h, h
	l.Status = map[string]uint64{h: 1}
	l.OAuthErrors = map[string]uint64{h: 1}
	l.Errors = []ErrorCount{{h, 1}}
	l.Thresholds = []Threshold{{Expr: h, Unit: h}}
	l.Shards = []string{h}
	out := renderHTML(t, m)
	for _, bad := range []string{"<script>window", "<img", "<svg onload", "onerror=\""} {
		if strings.Contains(out, bad) {
			t.Errorf("hostile text reached the page as markup: found %q", bad)
		}
	}
	if strings.Count(out, "<script>") != 1 {
		t.Errorf("the page has %d <script> elements, want exactly its own one", strings.Count(out, "<script>"))
	}
}

// TestRenderHTMLSelfContained checks that nothing in the page points
// outside it: no src/href to another document, no CSS url() or @import,
// and a Content-Security-Policy that forbids any fetch.
func TestRenderHTMLSelfContained(t *testing.T) {
	out := renderHTML(t, sampleModel())
	// Escaped OP text has no raw '<', so every match here is a real tag.
	for _, tag := range regexp.MustCompile(`<[a-zA-Z][^>]*>`).FindAllString(out, -1) {
		for _, re := range []*regexp.Regexp{
			regexp.MustCompile(`(?i)\ssrc\s*=`),
			regexp.MustCompile(`(?i)\s(?:href|action|xlink:href)\s*=\s*"(?:[a-z]+:|//)`),
			regexp.MustCompile(`(?i)^<(?:link|iframe|object|embed|img|base)\b`),
		} {
			if re.MatchString(tag) {
				t.Errorf("page refers outside itself: %s", tag)
			}
		}
	}
	for _, re := range []*regexp.Regexp{regexp.MustCompile(`(?i)url\(`), regexp.MustCompile(`(?i)@import`), regexp.MustCompile(`(?i)fetch\(|XMLHttpRequest|\.src\s*=`)} {
		if re.MatchString(cssSource) || re.MatchString(jsSource) {
			t.Errorf("style or script may load something: %s", re)
		}
	}
	if !strings.Contains(out, `content="default-src &#39;none&#39;`) {
		t.Error("page lacks its default-src 'none' Content-Security-Policy")
	}
}

func TestSourceHashMatchesPage(t *testing.T) {
	out := renderHTML(t, sampleModel())
	start := strings.Index(out, "<script>") + len("<script>")
	end := strings.Index(out, "</script>")
	if got := out[start:end]; got != jsSource {
		t.Fatal("the page's script is not byte-for-byte the hashed source; the CSP would block it")
	}
	start = strings.Index(out, "<style>") + len("<style>")
	end = strings.Index(out, "</style>")
	if got := out[start:end]; got != cssSource {
		t.Fatal("the page's style is not byte-for-byte the hashed source; the CSP would block it")
	}
}

func TestFormatters(t *testing.T) {
	tests := []struct{ got, want string }{
		{fmtMS(0.42), "0.42 ms"},
		{fmtMS(12.34), "12.3 ms"},
		{fmtMS(123.4), "123 ms"},
		{fmtMS(1234), "1.23 s"},
		{fmtPct(0), "0%"},
		{fmtPct(0.00001), "<0.01%"},
		{fmtPct(0.0042), "0.42%"},
		{fmtPct(0.25), "25%"},
		{fmtNum(1500), "1500"},
		{fmtNum(15000), "15k"},
		{fmtNum(2.5), "2.5"},
		{fmtDuration(90), "1m30s"},
		{fmtDuration(12.5), "12.5 s"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	if niceMax(0) != 1 || niceMax(47) != 50 || niceMax(2300) != 2500 || niceMax(100) != 100 {
		t.Errorf("niceMax: %v %v %v %v", niceMax(0), niceMax(47), niceMax(2300), niceMax(100))
	}
}

func TestRenderIncomplete(t *testing.T) {
	m := sampleModel()
	m.Checks = m.Checks[:3]
	m.Load = nil
	m.Error = "the OP at https://op.example.com became unreachable"
	out := renderHTML(t, m)
	if !strings.Contains(out, `data-verdict="incomplete"`) || !strings.Contains(out, "became unreachable") {
		t.Error("HTML does not show the run as incomplete")
	}
	var md bytes.Buffer
	if err := RenderMarkdown(&md, m, 0); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "⚠️ incomplete") || !strings.Contains(md.String(), "became unreachable") {
		t.Errorf("Markdown does not show the run as incomplete:\n%s", md.String())
	}
}
