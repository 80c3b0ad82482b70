package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ciba-check/ciba-check/internal/target"
)

// TestServeRegistersInitClients walks init's next steps against serve:
// init writes two clients, serve --register registers them by the ids
// set in target.yaml, and after pointing target.yaml at serve (issuer,
// ca, a built-in user, the mock device) `target check` passes, preflight
// included: the OP accepts both clients' signed requests and assertions.
func TestServeRegistersInitClients(t *testing.T) {
	work := t.TempDir()
	mybank, dev := filepath.Join(work, "mybank"), filepath.Join(work, "dev")
	if code, _, errOut := runCLI(t, "init", "--dir", mybank); code != ExitOK {
		t.Fatalf("init: exit %d: %s", code, errOut)
	}
	tf := filepath.Join(mybank, "target.yaml")
	edit := func(pairs ...string) {
		t.Helper()
		b, err := os.ReadFile(tf)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for i := 0; i < len(pairs); i += 2 {
			if !strings.Contains(s, pairs[i]) {
				t.Fatalf("target.yaml lacks %q", pairs[i])
			}
			s = strings.Replace(s, pairs[i], pairs[i+1], 1)
		}
		if err := os.WriteFile(tf, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	edit(`"`+Placeholder+`-client1-ps256"`, "mybank-1", `"`+Placeholder+`-client2-es256"`, "mybank-2")

	out, _ := startServe(t, []string{"serve", "--dir", dev, "--register", mybank})
	for _, want := range []string{"registered     mybank-1 (private_key_jwt, poll, PS256) from " + tf + ":", "registered     mybank-2 (private_key_jwt, poll, ES256)"} {
		if !strings.Contains(out, want) {
			t.Fatalf("serve output lacks %q:\n%s", want, out)
		}
	}
	served, err := target.Load(filepath.Join(dev, "target.yaml"))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	edit(`issuer: "https://`+Placeholder+`.op.example"`, "issuer: "+served.Issuer,
		"# ca: op-ca.pem", "ca: "+filepath.Join(dev, "ca.pem"),
		`login_hint: "`+Placeholder+`-user-who-approves"`, "login_hint: alice",
		"# - name: pending\n  #   login_hint: user-left-pending\n  #   outcome: never", "- name: pending\n    login_hint: carol\n    outcome: never",
		"device:\n  kind: manual", "device:\n  kind: mockdevice\n  url: "+served.Device.URL)
	code, stdout, stderr := runCLI(t, "target", "check", tf)
	if code != ExitOK {
		t.Fatalf("target check: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"client mybank-1 request: backchannel request acknowledged", "client mybank-2 request: backchannel request acknowledged"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("target check output lacks %q:\n%s", want, stdout)
		}
	}

	// A folder whose target.yaml does not load is a usage error naming it.
	if code, _, errOut := runCLI(t, "serve", "--dir", dev, "--register", filepath.Join(work, "nothing")); code != ExitUsage || !strings.Contains(errOut, "--register") {
		t.Errorf("serve --register of a missing folder: exit %d, %q", code, errOut)
	}
}
