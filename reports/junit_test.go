package reports

import (
	"bytes"
	"encoding/xml"
	"slices"
	"strings"
	"testing"
)

func TestRenderJUnit(t *testing.T) {
	var buf bytes.Buffer
	if err := RenderJUnit(&buf, sampleModel()); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, ".xml", buf.Bytes())
}

// The structure JUnit readers rely on, parsed back without our types.
type parsedSuites struct {
	XMLName  xml.Name      `xml:"testsuites"`
	Tests    int           `xml:"tests,attr"`
	Failures int           `xml:"failures,attr"`
	Skipped  int           `xml:"skipped,attr"`
	Suites   []parsedSuite `xml:"testsuite"`
}

type parsedSuite struct {
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Nested   []struct{}   `xml:"testsuite"`
	Cases    []parsedCase `xml:"testcase"`
}

type parsedCase struct {
	Name      string `xml:"name,attr"`
	Classname string `xml:"classname,attr"`
	Time      string `xml:"time,attr"`
	Skipped   *struct {
		Message string `xml:"message,attr"`
	} `xml:"skipped"`
	Failure *struct {
		Message string `xml:"message,attr"`
		Body    string `xml:",chardata"`
	} `xml:"failure"`
	Properties []parsedProperty `xml:"properties>property"`
	SystemOut  string           `xml:"system-out"`
}

type parsedProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

func parseJUnit(t *testing.T, m *Model) parsedSuites {
	t.Helper()
	var buf bytes.Buffer
	if err := RenderJUnit(&buf, m); err != nil {
		t.Fatal(err)
	}
	var doc parsedSuites
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("JUnit output does not parse: %v\n%s", err, buf.String())
	}
	return doc
}

