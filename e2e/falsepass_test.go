package e2e

// The proof that the conformance suite never passes a security check
// falsely (issue 11): the suite runs, as `ciba-check run` in a
// subprocess, against hostile fronts of the reference OP (hostile_test.go)
// that refuse everything, hang, or present a certificate for the wrong
// name. Such an OP deserves no passed security check: a refusal of the
// valid request as well as the bad one proves nothing, a request that
// never got an answer was not refused, and a handshake the client
// aborted over the server's name is not the server refusing it.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// hostileRun is one run of the suite against a hostile front.
type hostileRun struct {
	// name is the subtest's; empty means the mode's.
	name string
	mode hostileMode
	// args narrow the run (hang mode: only what can be bounded).
	args []string
	// legit names checks that pass rightly against this front, with why.
	legit map[string]string
	// mayStop: exit 2 before any check ran is a right answer (a preflight
	// refusing the target over its TLS failure).
	mayStop bool
	// mustHold: the run must have reached a held request, or the scenario
	// proved nothing.
	mustHold bool
	// exit0 is a right answer: the run selects only checks that must end
	// undetermined (skipped) here. Otherwise a front that refuses, hangs
	// or has the wrong name must fail the run (exit 1) or stop it (2).
	exit0 bool
}

// tlsAccepted is the one TLS check a permissive front rightly passes.
const tlsAccepted = "accepts TLS 1.2 with a FAPI cipher suite or TLS 1.3"

func hostileRuns() []hostileRun {
	rightTLS := map[string]string{tlsAccepted: "the front does complete TLS 1.2 GCM and TLS 1.3 handshakes under the right name"}
	runs := []hostileRun{
		{mode: modeRefuse, args: []string{"--timeout", "90s"}, legit: rightTLS},
		{
			mode: modeHang,
			// Every negative check, every RFC 8705 check and every TLS
			// check: held requests cost the client's 30 s timeout each, so
			// the run leaves out the positive flows, which the front
			// refuses anyway.
			args:  []string{"--timeout", "100s", "--label-filter", "negative || /^RFC8705-/ || FAPI-RW-8.5"},
			legit: rightTLS,
		},
		// A preflight of the backchannel endpoint stops this one (exit 2):
		// the right answer, and the checks never run.
		{mode: modeWrongName, args: []string{"--timeout", "90s"}, mayStop: true},
		// This one the checks reach.
		{mode: modeWrongNameToken, args: []string{"--timeout", "90s"}},
	}
	// Against modeHangOP's otherwise correct OP, only the checks whose bad
	// request is the certificate-less one: every other check rightly
	// passes there. Each holds one request for the client's 30 s, so they
	// run side by side.
	for _, focus := range []string{"presents no certificate", "without a client certificate"} {
		runs = append(runs, hostileRun{
			name: string(modeHangOP) + "/" + strings.ReplaceAll(focus, " ", "-"),
			mode: modeHangOP, args: []string{"--timeout", "100s", "--focus", focus},
			mustHold: true, exit0: true,
		})
	}
	return runs
}

// TestNoFalsePassAgainstHostileOPs runs the suite against each hostile
// front and fails when a security check (labelled negative, or a TLS or
// RFC 8705 check) passed there, naming every offender. The runs go side
// by side (the held requests cost wall time, not CPU); each mode is then
// judged in its own subtest.
func TestNoFalsePassAgainstHostileOPs(t *testing.T) {
	bin := longBinaryTest(t, "runs the suite six times against hostile OPs (about 35 s)")
	ctx, cancel := context.WithTimeout(context.Background(), 115*time.Second)
	defer cancel()
	var runs []*hostileExec
	for _, hr := range hostileRuns() {
		runs = append(runs, hr.start(ctx, t, bin))
	}
	for _, x := range runs {
		name := x.hr.name
		if name == "" {
			name = string(x.hr.mode)
		}
		t.Run(name, func(t *testing.T) {
			<-x.done
			x.judge(t)
		})
	}
}

// hostileExec is `ciba-check run` against one hostile front.
type hostileExec struct {
	hr   hostileRun
	h    *hostileOP
	args []string
	out  string // the JSON report

	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan struct{}
	// Set before done is closed.
	err     error
	elapsed time.Duration
	killed  bool // by the test's deadline
}

