package e2e

// A hostile OP that attacks the person running the tool rather than the
// verdicts (issue 12 items 3-5): answers of 100 MB, requests it never
// answers, error texts full of terminal control characters. It serves the
// embedded reference OP's discovery document with every endpoint
// rewritten to itself, and answers the rest per behaviour. The tests run
// the built binary against it and assert the bounds: peak memory, that
// the run ends by its deadline and says which request went unanswered,
// that nothing the OP sent reaches the terminal or a report raw, and that
// a run ending as a target error still writes its reports.

import (
	"bytes"
	"context"
	"crypto/tls"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/devenv"
	"github.com/ciba-check/ciba-check/internal/pki"
	"github.com/ciba-check/ciba-check/internal/target"
)

// boundsBehaviour is how the bounds OP misbehaves.
type boundsBehaviour string

const (
	// behaveHuge answers every request but discovery with 100 MB: JSON
	// that parses only when read whole (an OAuth error, the JWKS, padded
	// with 100 MB of whitespace).
	behaveHuge boundsBehaviour = "huge-bodies"
	// behaveHugeDiscovery pads the discovery document itself.
	behaveHugeDiscovery boundsBehaviour = "huge-discovery"
	// behaveHang answers discovery and holds every other request until
	// the client gives up.
	behaveHang boundsBehaviour = "hang"
	// behaveHangAfterRefusal refuses backchannel requests at once
	// (invalid_request, so the preflight lets the run go on) and holds
	// every other request: the checks meet the hang.
	behaveHangAfterRefusal boundsBehaviour = "hang-after-refusal"
	// behaveControl answers every request but discovery with HTTP 400
	// carrying terminalAttack: JSON-escaped in an OAuth error from the
	// backchannel endpoint (so a decoded error_description holds it
	// raw), raw bytes in a text/plain body everywhere else.
	behaveControl boundsBehaviour = "control-characters"
)

// hugeBody is how much behaveHuge and behaveHugeDiscovery send.
const hugeBody = 100 << 20

// terminalAttack clears the screen, prints a fake verdict, sets the window
// title, rings the bell, returns the carriage and reverses text.
const terminalAttack = "\x1b[2J\x1b[H ALL CHECKS PASSED \x1b]0;pwned\x07\rok \u202eSSAP \u009b31m"

// boundsOP is a running bounds OP.
type boundsOP struct {
	behaviour boundsBehaviour
	Issuer    string
	discovery []byte
	release   chan struct{}
	srv       *http.Server
	done      chan error
}

// startBoundsOP serves b in front of env's reference OP (its discovery
// document); dir holds env's material. It stops when the test ends.
func startBoundsOP(t *testing.T, env *devenv.Env, dir string, b boundsBehaviour) *boundsOP {
	t.Helper()
	cert, err := pki.LoadCertificate(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	op := &boundsOP{behaviour: b, Issuer: "https://" + ln.Addr().String(), release: make(chan struct{}), done: make(chan error, 1)}
	op.discovery = rewrittenDiscovery(t, env, op.Issuer)
	op.srv = &http.Server{
		Handler:           http.HandlerFunc(op.serve),
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, ClientAuth: tls.RequestClientCert},
		// Connections the client drops mid-answer are expected here.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go func() {
		err := op.srv.ServeTLS(ln, "", "")
		if err == http.ErrServerClosed {
			err = nil
		}
		op.done <- err
	}()
	t.Cleanup(func() {
		close(op.release)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := op.srv.Shutdown(ctx); err != nil {
			_ = op.srv.Close()
		}
		if err := <-op.done; err != nil {
			t.Errorf("the %s OP: %v", b, err)
		}
	})
	return op
}

