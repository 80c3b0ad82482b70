// Package safetext makes text that came from an OP safe to show on a
// terminal, in Markdown and in JUnit XML: control characters and Unicode
// bidirectional overrides are replaced by visible escapes, so an OP's
// error_description cannot clear the screen, move the cursor, set the
// window title, overwrite a line with a carriage return or reorder what
// the reader sees. JSON and HTML escape by their own encoders; every other
// renderer calls Escape.
package safetext

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Escape returns s with every character that could act on a terminal or
// reorder text replaced by a visible escape: C0 controls other than
// newline and tab (ESC, BEL, CR, BS, ...) and DEL as \xHH, C1 controls
// (U+0080–U+009F; U+009B is a one-byte CSI) and the bidirectional
// formatting characters (U+061C, U+200E, U+200F, U+202A–U+202E,
// U+2066–U+2069) and line/paragraph separators (U+2028, U+2029) as \uHHHH,
// and each byte of invalid UTF-8 as \xHH. Newline and tab stay: callers
// split or indent multi-line messages themselves. Text without such
// characters is returned unchanged.
func Escape(s string) string {
	if clean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x80 && unsafeASCII(byte(r)):
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// clean reports whether s needs no escaping (the common case, checked
// without allocating).
func clean(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if unsafeASCII(c) {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || unsafeRune(r) {
			return false
		}
		i += size
	}
	return true
}

func unsafeASCII(c byte) bool { return (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f }

func unsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f: // C1 controls
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r == 0x2028, r == 0x2029:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// Line is Escape for text shown on one line: newline and tab are escaped
// too (\n, \t).
func Line(s string) string {
	s = Escape(s)
	if !strings.ContainsAny(s, "\n\t") {
		return s
	}
	return strings.NewReplacer("\n", `\n`, "\t", `\t`).Replace(s)
}