// start starts the embedded environment, the front and the run.
func (hr hostileRun) start(ctx context.Context, t *testing.T, bin string) *hostileExec {
	t.Helper()
	env, dir := startCopiedEnv(t)
	x := &hostileExec{hr: hr, h: startHostileOP(t, env, dir, hr.mode), done: make(chan struct{})}

	// The target is the embedded one (clients, keys, users, device,
	// notification endpoints) with the front as its OP.
	tgt := *env.Target
	tgt.Issuer = x.h.Issuer
	if x.h.deviceURL != "" {
		tgt.Device.URL = x.h.deviceURL
	}
	targetPath := filepath.Join(dir, "hostile-target.yaml")
	if err := tgt.Write(targetPath); err != nil {
		t.Fatal(err)
	}
	x.out = filepath.Join(dir, "results.json")
	x.args = append([]string{"run", "--target", targetPath, "--json", x.out}, hr.args...)
	x.cmd = exec.CommandContext(ctx, bin, x.args...)
	x.cmd.Stdout, x.cmd.Stderr = &x.stdout, &x.stderr
	started := time.Now()
	if err := x.cmd.Start(); err != nil {
		t.Fatalf("ciba-check did not start: %v", err)
	}
	go func() {
		x.err = x.cmd.Wait()
		x.killed = ctx.Err() != nil
		x.elapsed = time.Since(started).Round(100 * time.Millisecond)
		close(x.done)
	}()
	// However a subtest ends, the process is reaped before the front and
	// the environment stop (cleanups run last in, first out).
	t.Cleanup(func() {
		_ = x.cmd.Process.Kill()
		<-x.done
	})
	return x
}

func (x *hostileExec) transcript() string {
	return fmt.Sprintf("stdout (tail):\n%s\nstderr (tail):\n%s", tail(x.stdout.String(), 40), tail(x.stderr.String(), 20))
}

// judge reads the finished run: no crash, a failed or stopped run, and no
// passed security check.
func (x *hostileExec) judge(t *testing.T) {
	hr, h := x.hr, x.h
	code := x.cmd.ProcessState.ExitCode()
	t.Logf("ciba-check %s: exit %d after %s; %s", strings.Join(x.args[1:], " "), code, x.elapsed, h)
	var exitErr *exec.ExitError
	if x.err != nil && !errors.As(x.err, &exitErr) {
		t.Fatalf("ciba-check did not run: %v", x.err)
	}
	if x.killed {
		t.Fatalf("ciba-check still ran after %s (killed): --timeout did not bound it\n%s", x.elapsed, x.transcript())
	}
	if (code != 0 && code != 1 && code != 2) || strings.Contains(x.stderr.String(), "panic:") {
		t.Fatalf("ciba-check crashed (exit %d)\n%s", code, x.transcript())
	}
	if code == 0 && !hr.exit0 {
		t.Errorf("exit 0 against an OP that %s: the run as a whole passed falsely\n%s", describeMode(hr.mode), x.transcript())
	}

	data, err := os.ReadFile(x.out)
	// A run stopped before any check (exit 2) writes a report without
	// checks, its error as the verdict.
	if err == nil && code == 2 && !bytes.Contains(data, []byte(`"outcome"`)) {
		err = os.ErrNotExist
	}
	if errors.Is(err, os.ErrNotExist) && code == 2 {
		if !hr.mayStop {
			t.Fatalf("exit 2 without results: the run tested nothing against an OP that %s\n%s", describeMode(hr.mode), x.transcript())
		}
		if !namesTLSFailure(x.stderr.String() + x.stdout.String()) {
			t.Fatalf("exit 2 without results, but not over the wrong certificate name\n%s", x.transcript())
		}
		t.Logf("the run stopped before any check over the certificate name (exit 2): no check passed")
		return
	}
	if err != nil {
		t.Fatalf("results: %v\n%s", err, x.transcript())
	}
	var res hostileResults
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatalf("results %s: %v", x.out, err)
	}
	var ran int
	outcomes := map[string]int{}
	var offenders, otherPassed, warned []string
	for _, c := range res.Checks {
		if c.SkipReason != "" && strings.HasPrefix(c.SkipReason, "not selected") {
			continue
		}
		ran++
		outcomes[c.Outcome]++
		if hr.mustHold {
			t.Logf("%s: %s %s", c.label(), c.Outcome, c.SkipReason)
		}
		if c.Outcome == "warning" && c.security() {
			msg := ""
			if c.Warning != nil {
				msg, _, _ = strings.Cut(c.Warning.Message, "\n")
			}
			warned = append(warned, c.label()+": "+msg)
		}
		if c.Outcome != "passed" {
			continue
		}
		if why, ok := hr.legit[c.Name]; ok {
			t.Logf("passed rightly: %s (%s)", c.Name, why)
			continue
		}
		if c.security() {
			offenders = append(offenders, c.label())
		} else if c.Section != "Discovery" {
			otherPassed = append(otherPassed, c.label())
		}
	}
	if ran == 0 {
		t.Fatalf("no check ran\n%s", x.transcript())
	}
	if hr.mustHold && h.held.Load() == 0 {
		t.Errorf("no request reached the hang: the scenario proved nothing\n%s", x.transcript())
	}
	t.Logf("%d checks selected: %d passed, %d warnings, %d failed, %d skipped", ran,
		outcomes["passed"], outcomes["warning"], outcomes["failed"], outcomes["skipped"])
	if len(otherPassed) > 0 {
		// Not asserted: no security claim, but worth a look.
		t.Logf("%d other checks passed against an OP that %s:\n  %s", len(otherPassed), describeMode(hr.mode), strings.Join(otherPassed, "\n  "))
	}
	if len(warned) > 0 {
		// Not asserted: a warning is no pass (and not a failure either).
		t.Logf("%d security checks warned:\n  %s", len(warned), strings.Join(warned, "\n  "))
	}
	if len(offenders) > 0 {
		slices.Sort(offenders)
		t.Errorf("%d security checks passed against an OP that %s (false passes):\n  %s",
			len(offenders), describeMode(hr.mode), strings.Join(offenders, "\n  "))
	}
}

