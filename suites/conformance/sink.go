package conformance

import (
	"context"
	"errors"
	"fmt"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
)

// How a check tells Ginkgo its end. A check that runs inside its Ginkgo
// spec calls Ginkgo directly, as always. A check that a worker of the
// parallel scheduler runs ahead of its spec (schedule.go) must not: Ginkgo
// keeps one global failure state, which belongs to the spec running at
// that moment. So the fixture's fail, skip, abort and warn record into a
// recorder instead, and the check's spec replays the record when Ginkgo
// reaches it: the same messages, the same locations, the same outcome.
// Checks never call ginkgo.Fail, Skip, AbortSuite or AddReportEntry
// themselves (TestChecksEndThroughTheFixture).

// recEvent is one recorded end or warning: its message and the location
// Ginkgo would have given it.
type recEvent struct {
	kind  endKind
	msg   string
	loc   types.CodeLocation
	value any // the panic value of endPanic
}

type endKind int

const (
	endReturned endKind = iota // the body returned (passed, or warnings)
	endFail
	endSkip
	endAbort
	endPanic
	endTimeout // the check's context ended: Ginkgo times the spec out
)

// recorder is what a check running ahead did: its warnings and its end.
type recorder struct {
	warnings []recEvent
	end      recEvent
	// details are the structured evidence of its failure or warnings
	// (Fixture.detail).
	details []Detail
}

// recordedStop ends a recorded check at its fail, skip or abort, as
// Ginkgo's panic ends a spec.
type recordedStop struct{}

// LocationEntry names the report entry that carries the location of a
// replayed failure (Ginkgo would locate it at the replay).
const LocationEntry = "ciba-check/location"

// fail fails the check with msg (ginkgo.Fail).
func (f *Fixture) fail(msg string) {
	ginkgo.GinkgoHelper()
	if f.rec != nil {
		f.rec.end = recEvent{kind: endFail, msg: msg, loc: types.NewCodeLocation(1)}
		panic(recordedStop{})
	}
	ginkgo.Fail(msg)
}

// skip skips the check with msg (ginkgo.Skip).
func (f *Fixture) skip(msg string) {
	ginkgo.GinkgoHelper()
	if f.rec != nil {
		f.rec.end = recEvent{kind: endSkip, msg: msg, loc: types.NewCodeLocation(1)}
		panic(recordedStop{})
	}
	ginkgo.Skip(msg)
}

// abort stops the run (ginkgo.AbortSuite).
func (f *Fixture) abort(msg string) {
	ginkgo.GinkgoHelper()
	if f.rec != nil {
		f.rec.end = recEvent{kind: endAbort, msg: msg, loc: types.NewCodeLocation(1)}
		panic(recordedStop{})
	}
	ginkgo.AbortSuite(msg)
}

// warn records msg as a warning of the running check, located at the
// check's line (the fixture's helpers are GinkgoHelpers). The entry is
// never printed by Ginkgo: our progress and summary show it.
func (f *Fixture) warn(msg string) {
	ginkgo.GinkgoHelper()
	loc := types.NewCodeLocation(0)
	if f.rec != nil {
		f.rec.warnings = append(f.rec.warnings, recEvent{msg: msg, loc: loc})
		return
	}
	ginkgo.AddReportEntry(WarningEntry, msg, loc, types.ReportEntryVisibilityNever)
}

// recordCheck runs body with a recording fixture and returns how it ended;
// abandoned is set when the check gave up for a test user (the spec then
// runs it itself). ctx is the check's context.
func recordCheck(ctx context.Context, f *Fixture, body func()) (rec *recorder, abandoned bool) {
	rec = &recorder{}
	f.rec = rec
	func() {
		defer func() {
			r := recover()
			switch r.(type) {
			case nil, recordedStop:
			case abandonStop:
				abandoned = true
			default:
				rec.end = recEvent{kind: endPanic, value: r, msg: fmt.Sprint(r), loc: types.NewCodeLocation(2)}
			}
		}()
		body()
	}()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		rec.end = recEvent{kind: endTimeout}
	}
	return rec, abandoned
}

// replay tells Ginkgo, inside the check's spec, what the recorded run
// did.
func replay(ctx context.Context, rec *recorder) {
	for _, w := range rec.warnings {
		ginkgo.AddReportEntry(WarningEntry, w.msg, w.loc, types.ReportEntryVisibilityNever)
	}
	for _, d := range rec.details {
		addDetail(d)
	}
	e := rec.end
	switch e.kind {
	case endFail:
		ginkgo.AddReportEntry(LocationEntry, e.loc.String(), e.loc, types.ReportEntryVisibilityNever)
		ginkgo.Fail(e.msg)
	case endSkip:
		ginkgo.Skip(e.msg)
	case endAbort:
		ginkgo.AddReportEntry(LocationEntry, e.loc.String(), e.loc, types.ReportEntryVisibilityNever)
		ginkgo.AbortSuite(e.msg)
	case endPanic:
		panic(e.value)
	case endTimeout:
		// The check ran out of time ahead: let its spec time out too, so
		// the outcome is Ginkgo's "timedout" as in a sequential run.
		<-ctx.Done()
	}
}

// addDetail attaches the structured evidence d to the running spec
// (Fixture.detail, or the replay of a recorded check).
func addDetail(d Detail) {
	ginkgo.AddReportEntry(DetailEntry, d, types.ReportEntryVisibilityNever)
}
