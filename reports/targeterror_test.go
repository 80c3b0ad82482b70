package reports

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
)

// targetErrorModel is a run that ended as a target error before any
// check: the preflight refused the client id.
func targetErrorModel() *Model {
	return &Model{
		Schema: SchemaVersion, ToolVersion: "v0.4.0", GeneratedAt: sampleTime,
		Target: Target{Issuer: "https://op.example.com", Profile: "FAPI-CIBA"},
		Error:  `run: target.yaml:12: client wrong-id: the OP refused its backchannel request with invalid_client (HTTP 401, "unknown client"): check that the OP registered this client id`,
	}
}

func TestRenderTargetError(t *testing.T) {
	m := targetErrorModel()
	if !m.TargetError() || m.Passed() {
		t.Fatalf("TargetError() = %v, Passed() = %v; want true, false", m.TargetError(), m.Passed())
	}
	withChecks := sampleModel()
	withChecks.Error = "the OP became unreachable"
	if withChecks.TargetError() {
		t.Errorf("a run that ended early after checks ran is not a target error")
	}

	t.Run("html", func(t *testing.T) {
		var b bytes.Buffer
		if err := RenderHTML(&b, m); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{">Target error</p>", "The target could not be tested; no check ran.", "client wrong-id: the OP refused its backchannel request with invalid_client"} {
			if !strings.Contains(b.String(), want) {
				t.Errorf("HTML lacks %q", want)
			}
		}
	})
	t.Run("markdown", func(t *testing.T) {
		var b bytes.Buffer
		if err := RenderMarkdown(&b, m, 0); err != nil {
			t.Fatal(err)
		}
		checkGolden(t, ".md", b.Bytes())
	})
	t.Run("junit", func(t *testing.T) {
		var b bytes.Buffer
		if err := RenderJUnit(&b, m); err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Errors int `xml:"errors,attr"`
			Suites []struct {
				Cases []struct {
					Name  string `xml:"name,attr"`
					Error *struct {
						Message string `xml:"message,attr"`
						Body    string `xml:",chardata"`
					} `xml:"error"`
				} `xml:"testcase"`
			} `xml:"testsuite"`
		}
		if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Errors != 1 || len(doc.Suites) != 1 || len(doc.Suites[0].Cases) != 1 || doc.Suites[0].Cases[0].Error == nil {
			t.Fatalf("want one testcase with an <error>, got:\n%s", b.String())
		}
		if e := doc.Suites[0].Cases[0].Error; !strings.Contains(e.Message, "invalid_client") || !strings.Contains(e.Body, "the target could not be tested") {
			t.Errorf("error message %q, body %q", e.Message, e.Body)
		}
		checkGolden(t, ".xml", b.Bytes())
	})
}
