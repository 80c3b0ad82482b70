package conformance

import (
	"cmp"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/internal/devenv"
	refop "github.com/ciba-check/ciba-check/reference-op"
	"github.com/ciba-check/ciba-check/reports"
)

// allowanceWarnings lists, per allowance, the checks that may end with a
// warning under it: only allowances that depart from a SHOULD
// (refop.Allowance.Departs) may be answered with one. Every other check
// must pass (or be skipped with a reason) under every allowance.
var allowanceWarnings = map[string][]string{
	refop.AllowTokenExpiresInAbsent: {"issues a Bearer access token of at least 128 bits with expires_in"},
}

// allowanceMatrixEnv narrows TestAllowanceMatrix to a comma-separated list
// of allowances (the combined run then combines only those).
const allowanceMatrixEnv = "CIBA_CHECK_ALLOWANCES"

// compatibleAllowances picks, in catalogue order, every allowance that
// excludes none picked before it.
func compatibleAllowances(catalogue []refop.Allowance) []string {
	var picked []string
	for _, a := range catalogue {
		if !slices.ContainsFunc(picked, func(p string) bool { return slices.Contains(a.Exclusive, p) }) {
			picked = append(picked, a.Name)
		}
	}
	return picked
}

// TestAllowanceWarningsTable keeps the table honest: warnings are only
// for allowances that depart from a SHOULD.
func TestAllowanceWarningsTable(t *testing.T) {
	departs := map[string]bool{}
	for _, a := range devenv.Allowances() {
		departs[a.Name] = a.Departs != ""
	}
	for name := range allowanceWarnings {
		known, ok := departs[name]
		switch {
		case !ok:
			t.Errorf("allowanceWarnings names unknown allowance %q", name)
		case !known:
			t.Errorf("allowance %q departs from no SHOULD, so no check may warn under it", name)
		}
	}
}

// TestAllowanceMatrix runs the whole suite against the reference OP once
// per allowance and once with all compatible allowances together, and
// requires no failure, and warnings only where allowanceWarnings permits.
// It is the mirror of TestFaultMatrix: that one proves each check can
// fail, this one that none fails an OP the specifications permit.
func TestAllowanceMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the suite once per allowance")
	}
	if raceEnabled {
		t.Skip("race detector on: run go test without -race for the allowance matrix")
	}
	t.Parallel() // with TestFaultMatrix: both are bound by childSlots
	catalogue := devenv.Allowances()
	if only := os.Getenv(allowanceMatrixEnv); only != "" {
		names := strings.Split(only, ",")
		catalogue = slices.DeleteFunc(catalogue, func(a refop.Allowance) bool { return !slices.Contains(names, a.Name) })
		if len(catalogue) != len(names) {
			t.Fatalf("%s=%s names unknown allowances", allowanceMatrixEnv, only)
		}
	}
	t0 := time.Now()
	defer func() { t.Logf("allowance matrix took %s", time.Since(t0).Round(time.Second)) }()
	base := sharedMaterial(t)

	// The slowest runs first, so they overlap the many short ones: the
	// combined run and slow-device (each ~1.3 min on 2 cores: every ping
	// client's approval 7 s late).
	// The combined run also goes once against plain CIBA (fapi: false):
	// there the push checks run, under every compatible allowance at once.
	type run struct {
		allowances []string
		noFAPI     bool
	}
	var runs []run
	if combined := compatibleAllowances(catalogue); len(combined) > 1 {
		runs = append(runs, run{allowances: combined}, run{allowances: combined, noFAPI: true})
	}
	slow := []string{refop.AllowSlowDevice, refop.AllowRequestedExpiryIgnored, refop.AllowIntervalAbsent}
	slices.SortStableFunc(catalogue, func(a, b refop.Allowance) int {
		return cmp.Compare(rank(slow, a.Name), rank(slow, b.Name))
	})
	for _, a := range catalogue {
		runs = append(runs, run{allowances: []string{a.Name}})
	}
	specs := make([]childSpec, len(runs))
	for i, rn := range runs {
		specs[i] = childSpec{Allowances: rn.allowances, NoFAPI: rn.noFAPI}
	}
	results := runSuiteChildren(t, base, specs)

	for i, rn := range runs {
		r := results[i]
		allowances := rn.allowances
		name := strings.Join(allowances, "+")
		if len(allowances) > 1 {
			name = "all compatible allowances (" + strings.Join(allowances, ", ") + ")"
		}
		if rn.noFAPI {
			name += " with fapi: false"
		}
		if r.err != nil {
			t.Errorf("%s: the run failed (%s): %v\n%s", name, r.took.Round(time.Second), r.err, r.out)
			continue
		}
		may := map[string]bool{}
		for _, a := range allowances {
			for _, c := range allowanceWarnings[a] {
				may[c] = true
			}
		}
		var bad, warned, certWarned []string
		for _, c := range r.failed {
			o, msg := r.outcomes[c], r.messages[c]
			switch {
			case o == string(reports.Skipped):
			case o == string(reports.Warning) && may[c]:
				warned = append(warned, c)
			case o == string(reports.Warning) && certificationOnly(msg):
				// What only the OIDF certification suite demands: a
				// spec-compliant OP may get it (Level CERT).
				certWarned = append(certWarned, c)
			default:
				bad = append(bad, c+" ("+o+"): "+oneLine(msg))
			}
		}
		sort.Strings(bad)
		t.Logf("%s: %d checks, %d failing, %d permitted warnings, %d certification-level warnings, %d skipped, took %s",
			name, len(r.all), len(bad), len(warned), len(certWarned), len(r.skipped), r.took.Round(time.Second))
		if len(warned) > 0 {
			t.Logf("%s: permitted warnings: %s", name, strings.Join(warned, "; "))
		}
		if len(certWarned) > 0 {
			t.Logf("%s: certification-level warnings: %s", name, strings.Join(certWarned, "; "))
		}
		if len(bad) > 0 {
			t.Errorf("%s: checks that do not pass an OP the specifications permit:\n  %s", name, strings.Join(bad, "\n  "))
		}
	}
}

// certificationOnly reports whether a warning message was raised only by
// what the OIDF certification suite demands: an ExpectCert, or any
// expectation of a check whose Level is CERT (its basis line says so).
func certificationOnly(msg string) bool {
	return strings.HasPrefix(msg, CertWarning) || strings.Contains(msg, "requirement ("+LevelCert+",")
}

// rank is the position of name in order, or len(order) when absent.
func rank(order []string, name string) int {
	if i := slices.Index(order, name); i >= 0 {
		return i
	}
	return len(order)
}

// oneLine is the first line of a check's message, shortened.
func oneLine(msg string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(msg), "\n")
	if len(line) > 300 {
		line = line[:300] + "..."
	}
	return line
}
