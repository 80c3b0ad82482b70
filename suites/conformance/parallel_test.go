package conformance

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/target"
)

// TestParallelVerdicts runs the whole suite against the reference OP one
// check at a time and in parallel (twice, and once more with every test
// user shared), and requires the same outcome from every check in every
// run: the parallel scheduler, the shared flows and the user leases
// change when a check runs, never what it finds. With a fault on, the
// failing checks must match too.
func TestParallelVerdicts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the suite several times")
	}
	base := sharedMaterial(t)
	for _, faults := range [][]string{nil, {"accept-alg-none", "full-at-hash", "omit-id-token"}} {
		runs := []childSpec{
			{Faults: faults, Parallel: 1},
			{Faults: faults, Parallel: DefaultParallel},
			{Faults: faults, Parallel: DefaultParallel},
			{Faults: faults, Parallel: 8, SharedUsers: true},
		}
		results := runSuiteChildren(t, base, runs)
		seq := results[0]
		if seq.err != nil {
			t.Fatalf("faults %v, sequential run: %v\n%s", faults, seq.err, seq.out)
		}
		if len(faults) > 0 && len(seq.failed) == 0 {
			t.Fatalf("faults %v tripped nothing: the comparison would prove nothing", faults)
		}
		for i, r := range results[1:] {
			spec := runs[i+1]
			if r.err != nil {
				t.Errorf("faults %v, --parallel %d (shared users %v): %v\n%s", faults, spec.Parallel, spec.SharedUsers, r.err, r.out)
				continue
			}
			if !slices.Equal(r.all, seq.all) {
				t.Errorf("faults %v, --parallel %d: checks %d, sequential %d", faults, spec.Parallel, len(r.all), len(seq.all))
			}
			for _, name := range seq.all {
				if r.byName[name] != seq.byName[name] {
					t.Errorf("faults %v, --parallel %d (shared users %v): %q ended %s, sequentially %s", faults, spec.Parallel, spec.SharedUsers, name, r.byName[name], seq.byName[name])
				}
			}
		}
	}
}

// TestLeases: a user is given to one holder at a time; a waiter gets the
// first peer released; peers share outcome, delay, hint kind and the
// presence of a user_code.
func TestLeases(t *testing.T) {
	users := []target.User{
		{Name: "carol", LoginHint: "carol", Outcome: ciba.OutcomeNever},
		{Name: "alice", LoginHint: "alice", Outcome: ciba.OutcomeApprove},
		{Name: "carol2", LoginHint: "carol2", Outcome: ciba.OutcomeNever},
		{Name: "carol-token", LoginHintToken: "t", Outcome: ciba.OutcomeNever},
		{Name: "carol-code", LoginHint: "cc", UserCode: "1", Outcome: ciba.OutcomeNever},
		{Name: "carol-shared", LoginHint: "cs", Outcome: ciba.OutcomeNever, Shared: true},
	}
	peers := peersOf(users, &users[0])
	var names []string
	for _, u := range peers {
		names = append(names, u.Name)
	}
	if want := []string{"carol", "carol2"}; !slices.Equal(names, want) {
		t.Fatalf("peers of carol: %v, want %v", names, want)
	}
	l := newLeases()
	a, b := l.try(peers), l.try(peers)
	if a != &users[0] || b != &users[2] || l.try(peers) != nil {
		t.Fatalf("try gave %v, %v and then a third", a, b)
	}
	got := make(chan *target.User)
	go func() {
		u, err := l.wait(context.Background(), peers)
		if err != nil {
			t.Error(err)
		}
		got <- u
	}()
	l.release([]*target.User{b})
	if u := <-got; u != b {
		t.Fatalf("the waiter got %v, want the released %s", u, b.Name)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.wait(ctx, peers); err == nil {
		t.Fatal("a wait with every peer held returned without its context")
	}
}

// TestChecksEndThroughTheFixture: a check ends through its fixture's
// fail, skip, abort and warn, never by calling Ginkgo itself. A check a
// worker runs ahead of its spec records its end (sink.go); a direct
// ginkgo.Fail there would fail whichever spec Ginkgo runs at that moment.
func TestChecksEndThroughTheFixture(t *testing.T) {
	direct := regexp.MustCompile(`ginkgo\.(Fail|Skip|AbortSuite|AddReportEntry|By|DeferCleanup)\(`)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"sink.go": true, "suite.go": true, "framework.go": true}
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") || allowed[file] {
			continue
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			if direct.MatchString(line) && !strings.HasPrefix(strings.TrimSpace(line), "//") {
				t.Errorf("%s:%d calls Ginkgo directly; use the fixture's fail, skip, abort or warn (a check may run ahead of its spec): %s", file, i+1, strings.TrimSpace(line))
			}
		}
	}
}

// TestReplay: a recorded check's spec ends as the check did.
func TestRecordCheck(t *testing.T) {
	tests := []struct {
		name string
		body func(f *Fixture)
		want endKind
	}{
		{"returns", func(f *Fixture) {}, endReturned},
		{"fails", func(f *Fixture) { f.fail("x") }, endFail},
		{"skips", func(f *Fixture) { f.skip("x") }, endSkip},
		{"aborts", func(f *Fixture) { f.abort("x") }, endAbort},
		{"panics", func(f *Fixture) { panic(fmt.Errorf("boom")) }, endPanic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(nil)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rec, abandoned := recordCheck(ctx, f, func() { tt.body(f) })
			if abandoned || rec.end.kind != tt.want {
				t.Fatalf("end %d (abandoned %v), want %d", rec.end.kind, abandoned, tt.want)
			}
			if tt.want == endFail && !strings.HasSuffix(rec.end.loc.FileName, "parallel_test.go") {
				t.Errorf("failure located at %s, want the check's line", rec.end.loc)
			}
		})
	}
	f := newFixture(nil)
	rec, abandoned := recordCheck(context.Background(), f, func() { panic(abandonStop{}) })
	if !abandoned {
		t.Fatalf("abandonStop not seen as abandoned: %+v", rec.end)
	}
}
