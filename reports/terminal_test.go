package reports

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// terminalAttack is an error_description that, printed raw, clears the
// screen, prints a fake verdict, sets the window title, rings the bell,
// overwrites its line with a carriage return and reverses text with a
// bidi override.
const terminalAttack = "\x1b[2J\x1b[H ALL CHECKS PASSED \x1b]0;pwned\x07\rok\u202eSSAP\u2066 \u009b31m\x7f"

// terminalModel is a run whose OP put terminalAttack everywhere it can:
// a failure message, a skip reason, an exchange body and its issuer.
func terminalModel() *Model {
	return &Model{
		Schema: SchemaVersion, ToolVersion: "v0.4.0", GeneratedAt: sampleTime,
		Target: Target{Issuer: "https://op.example.com/" + terminalAttack, Profile: "FAPI-CIBA"},
		Checks: []Check{
			{
				Name: "refuses an unsigned request object", Group: "Request object", SpecRefs: []string{"FAPI-CIBA-5.2.2-6"},
				Outcome: Failed, Message: "expected invalid_request, got: " + terminalAttack,
				Exchanges: []Exchange{{
					Method: "POST", URL: "https://op.example.com/bc", Status: 400,
					ResponseHeaders: []Header{{"Content-Type", "application/json"}},
					ResponseBody:    `{"error":"invalid_request","error_description":"` + terminalAttack + `"}`,
				}},
			},
			{Name: "answers authorization_pending", Group: "Token endpoint", SpecRefs: []string{"CIBA-11"}, Outcome: Skipped, Message: "could not determine: " + terminalAttack},
		},
	}
}

// activeChar reports a character a terminal or a bidi algorithm would act
// on (newline and tab aside).
func activeChar(r rune) bool {
	return (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r <= 0x9f) ||
		r == 0x202e || r == 0x2066 || r == utf8.RuneError
}

func TestRenderersEscapeTerminalControls(t *testing.T) {
	renderers := []struct {
		name, ext string
		render    func(*bytes.Buffer, *Model) error
	}{
		{"markdown", ".md", func(b *bytes.Buffer, m *Model) error { return RenderMarkdown(b, m, 0) }},
		{"junit", ".xml", func(b *bytes.Buffer, m *Model) error { return RenderJUnit(b, m) }},
		{"text", ".txt", func(b *bytes.Buffer, m *Model) error { return RenderText(b, m, time.Second) }},
	}
	for _, r := range renderers {
		t.Run(r.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := r.render(&b, terminalModel()); err != nil {
				t.Fatal(err)
			}
			for i, c := range b.String() {
				if activeChar(c) {
					t.Fatalf("%s output holds %U at byte %d:\n%s", r.name, c, i, b.String())
				}
			}
			for _, want := range []string{`x1b[2J`, `x07`, `u202e`} {
				if !strings.Contains(b.String(), want) {
					t.Errorf("%s output does not show the escaped %q:\n%s", r.name, want, b.String())
				}
			}
			checkGolden(t, r.ext, b.Bytes())
		})
	}
}
