package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ciba-check/ciba-check/reports"
)

// envStepSummary is the file GitHub Actions shows as the step's summary.
const envStepSummary = "GITHUB_STEP_SUMMARY"

// NewCmdReport builds `ciba-check report` and its subcommands.
func NewCmdReport(f *Factory, runF func(*ReportRenderOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Render and compare saved results (HTML, JUnit XML, JSON, Markdown)",
		Long: `Work with the JSON results that run --json and load --json write, or with a
report model that report render --json wrote.

  render  combine result files into one report: a self-contained HTML page,
          JUnit XML for CI test reporters, a Markdown summary, a JSON model
  diff    compare two results: changed verdicts, new and fixed failures, load
          metrics that moved; exit 1 on a regression`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return &UsageError{Err: errors.New("report: name a subcommand: render or diff (see ciba-check report --help)")}
		},
	}
	cmd.AddCommand(NewCmdReportRender(f, runF), NewCmdReportDiff(f, nil))
	return cmd
}

// ReportRenderOptions are the inputs of `ciba-check report render`.
type ReportRenderOptions struct {
	IO *IOStreams
	// Getenv reads the environment ($GITHUB_STEP_SUMMARY); tests replace it.
	Getenv func(string) string

	Inputs      []string
	HTMLFile    string
	MarkdownOut string
	JUnitFile   string
	JSONFile    string
	MDLimit     int
	StepSummary bool
}

