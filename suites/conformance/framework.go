package conformance

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2"
)

// Spec is the body of one check. ctx ends when the check times out or
// the run is interrupted; f is the check's own fixture.
type Spec func(ctx context.Context, f *Fixture)

// DefaultCheckTimeout bounds one check, waits for expiry included.
const DefaultCheckTimeout = 2 * time.Minute

// CheckBudget is what a check is allowed on average in a run without
// --timeout: a check against a working OP takes well under a second to a
// few poll intervals (interval 5 s, slow_down +5 s); an OP that does not
// answer costs the client's 30 s request timeout per request.
const CheckBudget = 20 * time.Second

// DefaultRunTimeout is the run's deadline when none is given: CheckBudget
// per check that will run, plus one check timeout for the longest single
// legitimate wait (a check waiting out an auth_req_id's expiry, bounded by
// the check timeout). 100 checks: 100 × 20 s + 2 min = 35 min 20 s; one
// check: 2 min 20 s. --timeout replaces it.
func DefaultRunTimeout(checks int, checkTimeout time.Duration) time.Duration {
	if checkTimeout <= 0 {
		checkTimeout = DefaultCheckTimeout
	}
	return time.Duration(checks)*CheckBudget + checkTimeout
}

// DeadlineReached starts the skip reason of a check the run's deadline
// left unrun, or cut short without an answer.
const DeadlineReached = "not run: the run reached its deadline of "

// Framework registers checks and hands each its fixture, as Kubernetes'
// e2e framework does (NewDefaultFramework + ConformanceIt): a BeforeEach
// builds a fresh Fixture, DeferCleanup tears it down.
type Framework struct {
	env          *Env // nil when previewing
	checkTimeout time.Duration
	profile      string
	// blocks are the comment blocks of the checks, by name: the basis a
	// failure quotes.
	blocks  map[string]DocBlock
	current *Fixture
	names   map[string]bool
	errs    []error
	// sections is the Describe texts around the check being registered.
	sections []string
	// checks are the registered checks in spec order, for the
	// scheduler; run and sched are set by Run (schedule.go).
	checks []registered
	run    *runState
	sched  *scheduler

	// The run's deadline (zero: none), set when the run starts
	// (setDeadline).
	runMu       sync.Mutex
	runDeadline time.Time
	runLimit    string
}

// registered is one check as the scheduler sees it.
type registered struct {
	name, section string
	labels        []string
	sharesFlow    bool
	slow          bool
	body          func(ctx context.Context, f *Fixture)
}

// setDeadline makes the run end at dl; limit says how it was set, for
// the skip reasons and the report.
func (fw *Framework) setDeadline(dl time.Time, limit string) {
	fw.runMu.Lock()
	defer fw.runMu.Unlock()
	fw.runDeadline, fw.runLimit = dl, limit
}

// deadline is the run's deadline and how it was set.
func (fw *Framework) deadline() (time.Time, string) {
	fw.runMu.Lock()
	defer fw.runMu.Unlock()
	return fw.runDeadline, fw.runLimit
}

func newFramework(env *Env, checkTimeout time.Duration, profile string) *Framework {
	if checkTimeout <= 0 {
		checkTimeout = DefaultCheckTimeout
	}
	fw := &Framework{env: env, checkTimeout: checkTimeout, profile: profile, names: map[string]bool{}}
	blocks, err := readDocBlocks(checkSources)
	if err != nil {
		fw.errs = append(fw.errs, err)
	}
	fw.blocks = blocks
	ginkgo.BeforeEach(func() {
		f := newFixture(fw.env)
		f.run = fw.run
		fw.current = f
		ginkgo.DeferCleanup(func() {
			f.cleanup()
			fw.current = nil
		})
	})
	return fw
}

