package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ciba-check/ciba-check/internal/devenv"
	"github.com/ciba-check/ciba-check/internal/safetext"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/reports"
	"github.com/ciba-check/ciba-check/suites/conformance"
)

// RunOptions are the inputs of `ciba-check run`.
type RunOptions struct {
	IO      *IOStreams
	Version string

	Target      string
	LabelFilter string
	Focus       []string
	Skip        []string
	JSONFile    string
	JUnitFile   string
	HTMLFile    string
	MDFile      string
	FailFast    bool
	Timeout     time.Duration
	// Parallel is how many checks may run at once (--parallel).
	Parallel int
	// SharedFlows lets checks that only inspect an approved flow share
	// one per client (hidden --shared-flows, on; off to measure).
	SharedFlows bool
	// Profile is "spec" (the default: judge by the spec text) or
	// "oidf-cert" (also fail what only the OIDF certification suite
	// demands).
	Profile string
	// Getenv reads the environment ($GITHUB_STEP_SUMMARY); tests replace it.
	Getenv func(string) string
	// Faults switch on reference-OP faults (hidden; embedded OP only):
	// how the suite's self-test proves checks can fail.
	Faults []string
	// NoFAPI tests the embedded reference OP as a plain CIBA Core OP
	// (fapi: false, a push client): embedded OP only.
	NoFAPI bool
}

// NewCmdRun builds `ciba-check run`.
func NewCmdRun(f *Factory, runF func(context.Context, *RunOptions) error) *cobra.Command {
	opts := &RunOptions{IO: f.IO, Version: f.Version, Getenv: os.Getenv}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the CIBA / FAPI-CIBA conformance suite against an OP",
		Long: `Run the conformance suite: one small check per requirement of OpenID Connect
CIBA Core 1.0 and the FAPI-CIBA profile, labelled with its spec section.

Without --target it starts the bundled reference OP and mock device on free
loopback ports with a fresh PKI and tests them. With --target it tests the
OP that target.yaml describes, driving the authentication device it names.

Checks the target cannot exercise (no ping client, a device that cannot
deny, ...) are skipped with the reason. Exit status: 0 all checks passed,
1 a check failed, 2 the target or the options are wrong.`,
		Example: `  ciba-check run
  ciba-check run --target mybank/target.yaml --json results.json --junit junit.xml
  ciba-check run --label-filter 'CIBA-7.1.1 && negative'
  ciba-check run --no-fapi --label-filter 'profile:ciba'
  ciba-check run --focus 'request object' --fail-fast`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Timeout < 0 {
				return usageErrorf("run: --timeout must not be negative, got %s", opts.Timeout)
			}
			if opts.Parallel < 1 {
				return usageErrorf("run: --parallel must be at least 1, got %d", opts.Parallel)
			}
			if opts.Target != "" && len(opts.Faults) > 0 {
				return usageErrorf("run: --fault applies only to the embedded reference OP, not to --target")
			}
			if opts.Target != "" && opts.NoFAPI {
				return usageErrorf("run: --no-fapi applies only to the embedded reference OP; with --target, set fapi: false in target.yaml")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.Target, "target", "t", "", "target.yaml of the OP to test (default: the embedded reference OP)")
	fl.StringVar(&opts.LabelFilter, "label-filter", "", "run only checks whose labels match, e.g. 'CIBA-7.1.1 && !negative'")
	fl.StringArrayVar(&opts.Focus, "focus", nil, "run only checks whose name matches this regular expression (repeatable)")
	fl.StringArrayVar(&opts.Skip, "skip", nil, "skip checks whose name matches this regular expression (repeatable)")
	fl.StringVar(&opts.JSONFile, "json", "", "write the results as JSON (schema "+reports.ConformanceSchemaV1+") to FILE")
	fl.StringVar(&opts.JUnitFile, "junit", "", "write the results as JUnit XML to FILE")
	fl.StringVar(&opts.HTMLFile, "html", "", "write a self-contained HTML report to FILE")
	fl.StringVar(&opts.MDFile, "md", "", "write a Markdown summary to FILE (appended to $GITHUB_STEP_SUMMARY anyway when that is set)")
	fl.BoolVar(&opts.FailFast, "fail-fast", false, "stop after the first failed check (checks then run one at a time)")
	fl.IntVar(&opts.Parallel, "parallel", conformance.DefaultParallel, "run up to N checks at once, never two on one test user unless target.yaml marks it shared: true (1: one after another)")
	fl.StringVar(&opts.Profile, "profile", "spec", "spec: judge by the spec text; oidf-cert: also fail what only the OIDF certification suite demands (CERT checks, else warnings)")
	fl.DurationVar(&opts.Timeout, "timeout", 0, "stop the run after this long (default: 20s per check that will run + 2m, see README)")
	fl.BoolVar(&opts.SharedFlows, "shared-flows", true, "checks that only inspect an approved flow share one per client (off: each runs its own, to measure)")
	_ = fl.MarkHidden("shared-flows")
	fl.BoolVar(&opts.NoFAPI, "no-fapi", false, "test the embedded reference OP as plain CIBA Core (fapi: false): FAPI-only checks skipped, push checks run")
	fl.StringArrayVar(&opts.Faults, "fault", nil, "switch on a reference-OP fault (embedded OP only; repeatable)")
	_ = fl.MarkHidden("fault")
	return cmd
}

