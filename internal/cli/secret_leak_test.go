package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/devenv"
	"github.com/ciba-check/ciba-check/internal/target"
	refop "github.com/ciba-check/ciba-check/reference-op"
)

// TestNoClientSecretInAnyOutput runs the tool against the FAPI-off
// reference OP with client-secret clients (serve --no-fapi) and scans
// everything it writes for the secret: stdout and stderr of serve, run,
// target check, load poll and load flow, the JSON, JUnit, HTML and
// Markdown reports, the load summaries and the vegeta results file. The
// OP runs with accept-secret-both-ways, so a warning quotes an exchange
// that carried the secret in the Authorization header and the body.
func TestNoClientSecretInAnyOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary, runs the suite and two load runs")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "ciba-check")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/ciba-check/ciba-check/cmd/ciba-check").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir, outDir := filepath.Join(tmp, "dev"), filepath.Join(tmp, "out")
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		t.Fatal(err)
	}
	var outputs []string // names of what was scanned, to report
	var streams bytes.Buffer
	save := func(name string, b []byte) {
		outputs = append(outputs, name)
		streams.WriteString("\n=== " + name + "\n")
		streams.Write(b)
	}

	serve := exec.Command(bin, "serve", "--no-fapi", "--dir", dir, "--fault", refop.FaultAcceptSecretBothWays)
	serveOut, err := serve.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var serveErr bytes.Buffer
	serve.Stderr = &serveErr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	var serveLines bytes.Buffer
	sc := bufio.NewScanner(serveOut)
	for sc.Scan() {
		serveLines.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "serving") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, serveOut) }()
	// Wait also ends the copy into serveErr: read it only after this.
	var stopped sync.Once
	stopServe := func() {
		stopped.Do(func() {
			_ = serve.Process.Kill()
			_ = serve.Wait()
		})
	}
	defer stopServe()
	raw, err := os.ReadFile(filepath.Join(dir, devenv.SecretFile))
	if err != nil {
		stopServe()
		t.Fatalf("serve --no-fapi wrote no client secret: %v\n%s%s", err, serveLines.String(), serveErr.String())
	}
	secret := strings.TrimSpace(string(raw))
	save("serve stdout", serveLines.Bytes())
	targetFile := filepath.Join(dir, "target.yaml")

	env := append(os.Environ(), devenv.DevSecretVar+"="+secret, "GITHUB_STEP_SUMMARY=")
	runCLI := func(name string, wantCodes []int, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		save(name+" stdout", stdout.Bytes())
		save(name+" stderr", stderr.Bytes())
		ok := false
		for _, c := range wantCodes {
			ok = ok || c == code
		}
		if !ok {
			t.Fatalf("%s exited %d, want %v\n%s%s", name, code, wantCodes, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	out := func(name string) string { return filepath.Join(outDir, name) }

	runOut := runCLI("run", []int{ExitOK}, "run", "--target", targetFile,
		"--json", out("report.json"), "--junit", out("junit.xml"), "--html", out("report.html"), "--md", out("report.md"))
	// The warning of the both-ways check quotes the exchange that sent the
	// secret twice: the scan below must see that exchange, redacted.
	if !strings.Contains(runOut, "refuses a client secret sent both in the Authorization header and the body") || !strings.Contains(runOut, client.Hidden) {
		t.Fatalf("run output lacks the both-ways warning with its redacted exchange:\n%s", runOut)
	}
	runCLI("target check", []int{ExitOK}, "target", "check", targetFile)
	// A CIBA Core target of secret clients only (no certificate, no key
	// but poll-secret-jwt's): every check passes or is skipped with its
	// reason; certificate binding is not judged on unbound tokens.
	secretOnly := out("secret-only-target.yaml")
	tg, err := target.LoadWithEnv(targetFile, func(name string) (string, bool) {
		if name == devenv.DevSecretVar {
			return secret, true
		}
		return os.LookupEnv(name)
	})
	if err != nil {
		t.Fatal(err)
	}
	tg.Clients = slices.DeleteFunc(tg.Clients, func(c target.Client) bool { return !c.UsesSecret() })
	if len(tg.Clients) != 3 {
		t.Fatalf("%d secret clients in the --no-fapi target, want 3", len(tg.Clients))
	}
	if err := tg.Write(secretOnly); err != nil {
		t.Fatal(err)
	}
	runCLI("run secret-only", []int{ExitOK}, "run", "--target", secretOnly, "--json", out("secret-only.json"))
	runCLI("load poll", []int{ExitOK}, "load", "poll", "--target", targetFile, "--auth", "client_secret_basic", "--duration", "2s", "--pending", "5", "-q",
		"--output", out("poll.bin"), "--json", out("poll.json"), "--md", out("poll.md"), "--html", out("poll.html"))
	runCLI("load poll post", []int{ExitOK}, "load", "poll", "--target", targetFile, "--client", "ping-secret-post", "--duration", "1s", "--pending", "5", "-q",
		"--output", out("poll-post.bin"))
	runCLI("load flow", []int{ExitOK}, "load", "flow", "--target", targetFile, "--auth", "client_secret", "--duration", "3s", "--rate", "2/s", "-q",
		"--output", out("flow.bin"), "--json", out("flow.json"), "--md", out("flow.md"), "--html", out("flow.html"))
	stopServe()
	save("serve stderr", serveErr.Bytes())

	entries, err := os.ReadDir(outDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 12 {
		t.Fatalf("only %d output files: %v", len(entries), entries)
	}
	forms := map[string]string{
		"the secret":                    secret,
		"the secret form-urlencoded":    url.QueryEscape(secret),
		"its Basic credential":          client.BasicAuthorization("poll-secret-basic", secret)[len("Basic "):],
		"the post client's credential":  client.BasicAuthorization("ping-secret-post", secret)[len("Basic "):],
		"the first half of the secret":  secret[:len(secret)/2],
		"the second half of the secret": secret[len(secret)/2:],
	}
	scan := func(name string, data []byte) {
		for what, v := range forms {
			if bytes.Contains(data, []byte(v)) {
				t.Errorf("%s contains %s", name, what)
			}
		}
	}
	scan("the output streams", streams.Bytes())
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(outDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		outputs = append(outputs, e.Name())
		scan(e.Name(), data)
	}
	t.Logf("scanned %d outputs: %s", len(outputs), strings.Join(outputs, ", "))
}