// rewrittenDiscovery is env's discovery document with every URL of the
// reference OP moved to issuer.
func rewrittenDiscovery(t *testing.T, env *devenv.Env, issuer string) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(getReference(t, env, env.Issuer+ciba.DiscoveryPath), &doc); err != nil {
		t.Fatal(err)
	}
	var rewrite func(v any) any
	rewrite = func(v any) any {
		switch v := v.(type) {
		case string:
			if rest, ok := strings.CutPrefix(v, env.Issuer); ok {
				return issuer + rest
			}
		case map[string]any:
			for k, e := range v {
				v[k] = rewrite(e)
			}
		case []any:
			for i, e := range v {
				v[i] = rewrite(e)
			}
		}
		return v
	}
	rewrite(doc)
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func (op *boundsOP) serve(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	discovery := r.URL.Path == ciba.DiscoveryPath
	switch {
	case discovery && op.behaviour == behaveHugeDiscovery:
		writePadded(w, http.StatusOK, op.discovery, hugeBody)
	case discovery:
		writeJSON(w, http.StatusOK, op.discovery)
	case op.behaviour == behaveHuge:
		writePadded(w, http.StatusBadRequest, []byte(`{"error":"invalid_request"}`), hugeBody)
	case op.behaviour == behaveHangAfterRefusal && strings.Contains(r.URL.Path, "backchannel"):
		writeJSON(w, http.StatusBadRequest, []byte(`{"error":"invalid_request","error_description":"refused"}`))
	case op.behaviour == behaveHang || op.behaviour == behaveHangAfterRefusal:
		select {
		case <-r.Context().Done():
		case <-op.release:
		}
	case op.behaviour == behaveControl && strings.Contains(r.URL.Path, "backchannel"):
		desc, _ := json.Marshal(terminalAttack)
		writeJSON(w, http.StatusBadRequest, []byte(`{"error":"invalid_request","error_description":`+string(desc)+`}`))
	case op.behaviour == behaveControl:
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+strings.ReplaceAll(terminalAttack, `"`, "")+`"`)
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, terminalAttack)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// writePadded writes body followed by whitespace up to size bytes (still
// valid JSON when read whole), from one small buffer.
func writePadded(w http.ResponseWriter, status int, body []byte, size int) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(size))
	w.WriteHeader(status)
	if _, err := w.Write(body); err != nil {
		return
	}
	pad := bytes.Repeat([]byte(" "), 64<<10)
	for left := size - len(body); left > 0; left -= len(pad) {
		if left < len(pad) {
			pad = pad[:left]
		}
		if _, err := w.Write(pad); err != nil {
			return
		}
	}
}

// boundsRun is one `ciba-check run` against a bounds OP (or env itself).
type boundsRun struct {
	dir            string
	code           int
	stdout, stderr string
	// maxRSS is the child's peak resident set (rusage ru_maxrss).
	maxRSS int64
	// race says the binary was built with -race, which multiplies its
	// memory use: its peak is then not held to peakLimit.
	race bool
}

// builtWithRace says whether bin was built with the race detector.
func builtWithRace(t *testing.T, bin string) bool {
	t.Helper()
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatalf("reading the build settings of %s: %v", bin, err)
	}
	for _, s := range info.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

// wantPeakUnderLimit logs the run's peak RSS and fails t when it reached
// peakLimit (issue 12: under 100 MB in each hostile scenario).
func wantPeakUnderLimit(t *testing.T, r boundsRun) {
	t.Helper()
	t.Logf("peak RSS %.1f MiB (machine shared with other work)", float64(r.maxRSS)/(1<<20))
	switch {
	case r.race:
		t.Log("the binary was built with -race: its peak RSS is not held to the bound")
	case raceEnabled:
		t.Log("this test runs under -race: the measured peak includes the test process's own (see race_on_test.go), so it is not held to the bound")
	case r.maxRSS == 0:
		t.Error("no peak RSS measured")
	case r.maxRSS >= peakLimit:
		t.Errorf("peak RSS %d bytes, want under %d", r.maxRSS, peakLimit)
	}
}

// runAgainst runs the binary on tgt (written into dir) with args; the
// run is killed after limit (a failure: the run's own bounds did not
// hold).
func runAgainst(t *testing.T, bin, dir string, tgt *target.Target, limit time.Duration, args ...string) boundsRun {
	t.Helper()
	path := filepath.Join(dir, "bounds-target.yaml")
	if err := tgt.Write(path); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"run", "--target", path}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("ciba-check did not run: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("ciba-check still ran after %s (killed): its own bounds did not end it\nstdout:\n%s\nstderr:\n%s", limit, tail(stdout.String(), 30), tail(stderr.String(), 10))
	}
	r := boundsRun{dir: dir, code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String(), race: builtWithRace(t, bin)}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.maxRSS = int64(ru.Maxrss) * 1024 // kilobytes on Linux
	}
	if strings.Contains(r.stderr, "panic:") || (r.code != 0 && r.code != 1 && r.code != 2) {
		t.Fatalf("ciba-check crashed (exit %d)\nstdout:\n%s\nstderr:\n%s", r.code, tail(r.stdout, 30), r.stderr)
	}
	return r
}