// NewCmdReportRender builds `ciba-check report render`.
func NewCmdReportRender(f *Factory, runF func(*ReportRenderOptions) error) *cobra.Command {
	opts := &ReportRenderOptions{IO: f.IO, Getenv: os.Getenv}
	cmd := &cobra.Command{
		Use:   "render FILE...",
		Short: "Render saved results as HTML, JUnit XML, Markdown or a JSON report model",
		Long: `Read one or more JSON results and write them as one report.

Inputs may be conformance results (run --json, schema ciba-check/conformance/v1),
load summaries (load --json, schema ciba-check/load/v1) or report models
(render --json, schema ciba-check/report/v1), in any mix: a conformance run and
load runs combine into one report.

The HTML report is one self-contained file (no network, works offline, printed
and with JavaScript off). The Markdown summary stays under --md-limit bytes
(GitHub drops a step summary over 1 MiB), listing failures first; appended
with --step-summary it is shortened further to fit what the step's summary
file already holds. "-" as
--md or --json writes to standard output.`,
		Example: `  ciba-check report render results.json --html report.html
  ciba-check report render results.json load-poll.json load-ping.json \
      --html report.html --junit junit.xml --md summary.md
  ciba-check report render results.json --step-summary   # in GitHub Actions`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("report render: give at least one JSON result file")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Inputs = args
			if opts.HTMLFile == "" && opts.MarkdownOut == "" && opts.JUnitFile == "" && opts.JSONFile == "" && !opts.StepSummary {
				return usageErrorf("report render: nothing to write: give --html, --junit, --md, --json or --step-summary")
			}
			if opts.MarkdownOut == "-" && opts.JSONFile == "-" {
				return usageErrorf("report render: --md and --json cannot both write to standard output")
			}
			if opts.MDLimit < 0 {
				return usageErrorf("report render: --md-limit must be a positive number of bytes, got %d", opts.MDLimit)
			}
			if runF != nil {
				return runF(opts)
			}
			return runReportRender(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.HTMLFile, "html", "", "write the self-contained HTML report to `FILE`")
	fl.StringVar(&opts.JUnitFile, "junit", "", "write JUnit XML to `FILE`")
	fl.StringVar(&opts.MarkdownOut, "md", "", "write the Markdown summary to `FILE` (- for standard output)")
	fl.StringVar(&opts.JSONFile, "json", "", "write the combined report model (schema "+reports.SchemaVersion+") to `FILE` (- for standard output)")
	fl.IntVar(&opts.MDLimit, "md-limit", reports.StepSummaryLimit, "largest Markdown summary in bytes (65536 fits a PR comment)")
	fl.BoolVar(&opts.StepSummary, "step-summary", false, "append the Markdown summary to $"+envStepSummary+" (GitHub Actions)")
	return cmd
}

func runReportRender(opts *ReportRenderOptions) error {
	m, err := readReports(opts.Inputs)
	if err != nil {
		return err
	}
	out := ReportOutputs{
		HTML: opts.HTMLFile, JUnit: opts.JUnitFile, JSON: opts.JSONFile, Markdown: opts.MarkdownOut,
		MDLimit: opts.MDLimit, StepSummary: opts.StepSummary,
	}
	if err := writeReportOutputs(opts.IO, opts.Getenv, m, out); err != nil {
		return err
	}
	printVerdict(opts.IO.ErrOut, m)
	return nil
}

// ReportOutputs says which report files to write; empty paths are
// skipped, "-" is standard output (JSON and Markdown).
type ReportOutputs struct {
	HTML, JUnit, JSON, Markdown string
	// MDLimit bounds the Markdown (0: reports.StepSummaryLimit).
	MDLimit int
	// StepSummary appends the Markdown to $GITHUB_STEP_SUMMARY; it is an
	// error when that is not set.
	StepSummary bool
}

// writeReportOutputs renders m into every output asked for. run and load
// call it too (with StepSummary set when $GITHUB_STEP_SUMMARY is).
func writeReportOutputs(ios *IOStreams, getenv func(string) string, m *reports.Model, out ReportOutputs) error {
	var md []byte
	if out.Markdown != "" || out.StepSummary {
		var buf bytes.Buffer
		if err := reports.RenderMarkdown(&buf, m, out.MDLimit); err != nil {
			return &UsageError{Err: fmt.Errorf("report: %w", err)}
		}
		md = buf.Bytes()
	}
	files := []struct {
		path   string
		render func(io.Writer) error
	}{
		{out.HTML, func(w io.Writer) error { return reports.RenderHTML(w, m) }},
		{out.JUnit, func(w io.Writer) error { return reports.RenderJUnit(w, m) }},
		{out.JSON, func(w io.Writer) error { return reports.RenderJSON(w, m) }},
		{out.Markdown, func(w io.Writer) error { _, err := w.Write(md); return err }},
	}
	for _, f := range files {
		if f.path == "" {
			continue
		}
		if err := writeOutput(ios, f.path, f.render); err != nil {
			return err
		}
	}
	if out.StepSummary {
		path := getenv(envStepSummary)
		if path == "" {
			return usageErrorf("report: --step-summary: $%s is not set (it is set inside GitHub Actions jobs)", envStepSummary)
		}
		if err := appendStepSummary(ios, path, m, out.MDLimit, md); err != nil {
			return fmt.Errorf("report: appending to $%s: %w", envStepSummary, err)
		}
	}
	return nil
}

// appendStepSummary appends the Markdown summary to path within what is
// left of GitHub's per-step limit: earlier commands of the same step may
// have written to it already, and past the limit GitHub drops the whole
// summary, theirs included. md is the summary rendered within limit; it
// is rendered again, shorter, when less room is left. With too little
// room for any summary it warns and appends nothing.
func appendStepSummary(ios *IOStreams, path string, m *reports.Model, limit int, md []byte) error {
	var used int64
	switch st, err := os.Stat(path); {
	case err == nil:
		used = st.Size()
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	room := int64(reports.StepSummaryLimit) - used
	if limit <= 0 || int64(limit) > reports.StepSummaryLimit {
		limit = reports.StepSummaryLimit
	}
	if room < int64(len(md)) {
		var buf bytes.Buffer
		if room <= 0 || reports.RenderMarkdown(&buf, m, int(min(room, int64(limit)))) != nil {
			fmt.Fprintf(ios.ErrOut, "warning: $%s already holds %d bytes; GitHub's limit of %d per step leaves no room for the summary, so none was appended\n",
				envStepSummary, used, reports.StepSummaryLimit)
			return nil
		}
		md = buf.Bytes()
	}
	return appendFile(path, md)
}

// readReports decodes every input and merges them in the order given.
func readReports(paths []string) (*reports.Model, error) {
	models := make([]*reports.Model, 0, len(paths))
	for _, p := range paths {
		m, err := readReport(p)
		if err != nil {
			return nil, err
		}
		models = append(models, m)
	}
	return reports.Merge(models...), nil
}

func readReport(path string) (*reports.Model, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, usageErrorf("report: %s: no such file", path)
		}
		return nil, &UsageError{Err: fmt.Errorf("report: %w", err)}
	}
	defer f.Close()
	m, err := reports.Decode(f)
	if err != nil {
		return nil, &UsageError{Err: fmt.Errorf("%s: %w", path, err)}
	}
	return m, nil
}

// writeOutput renders into memory first, so a failed render never leaves
// half a file, then writes path ("-": standard output).
func writeOutput(ios *IOStreams, path string, render func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := render(&buf); err != nil {
		return fmt.Errorf("report: rendering %s: %w", path, err)
	}
	if path == "-" {
		_, err := ios.Out.Write(buf.Bytes())
		return err
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return &UsageError{Err: fmt.Errorf("report: %w", err)}
	}
	fmt.Fprintf(ios.ErrOut, "wrote %s\n", path)
	return nil
}

func appendFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	return errors.Join(err, f.Close())
}

// printVerdict says in one line what the report holds.
func printVerdict(w io.Writer, m *reports.Model) {
	verdict := string(m.Verdict())
	switch m.Verdict() {
	case reports.VerdictEmpty:
		verdict = "no results"
	case reports.VerdictUnjudged:
		verdict = "not judged"
	}
	var parts []string
	if len(m.Checks) > 0 {
		c := m.Counts()
		parts = append(parts, fmt.Sprintf("%d passed, %s, %d failed, %d skipped", c.Passed, reports.Count(c.Warnings, "warning", "warnings"), c.Failed, c.Skipped))
	}
	if len(m.Load) > 0 {
		parts = append(parts, m.LoadVerdictLine())
		for i := range m.Load {
			for _, w := range m.Load[i].Warnings() {
				parts = append(parts, "warning: "+m.Load[i].Label()+": "+w)
			}
		}
	}
	line := "report: " + verdict
	if len(parts) > 0 {
		line += " (" + strings.Join(parts, "; ") + ")"
	}
	fmt.Fprintln(w, line)
}

// ReportDiffOptions are the inputs of `ciba-check report diff`.
type ReportDiffOptions struct {
	IO          *IOStreams
	Old, New    string
	Tolerance   float64
	MarkdownOut string
}

// NewCmdReportDiff builds `ciba-check report diff`.
func NewCmdReportDiff(f *Factory, runF func(*ReportDiffOptions) error) *cobra.Command {
	opts := &ReportDiffOptions{IO: f.IO}
	var tolerance string
	cmd := &cobra.Command{
		Use:   "diff OLD.json NEW.json",
		Short: "Compare two results: new and fixed failures, load metrics that moved",
		Long: `Compare two JSON results (any kind report render reads), e.g. a pull
request's run against the main branch's last report.

It lists checks whose verdict changed (new failures, fixed, others), checks
added or removed, and per load run the achieved rate, p50 and p99 latency and
error rate with the change in percent. Checks that passed (or warned) before
and are skipped now lost coverage: nothing is known of that requirement any
more, so they are a regression with a section of their own. Exit status 1 on
a regression: a new failure, lost coverage, or a load metric worse than
--tolerance; 0 otherwise; 2 when a file cannot be read or the two hold
different kinds of results (a conformance run vs load runs).`,
		Example: `  ciba-check report diff main.json pr.json
  ciba-check report diff main.json pr.json --tolerance 5% --md diff.md`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageErrorf("report diff: give two files, OLD and NEW; got %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Old, opts.New = args[0], args[1]
			t, err := parseTolerance(tolerance)
			if err != nil {
				return &UsageError{Err: fmt.Errorf("report diff: --tolerance: %w", err)}
			}
			opts.Tolerance = t
			if runF != nil {
				return runF(opts)
			}
			return runReportDiff(opts)
		},
	}
	cmd.Flags().StringVar(&tolerance, "tolerance", "10%", "how much worse a load metric may get before it counts as a regression (e.g. 5% or 0.05)")
	cmd.Flags().StringVar(&opts.MarkdownOut, "md", "", "also write the diff as Markdown to `FILE` (- for standard output)")
	return cmd
}

// parseTolerance reads "10%" or a fraction such as "0.1".
func parseTolerance(s string) (float64, error) {
	s = strings.TrimSpace(s)
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a percentage such as 10%% or a fraction such as 0.1", s)
	}
	if pct {
		v /= 100
	} else if v > 1 {
		return 0, fmt.Errorf("%q is ambiguous: write %s%% for a percentage, or a fraction up to 1", s, s)
	}
	if v <= 0 || v > 10 {
		return 0, fmt.Errorf("%q must be more than 0%% and at most 1000%%", s)
	}
	return v, nil
}

func runReportDiff(opts *ReportDiffOptions) error {
	old, err := readReport(opts.Old)
	if err != nil {
		return err
	}
	new, err := readReport(opts.New)
	if err != nil {
		return err
	}
	if err := reports.Comparable(old, new); err != nil {
		return usageErrorf("report diff: %s vs %s: %v", opts.Old, opts.New, err)
	}
	d := reports.Compare(old, new, opts.Tolerance)
	if err := reports.RenderDiffText(opts.IO.Out, d); err != nil {
		return err
	}
	if opts.MarkdownOut != "" {
		if err := writeOutput(opts.IO, opts.MarkdownOut, func(w io.Writer) error { return reports.RenderDiffMarkdown(w, d, 0) }); err != nil {
			return err
		}
	}
	if d.Regressed() {
		return ErrChecksFailed
	}
	return nil
}
