package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ciba-check/ciba-check/internal/devenv"
	refop "github.com/ciba-check/ciba-check/reference-op"
	"github.com/ciba-check/ciba-check/reports"
)

// A reference-OP fault must trip exactly the checks its Fault.Trips names
// (reference-op/faults*.go, the one place they are named); every other
// check must still pass under that fault. A check is tripped when it does
// not pass: a MUST check fails, a Should check (or a MUST check's
// ExpectShould) ends with a warning. A Should check that fails rather than
// warns is an error of its own.

// checksNeedingFAPIOff are the checks the FAPI baseline skips: they need
// clients only a FAPI-off OP registers (client secrets).
var checksNeedingFAPIOff = map[string]bool{
	"refuses a wrong client secret with invalid_client":                          true,
	"refuses a client secret sent both in the Authorization header and the body": true,
	"refuses a replayed client_secret_jwt assertion":                             true,
}

// TestFaultTripsNameChecks proves every check a fault's Trips names is a
// check of the suite, and every fault names one.
func TestFaultTripsNameChecks(t *testing.T) {
	checks := map[string]bool{}
	for _, c := range preview(t).Checks {
		checks[c.Name] = true
	}
	for _, f := range refop.Faults() {
		if len(f.Trips) == 0 {
			t.Errorf("fault %q names no check in Trips", f.Name)
		}
		for _, c := range f.Trips {
			if !checks[c] {
				t.Errorf("fault %q: Trips names %q, which is no check of the suite", f.Name, c)
			}
		}
	}
	for _, c := range slices.Sorted(maps.Keys(checksNeedingFAPIOff)) {
		if !checks[c] {
			t.Errorf("checksNeedingFAPIOff names %q, which is no check of the suite", c)
		}
	}
}

