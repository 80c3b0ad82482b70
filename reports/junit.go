package reports

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/ciba-check/ciba-check/internal/safetext"
)

// The JUnit XML written here is the subset every common reader agrees
// on: one <testsuites> holding one level of <testsuite> (dorny/
// test-reporter reads no deeper), one <testcase> per check with a unique
// name (GitLab keeps only the first of duplicates), classname = spec
// section (GitLab shows it as the suite), time in seconds, <skipped
// message>, and <failure message> with the full evidence in the body
// (GitLab and Jenkins show the body, not the attribute).
//
// A warning (an unmet SHOULD) is a passing testcase: JUnit and the CI
// test reporters that read it (GitLab, Jenkins, dorny/test-reporter,
// GitHub's summaries) have no warning state, and a failure or error
// would turn the pipeline red for what the spec does not require. The
// warning goes in <system-out>, which they show, and in a testcase
// <properties> entry (ciba-check.outcome = warning), which Jenkins and
// pytest-style readers keep, so it is never silently a pass.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperties struct {
	List []junitProperty `xml:"property"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string `xml:"name,attr"`
	Classname string `xml:"classname,attr"`
	Time      string `xml:"time,attr"`
	// Properties is a pointer: encoding/xml writes an empty parent of
	// "properties>property" even when the list is empty.
	Properties *junitProperties `xml:"properties"`
	Skipped    *junitMessage    `xml:"skipped"`
	Failure    *junitMessage    `xml:"failure"`
	Error      *junitMessage    `xml:"error"`
	SystemOut  *junitText       `xml:"system-out"`
}

// junitText is character data escaped by xmlText (see junitMessage).
type junitText struct {
	Body string `xml:",innerxml"`
}

func systemOut(s string) *junitText { return &junitText{Body: xmlText(s)} }

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	// Body is escaped by xmlText rather than encoding/xml, which would
	// write every newline as &#xA; and make the file unreadable to a
	// person opening it.
	Body string `xml:",innerxml"`
}

// xmlText escapes s as XML character data, keeping newlines and tabs:
// control characters, bidirectional overrides and invalid UTF-8 from the
// OP show as visible escapes (safetext.Escape), and what XML 1.0 still
// cannot carry becomes U+FFFD.
func xmlText(s string) string {
	var b strings.Builder
	for _, r := range safetext.Escape(s) {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '\r':
			b.WriteString("&#xD;")
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r < 0x20, r == 0xFFFE, r == 0xFFFF, r >= 0xD800 && r <= 0xDFFF:
			b.WriteRune('\uFFFD')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// maxAttr bounds the failure message attribute: readers show it on one
// line, the body carries the rest.
const maxAttr = 200

// RenderJUnit writes m as JUnit XML: a "conformance" testsuite with one
// testcase per check, and a "load" testsuite with one testcase per
// threshold (or one per run without thresholds).
func RenderJUnit(w io.Writer, m *Model) error {
	if err := m.Validate(); err != nil {
		return err
	}
	doc := junitSuites{Name: "ciba-check"}
	base := junitSuite{Properties: junitModelProperties(m)}
	if !m.GeneratedAt.IsZero() {
		base.Timestamp = m.GeneratedAt.UTC().Format("2006-01-02T15:04:05")
	}
	names := uniqueNames{}
	var total float64
	if len(m.Checks) > 0 {
		s, secs := junitChecks(base, m.Checks, names)
		doc.Suites, total = append(doc.Suites, s), total+secs
	}
	if len(m.Load) > 0 {
		s, secs := junitLoad(base, m.Load, names)
		doc.Suites, total = append(doc.Suites, s), total+secs
	}
	if m.Error != "" {
		doc.Suites = append(doc.Suites, junitRunError(base, m, names))
	}
	for _, s := range doc.Suites {
		doc.Errors += s.Errors
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Skipped += s.Skipped
	}
	doc.Time = junitTime(total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("reports: writing JUnit XML: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// junitModelProperties are the properties every suite carries.
func junitModelProperties(m *Model) []junitProperty {
	props := []junitProperty{{"issuer", safetext.Line(m.Target.Issuer)}, {"tool_version", safetext.Line(m.ToolVersion)}}
	if m.Target.Profile != "" {
		props = append(props, junitProperty{"profile", safetext.Line(m.Target.Profile)})
	}
	if m.Error != "" {
		props = append(props, junitProperty{"error", safetext.Line(m.Error)})
	}
	return props
}

// junitChecks is the conformance suite, one testcase a check, and its
// seconds.
func junitChecks(s junitSuite, checks []Check, names uniqueNames) (junitSuite, float64) {
	s.Name = "conformance"
	var secs float64
	for i := range checks {
		c := &checks[i]
		tc := junitCase{Name: names.take(c.Name), Classname: safetext.Line(c.Section()), Time: junitTime(c.DurationSeconds)}
		switch c.Outcome {
		case Failed:
			s.Failures++
			tc.Failure = &junitMessage{Message: shortMessage(c.Message, "check failed"), Type: "failure", Body: xmlText(failureBody(c))}
		case Skipped:
			s.Skipped++
			tc.Skipped = &junitMessage{Message: shortMessage(c.Message, string(Skipped))}
		case Warning:
			tc.Properties = &junitProperties{List: []junitProperty{{"ciba-check.outcome", string(Warning)}, {"ciba-check.warning", shortMessage(c.Message, "SHOULD-level expectation not met")}}}
			tc.SystemOut = systemOut("WARNING (SHOULD-level expectation not met; does not fail the run)\n" + failureBody(c))
		}
		secs += c.DurationSeconds
		s.Cases = append(s.Cases, tc)
	}
	s.Tests = len(s.Cases)
	s.Time = junitTime(secs)
	return s, secs
}

// junitLoad is the load suite, one testcase a threshold (or a run without
// thresholds), and its seconds.
func junitLoad(s junitSuite, runs []LoadRun, names uniqueNames) (junitSuite, float64) {
	s.Name = "load"
	var secs float64
	for i := range runs {
		l := &runs[i]
		secs += l.DurationSeconds
		class := "load." + l.Label()
		summary := loadSummaryLine(l)
		if len(l.Thresholds) == 0 {
			tc := junitCase{Name: names.take(l.Label() + ": completed"), Classname: class, Time: junitTime(l.DurationSeconds), SystemOut: systemOut(summary)}
			if !l.Passed {
				s.Failures++
				msg := "run failed"
				if l.Aborted != "" {
					msg = "aborted: " + l.Aborted
				}
				tc.Failure = &junitMessage{Message: shortMessage(msg, "run failed"), Type: "failure", Body: xmlText(summary)}
			}
			s.Cases = append(s.Cases, tc)
			continue
		}
		for j, t := range l.Thresholds {
			tc := junitCase{Name: names.take(l.Label() + ": " + t.Expr), Classname: class, Time: junitTime(0)}
			if j == 0 {
				tc.Time = junitTime(l.DurationSeconds)
			}
			if !t.OK {
				s.Failures++
				msg := fmt.Sprintf("threshold %s breached: measured %s", t.Expr, fmtThresholdValue(t))
				tc.Failure = &junitMessage{Message: shortMessage(msg, "threshold breached"), Type: "threshold", Body: xmlText(msg + "\n\n" + summary)}
			}
			s.Cases = append(s.Cases, tc)
		}
	}
	s.Tests = len(s.Cases)
	s.Time = junitTime(secs)
	return s, secs
}

// junitRunError is the suite of a run that ended as a target error, or
// early: CI readers show a testcase's <error>, not a property, so the
// reason is one.
func junitRunError(s junitSuite, m *Model, names uniqueNames) junitSuite {
	what := "the run ended early; the verdict is unknown"
	if m.TargetError() {
		what = "the target could not be tested; no check ran"
	}
	tc := junitCase{Name: names.take("ciba-check run"), Classname: "ciba-check", Time: junitTime(0),
		Error: &junitMessage{Message: shortMessage(m.Error, what), Type: "target-error", Body: xmlText(what + ":\n" + m.Error)}}
	s.Name, s.Tests, s.Errors, s.Time, s.Cases = "ciba-check", 1, 1, junitTime(0), []junitCase{tc}
	return s
}

// uniqueNames hands out testcase names, numbering repeats ("name (2)"),
// because GitLab keeps only the first of duplicate names.
type uniqueNames map[string]bool

func (u uniqueNames) take(name string) string {
	name = strings.TrimSpace(safetext.Line(name))
	if name == "" {
		name = "unnamed check"
	}
	out := name
	for n := 2; u[out]; n++ {
		out = name + " (" + strconv.Itoa(n) + ")"
	}
	u[out] = true
	return out
}

func junitTime(s float64) string {
	return strconv.FormatFloat(s, 'f', 3, 64)
}

// shortMessage is the first line of msg, clipped for an attribute.
func shortMessage(msg, fallback string) string {
	msg = strings.TrimSpace(msg)
	if msg == "" {
		return fallback
	}
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = strings.TrimSpace(msg[:i])
	}
	return clipText(safetext.Line(msg), maxAttr)
}

// failureBody is the whole story of a failed check: message, expected
// and got, each HTTP exchange, and where it was raised.
func failureBody(c *Check) string {
	var b strings.Builder
	b.WriteString(c.Message)
	b.WriteString("\n")
	if len(c.SpecRefs) > 0 {
		fmt.Fprintf(&b, "\nSpec: %s", strings.Join(c.SpecRefs, ", "))
	}
	if len(c.Modes) > 0 {
		fmt.Fprintf(&b, "\nModes: %s", strings.Join(c.Modes, ", "))
	}
	if len(c.Auth) > 0 {
		fmt.Fprintf(&b, "\nClient auth: %s", strings.Join(c.Auth, ", "))
	}
	if c.Location != "" {
		fmt.Fprintf(&b, "\nLocation: %s", c.Location)
	}
	b.WriteString("\n")
	if c.Expected != "" || c.Got != "" {
		fmt.Fprintf(&b, "\nExpected:\n%s\n\nGot:\n%s\n", indent(c.Expected), indent(c.Got))
	}
	for i, e := range c.Exchanges {
		fmt.Fprintf(&b, "\nHTTP exchange %d:\n%s", i+1, exchangeText(&e))
	}
	return b.String()
}

// exchangeText renders an exchange as "> request" and "< response" lines.
func exchangeText(e *Exchange) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  > %s %s\n", e.Method, e.URL)
	for _, h := range e.RequestHeaders {
		fmt.Fprintf(&b, "  > %s: %s\n", h.Name, h.Value)
	}
	if e.RequestBody != "" {
		fmt.Fprintf(&b, "  >\n%s\n", prefixLines(e.RequestBody, "  > "))
	}
	if e.Status == 0 {
		fmt.Fprintf(&b, "  < (no response)")
		if e.Error != "" {
			fmt.Fprintf(&b, " %s", e.Error)
		}
		b.WriteString("\n")
		return b.String()
	}
	fmt.Fprintf(&b, "  < HTTP %d\n", e.Status)
	for _, h := range e.ResponseHeaders {
		fmt.Fprintf(&b, "  < %s: %s\n", h.Name, h.Value)
	}
	if e.ResponseBody != "" {
		fmt.Fprintf(&b, "  <\n%s\n", prefixLines(e.ResponseBody, "  < "))
	}
	return b.String()
}

func indent(s string) string { return prefixLines(s, "  ") }

func prefixLines(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}

// loadSummaryLine describes a load run in a few lines of text.
func loadSummaryLine(l *LoadRun) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: requested %s, achieved %s/s, sent %d, dropped %d, unexpected %d (%s)\n",
		l.Label(), orDash(l.Rate.Requested), fmtNum(round2(l.Rate.Achieved)), l.Requests.Sent, l.Requests.Dropped, l.Requests.Unexpected, fmtPct(l.ErrorRate))
	fmt.Fprintf(&b, "latency p50 %s, p90 %s, p99 %s, max %s\n", fmtMS(l.LatencyMS.P50), fmtMS(l.LatencyMS.P90), fmtMS(l.LatencyMS.P99), fmtMS(l.LatencyMS.Max))
	if note := l.SaturationNote(); note != "" {
		b.WriteString(note + "\n")
	}
	for _, t := range l.Thresholds {
		fmt.Fprintf(&b, "%s %s (measured %s)\n", t.Mark(), t.Expr, fmtThresholdValue(t))
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