// frontTarget is env's target with op as its OP.
func frontTarget(env *devenv.Env, op *boundsOP) *target.Target {
	tgt := *env.Target
	tgt.Issuer = op.Issuer
	return &tgt
}

// peakLimit is the bound on the run's peak memory against each hostile
// OP (one answering 100 MB, hanging, flooding the receiver, ...).
const peakLimit = 100 << 20

// TestRunMemoryBoundedAgainstHugeAnswers: against an OP answering
// 100 MB bodies, `run` stays under 100 MB of peak RSS, reads no answer as
// a valid one, and says why.
func TestRunMemoryBoundedAgainstHugeAnswers(t *testing.T) {
	bin := longBinaryTest(t, "runs the suite against an OP answering 100 MB bodies")
	tests := []struct {
		behaviour boundsBehaviour
		args      []string
		wantCode  int
		// wantSaid must be in stdout or stderr.
		wantSaid string
	}{
		{behaviour: behaveHuge, args: []string{"--timeout", "150s"}, wantCode: 1, wantSaid: client.TooLargeReason},
		{behaviour: behaveHugeDiscovery, wantCode: 2, wantSaid: client.TooLargeReason},
	}
	for _, tt := range tests {
		t.Run(string(tt.behaviour), func(t *testing.T) {
			env, dir := startCopiedEnv(t)
			op := startBoundsOP(t, env, dir, tt.behaviour)
			report := filepath.Join(dir, "results.json")
			r := runAgainst(t, bin, dir, frontTarget(env, op), 170*time.Second, append([]string{"--json", report}, tt.args...)...)
			t.Logf("exit %d", r.code)
			wantPeakUnderLimit(t, r)
			if r.code != tt.wantCode {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.wantCode, tail(r.stdout, 30), r.stderr)
			}
			if !strings.Contains(r.stdout+r.stderr, tt.wantSaid) {
				t.Errorf("the output never says %q\nstdout:\n%s\nstderr:\n%s", tt.wantSaid, tail(r.stdout, 30), r.stderr)
			}
			if tt.behaviour == behaveHuge {
				rep := readJSON(t, report)
				// The front refuses TLS 1.1 (Go's TLS server minimum here is
				// 1.2): that check passes rightly, before any body is read.
				if passedSecurity := slices.DeleteFunc(passedNegative(rep), func(n string) bool { return n == "refuses a TLS 1.1 handshake" }); len(passedSecurity) > 0 {
					t.Errorf("negative checks passed against an OP answering only 100 MB bodies: %v", passedSecurity)
				}
			}
		})
	}
}

// TestRunEndsByItsDeadlineAgainstAHang: an OP that answers discovery and
// then nothing makes the run end by its --timeout, exit 2, saying which
// request the OP did not answer, never that it became unreachable.
func TestRunEndsByItsDeadlineAgainstAHang(t *testing.T) {
	bin := longBinaryTest(t, "runs the suite against an OP that does not answer")
	for _, b := range []boundsBehaviour{behaveHang, behaveHangAfterRefusal} {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			env, dir := startCopiedEnv(t)
			op := startBoundsOP(t, env, dir, b)
			junit := filepath.Join(dir, "junit.xml")
			r := runAgainst(t, bin, dir, frontTarget(env, op), 90*time.Second, "--timeout", "8s", "--junit", junit)
			out := r.stdout + r.stderr
			t.Logf("exit %d; stderr: %s\nstdout:\n%s", r.code, strings.TrimSpace(r.stderr), r.stdout)
			wantPeakUnderLimit(t, r)
			if r.code != 2 {
				t.Errorf("exit %d, want 2 (the verdict is unknown)\nstdout:\n%s\nstderr:\n%s", r.code, tail(r.stdout, 30), r.stderr)
			}
			if !strings.Contains(out, "the OP did not answer ") || !strings.Contains(out, op.Issuer) {
				t.Errorf("the output never says which request the OP at %s did not answer\nstdout:\n%s\nstderr:\n%s", op.Issuer, tail(r.stdout, 30), r.stderr)
			}
			if strings.Contains(out, "unreachable") {
				t.Errorf("a hang is blamed on an unreachable OP\nstdout:\n%s\nstderr:\n%s", tail(r.stdout, 30), r.stderr)
			}
			if data, err := os.ReadFile(junit); err != nil || !bytes.Contains(data, []byte("<error ")) {
				t.Errorf("JUnit report (%v) does not carry the run's error:\n%s", err, data)
			}
		})
	}
}