func TestJUnitStructure(t *testing.T) {
	m := sampleModel()
	// A duplicate name (as two merged runs would give) must not collapse.
	dup := m.Checks[0]
	m.Checks = append(m.Checks, dup)
	doc := parseJUnit(t, m)

	if len(doc.Suites) != 2 || doc.Suites[0].Name != "conformance" || doc.Suites[1].Name != "load" {
		t.Fatalf("suites = %+v, want conformance and load", doc.Suites)
	}
	names := map[string]bool{}
	total, failures, skipped := 0, 0, 0
	for _, s := range doc.Suites {
		if len(s.Nested) != 0 {
			t.Errorf("suite %s nests testsuites; readers see one level only", s.Name)
		}
		if s.Tests != len(s.Cases) {
			t.Errorf("suite %s: tests=%d but %d testcases", s.Name, s.Tests, len(s.Cases))
		}
		sf, ss := 0, 0
		for _, c := range s.Cases {
			if names[c.Name] {
				t.Errorf("testcase name %q is not unique", c.Name)
			}
			names[c.Name] = true
			if c.Time == "" {
				t.Errorf("testcase %q has no time", c.Name)
			}
			if c.Failure != nil {
				sf++
				if c.Failure.Message == "" || strings.Contains(c.Failure.Message, "\n") || len([]rune(c.Failure.Message)) > maxAttr {
					t.Errorf("testcase %q: failure message %q is not one short line", c.Name, c.Failure.Message)
				}
				if !strings.Contains(c.Failure.Body, c.Failure.Message[:20]) {
					t.Errorf("testcase %q: failure body does not carry the message", c.Name)
				}
			}
			if c.Skipped != nil {
				ss++
				if c.Skipped.Message == "" {
					t.Errorf("testcase %q: skipped without a reason", c.Name)
				}
			}
		}
		if s.Failures != sf || s.Skipped != ss {
			t.Errorf("suite %s: failures=%d skipped=%d attributes, counted %d and %d", s.Name, s.Failures, s.Skipped, sf, ss)
		}
		total += len(s.Cases)
		failures += sf
		skipped += ss
	}
	if doc.Tests != total || doc.Failures != failures || doc.Skipped != skipped {
		t.Errorf("testsuites totals %d/%d/%d, counted %d/%d/%d", doc.Tests, doc.Failures, doc.Skipped, total, failures, skipped)
	}
	if !names[dup.Name+" (2)"] {
		t.Errorf("duplicate check name was not numbered; names: %v", names)
	}

	conf := doc.Suites[0].Cases
	if len(conf) != len(m.Checks) {
		t.Fatalf("%d conformance testcases for %d checks", len(conf), len(m.Checks))
	}
	for i, c := range conf {
		if want := m.Checks[i].Section(); c.Classname != want {
			t.Errorf("testcase %q: classname %q, want the spec section %q", c.Name, c.Classname, want)
		}
	}
	// The failure with an exchange carries expected/got and the exchange in
	// the body, with the OP's hostile text intact as text.
	var body string
	for _, c := range conf {
		if c.Name == "rejects a request without a hint with invalid_request" {
			body = c.Failure.Body
		}
	}
	for _, want := range []string{"Expected:", "HTTP 400", "Got:", "> POST https://op.example.com/realms/bank/bc-authorize", "< HTTP 200", "Spec: CIBA-7.1, CIBA-13", "checks_backchannel.go:142"} {
		if !strings.Contains(body, want) {
			t.Errorf("failure body lacks %q:\n%s", want, body)
		}
	}
	// A warning is a passing testcase (no failure, error or skipped, so
	// CI stays green) that still says so: a property and system-out.
	var warned *parsedCase
	for i := range conf {
		if conf[i].Name == "rejects a replayed jti" {
			warned = &conf[i]
		}
	}
	switch {
	case warned == nil:
		t.Fatal("no testcase for the warning check")
	case warned.Failure != nil || warned.Skipped != nil:
		t.Errorf("warning testcase is not passing: %+v", warned)
	case !slices.Contains(warned.Properties, parsedProperty{"ciba-check.outcome", "warning"}):
		t.Errorf("warning testcase properties = %+v, want ciba-check.outcome=warning", warned.Properties)
	case !strings.Contains(warned.SystemOut, "WARNING") || !strings.Contains(warned.SystemOut, "got a success\n  > POST https://op.example.com/realms/bank/bc-authorize"):
		t.Errorf("warning testcase system-out lacks the warning and its exchange:\n%s", warned.SystemOut)
	}
	// Load: one testcase per threshold, the breached one failed.
	load := doc.Suites[1].Cases
	if len(load) != 6 {
		t.Fatalf("%d load testcases, want 6 (3 thresholds × 2 runs)", len(load))
	}
	if load[0].Name != "flow-poll: p(99)<1s" || load[0].Failure == nil || !strings.Contains(load[0].Failure.Message, "measured 1.2 s") {
		t.Errorf("first load testcase = %+v", load[0])
	}
	if load[3].Failure != nil {
		t.Errorf("flow-ping p99 threshold held but its testcase failed: %+v", load[3])
	}
}

func TestJUnitEscapes(t *testing.T) {
	m := &Model{Checks: []Check{{
		Name: `a "quoted" <name> & more`, SpecRefs: []string{"CIBA-7.1"}, Outcome: Failed,
		Message: "bad byte \x00\x1b and ]]> and " + hostileText,
	}}}
	doc := parseJUnit(t, m)
	c := doc.Suites[0].Cases[0]
	if c.Name != m.Checks[0].Name {
		t.Errorf("name = %q, want %q", c.Name, m.Checks[0].Name)
	}
	if !strings.Contains(c.Failure.Body, hostileText) || !strings.Contains(c.Failure.Body, "]]>") {
		t.Errorf("body lost text: %q", c.Failure.Body)
	}
}

func TestJUnitLoadWithoutThresholds(t *testing.T) {
	m := &Model{Load: []LoadRun{{Name: "poll", Passed: false, Aborted: "interrupted"}, {Name: "poll", Passed: true}}}
	doc := parseJUnit(t, m)
	if len(doc.Suites) != 1 || len(doc.Suites[0].Cases) != 2 {
		t.Fatalf("suites = %+v", doc.Suites)
	}
	a, b := doc.Suites[0].Cases[0], doc.Suites[0].Cases[1]
	if a.Failure == nil || a.Failure.Message != "aborted: interrupted" || b.Failure != nil || a.Name == b.Name {
		t.Errorf("cases = %+v, %+v", a, b)
	}
}
