package reports

import (
	"bytes"
	"io"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the reader of untrusted report
// files: it must return a model or an error, never panic, and whatever it
// accepts every renderer must render.
func FuzzDecode(f *testing.F) {
	var sample bytes.Buffer
	if err := RenderJSON(&sample, sampleModel()); err != nil {
		f.Fatal(err)
	}
	f.Add(sample.Bytes())
	f.Add([]byte(loadSummary))
	f.Add([]byte(conformanceRun))
	f.Add([]byte(`{"schema":"ciba-check/report/v1","checks":[{"name":"x","outcome":"failed","spec_refs":[""]}],"load":[{"series":[{"bucket_seconds":1e-300,"ok":18446744073709551615}],"histogram":[{"up_to_ms":-1}]}]}`))
	f.Add([]byte(`{"schema":"ciba-check/load/v1","latency_ms":{"max":1e308},"rate":{"intended":-5}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		for name, render := range map[string]func(io.Writer, *Model) error{
			"html": RenderHTML, "junit": RenderJUnit, "json": RenderJSON,
			"markdown": func(w io.Writer, m *Model) error { return RenderMarkdown(w, m, minMarkdownLimit) },
		} {
			var out bytes.Buffer
			if err := render(&out, m); err != nil {
				t.Errorf("%s: Decode accepted the input but rendering failed: %v", name, err)
			}
			if name == "markdown" && out.Len() > minMarkdownLimit {
				t.Errorf("markdown is %d bytes, over its limit", out.Len())
			}
		}
		_ = Compare(m, m, 0)
	})
}