// TestOPTextReachesNoTerminalOrReportRaw: control characters in what the
// OP answers are escaped on stdout, stderr, and in the Markdown and JUnit
// reports.
func TestOPTextReachesNoTerminalOrReportRaw(t *testing.T) {
	bin := longBinaryTest(t, "runs the suite against an OP answering control characters")
	env, dir := startCopiedEnv(t)
	op := startBoundsOP(t, env, dir, behaveControl)
	md, junit := filepath.Join(dir, "summary.md"), filepath.Join(dir, "junit.xml")
	r := runAgainst(t, bin, dir, frontTarget(env, op), 170*time.Second, "--timeout", "150s", "--md", md, "--junit", junit)
	t.Logf("exit %d", r.code)
	wantPeakUnderLimit(t, r)
	outputs := map[string]string{"stdout": r.stdout, "stderr": r.stderr}
	for name, path := range map[string]string{"Markdown": md, "JUnit": junit} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s report: %v", name, err)
		}
		outputs[name] = string(data)
	}
	for name, s := range outputs {
		for i, c := range s {
			if (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f || (c >= 0x80 && c <= 0x9f) || c == 0x202e {
				t.Errorf("%s holds %U at byte %d: %q", name, c, i, s[max(0, i-60):min(len(s), i+60)])
				break
			}
		}
	}
	if !strings.Contains(r.stdout, `\x1b[2J`) {
		t.Errorf("stdout never shows the OP's text, escaped: the scenario proved nothing\n%s", tail(r.stdout, 40))
	}
}

// TestTargetErrorStillWritesReports: a run that ends as a target error
// (a client id the OP does not know: exit 2) writes the JUnit and HTML
// reports it was asked for, saying so.
func TestTargetErrorStillWritesReports(t *testing.T) {
	bin := longBinaryTest(t, "runs the binary")
	env, dir := startCopiedEnv(t)
	tgt := *env.Target
	tgt.Clients = append([]target.Client(nil), env.Target.Clients...)
	tgt.Clients[0].ID = "no-such-client"
	junit, html := filepath.Join(dir, "junit.xml"), filepath.Join(dir, "report.html")
	jsonFile, md := filepath.Join(dir, "report.json"), filepath.Join(dir, "summary.md")
	r := runAgainst(t, bin, dir, &tgt, 90*time.Second, "--junit", junit, "--html", html, "--json", jsonFile, "--md", md)
	if r.code != 2 {
		t.Fatalf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", r.code, tail(r.stdout, 30), r.stderr)
	}
	for name, want := range map[string][]string{
		junit:    {`errors="1"`, `<error message="run: `, "client no-such-client", "invalid_client", "the target could not be tested"},
		html:     {">Target error<", "The target could not be tested; no check ran.", "client no-such-client", "invalid_client"},
		jsonFile: {`"error": "run: `, "client no-such-client", "invalid_client"},
		md:       {"## ciba-check: ⛔ target error", "The target could not be tested; no check ran: run: ", "client no-such-client", `invalid\_client`}, // Markdown escapes _
	} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("%s was not written: %v\nstderr: %s", filepath.Base(name), err, r.stderr)
		}
		for _, w := range want {
			if !strings.Contains(string(data), w) {
				t.Errorf("%s lacks %q:\n%s", filepath.Base(name), w, tail(string(data), 20))
			}
		}
	}
	// The JSON verdict is the target error, with no check results.
	rep := readJSON(t, jsonFile)
	if msg, _ := rep["error"].(string); !strings.Contains(msg, "client no-such-client") {
		t.Errorf("JSON error %q, want the target error", msg)
	}
	if checks, _ := rep["checks"].([]any); len(checks) != 0 {
		t.Errorf("JSON holds %d check results, want none", len(checks))
	}
}

// readJSON reads a JSON report.
func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// passedNegative names the passed checks labelled negative in a
// conformance JSON report.
func passedNegative(rep map[string]any) []string {
	var out []string
	checks, _ := rep["checks"].([]any)
	for _, c := range checks {
		m, _ := c.(map[string]any)
		if m["outcome"] != "passed" {
			continue
		}
		labels, _ := m["labels"].([]any)
		for _, l := range labels {
			if l == "negative" {
				name, _ := m["name"].(string)
				out = append(out, name)
			}
		}
	}
	return out
}
