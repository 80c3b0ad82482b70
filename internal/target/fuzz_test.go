package target

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse proves Parse never panics and always fails with a one-line
// *Error, and that whatever it accepts survives Marshal and Parse again.
func FuzzParse(f *testing.F) {
	f.Add(edit(nil))
	f.Add(edit(map[int]string{13: "    auth: client_secret"}))
	f.Add(edit(map[int]string{1: "issuer: ${X:-https://a}", 29: "    delay: ${D}"}))
	f.Add([]byte("a: &x [*x]\nb: *x\n"))
	f.Add([]byte("clients:\n  - &c {id: a}\n  - *c\n"))
	f.Add([]byte("issuer: !!binary aGVsbG8=\n"))
	f.Add([]byte("users:\n  - name: |\n      ${A}\n"))
	f.Add([]byte("---\n...\n"))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		env := func(k string) (string, bool) { return "v", k == "A" }
		tg, err := ParseWithEnv(data, "f.yaml", "/base", env)
		if err != nil {
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("error %T is not *Error: %v", err, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error: %q", err.Error())
			}
			return
		}
		out, err := tg.Marshal("/base")
		if err != nil {
			t.Fatalf("Marshal of a parsed target: %v", err)
		}
		if _, err := ParseWithEnv(out, "out.yaml", "/base", env); err != nil {
			t.Fatalf("re-parse of marshalled target: %v\n%s", err, out)
		}
	})
}
