package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/reports"
	"github.com/ciba-check/ciba-check/suites/conformance"
)

func TestNewCmdRun(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    RunOptions
		wantErr string
	}{
		{name: "defaults", args: []string{"run"}, want: RunOptions{}},
		{name: "everything", args: []string{"run", "--target", "t.yaml", "--label-filter", "CIBA-7.1 && !negative",
			"--focus", "alg", "--focus", "aud", "--skip", "ping", "--json", "r.json", "--junit", "j.xml", "--fail-fast", "--timeout", "90s"},
			want: RunOptions{Target: "t.yaml", LabelFilter: "CIBA-7.1 && !negative", Focus: []string{"alg", "aud"}, Skip: []string{"ping"},
				JSONFile: "r.json", JUnitFile: "j.xml", FailFast: true, Timeout: 90 * time.Second}},
		{name: "faults", args: []string{"run", "--fault", "accept-alg-none", "--fault", "jwks-duplicate-kid"},
			want: RunOptions{Faults: []string{"accept-alg-none", "jwks-duplicate-kid"}}},
		{name: "fault with target", args: []string{"run", "--target", "t.yaml", "--fault", "accept-alg-none"}, wantErr: "embedded reference OP"},
		{name: "no FAPI", args: []string{"run", "--no-fapi", "--label-filter", "profile:ciba"},
			want: RunOptions{NoFAPI: true, LabelFilter: "profile:ciba"}},
		{name: "no FAPI with target", args: []string{"run", "--target", "t.yaml", "--no-fapi"}, wantErr: "fapi: false in target.yaml"},
		{name: "negative timeout", args: []string{"run", "--timeout", "-1s"}, wantErr: "must not be negative"},
		{name: "unknown flag", args: []string{"run", "--ginkgo.v"}, wantErr: "unknown flag"},
		{name: "argument", args: []string{"run", "extra"}, wantErr: "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, _, _ := TestStreams()
			var got *RunOptions
			f := &Factory{IO: ios, Version: "test"}
			root := NewCmdRoot(f)
			for _, c := range root.Commands() {
				if c.Name() == "run" {
					root.RemoveCommand(c)
				}
			}
			root.AddCommand(NewCmdRun(f, func(_ context.Context, o *RunOptions) error { got = o; return nil }))
			err := executeFlags(t, root, tt.args, tt.wantErr)
			if tt.wantErr != "" {
				if exitCode(err) != ExitUsage {
					t.Errorf("exit code %d, want %d", exitCode(err), ExitUsage)
				}
				return
			}
			got.IO, got.Version = nil, ""
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(tt.want)
			if !bytes.Equal(gj, wj) {
				t.Errorf("options = %s, want %s", gj, wj)
			}
		})
	}
}

func TestRunRejectsBadFiltersBeforeStarting(t *testing.T) {
	for _, args := range [][]string{
		{"run", "--label-filter", "CIBA-7.1 &&"},
		{"run", "--focus", "("},
		{"run", "--json", filepath.Join(t.TempDir(), "missing", "r.json")},
	} {
		ios, _, _, errOut := TestStreams()
		code := Run(context.Background(), args, &Factory{IO: ios, Version: "test"})
		if code != ExitUsage {
			t.Errorf("%v: exit %d, want %d; stderr %q", args, code, ExitUsage, errOut)
		}
		if lines := strings.Count(strings.TrimSpace(errOut.String()), "\n"); lines != 0 {
			t.Errorf("%v: stderr has %d lines, want one: %q", args, lines+1, errOut)
		}
	}
}

