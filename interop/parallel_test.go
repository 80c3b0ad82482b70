package interop

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/internal/target"
)

// benchEnv turns TestOIDCProviderParallel into the benchmark of issue 15:
// CIBA_CHECK_BENCH=1 go test ./interop -run TestOIDCProviderParallel -v -timeout 30m
const benchEnv = "CIBA_CHECK_BENCH"

// realDeviceDelayMS is the device delay of the OP issue 15 measured: its
// device approves after 1 s, and it sends no interval, so every flow's
// first poll finds the request pending and the next comes 5 s later.
const realDeviceDelayMS = 1000

// TestOIDCProviderParallel runs the suite against oidc-provider with a
// device that decides after 1 s and the hints driver (every flow waits
// the CIBA 7.3 default interval of 5 s, as oidc-provider sends none), one
// check at a time and with the default --parallel, and requires the same
// outcome from every check. With CIBA_CHECK_BENCH=1 it also runs both
// without shared flows and prints the wall times and their ratio to the
// longest single check.
func TestOIDCProviderParallel(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the suite against oidc-provider several times; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	h, _ := startProvenHarness(ctx, t, withDeviceDelay(realDeviceDelayMS))
	if t.Failed() {
		return
	}
	bin := suiteCLI(t, suiteAgainstOP)
	targetPath := writeDriverTarget(t, h, target.Device{Kind: target.DeviceHints})
	type variant struct {
		name string
		args []string
	}
	variants := []variant{
		{"sequential, shared flows", []string{"--parallel", "1"}},
		{"--parallel default, shared flows", nil},
	}
	bench := os.Getenv(benchEnv) != ""
	if extra := os.Getenv(benchEnv + "_PARALLEL"); extra != "" {
		// CIBA_CHECK_BENCH_PARALLEL=6,8: only these --parallel values,
		// with shared flows, after the sequential run (to choose a default).
		variants = variants[:1]
		for _, n := range strings.Split(extra, ",") {
			variants = append(variants, variant{"--parallel " + n + ", shared flows", []string{"--parallel", n}})
		}
	} else if bench {
		variants = append([]variant{
			{"sequential, own flows (before issue 15)", []string{"--parallel", "1", "--shared-flows=false"}},
			{"--parallel default, own flows", []string{"--shared-flows=false"}},
		}, variants...)
	}
	type measured struct {
		wall time.Duration
		run  *suiteRun
	}
	var runs []measured
	for i, v := range variants {
		start := time.Now()
		r := runSuite(ctx, t, bin, targetPath, fmt.Sprintf("v%d", i), v.args, nil)
		runs = append(runs, measured{time.Since(start), r})
		t.Logf("%s: %s (%d passed, %d warnings, %d failed, %d skipped)", v.name, time.Since(start).Round(100*time.Millisecond),
			r.Result.Summary.Passed, r.Result.Summary.Warnings, r.Result.Summary.Failed, r.Result.Summary.Skipped)
	}
	// Every variant against the first: the same checks, the same
	// outcomes.
	base := runs[0].run.Result
	want := map[string]string{}
	longest, longestName := 0.0, ""
	for _, c := range base.Checks {
		want[c.ID] = c.Outcome
		if c.Duration > longest {
			longest, longestName = c.Duration, c.ID
		}
	}
	for i, m := range runs[1:] {
		got := map[string]string{}
		for _, c := range m.run.Result.Checks {
			got[c.ID] = c.Outcome
		}
		if len(got) != len(want) {
			t.Errorf("%s ran %d checks, %s %d", variants[i+1].name, len(got), variants[0].name, len(want))
		}
		for id, o := range want {
			if got[id] != o {
				t.Errorf("%s: %s ended %s, %s: %s", variants[i+1].name, id, got[id], variants[0].name, o)
			}
		}
	}
	if bench {
		var b strings.Builder
		fmt.Fprintf(&b, "suite against oidc-provider, device delay %d ms, no interval, hints driver, %d checks:\n", realDeviceDelayMS, len(base.Checks))
		for i, m := range runs {
			fmt.Fprintf(&b, "  %-42s %7.1f s  %5.1fx the longest check\n", variants[i].name, m.wall.Seconds(), m.wall.Seconds()/longest)
		}
		fmt.Fprintf(&b, "  longest single check (the limit): %.1f s (%s)\n", longest, longestName)
		t.Log("\n" + b.String())
	}
}
