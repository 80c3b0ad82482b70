package conformance

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/formatter"
	"github.com/onsi/ginkgo/v2/types"

	"github.com/ciba-check/ciba-check/internal/target"
)

// SuiteName is the Ginkgo suite description.
const SuiteName = "ciba-check conformance"

// RunConfig selects and bounds a run.
type RunConfig struct {
	Env *Env
	// LabelFilter is a Ginkgo label filter, e.g. "CIBA-7.1.1 && !negative".
	LabelFilter string
	// Focus and Skip are regular expressions on check names.
	Focus, Skip []string
	FailFast    bool
	// Profile is ProfileSpec (judge by the spec text) or ProfileOIDFCert
	// (also fail what only the OIDF certification suite demands).
	Profile string
	// Timeout bounds the whole run; 0 means DefaultRunTimeout for the
	// number of checks that will run.
	Timeout time.Duration
	// CheckTimeout bounds one check; 0 means DefaultCheckTimeout.
	CheckTimeout time.Duration
	// OnStart is told how many checks will run; OnCheck gets each result
	// as it finishes (progress output).
	OnStart func(total int)
	// OnCheckStart is told the name of each check about to run.
	OnCheckStart func(name string)
	OnCheck      func(CheckResult)
	// Parallel is how many checks may run at once (schedule.go); 0 or 1
	// runs them one after another. The manual device driver and
	// FailFast always run one at a time.
	Parallel int
	// OnRunning, when set, is told the checks running at the moment
	// (in the order they started) whenever that set changes; calls do
	// not overlap.
	OnRunning func(names []string)
	// NoSharedFlows gives every check its own approved flow, as before
	// shared flows (for measuring what they save; hidden run flag).
	NoSharedFlows bool
}

// Validate checks the filter expressions before Ginkgo sees them:
// Ginkgo exits the process on a bad configuration.
func (c RunConfig) Validate() error {
	if c.LabelFilter != "" {
		if _, err := types.ParseLabelFilter(c.LabelFilter); err != nil {
			return &target.ConfigError{Err: fmt.Errorf("--label-filter %q: %v", c.LabelFilter, firstLine(err.Error()))}
		}
	}
	for _, set := range []struct {
		flag string
		res  []string
	}{{"--focus", c.Focus}, {"--skip", c.Skip}} {
		for _, re := range set.res {
			if _, err := regexp.Compile(re); err != nil {
				return &target.ConfigError{Err: fmt.Errorf("%s %q: %v", set.flag, re, err)}
			}
		}
	}
	if _, err := ParseProfile(c.Profile); err != nil {
		return &target.ConfigError{Err: err}
	}
	if c.Parallel < 0 {
		return &target.ConfigError{Err: fmt.Errorf("--parallel must be at least 1, got %d", c.Parallel)}
	}
	if c.Timeout < 0 || c.CheckTimeout < 0 {
		return &target.ConfigError{Err: errors.New("timeouts must not be negative")}
	}
	return nil
}

// ansiEscape matches terminal colour sequences (ESC [ ... m).
var ansiEscape = regexp.MustCompile("\x1b\\[[0-9;]*m")

