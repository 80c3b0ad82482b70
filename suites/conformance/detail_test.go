package conformance

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/reports"
)

func TestAttachDetails(t *testing.T) {
	warnEx, failEx := &reports.Exchange{URL: "w"}, &reports.Exchange{URL: "f"}
	ds := []Detail{
		{Warning: true, Expected: "we", Got: "wg", Exchange: warnEx},
		{Expected: "fe", Got: "fg", Exchange: failEx},
	}
	for _, tt := range []struct {
		outcome, expected, got string
		urls                   []string
	}{
		{string(reports.Warning), "we", "wg", []string{"w"}},
		{"failed", "fe", "fg", []string{"f"}},
		{"timedout", "fe", "fg", []string{"f"}},
		{string(reports.Passed), "", "", nil},
		{string(reports.Skipped), "", "", nil},
	} {
		c := CheckResult{Outcome: tt.outcome}
		c.attachDetails(ds)
		var urls []string
		for _, e := range c.Exchanges {
			urls = append(urls, e.URL)
		}
		if c.Expected != tt.expected || c.Got != tt.got || strings.Join(urls, " ") != strings.Join(tt.urls, " ") {
			t.Errorf("%s: expected %q got %q exchanges %v, want %q %q %v", tt.outcome, c.Expected, c.Got, urls, tt.expected, tt.got, tt.urls)
		}
	}
}

// TestReportExchangeRedacts: the structured exchange shows JWS header and
// claims, never the signature, in the form, the headers and the body.
func TestReportExchangeRedacts(t *testing.T) {
	const sig = "c2lnbmF0dXJlLXRoYXQtbXVzdC1ub3Qtc2hvdy11cC1hbnl3aGVyZQ"
	jws := "eyJhbGciOiJQUzI1NiJ9.eyJzdWIiOiJ4In0." + sig
	ex := &client.Exchange{
		Method: "POST", URL: "https://op.example/bc", Status: 200,
		RequestForm:    url.Values{"request": {jws}, "client_id": {"c"}},
		RequestHeader:  http.Header{"X-Token": {jws}},
		ResponseHeader: http.Header{"Content-Type": {"application/json"}},
		ResponseBody:   []byte(`{"id_token":"` + jws + `"}`),
	}
	got := reportExchange(ex)
	for name, v := range map[string]string{"request body": got.RequestBody, "response body": got.ResponseBody, "header": got.RequestHeaders[0].Value} {
		if strings.Contains(v, sig) || !strings.Contains(v, "eyJhbGciOiJQUzI1NiJ9.eyJzdWIiOiJ4In0") {
			t.Errorf("%s = %q: want the JWS without its signature", name, v)
		}
	}
	if !strings.HasPrefix(got.RequestBody, "client_id=c\nrequest=") {
		t.Errorf("request body %q: want the form sorted, a line per value", got.RequestBody)
	}
}