// sharedMaterial generates, once, the keys and certificates every child
// run of a matrix reuses (devenv keeps what its Dir holds), and returns
// that directory.
func sharedMaterial(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// With push allowed, so that the push client's material is made too
	// (runs with FAPI on ignore it).
	dev, err := devenv.Start(ctx, devenv.Options{Dir: base, PushAllowed: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return base
}

const selfTestChildEnv = "CIBA_CHECK_SELFTEST_CHILD"

type childSpec struct {
	Dir        string   `json:"dir"`
	Faults     []string `json:"faults"`
	Allowances []string `json:"allowances"`
	// NoFAPI runs the reference OP as plain CIBA (fapi: false, a push
	// client).
	NoFAPI bool   `json:"no_fapi"`
	Out    string `json:"out"`
	// Parallel is the run's --parallel (0: $CIBA_CHECK_PARALLEL, else 1).
	Parallel int `json:"parallel"`
	// SharedUsers marks every test user shared: true.
	SharedUsers bool `json:"shared_users"`
}

// parallelEnv sets how many checks the matrices' runs run at once:
// CIBA_CHECK_PARALLEL=4 go test ./suites/conformance -run 'TestFaultMatrix|TestAllowanceMatrix'
// runs both matrices in parallel mode (run --parallel 4).
const parallelEnv = "CIBA_CHECK_PARALLEL"

// matrixParallel is the --parallel of the matrices' runs.
func matrixParallel(t *testing.T) int {
	raw := os.Getenv(parallelEnv)
	if raw == "" {
		return 1
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a number of at least 1", parallelEnv, raw)
	}
	return n
}

// TestSelfTestChild is one suite run against the embedded reference OP,
// in a subprocess of TestFaultMatrix (Ginkgo runs once per process). It
// also proves the run leaves no goroutines behind.
func TestSelfTestChild(t *testing.T) {
	raw := os.Getenv(selfTestChildEnv)
	if raw == "" {
		t.Skip("runs as a subprocess of TestFaultMatrix")
	}
	var spec childSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dev, err := devenv.Start(ctx, devenv.Options{Dir: spec.Dir, Faults: spec.Faults, Allowances: spec.Allowances, PushAllowed: spec.NoFAPI})
	if err != nil {
		t.Fatal(err)
	}
	if spec.SharedUsers {
		for i := range dev.Target.Users {
			dev.Target.Users[i].Shared = true
		}
	}
	env, err := NewEnv(ctx, dev.Target, EnvOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(RunConfig{Env: env, Parallel: spec.Parallel})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(spec.Out)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(f, res.Checks, ReportInfo{Issuer: dev.Issuer}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := env.Close(); err != nil {
		t.Error(err)
	}
	// A fresh deadline: a slow run (an allowance's long expiry or late
	// device) may have used up ctx, which bounds only the setup.
	closeCtx, cancelClose := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelClose()
	if err := dev.Close(closeCtx); err != nil {
		t.Error(err)
	}
	if err := goleak.Find(goleak.IgnoreAnyFunction("github.com/onsi/ginkgo/v2/internal/interrupt_handler.(*InterruptHandler).registerForInterrupts.func2"),
		goleak.IgnoreAnyFunction("os/signal.loop"), goleak.IgnoreAnyFunction("os/signal.signal_recv")); err != nil {
		t.Errorf("the run left goroutines behind: %v", err)
	}
}

// copyDir copies the generated PKI (not target.yaml, which each run
// writes with its own ports).
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		if rel == "target.yaml" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// childOutcome is what one suite run in a subprocess ended with.
type childOutcome struct {
	failed   []string          // every check not passed: failed or warning, sorted
	outcomes map[string]string // check -> outcome, for the failed ones
	messages map[string]string // check -> failure or warning message
	skipped  []string
	all      []string
	byName   map[string]string // check -> outcome, for every check
	err      error
	out      string
	took     time.Duration
}

// childSlots bounds the suite runs in flight. Runs mostly wait on
// protocol time, so several share a core; more would make the
// timing-sensitive checks of a slow (race) build flaky.
var childSlots = make(chan struct{}, min(6*runtime.GOMAXPROCS(0), 16))

// runSuiteChild runs the suite once in a subprocess (TestSelfTestChild)
// against the embedded reference OP with spec's faults and allowances,
// on a copy of the PKI in base.
func runSuiteChild(t *testing.T, base string, spec childSpec) childOutcome {
	childSlots <- struct{}{}
	defer func() { <-childSlots }()
	var res childOutcome
	dir := t.TempDir()
	copyDir(t, base, dir)
	spec.Dir, spec.Out = dir, filepath.Join(dir, "report.json")
	if spec.Parallel == 0 {
		spec.Parallel = matrixParallel(t)
	}
	raw, _ := json.Marshal(spec)
	cmd := exec.Command(os.Args[0], "-test.run=^TestSelfTestChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), selfTestChildEnv+"="+string(raw))
	started := time.Now()
	out, err := cmd.CombinedOutput()
	res.took = time.Since(started)
	res.out = string(out)
	if err != nil {
		res.err = err
		return res
	}
	data, err := os.ReadFile(spec.Out)
	if err != nil {
		res.err = err
		return res
	}
	// The one conformance schema, as `report render` reads it.
	var rep reports.ConformanceRun
	if err := json.Unmarshal(data, &rep); err != nil {
		res.err = err
		return res
	}
	res.outcomes, res.messages, res.byName = map[string]string{}, map[string]string{}, map[string]string{}
	// The run's profile: a check of the other profile alone (push under
	// FAPI-CIBA, FAPI-only under CIBA Core) is skipped by design, and is
	// neither tripped nor failing; one that is not skipped is an error.
	profile := LabelProfileFAPICIBA
	if spec.NoFAPI {
		profile = LabelProfileCIBA
	}
	for _, c := range rep.Checks {
		res.all = append(res.all, c.Name)
		res.byName[c.Name] = c.Outcome
		if c.Outcome == string(reports.Skipped) {
			res.skipped = append(res.skipped, c.Name)
		}
		if !slices.Contains(c.Labels, profile) {
			if c.Outcome != string(reports.Skipped) {
				res.err = errors.Join(res.err, fmt.Errorf("check %q (labels %v) ended %q, want skipped outside its profile", c.Name, c.Labels, c.Outcome))
			}
			continue
		}
		if c.Outcome != string(reports.Passed) {
			res.failed = append(res.failed, c.Name)
			res.outcomes[c.Name] = c.Outcome
		}
		switch {
		case c.Failure != nil:
			res.messages[c.Name] = c.Failure.Message
		case c.Warning != nil:
			res.messages[c.Name] = c.Warning.Message
		}
		if c.Severity == SeverityShould && c.Outcome != string(reports.Passed) && c.Outcome != string(reports.Warning) && c.Outcome != string(reports.Skipped) {
			res.err = errors.Join(res.err, fmt.Errorf("Should check %q ended %q; an unmet SHOULD must be a warning", c.Name, c.Outcome))
		}
	}
	sort.Strings(res.failed)
	return res
}

// runSuiteChildren runs the suite once per spec, all at once (childSlots
// bounds how many run together), and returns the outcomes in spec order.
func runSuiteChildren(t *testing.T, base string, specs []childSpec) []childOutcome {
	results := make([]childOutcome, len(specs))
	var wg sync.WaitGroup
	for i, spec := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = runSuiteChild(t, base, spec)
		}()
	}
	wg.Wait()
	return results
}

// TestFaultMatrix runs the whole suite against the reference OP once
// without faults (everything passes) and once per fault (exactly the
// documented checks fail), several runs at a time.
func TestFaultMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the suite once per fault")
	}
	t.Parallel() // with TestAllowanceMatrix: both are bound by childSlots
	t0 := time.Now()
	defer func() { t.Logf("matrix took %s", time.Since(t0)) }()
	base := sharedMaterial(t)
	// A run is a fault ("" none) against FAPI-CIBA, or, for the faults of
	// push mode and of client secrets (Fault.NoFAPI), against plain CIBA;
	// both without a fault pass everything.
	type run struct {
		fault  string
		noFAPI bool
		trips  []string
	}
	runs := []run{{}, {noFAPI: true}}
	faults := refop.Faults()
	if raceEnabled {
		// Under -race one baseline run (race-checked, leak-checked)
		// keeps the package fast; the matrix runs without -race.
		t.Log("race detector on: baseline run only; run go test without -race for the fault matrix")
		faults = nil
	}
	for _, f := range faults {
		runs = append(runs, run{fault: f.Name, noFAPI: f.NoFAPI, trips: f.Trips})
	}
	specs := make([]childSpec, len(runs))
	for i, rn := range runs {
		specs[i] = childSpec{NoFAPI: rn.noFAPI}
		if rn.fault != "" {
			specs[i].Faults = []string{rn.fault}
		}
	}
	results := runSuiteChildren(t, base, specs)
	for i, rn := range runs {
		t.Logf("%q (fapi: %v) took %s", rn.fault, !rn.noFAPI, results[i].took.Round(time.Millisecond))
	}

	// What a baseline skips inside its profile is not a trip either: the
	// FAPI-CIBA baseline may skip only the checks that need clients a
	// FAPI-CIBA OP has none of (checksNeedingFAPIOff: client secrets).
	baselineSkips := map[bool]map[string]bool{}
	for i, rn := range runs {
		if rn.fault != "" || results[i].err != nil {
			continue
		}
		baselineSkips[rn.noFAPI] = map[string]bool{}
		for _, c := range results[i].failed {
			if results[i].outcomes[c] != string(reports.Skipped) {
				continue
			}
			baselineSkips[rn.noFAPI][c] = true
			if !rn.noFAPI && !checksNeedingFAPIOff[c] {
				t.Errorf("the FAPI-CIBA baseline skips %q, which is not in checksNeedingFAPIOff: %s", c, oneLine(results[i].messages[c]))
			}
		}
	}

	tripped := map[string]bool{}
	for i, rn := range runs {
		r := results[i]
		fault := rn.fault
		name := fault
		if name == "" {
			name = "(no fault)"
		}
		if rn.noFAPI {
			name += " (fapi: false)"
		}
		if r.err != nil {
			t.Errorf("%s: the run failed: %v\n%s", name, r.err, r.out)
			continue
		}
		r.failed = slices.DeleteFunc(slices.Clone(r.failed), func(c string) bool {
			return r.outcomes[c] == string(reports.Skipped) && baselineSkips[rn.noFAPI][c]
		})
		want := slices.Clone(rn.trips)
		sort.Strings(want)
		if !slices.Equal(r.failed, want) {
			var got []string
			for _, c := range r.failed {
				got = append(got, c+" ("+r.outcomes[c]+")")
			}
			t.Errorf("%s: tripped checks\n  %s\nwant exactly (its Fault.Trips)\n  %s", name, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		var warned []string
		for _, c := range r.failed {
			tripped[c] = true
			if r.outcomes[c] == string(reports.Warning) {
				warned = append(warned, c)
			}
		}
		if len(warned) > 0 {
			t.Logf("%s: tripped to a warning: %s", name, strings.Join(warned, "; "))
		}
	}
	// Only a run of every fault can tell which checks no fault trips.
	if results[0].err == nil && len(faults) > 0 {
		var untripped []string
		for _, c := range results[0].all {
			if !tripped[c] {
				untripped = append(untripped, c)
			}
		}
		t.Logf("%d checks, %d faults, %d checks tripped by no fault", len(results[0].all), len(faults), len(untripped))
		// The suite's quality bar: a check no fault can trip has not been
		// shown able to fail.
		if len(untripped) > 0 {
			t.Errorf("%d checks are tripped by no reference-OP fault (add a fault in reference-op/faults_*.go whose Trips names it):\n  %s",
				len(untripped), strings.Join(untripped, "\n  "))
		}
	}
}