func runRun(ctx context.Context, opts *RunOptions) error {
	cfg, profile, err := opts.runConfig()
	if err != nil {
		return err
	}
	started := time.Now()
	// --timeout bounds the whole run, discovery and preflight included;
	// without it the suite sets its deadline by the number of checks
	// (conformance.DefaultRunTimeout) and the setup is bounded per request.
	runCtx := ctx
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	t, env, closeEnv, err := openRunEnv(runCtx, opts, profile, started)
	if err != nil {
		return err
	}
	defer closeEnv()
	if opts.Timeout > 0 {
		left := opts.Timeout - time.Since(started)
		if left <= 0 {
			return targetErrorReports(opts, t, profile, started, &UsageError{Err: fmt.Errorf("run: --timeout %s passed before the first check", opts.Timeout)})
		}
		cfg.Timeout = left
	}
	progress := newRunProgress(opts.IO)
	cfg.Env = env
	cfg.OnStart = progress.start
	cfg.OnRunning = progress.running
	cfg.OnCheck = progress.check
	res, err := conformance.Run(cfg)
	if err != nil {
		return err
	}
	elapsed := time.Since(started)
	progress.finish()
	return finishConformanceRun(opts, res, env, t, profile, started, elapsed)
}

// runConfig maps the flags to the suite's configuration and checks that
// the report files can be written, before anything runs.
func (opts *RunOptions) runConfig() (conformance.RunConfig, string, error) {
	cfg := conformance.RunConfig{
		LabelFilter:   opts.LabelFilter,
		Focus:         opts.Focus,
		Skip:          opts.Skip,
		FailFast:      opts.FailFast,
		Timeout:       opts.Timeout,
		Parallel:      opts.Parallel,
		NoSharedFlows: !opts.SharedFlows,
	}
	profile, err := conformance.ParseProfile(opts.Profile)
	if err != nil {
		return cfg, "", &UsageError{Err: fmt.Errorf("run: %w", err)}
	}
	cfg.Profile = profile
	if err := cfg.Validate(); err != nil {
		return cfg, "", &UsageError{Err: fmt.Errorf("run: %w", err)}
	}
	for _, file := range []string{opts.JSONFile, opts.JUnitFile, opts.HTMLFile, opts.MDFile} {
		if file != "" {
			if err := checkReportWritable(file); err != nil {
				return cfg, "", &UsageError{Err: fmt.Errorf("run: %w", err)}
			}
		}
	}
	return cfg, profile, nil
}

// openRunEnv opens the target (or starts the embedded one) and the
// suite's environment and makes the preflight; every failure is a
// target error whose reports are written. closeEnv releases both.
func openRunEnv(ctx context.Context, opts *RunOptions, profile string, started time.Time) (*target.Target, *conformance.Env, func(), error) {
	t, closeTarget, err := loadRunTarget(ctx, opts)
	if err != nil {
		return nil, nil, nil, targetErrorReports(opts, nil, profile, started, err)
	}
	env, err := conformance.NewEnv(ctx, t, conformance.EnvOptions{In: opts.IO.In, Out: opts.IO.ErrOut})
	if err != nil {
		closeTarget()
		return nil, nil, nil, targetErrorReports(opts, t, profile, started, &UsageError{Err: fmt.Errorf("run: target %s: %w", t.Issuer, err)})
	}
	closeEnv := func() {
		env.Close()
		closeTarget()
	}
	for _, ep := range env.OffHost {
		fmt.Fprintf(opts.IO.ErrOut, "note: the OP's %s is on another host than the issuer %s; credentials go there\n", safetext.Line(ep), safetext.Line(t.Issuer))
	}
	// A setup mistake is not the OP's fault: a refusal that says
	// target.yaml is wrong stops the run here (exit 2, one line).
	if err := conformance.Preflight(ctx, env); err != nil {
		closeEnv()
		return nil, nil, nil, targetErrorReports(opts, t, profile, started, &UsageError{Err: fmt.Errorf("run: %w", err)})
	}
	return t, env, closeEnv, nil
}

