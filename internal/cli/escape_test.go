package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/suites/conformance"
)

// TestRunOutputEscapesOPText: an OP's error_description with terminal
// controls reaches the progress lines and the summary escaped, on a
// terminal and in a pipe alike.
func TestRunOutputEscapesOPText(t *testing.T) {
	attack := "\x1b[2J\x1b]0;title\x07\rALL CHECKS PASSED\u202e\u009b"
	checks := []conformance.CheckResult{
		{Name: "f", Outcome: "failed", Failure: "expected x, got " + attack + "\n  < " + attack, Location: "f.go:1", Meta: conformance.Meta{SpecRefs: []string{"CIBA-13"}}},
		{Name: "s", Outcome: "skipped", SkipReason: "could not determine: " + attack, Meta: conformance.Meta{SpecRefs: []string{"CIBA-11"}}},
		{Name: "w", Outcome: "warning", Failure: "expected y, got " + attack, Location: "g.go:2", Meta: conformance.Meta{SpecRefs: []string{"CIBA-11"}}},
	}
	for _, tty := range []bool{false, true} {
		ios, _, out, _ := TestStreams()
		ios.SetTTY(tty)
		p := newRunProgress(ios)
		p.start(len(checks))
		for _, c := range checks {
			p.check(c)
		}
		printRunSummary(out, checks, time.Second, conformance.TargetFAPICIBA)
		s := out.String()
		if tty {
			// The progress line's own "\r\x1b[K" is ours; nothing else may be.
			s = strings.ReplaceAll(s, "\r\x1b[K", "")
		}
		for i, r := range s {
			if (r < 0x20 && r != '\n') || (r >= 0x80 && r <= 0x9f) || r == 0x202e {
				t.Fatalf("tty=%v: output holds %U at byte %d:\n%q", tty, r, i, s)
			}
		}
		if !strings.Contains(s, `\x1b[2J\x1b]0;title\x07\x0dALL CHECKS PASSED\u202e\u009b`) {
			t.Errorf("tty=%v: the OP's text is not shown escaped:\n%s", tty, s)
		}
	}
}

func TestTargetCheckLinesEscapeOPText(t *testing.T) {
	var b bytes.Buffer
	r := &checkReport{w: &b}
	r.ok("discovery", "issuer https://op.example/\x1b]0;x\x07")
	r.fail("jwks", "%s is not a JWK Set: %v", "https://op.example/jwks", "\x1b[2Jfake ✓\rok\u202e")
	want := "✓ discovery: issuer https://op.example/\\x1b]0;x\\x07\n✗ jwks: https://op.example/jwks is not a JWK Set: \\x1b[2Jfake ✓\\x0dok\\u202e\n"
	if b.String() != want {
		t.Errorf("got  %q\nwant %q", b.String(), want)
	}
}