func firstLine(s string) string {
	// Ginkgo colours its errors with ANSI escapes; our one-line messages
	// go to logs and pipes as plain text.
	s = strings.TrimSpace(ansiEscape.ReplaceAllString(s, ""))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// A check's Outcome is Ginkgo's spec state ("failed", "panicked",
// "timedout", "interrupted", "aborted", "pending") or one of the report
// model's outcomes (reports.Passed, reports.Warning, reports.Skipped):
// the one list of check outcomes.

// selector decides, as Ginkgo does, whether the filters select a check:
// Ginkgo reports unselected checks and checks skipped by an early stop
// alike.
type selector struct {
	labels      func([]string) bool
	focus, skip []*regexp.Regexp
}

func newSelector(c RunConfig) selector {
	s := selector{labels: func([]string) bool { return true }}
	if c.LabelFilter != "" {
		if f, err := types.ParseLabelFilter(c.LabelFilter); err == nil {
			s.labels = f
		}
	}
	for _, re := range c.Focus {
		s.focus = append(s.focus, regexp.MustCompile(re))
	}
	for _, re := range c.Skip {
		s.skip = append(s.skip, regexp.MustCompile(re))
	}
	return s
}

func (s selector) selected(c CheckResult) bool {
	text := strings.TrimSpace(strings.ReplaceAll(c.Section, " / ", " ") + " " + c.Name)
	if !s.labels(c.Labels) {
		return false
	}
	if len(s.focus) > 0 && !slices.ContainsFunc(s.focus, func(re *regexp.Regexp) bool { return re.MatchString(text) }) {
		return false
	}
	return !slices.ContainsFunc(s.skip, func(re *regexp.Regexp) bool { return re.MatchString(text) })
}

func suiteConfig(c RunConfig) types.SuiteConfig {
	sc := types.NewDefaultSuiteConfig()
	sc.LabelFilter = c.LabelFilter
	sc.FocusStrings = c.Focus
	sc.SkipStrings = c.Skip
	sc.FailFast = c.FailFast
	// A fixed seed keeps the order of sections stable between runs.
	sc.RandomSeed = 1
	// The run's own deadline (Framework.setDeadline) ends it; Ginkgo's
	// is only a backstop one check timeout later, so that what the
	// deadline cut short is reported as such rather than as Ginkgo's
	// interruption.
	check := c.CheckTimeout
	if check <= 0 {
		check = DefaultCheckTimeout
	}
	sc.Timeout = 24 * time.Hour
	if c.Timeout > 0 {
		sc.Timeout = c.Timeout + check + time.Minute
	}
	return sc
}

func reporterConfig() types.ReporterConfig {
	rc := types.NewDefaultReporterConfig()
	rc.NoColor = true
	rc.Succinct = true
	return rc
}

type failRecorder struct{ failed bool }

func (f *failRecorder) Fail() { f.failed = true }

// Run builds the suite and runs it once against cfg.Env. Ginkgo allows
// one run per process: a second call ends the process, so callers must
// make it their only run (`ciba-check run`).
func Run(cfg RunConfig) (*Result, error) {
	if cfg.Env == nil {
		return nil, errors.New("conformance: Run needs an Env")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	fw := newFramework(cfg.Env, cfg.CheckTimeout, cfg.Profile)
	if err := buildTree(fw); err != nil {
		return nil, err
	}
	fw.run = newRunState(cfg.Env, fw.checkTimeout)
	defer fw.run.stop()
	fw.run.running = newRunningSet(cfg.OnRunning)
	fw.run.noSharing = cfg.NoSharedFlows
	var report types.Report
	fw.reportTo(cfg, &report)
	// Ginkgo's console reporter writes to this writer; our progress and
	// summary replace it.
	formatter.ColorableStdOut = io.Discard
	var t failRecorder
	ginkgo.RunSpecs(&t, SuiteName, suiteConfig(cfg), reporterConfig())
	return fw.result(cfg, report), nil
}

// reportTo registers the run's Ginkgo report hooks: the deadline and the
// scheduler start when the tree is built, progress goes to cfg's
// callbacks, and the final report to *report.
func (fw *Framework) reportTo(cfg RunConfig, report *types.Report) {
	ginkgo.ReportBeforeSuite(func(r ginkgo.Report) {
		n := r.PreRunStats.SpecsThatWillRun
		limit := cfg.Timeout
		how := fmt.Sprintf("%s (--timeout)", limit.Round(time.Second))
		if limit == 0 {
			limit = DefaultRunTimeout(n, cfg.CheckTimeout)
			how = fmt.Sprintf("%s (%d checks × %s + one check timeout; --timeout sets another)", limit, n, CheckBudget)
		}
		fw.setDeadline(time.Now().Add(limit), how)
		// Ginkgo runs the container bodies, which register the checks,
		// when RunSpecs builds the tree: the scheduler starts after.
		startScheduler(fw, cfg)
		if cfg.OnStart != nil {
			cfg.OnStart(r.PreRunStats.SpecsThatWillRun)
		}
	})
	ginkgo.ReportBeforeEach(func(r ginkgo.SpecReport) {
		if cfg.OnCheckStart != nil && r.LeafNodeType == types.NodeTypeIt && !r.State.Is(types.SpecStateSkipped) {
			cfg.OnCheckStart(r.LeafNodeText)
		}
	})
	ginkgo.ReportAfterEach(func(r ginkgo.SpecReport) {
		if cfg.OnCheck != nil && r.LeafNodeType == types.NodeTypeIt {
			if c := checkResult(r); c.SkipReason != NotSelected {
				cfg.OnCheck(c)
			}
		}
	})
	ginkgo.ReportAfterSuite("ciba-check report", func(r ginkgo.Report) { *report = r })
}

// result turns Ginkgo's report into the run's result: every check with
// its basis, selected checks the run stopped before marked NotRun, and
// the deadline's toll.
func (fw *Framework) result(cfg RunConfig, report types.Report) *Result {
	checks := checkResults(report)
	fw.attachBasis(checks)
	sel := newSelector(cfg)
	for i := range checks {
		if checks[i].SkipReason == NotSelected && sel.selected(checks[i]) {
			checks[i].SkipReason = NotRun
		}
	}
	res := &Result{Report: report, Checks: checks}
	stopped := 0
	for _, c := range checks {
		if strings.HasPrefix(c.SkipReason, DeadlineReached) {
			stopped++
		}
	}
	if stopped > 0 {
		_, limit := fw.deadline()
		res.Stopped = fmt.Sprintf("the run reached its deadline of %s: %d checks were not run or cut short", limit, stopped)
	}
	return res
}

// Preview builds the suite without an environment and returns its
// checks as a dry run would list them; it does not count as Ginkgo's run
// but registers the specs, so a process calls Preview or Run, not both.
func Preview() (*Result, error) {
	fw := newFramework(nil, 0, ProfileSpec)
	if err := buildTree(fw); err != nil {
		return nil, err
	}
	formatter.ColorableStdOut = io.Discard
	report := ginkgo.PreviewSpecs(SuiteName, suiteConfig(RunConfig{}), reporterConfig())
	checks := checkResults(report)
	fw.attachBasis(checks)
	return &Result{Report: report, Checks: checks}, nil
}