// finishConformanceRun writes the reports, prints the summary and maps
// the verdict to the exit code. A run that stopped early (the target was
// lost, the deadline passed) leaves the verdict unknown, not failed:
// exit 2 (DESIGN.md).
func finishConformanceRun(opts *RunOptions, res *conformance.Result, env *conformance.Env, t *target.Target, profile string, started time.Time, elapsed time.Duration) error {
	info := runReportInfo(opts, t, profile, started)
	info.Duration = elapsed
	info.OffHost = env.OffHost
	var stopped error
	if lost := env.Lost(); lost != nil {
		stopped = lost
	} else if res.Stopped != "" {
		stopped = errors.New(res.Stopped)
	}
	if stopped != nil {
		info.Error = stopped.Error()
	}
	if err := writeRunReports(opts, res, info); err != nil {
		return err
	}
	printRunSummary(opts.IO.Out, res.Checks, elapsed, conformance.TargetProfile(t.FAPI))
	if stopped != nil {
		return fmt.Errorf("run: %w; the results so far are in the report files", stopped)
	}
	if !res.Passed() {
		return ErrChecksFailed
	}
	return nil
}

// runReportInfo is what the report says about the run besides its checks.
func runReportInfo(opts *RunOptions, t *target.Target, profile string, started time.Time) conformance.ReportInfo {
	info := conformance.ReportInfo{ToolVersion: opts.Version, Judging: profile, Started: started}
	if t != nil {
		info.Issuer, info.DeviceKind, info.Profile = t.Issuer, string(t.Device.Kind), conformance.TargetProfile(t.FAPI)
	}
	return info
}

// targetErrorReports writes the requested reports of a run that ended as
// a target error before any check, with that error as their verdict, and
// returns the error (exit 2): CI then has a report saying why. A report
// that cannot be written is said on stderr; the target error stays the
// run's error.
func targetErrorReports(opts *RunOptions, t *target.Target, profile string, started time.Time, runErr error) error {
	info := runReportInfo(opts, t, profile, started)
	info.Duration = time.Since(started)
	info.Error = runErr.Error()
	if err := writeRunReports(opts, &conformance.Result{}, info); err != nil {
		fmt.Fprintf(opts.IO.ErrOut, "ciba-check: %s\n", safetext.Line(err.Error()))
	}
	return runErr
}

// loadRunTarget reads --target, or starts the embedded environment and
// returns its target; the func stops what was started.
func loadRunTarget(ctx context.Context, opts *RunOptions) (*target.Target, func(), error) {
	if opts.Target != "" {
		t, err := target.Load(opts.Target)
		if err != nil {
			// target formats "FILE:LINE:COL: field: what" itself.
			return nil, nil, &UsageError{Err: err}
		}
		return t, func() {}, nil
	}
	env, err := startEmbedded(ctx, "run", devenv.Options{Faults: opts.Faults, PushAllowed: opts.NoFAPI})
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(opts.IO.ErrOut, "testing the embedded reference OP at %s as %s", env.Issuer, conformance.TargetProfile(env.Target.FAPI))
	if len(opts.Faults) > 0 {
		fmt.Fprintf(opts.IO.ErrOut, " with faults %s", strings.Join(opts.Faults, ", "))
	}
	fmt.Fprintln(opts.IO.ErrOut)
	return env.Target, func() { _ = closeEmbedded(env) }, nil
}

// checkReportWritable fails early when a report file cannot be created, rather
// than after a long run.
func checkReportWritable(path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("report file %s: %w", path, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("report file %s: %s is not a directory", path, dir)
	}
	return nil
}

func writeRunReports(opts *RunOptions, res *conformance.Result, info conformance.ReportInfo) error {
	if opts.JSONFile != "" {
		var doc bytes.Buffer
		if err := conformance.WriteJSON(&doc, res.Checks, info); err != nil {
			return fmt.Errorf("run: encoding results: %w", err)
		}
		if err := os.WriteFile(opts.JSONFile, doc.Bytes(), 0o644); err != nil {
			return fmt.Errorf("run: writing %s: %w", opts.JSONFile, err)
		}
		// Announced as every other written report is (writeOutput).
		fmt.Fprintf(opts.IO.ErrOut, "wrote %s\n", opts.JSONFile)
	}
	stepSummary := opts.Getenv != nil && opts.Getenv(envStepSummary) != ""
	if opts.JUnitFile == "" && opts.HTMLFile == "" && opts.MDFile == "" && !stepSummary {
		return nil
	}
	// Every other format renders from the one report model (reports/),
	// mapped as `report render` maps the JSON file, so it later gives
	// the same files.
	m, err := conformance.RunModel(res.Checks, info)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	return writeReportOutputs(opts.IO, opts.Getenv, m, ReportOutputs{
		HTML: opts.HTMLFile, JUnit: opts.JUnitFile, Markdown: opts.MDFile, StepSummary: stepSummary,
	})
}
