package load

import "testing"

func TestSuffixed(t *testing.T) {
	for in, want := range map[string]string{
		"results.bin": "results-ping.bin", "dir.d/out": "dir.d/out-ping", "/a/b.c.json": "/a/b.c-ping.json", ".hidden": ".hidden-ping", "": "",
	} {
		if got := Suffixed(in, "ping"); got != want {
			t.Fatalf("Suffixed(%q) = %q, want %q", in, got, want)
		}
	}
}