func TestPrintSummary(t *testing.T) {
	checks := []conformance.CheckResult{
		{Name: "a", Outcome: "passed", Meta: conformance.Meta{SpecRefs: []string{"CIBA-7.1"}}},
		{Name: "b", Outcome: "failed", Failure: "expected x, got y\n  > POST", Location: "f.go:1", Meta: conformance.Meta{SpecRefs: []string{"CIBA-7.1", "CIBA-13"}}},
		{Name: "c", Outcome: "skipped", SkipReason: "no ping client", Meta: conformance.Meta{SpecRefs: []string{"CIBA-10.2"}}},
		{Name: "d", Outcome: "skipped", SkipReason: conformance.NotSelected, Meta: conformance.Meta{SpecRefs: []string{"CIBA-4"}}},
		{Name: "e", Outcome: "warning", Failure: "expected slow_down, got \"authorization_pending\"\n  < HTTP 400", Location: "g.go:2", Meta: conformance.Meta{SpecRefs: []string{"CIBA-11"}, Should: true}},
		// --fail-fast stopped the run before these: not run, not skipped.
		{Name: "f", Outcome: "skipped", SkipReason: conformance.NotRun, Meta: conformance.Meta{SpecRefs: []string{"CIBA-12"}}},
		{Name: "g", Outcome: "skipped", SkipReason: conformance.NotRun, Meta: conformance.Meta{SpecRefs: []string{"CIBA-10.2"}}},
	}
	var out bytes.Buffer
	printRunSummary(&out, checks, 1500*time.Millisecond, conformance.TargetCIBACore)
	s := out.String()
	for _, want := range []string{
		"CIBA-7.1               FAILED   1 passed   0 warnings   1 failed   0 skipped\n",
		// A section where nothing was verified is not "ok".
		"CIBA-10.2              SKIP     0 passed   0 warnings   0 failed   1 skipped   1 not run\n",
		"CIBA-12                NOTRUN   0 passed   0 warnings   0 failed   0 skipped   1 not run\n",
		"CIBA-11                WARN     0 passed   1 warning    0 failed   0 skipped\n",
		"b [CIBA-7.1, CIBA-13] (failed)\n  at f.go:1\n  expected x, got y\n    > POST",
		"WARN e [CIBA-11]\n  at g.go:2\n  expected slow_down, got \"authorization_pending\"\n    < HTTP 400",
		"CIBA Core: 1 passed, 1 warning, 1 failed, 1 skipped, 2 not run (the run stopped early) (1 not selected) in 1.5s",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	// The warning is listed once, under Warnings, and not among failures.
	if strings.Count(s, "expected slow_down") != 1 || strings.Index(s, "Warnings") > strings.Index(s, "Failures") {
		t.Errorf("the warning should be detailed once, before the failures:\n%s", s)
	}
	if strings.Contains(s, "CIBA-4 ") {
		t.Errorf("a section with only unselected checks is listed:\n%s", s)
	}
}

// TestRunSubprocess runs the built binary: Ginkgo runs specs once per
// process, so every full run needs its own.
func TestRunSubprocess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs the suite")
	}
	bin := filepath.Join(t.TempDir(), "ciba-check")
	build := exec.Command("go", "build", "-o", bin, "github.com/ciba-check/ciba-check/cmd/ciba-check")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	runWith := func(t *testing.T, env []string, args ...string) (int, string, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), env...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return 0, stdout.String(), stderr.String()
		case errors.As(err, &ee):
			return ee.ExitCode(), stdout.String(), stderr.String()
		}
		t.Fatalf("running %v: %v", args, err)
		return 0, "", ""
	}
	run := func(t *testing.T, args ...string) (int, string, string) {
		t.Helper()
		return runWith(t, []string{"GITHUB_STEP_SUMMARY="}, args...)
	}
	readReport := func(t *testing.T, path string) map[string]any {
		t.Helper()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var rep map[string]any
		if err := json.Unmarshal(data, &rep); err != nil {
			t.Fatalf("JSON report: %v", err)
		}
		if rep["schema"] != reports.ConformanceSchemaV1 {
			t.Errorf("schema = %v", rep["schema"])
		}
		return rep
	}
	// outcomes maps the checks of a FAPI-CIBA run to their outcomes; the
	// checks of plain CIBA alone (push) must be skipped and are left out,
	// and so are the skipped checks for client-secret clients only, which
	// exist with FAPI off (serve --no-fapi; FAPI-RW 5.2.2-14 allows no
	// client secret).
	outcomes := func(t *testing.T, rep map[string]any) map[string]string {
		out := map[string]string{}
		checks, _ := rep["checks"].([]any)
		for _, c := range checks {
			m, _ := c.(map[string]any)
			name, outcome := m["name"].(string), m["outcome"].(string)
			if outcome == "skipped" && secretOnly(m["auth"]) {
				continue
			}
			labels, _ := m["labels"].([]any)
			if !slices.Contains(labels, any(conformance.LabelProfileFAPICIBA)) {
				if outcome != "skipped" {
					t.Errorf("check %q of profile %v: %s under FAPI-CIBA, want skipped", name, labels, outcome)
				}
				continue
			}
			out[name] = outcome
		}
		return out
	}
	// wantOnly checks that in rep every check passed but check, whose
	// outcome is outcome.
	wantOnly := func(t *testing.T, rep map[string]any, check, outcome string) {
		t.Helper()
		for name, o := range outcomes(t, rep) {
			want := "passed"
			if name == check {
				want = outcome
			}
			if o != want {
				t.Errorf("check %q: %s, want %s", name, o, want)
			}
		}
	}

	t.Run("embedded default passes", func(t *testing.T) {
		t.Parallel()
		report := filepath.Join(t.TempDir(), "r.json")
		dir := t.TempDir()
		junit, html, md, summary := filepath.Join(dir, "j.xml"), filepath.Join(dir, "r.html"), filepath.Join(dir, "r.md"), filepath.Join(dir, "summary.md")
		if err := os.WriteFile(summary, []byte("earlier step\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := runWith(t, []string{"GITHUB_STEP_SUMMARY=" + summary},
			"run", "--json", report, "--junit", junit, "--html", html, "--md", md)
		if code != ExitOK {
			t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		rep := readReport(t, report)
		got := outcomes(t, rep)
		if len(got) < 40 {
			t.Errorf("%d checks in the report, want >= 40", len(got))
		}
		for name, o := range got {
			if o != "passed" {
				t.Errorf("check %q: %s", name, o)
			}
		}
		if !strings.Contains(stdout, "Summary by spec section") || !strings.Contains(stdout, "ok   [1/") {
			t.Errorf("stdout lacks progress or summary:\n%s", stdout)
		}
		if data, err := os.ReadFile(junit); err != nil || !bytes.Contains(data, []byte("<testsuites")) || bytes.Count(data, []byte("<testsuite ")) != 1 {
			t.Errorf("JUnit report (want one testsuites with one testsuite): %v %.300q", err, data)
		}
		if data, err := os.ReadFile(html); err != nil || !bytes.Contains(data, []byte("<html")) || !bytes.Contains(data, []byte("Passed")) {
			t.Errorf("HTML report: %v %.300q", err, data)
		}
		mdData, err := os.ReadFile(md)
		if err != nil || !bytes.Contains(mdData, []byte("|")) {
			t.Errorf("Markdown report: %v %.300q", err, mdData)
		}
		if data, err := os.ReadFile(summary); err != nil || !bytes.HasPrefix(data, []byte("earlier step\n")) || !bytes.HasSuffix(data, mdData) {
			t.Errorf("step summary: want the earlier content followed by the Markdown report: %v %.300q", err, data)
		}
	})

	t.Run("no-fapi runs the push checks as CIBA Core", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		report, junit := filepath.Join(dir, "r.json"), filepath.Join(dir, "j.xml")
		code, stdout, stderr := run(t, "run", "--no-fapi", "--label-filter", "push", "--json", report, "--junit", junit)
		if code != ExitOK {
			t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		rep := readReport(t, report)
		if tg, _ := rep["target"].(map[string]any); tg["profile"] != conformance.TargetCIBACore {
			t.Errorf("target = %v, want profile %q", rep["target"], conformance.TargetCIBACore)
		}
		passed := 0
		checks, _ := rep["checks"].([]any)
		for _, c := range checks {
			m, _ := c.(map[string]any)
			labels, _ := m["labels"].([]any)
			switch {
			case !slices.Contains(labels, any("push")):
			case slices.Contains(labels, any(conformance.LabelProfileCIBA)) && m["outcome"] == "passed":
				passed++
			case slices.Contains(labels, any(conformance.LabelProfileCIBA)):
				t.Errorf("push check %q: %v, want passed", m["name"], m["outcome"])
			}
		}
		if passed < 8 {
			t.Errorf("%d push checks passed, want at least 8", passed)
		}
		if !strings.Contains(stdout, "CIBA Core: ") || !strings.Contains(stderr, "as CIBA Core") {
			t.Errorf("terminal output does not name the profile CIBA Core:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
		}
		if data, err := os.ReadFile(junit); err != nil || !bytes.Contains(data, []byte(`<property name="profile" value="CIBA Core">`)) {
			t.Errorf("JUnit report lacks the profile property: %v %.400q", err, data)
		}
	})

	t.Run("accept-alg-none fails the alg none check", func(t *testing.T) {
		t.Parallel()
		report := filepath.Join(t.TempDir(), "r.json")
		code, stdout, stderr := run(t, "run", "--fault", "accept-alg-none", "--json", report)
		if code != ExitFailed {
			t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		const check = "refuses a request object with alg none"
		wantOnly(t, readReport(t, report), check, "failed")
		if !strings.Contains(stdout, "Failures\n\n"+check) {
			t.Errorf("stdout does not detail the failure:\n%s", stdout)
		}
	})

	t.Run("jwks-duplicate-kid warns and still exits 0", func(t *testing.T) {
		t.Parallel()
		report := filepath.Join(t.TempDir(), "r.json")
		code, stdout, stderr := run(t, "run", "--fault", "jwks-duplicate-kid", "--json", report)
		if code != ExitOK {
			t.Fatalf("exit %d, want 0 (a warning does not fail the run)\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		const check = "publishes a JWKS with a kid on every signing key when it holds several"
		rep := readReport(t, report)
		wantOnly(t, rep, check, "warning")
		if sum, _ := rep["summary"].(map[string]any); sum["warnings"] != float64(1) || sum["failed"] != float64(0) {
			t.Errorf("summary = %v, want 1 warning and 0 failed", sum)
		}
		for _, want := range []string{"WARN " + check + " [", "expected distinct kids (RFC 7517 4.5)", " 1 warning, 0 failed"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, stdout)
			}
		}
	})

	t.Run("target vanishing mid-run exits 2 and keeps the results", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		serve := exec.Command(bin, "serve", "--dir", dir)
		serveOut, err := serve.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := serve.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = serve.Process.Kill(); _ = serve.Wait() }()
		sc := bufio.NewScanner(serveOut)
		for sc.Scan() && !strings.HasPrefix(sc.Text(), "serving") {
		}
		go func() { _, _ = io.Copy(io.Discard, serveOut) }()

		report := filepath.Join(t.TempDir(), "r.json")
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		// One check at a time: in parallel the workers may have run every
		// check before the tenth result is printed, and then nothing is
		// left for the vanished target to stop.
		run := exec.CommandContext(ctx, bin, "run", "--parallel", "1", "--target", filepath.Join(dir, "target.yaml"), "--json", report)
		runOut, err := run.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		run.Stderr = &stderr
		if err := run.Start(); err != nil {
			t.Fatal(err)
		}
		rs := bufio.NewScanner(runOut)
		for rs.Scan() {
			if strings.Contains(rs.Text(), "[10/") {
				// Stop the OP and device while the suite runs.
				if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
				break
			}
		}
		_, _ = io.Copy(io.Discard, runOut)
		err = run.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != ExitUsage {
			t.Fatalf("run ended with %v, want exit 2; stderr %q", err, stderr.String())
		}
		// Besides "wrote FILE" for the report kept, one line says why.
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
			if !strings.HasPrefix(l, "wrote ") {
				lines = append(lines, l)
			}
		}
		line := strings.Join(lines, "\n")
		if len(lines) != 1 || !strings.Contains(line, "became unreachable") || !strings.Contains(stderr.String(), "wrote "+report+"\n") {
			t.Errorf("stderr = %q, want one line saying the target became unreachable", stderr.String())
		}
		rep := readReport(t, report)
		if e, _ := rep["error"].(string); !strings.Contains(e, "became unreachable") {
			t.Errorf("report error = %q", e)
		}
		passed := 0
		for _, o := range outcomes(t, rep) {
			if o == "passed" {
				passed++
			}
		}
		if passed < 10 {
			t.Errorf("%d passed checks kept in the report, want the >= 10 that ran before the target vanished", passed)
		}
	})

	t.Run("bad target exits 2 with one line", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "target.yaml")
		if err := os.WriteFile(path, []byte("issuer: https://op.example\nclients:\n  - id: c1\n    auth: client_secret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := run(t, "run", "--target", path)
		if code != ExitUsage {
			t.Fatalf("exit %d, want 2; stderr %q", code, stderr)
		}
		line := strings.TrimSpace(stderr)
		if strings.Contains(line, "\n") || !strings.Contains(line, path+":4:") || !strings.Contains(line, "clients[0].auth") {
			t.Errorf("stderr = %q, want one line naming %s:4:<col> and clients[0].auth", stderr, path)
		}
	})
}