// describeMode says what the front does, for messages.
func describeMode(m hostileMode) string {
	switch m {
	case modeRefuse:
		return "refuses everything with invalid_request"
	case modeHang:
		return "holds every request without a client certificate until the client gives up, and refuses the rest"
	case modeWrongName:
		return "presents a certificate for " + wrongName + " at every endpoint but discovery"
	case modeWrongNameToken:
		return "presents a certificate for " + wrongName + " at every endpoint but discovery, JWKS and the backchannel endpoint, and refuses everything"
	case modeHangOP:
		return "is correct but holds every request without a client certificate until the client gives up"
	}
	return string(m)
}

// namesTLSFailure reports whether out names a certificate or TLS failure.
func namesTLSFailure(out string) bool {
	out = strings.ToLower(out)
	return strings.Contains(out, "x509") || strings.Contains(out, "certificate") || strings.Contains(out, "tls")
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// hostileResults is the part of the JSON report (ciba-check/conformance/v1)
// the test reads.
type hostileResults struct {
	Checks []hostileCheck `json:"checks"`
}

type hostileCheck struct {
	Name       string   `json:"name"`
	Section    string   `json:"section"`
	SpecRefs   []string `json:"spec_refs"`
	Negative   bool     `json:"negative"`
	Outcome    string   `json:"outcome"`
	SkipReason string   `json:"skip_reason"`
	Warning    *struct {
		Message string `json:"message"`
	} `json:"warning"`
}

// security reports whether the check makes a security claim: it sends a
// bad request on purpose (negative), or checks TLS or RFC 8705 mutual
// TLS (discovery metadata aside, which the front copies faithfully).
func (c hostileCheck) security() bool {
	if c.Negative {
		return true
	}
	if c.Section == "Discovery" {
		return false
	}
	return slices.ContainsFunc(c.SpecRefs, func(r string) bool {
		return strings.HasPrefix(r, "RFC8705-") || r == "FAPI-RW-8.5"
	})
}

func (c hostileCheck) label() string {
	return fmt.Sprintf("%s / %s [%s]", c.Section, c.Name, strings.Join(c.SpecRefs, ", "))
}