// ConformanceIt registers one check: a Ginkgo It labelled with the
// decorators' spec sections, modes, auth methods, "negative" and OIDF
// modules, located at the caller. Names are unique across the suite.
func (fw *Framework) ConformanceIt(name string, spec Spec, decorators ...Decorator) {
	labels := labelsOf(decorators)
	if err := validateLabels(name, labels); err != nil {
		fw.errs = append(fw.errs, err)
	}
	if fw.names[name] {
		fw.errs = append(fw.errs, fmt.Errorf("check %q is registered twice", name))
	}
	fw.names[name] = true
	meta := Classify(labels)
	// The profile labels come from the Refs and Modes, never by hand, so
	// that --label-filter 'profile:ciba' selects exactly what runs under
	// fapi: false (profileLabels).
	profiles := profileLabels(meta)
	if slices.Contains(labels, LabelProfileFAPICIBA) { // FAPIOnly
		profiles = []string{LabelProfileFAPICIBA}
	} else {
		labels = append(labels, profiles...)
	}
	// A CERT-level expectation warns, unless the run is judged by the
	// certification profile, where it fails as a MUST does.
	should := meta.Should || (meta.Cert && fw.profile != ProfileOIDFCert)
	body := fw.checkBody(spec, meta, profiles, should, basisLine(fw.blocks[name]))
	fw.checks = append(fw.checks, registered{name: name, section: strings.Join(fw.sections, " / "), labels: labels, sharesFlow: slices.Contains(decorators, SharesFlow), slow: slices.Contains(decorators, Slow), body: body})
	ginkgo.It(name, labels, ginkgo.Offset(1), ginkgo.NodeTimeout(fw.checkTimeout), func(ctx ginkgo.SpecContext) {
		if err := fw.env.Lost(); err != nil {
			ginkgo.AbortSuite(err.Error())
		}
		if fw.sched != nil {
			if rec := fw.sched.claim(ctx, name); rec != nil {
				replay(ctx, rec)
				return
			}
		}
		fw.run.running.add(name)
		defer fw.run.running.remove(name)
		body(ctx, fw.current)
	})
}

// checkBody is the check as it runs, in its spec or ahead in a worker of
// the parallel scheduler (schedule.go): bounded by the run's deadline,
// skipped outside its profile, and run under runShould when it warns.
func (fw *Framework) checkBody(spec Spec, meta Meta, profiles []string, should bool, basis string) func(ctx context.Context, f *Fixture) {
	return func(ctx context.Context, f *Fixture) {
		// The run's deadline bounds every check: past it, the check is
		// not started; a check running when it passes sees its requests
		// end there (reported as not answered in time, never as a
		// refusal or an unreachable OP).
		runCtx := ctx
		if dl, limit := fw.deadline(); !dl.IsZero() {
			if !time.Now().Before(dl) {
				f.skip(DeadlineReached + limit)
			}
			c, cancel := context.WithDeadline(ctx, dl)
			defer cancel()
			runCtx = c
			f.runDeadline, f.runLimit = dl, limit
		}
		f.ctx = runCtx
		f.deadline = time.Now().Add(fw.checkTimeout)
		f.should = should
		f.basis = basis
		f.certFails = fw.profile == ProfileOIDFCert
		if !fw.env.Target.FAPI && !slices.Contains(profiles, LabelProfileCIBA) {
			f.Skipf("a FAPI-only requirement (%s), and target.yaml says fapi: false", strings.Join(meta.SpecRefs, ", "))
		}
		if fw.env.Target.FAPI && !slices.Contains(profiles, LabelProfileFAPICIBA) {
			f.Skipf("a push-mode check (%s): FAPI-CIBA 5.2.2-3 forbids push, and target.yaml says fapi: true", strings.Join(meta.SpecRefs, ", "))
		}
		if should {
			runShould(runCtx, f, spec)
			return
		}
		spec(runCtx, f)
	}
}

// warningStop is what Fixture.Failf panics with in a Should check once
// it has recorded the warning; runShould recovers it so that the spec
// ends, as passed for Ginkgo, at the first unmet expectation, exactly as
// ginkgo.Fail ends a MUST check. A warning cannot be a Ginkgo failure:
// ginkgo.Fail records the failure before it panics, so recovering its
// panic would not undo it.
type warningStop struct{}

// runShould runs the body of a Should check, turning the warningStop of
// an unmet expectation into a normal return. Every other panic (Ginkgo's
// failures, skips and aborts, and real panics) goes on to Ginkgo.
func runShould(ctx context.Context, f *Fixture, spec Spec) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(warningStop); !ok {
				panic(r)
			}
		}
	}()
	spec(ctx, f)
}

// attachBasis copies each check's normative basis from its comment block
// into its result.
func (fw *Framework) attachBasis(checks []CheckResult) {
	for i := range checks {
		db := fw.blocks[checks[i].Name]
		checks[i].Level, checks[i].Duty, checks[i].Quote = db.Level, db.Duty, db.Quote
	}
}

// Describe groups checks under a heading (the report's sections).
func (fw *Framework) Describe(text string, body func()) bool {
	return ginkgo.Describe(text, ginkgo.Offset(1), func() {
		fw.sections = append(fw.sections, text)
		defer func() { fw.sections = fw.sections[:len(fw.sections)-1] }()
		body()
	})
}

// buildTree registers every check of the suite.
func buildTree(fw *Framework) error {
	for _, s := range suiteOutline() {
		fw.Describe(s.title, func() {
			for _, register := range s.groups {
				register(fw)
			}
		})
	}
	if len(fw.errs) > 0 {
		return fmt.Errorf("conformance: the suite is malformed: %v", fw.errs)
	}
	return nil
}
