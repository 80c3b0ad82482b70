package safetext

import "testing"

func TestEscape(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain ASCII unchanged", "invalid_request: bad scope", "invalid_request: bad scope"},
		{"newline and tab kept", "line one\n\tline two", "line one\n\tline two"},
		{"non-ASCII text kept", "Zugriff verweigert – 拒否", "Zugriff verweigert – 拒否"},
		{"ESC clear screen", "\x1b[2J\x1b[HALL CHECKS PASSED", `\x1b[2J\x1b[HALL CHECKS PASSED`},
		{"OSC window title with BEL", "\x1b]0;pwned\x07rest", `\x1b]0;pwned\x07rest`},
		{"OSC terminated by ST", "\x1b]8;;https://evil.example\x1b\\link", `\x1b]8;;https://evil.example\x1b\link`},
		{"carriage return overwrite", "FAIL\rok  ", `FAIL\x0dok  `},
		{"BEL", "ding\a", `ding\x07`},
		{"backspace", "ab\bc", `ab\x08c`},
		{"NUL", "a\x00b", `a\x00b`},
		{"DEL", "a\x7fb", `a\x7fb`},
		{"C1 CSI as a rune", "a\u009b2Jb", `a\u009b2Jb`},
		{"C1 NEL", "a\u0085b", `a\u0085b`},
		{"right-to-left override", "abc\u202edcba", `abc\u202edcba`},
		{"bidi isolates", "\u2066x\u2069\u2067y\u2068", `\u2066x\u2069\u2067y\u2068`},
		{"marks and arabic letter mark", "\u200e\u200f\u061c", `\u200e\u200f\u061c`},
		{"line separator", "a\u2028b\u2029c", `a\u2028b\u2029c`},
		{"invalid UTF-8 byte", "a\xffb", `a\xffb`},
		{"lone C1 byte (invalid UTF-8)", "a\x9bb", `a\x9bb`},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Escape(tt.in); got != tt.want {
				t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestEscapeLeavesNothingActive(t *testing.T) {
	var all []byte
	for c := 0; c < 256; c++ {
		all = append(all, byte(c))
	}
	got := Escape(string(all) + "\u202e\u0085\u2066")
	for i, r := range got {
		if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r <= 0x9f) || unsafeRune(r) {
			t.Fatalf("Escape left %U at %d in %q", r, i, got)
		}
	}
}

func TestLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a\nb\tc", `a\nb\tc`},
		{"a\x1b[Kb", `a\x1b[Kb`},
		{"plain", "plain"},
	}
	for _, tt := range tests {
		if got := Line(tt.in); got != tt.want {
			t.Errorf("Line(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