func TestRunProgress(t *testing.T) {
	pass := conformance.CheckResult{Name: "a check", Outcome: "passed"}
	fail := conformance.CheckResult{Name: "b check", Outcome: "failed", Failure: "expected x, got y\n  > POST /token"}
	skip := conformance.CheckResult{Name: "c check", Outcome: "skipped", SkipReason: "no ping client"}
	warn := conformance.CheckResult{Name: "d check", Outcome: "warning", Failure: "expected slow_down\n  < HTTP 400"}
	tests := []struct {
		tty  bool
		want string
	}{
		{tty: false, want: "running 4 checks\nok   [1/4] a check\nFAIL [2/4] b check\nskip [3/4] c check (no ping client)\nWARN [4/4] d check — expected slow_down\n"},
		{tty: true, want: "running 4 checks\n\r\x1b[K[1/4] a check\r\x1b[K[2/4] b check\r\x1b[KFAIL b check — expected x, got y\n\r\x1b[K[3/4] c check\r\x1b[K[4/4] d check\r\x1b[KWARN d check — expected slow_down\n\r\x1b[K"},
	}
	for _, tt := range tests {
		ios, _, out, _ := TestStreams()
		ios.SetTTY(tt.tty)
		p := newRunProgress(ios)
		p.start(4)
		for _, c := range []conformance.CheckResult{pass, fail, skip, warn} {
			p.running([]string{c.Name})
			p.running(nil)
			p.check(c)
		}
		p.finish()
		if out.String() != tt.want {
			t.Errorf("tty=%v:\n got %q\nwant %q", tt.tty, out.String(), tt.want)
		}
	}
}

