package conformance

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"

	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/reports"
)

// DetailEntry names the Ginkgo report entries that carry the structured
// evidence of a failure or warning (Detail); never printed by Ginkgo.
const DetailEntry = "ciba-check/detail"

// Detail is the structured evidence of one unmet expectation: what the
// check expected and what it got, when it states them apart, and the
// exchange it judged. Everything in it is redacted as the message is
// (the client's redactor, then client.RedactJWSSignatures).
type Detail struct {
	Expected string            `json:"expected,omitempty"`
	Got      string            `json:"got,omitempty"`
	Exchange *reports.Exchange `json:"exchange,omitempty"`
	// Warning marks the evidence of a warning (ExpectShould), which does
	// not end the check.
	Warning bool `json:"warning,omitempty"`
}

// String keeps Ginkgo from printing the value (the entry is never shown).
func (Detail) String() string { return "" }

// detail attaches d, with ex as its exchange, to the running check; a
// check running ahead of its spec records it for the replay (sink.go).
func (f *Fixture) detail(d Detail, ex *client.Exchange) {
	ginkgo.GinkgoHelper()
	if ex != nil {
		d.Exchange = reportExchange(ex)
	}
	if d.Expected == "" && d.Got == "" && d.Exchange == nil {
		return
	}
	d.Expected = client.RedactJWSSignatures(d.Expected)
	d.Got = client.RedactJWSSignatures(d.Got)
	if f.rec != nil {
		f.rec.details = append(f.rec.details, d)
		return
	}
	addDetail(d)
}

// reportExchange is ex in the report model's shape: the request (its
// form one "name=value" a line, sorted), the response's headers and body
// (cut at maxQuotedBody, as a failure message quotes it), every value as
// the client redacted it and with JWS signatures removed.
func reportExchange(ex *client.Exchange) *reports.Exchange {
	red := client.RedactJWSSignatures
	out := &reports.Exchange{
		Method: ex.Method, URL: red(ex.URL), Status: ex.Status,
		RequestHeaders: reportHeaders(ex.RequestHeader), ResponseHeaders: reportHeaders(ex.ResponseHeader),
	}
	if len(ex.RequestForm) > 0 {
		var lines []string
		for k, vs := range ex.RequestForm {
			for _, v := range vs {
				lines = append(lines, k+"="+v)
			}
		}
		sort.Strings(lines)
		out.RequestBody = red(strings.Join(lines, "\n"))
	} else {
		out.RequestBody = red(ex.RequestBody)
	}
	body := clip(string(ex.ResponseBody), maxQuotedBody)
	if ex.Truncated {
		body += "\n(cut: " + client.TooLargeReason + ")"
	}
	out.ResponseBody = red(body)
	if ex.Status == 0 {
		out.Error = "no response"
	}
	return out
}

func reportHeaders(h map[string][]string) []reports.Header {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	var out []reports.Header
	for _, k := range names {
		for _, v := range h[k] {
			out = append(out, reports.Header{Name: k, Value: client.RedactJWSSignatures(v)})
		}
	}
	return out
}

// details are the Detail entries of a spec report, in order.
func details(entries []types.ReportEntry) []Detail {
	var out []Detail
	for _, e := range entries {
		if e.Name != DetailEntry {
			continue
		}
		switch v := e.Value.GetRawValue().(type) {
		case Detail:
			out = append(out, v)
		default:
			// Read back from another process's report (JSON).
			var d Detail
			if json.Unmarshal([]byte(e.Value.AsJSON), &d) == nil {
				out = append(out, d)
			}
		}
	}
	return out
}

// attachDetails sets c's expected, got and exchanges from ds: the last
// failure's detail (the expectation that ended the check), or every
// warning's exchange (expected and got when there was one warning).
func (c *CheckResult) attachDetails(ds []Detail) {
	var pick []Detail
	for _, d := range ds {
		switch {
		case c.Warned() && d.Warning:
			pick = append(pick, d)
		case c.Failed() && !d.Warning:
			pick = []Detail{d}
		}
	}
	if len(pick) == 1 {
		c.Expected, c.Got = pick[0].Expected, pick[0].Got
	}
	for _, d := range pick {
		if d.Exchange != nil {
			c.Exchanges = append(c.Exchanges, *d.Exchange)
		}
	}
}
