package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/devenv"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/internal/targetclient"
	"github.com/ciba-check/ciba-check/reports"
	"github.com/ciba-check/ciba-check/suites/load"
)

// runLoad opens the target (target.yaml, or the embedded reference OP
// started for the run) as a session, runs the plan the flags describe
// and renders the summaries.
func runLoad(ctx context.Context, o *LoadOptions) error {
	name := "load " + o.Subcommand
	t, closeOP, err := openLoadTarget(ctx, o)
	if err != nil {
		return err
	}
	defer closeOP()
	plan := o.plan()
	plan.IncludesTarget = o.TargetPath == ""
	s, err := targetclient.Open(ctx, t, plan.SessionOptions(o.IO.In, o.IO.ErrOut))
	if err != nil {
		var insecure *targetclient.InsecureURLError
		if errors.As(err, &insecure) {
			return &UsageError{Err: fmt.Errorf("%s: target %s: %w", name, t.Issuer, err)}
		}
		return &UsageError{Err: fmt.Errorf("%s: %w", name, err)}
	}
	defer s.Close()
	sums, err := load.Run(ctx, s, plan)
	if sums == nil {
		return &UsageError{Err: fmt.Errorf("%s: %w", name, err)}
	}
	return finishRun(o, sums, o.jsonPaths(plan.Modes), err)
}

// openLoadTarget loads --target, or starts the embedded reference OP;
// closeOP stops it.
func openLoadTarget(ctx context.Context, o *LoadOptions) (t *target.Target, closeOP func(), err error) {
	name := "load " + o.Subcommand
	if o.TargetPath != "" {
		if t, err = target.Load(o.TargetPath); err != nil {
			return nil, nil, &UsageError{Err: fmt.Errorf("%s: %w", name, err)}
		}
		return t, func() {}, nil
	}
	env, err := startEmbedded(ctx, name, devenv.Options{Interval: o.Interval, PushAllowed: o.NoFAPI})
	if err != nil {
		return nil, nil, err
	}
	return env.Target, func() { _ = closeEmbedded(env) }, nil
}

// plan maps the flags to a load.Plan.
func (o *LoadOptions) plan() load.Plan {
	p := load.Plan{
		Poll:     o.Subcommand == "poll",
		ClientID: o.ClientID, Auth: o.Auth, User: o.User,
		Rate: o.Rate, Duration: o.Duration, Pending: o.Pending,
		ApproveDelay: o.ApproveDelay, MaxInFlight: o.MaxInFlight,
		Transport: load.TransportOptions{
			NoKeepAlive: o.NoKeepAlive, HTTP1: o.HTTP1, Timeout: o.Timeout,
			MaxConns: o.MaxConns, StreamsPerConn: o.MaxStreams, MaxBody: o.MaxBody, SeqHeader: o.SeqHeader,
		},
		Shard: o.Shard, Thresholds: o.Thresholds, AbortOnFail: o.AbortOnFail,
		KeepSecrets: o.KeepSecrets, StartAt: o.StartAt, Output: o.Output,
	}
	p.Modes = flowModes(o.Mode)
	if !o.Quiet {
		p.Log, p.Progress = o.IO.ErrOut, &load.Progress{W: o.IO.ErrOut, TTY: o.IO.IsStderrTTY()}
	}
	return p
}

// jsonPaths are the --json files of the runs of modes: with several,
// each gets its mode.
func (o *LoadOptions) jsonPaths(modes []ciba.DeliveryMode) []string {
	if len(modes) < 2 {
		return []string{o.JSONPath}
	}
	paths := make([]string, len(modes))
	for i, m := range modes {
		paths[i] = load.Suffixed(o.JSONPath, string(m))
	}
	return paths
}

func writeSummaryJSON(path string, s *reports.LoadRun, version string) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	return errors.Join(reports.WriteLoadJSON(f, s, version), f.Close())
}

// finishRun prints the summaries, writes the JSON files and the reports,
// and maps the verdict to the exit code.
func finishRun(o *LoadOptions, sums []*reports.LoadRun, jsonPaths []string, runErr error) error {
	var runs []reports.LoadRun
	passed, interrupted := true, false
	for _, s := range sums {
		if s != nil {
			interrupted = interrupted || s.Aborted == load.AbortInterrupted
			passed = passed && s.Passed
			runs = append(runs, *s)
		}
	}
	m := reports.LoadModel(o.Version, runs...)
	if err := reports.RenderLoadText(o.IO.Out, m); err != nil {
		return err
	}
	for i, s := range sums {
		if s == nil {
			continue
		}
		if err := writeSummaryJSON(jsonPaths[i], s, o.Version); err != nil {
			return &UsageError{Err: err}
		}
	}
	if err := writeLoadReports(o, m); err != nil {
		return err
	}
	if runErr != nil {
		return fmt.Errorf("load %s: %w", o.Subcommand, runErr)
	}
	if interrupted {
		// Not a pass: the run measured less than it was asked to.
		fmt.Fprintln(o.IO.ErrOut, "ciba-check: load: interrupted before the end of the run: no verdict (exit 130)")
		return ErrInterrupted
	}
	if !passed {
		return ErrChecksFailed
	}
	return nil
}

// writeLoadReports renders the runs into the HTML and Markdown reports,
// poll and ping side by side when both ran, and appends the Markdown to
// $GITHUB_STEP_SUMMARY when that is set.
func writeLoadReports(o *LoadOptions, m *reports.Model) error {
	stepSummary := o.Getenv != nil && o.Getenv(envStepSummary) != ""
	if (o.HTMLPath == "" && o.MDPath == "" && !stepSummary) || len(m.Load) == 0 {
		return nil
	}
	return writeReportOutputs(o.IO, o.Getenv, m, ReportOutputs{
		HTML: o.HTMLPath, Markdown: o.MDPath, StepSummary: stepSummary,
	})
}

func runLoadMerge(o *LoadOptions) error {
	var inputs []load.MergeInput
	for _, path := range o.Inputs {
		f, err := os.Open(path)
		if err != nil {
			return &UsageError{Err: fmt.Errorf("load merge: %w", err)}
		}
		defer f.Close()
		inputs = append(inputs, load.MergeInput{Name: path, R: bufio.NewReaderSize(f, 1<<20)})
	}
	out, err := load.CreateResults(o.Output)
	if err != nil {
		return &UsageError{Err: err}
	}
	sum, err := load.Merge(inputs, load.MergeOptions{Thresholds: o.Thresholds, Output: out.Writer()})
	if cerr := out.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return &UsageError{Err: fmt.Errorf("load merge: %w", err)}
	}
	return finishRun(o, []*reports.LoadRun{sum}, []string{o.JSONPath}, nil)
}