// TestRunProgressParallel: the status line names every running check, and
// a check's result line is printed when the run reports it (spec order),
// with the status line redrawn after it.
func TestRunProgressParallel(t *testing.T) {
	ios, _, out, _ := TestStreams()
	ios.SetTTY(true)
	p := newRunProgress(ios)
	p.start(2)
	p.running([]string{"a check", "b check"})
	p.running([]string{"b check"})
	p.check(conformance.CheckResult{Name: "a check", Outcome: "failed", Failure: "expected x"})
	p.running(nil)
	p.check(conformance.CheckResult{Name: "b check", Outcome: "passed"})
	p.finish()
	want := "running 2 checks\n\r\x1b[K[1/2] a check, b check\r\x1b[K[1/2] b check\r\x1b[KFAIL a check — expected x\n\r\x1b[K[2/2] b check\r\x1b[K"
	if out.String() != want {
		t.Errorf("got %q\nwant %q", out.String(), want)
	}
}

// TestRunAnnouncesEveryReport: every report file run writes is announced
// with a "wrote FILE" line, --json included.
func TestRunAnnouncesEveryReport(t *testing.T) {
	dir := t.TempDir()
	s, _, _, errOut := TestStreams()
	opts := &RunOptions{IO: s,
		JSONFile: filepath.Join(dir, "results.json"), JUnitFile: filepath.Join(dir, "junit.xml"),
		HTMLFile: filepath.Join(dir, "report.html"), MDFile: filepath.Join(dir, "summary.md")}
	res := &conformance.Result{Checks: []conformance.CheckResult{
		{Name: "a", Outcome: "passed", Meta: conformance.Meta{SpecRefs: []string{"CIBA-7.1"}}},
	}}
	info := conformance.ReportInfo{ToolVersion: "test", Issuer: "https://op.example", DeviceKind: "hints", Profile: "FAPI-CIBA", Judging: "spec", Started: time.Unix(0, 0)}
	if err := writeRunReports(opts, res, info); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{opts.JSONFile, opts.JUnitFile, opts.HTMLFile, opts.MDFile} {
		if !strings.Contains(errOut.String(), "wrote "+f+"\n") {
			t.Errorf("%s is not announced:\n%s", f, errOut)
		}
	}
}

// secretOnly reports whether a check's auth labels (the JSON report's
// "auth") are all client-secret methods.
func secretOnly(auth any) bool {
	list, _ := auth.([]any)
	for _, a := range list {
		if s, _ := a.(string); !ciba.AuthMethod(s).UsesSecret() {
			return false
		}
	}
	return len(list) > 0
}
