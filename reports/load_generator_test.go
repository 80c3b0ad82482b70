package reports

import (
	"bytes"
	"strings"
	"testing"
)

// A load summary whose generator saturated says so in every rendering,
// in the generator's words, and shows its connections; one that did not
// saturate shows no such note.
func TestLoadGeneratorSaturationIsRendered(t *testing.T) {
	const verdict = "generator saturated: figures are a lower bound on the OP's capacity"
	doc := func(saturated bool) string {
		g := `"generator":{"max_in_flight":16,"peak_in_flight":16,"dropped_at_cap":120,"dropped_late":0,
			"connections":{"opened":1,"tls_handshakes":1,"resumed":0},"saturated":false}`
		if saturated {
			g = `"generator":{"max_in_flight":16,"peak_in_flight":16,"dropped_at_cap":120,"dropped_late":0,
				"connections":{"opened":1,"tls_handshakes":1,"resumed":0,"waited_for_stream":9},"saturated":true,
				"reasons":["120 of 400 intended hits dropped (could not start on time)"],"verdict":"` + verdict + `"}`
		}
		return `{"schema":"ciba-check/load/v1","scenario":"poll","started":"2026-12-01T10:00:00Z","duration_seconds":1,
			"rate":{"requested":"400/s","intended":400,"sent":280,"achieved":280},
			"requests":{"intended":400,"sent":280,"dropped":120,"ok":0,"expected":280,"unexpected":0},
			"error_rate":0,"latency_ms":{"min":1,"mean":2,"p50":2,"p90":3,"p95":3,"p99":4,"max":5},
			"cpu":{"seconds":0.5,"per_request_us":900,"shared_with":["flow-ping"]},` + g + `,"thresholds":[],"passed":true}`
	}
	for _, saturated := range []bool{true, false} {
		m, err := FromLoadJSON(strings.NewReader(doc(saturated)))
		if err != nil {
			t.Fatal(err)
		}
		var md, html, junit, text bytes.Buffer
		if err := RenderLoadText(&text, m); err != nil {
			t.Fatal(err)
		}
		if waited := strings.Contains(text.String(), "; 9 requests waited for a stream"); waited != saturated {
			t.Errorf("saturated %v: the text summary says requests waited for a stream: %v\n%s", saturated, waited, text.String())
		}
		if err := RenderMarkdown(&md, m, 0); err != nil {
			t.Fatal(err)
		}
		if err := RenderHTML(&html, m); err != nil {
			t.Fatal(err)
		}
		if err := RenderJUnit(&junit, m); err != nil {
			t.Fatal(err)
		}
		for name, out := range map[string]string{"markdown": md.String(), "html": html.String(), "junit": junit.String()} {
			// html/template escapes the apostrophe of "OP's".
			has := strings.Contains(out, "generator saturated: figures are a lower bound on the OP") && strings.Contains(out, "120 of 400 intended hits dropped")
			if has != saturated {
				t.Errorf("saturated %v: %s shows the verdict: %v\n%.2000s", saturated, name, has, out)
			}
		}
		// Requests that waited in the client for a stream are said only
		// when there were some (the saturated document has 9).
		if waited := strings.Contains(html.String(), "9 requests waited for a stream"); waited != saturated {
			t.Errorf("saturated %v: html says requests waited for a stream: %v", saturated, waited)
		}
		if !strings.Contains(html.String(), "1 opened, 1 TLS handshakes") || !strings.Contains(html.String(), "peak 16 of cap 16") || !strings.Contains(html.String(), "one figure with flow-ping") {
			t.Errorf("html lacks the generator rows:\n%.3000s", html.String())
		}
	}
}
