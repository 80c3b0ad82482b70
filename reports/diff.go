package reports

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// DefaultTolerance is how much worse (relative, 0.10 = 10 %) a load
// metric may get before Compare calls it a regression.
const DefaultTolerance = 0.10

// Diff is what changed between two reports, e.g. a pull request's run
// against the main branch's last one.
type Diff struct {
	Tolerance float64
	// Changed are checks present in both whose outcome changed.
	Changed []CheckChange
	// Added and Removed are checks present in only one report.
	Added, Removed []CheckChange
	// Load compares the metrics of load runs present in both (matched by
	// name); unmatched runs are listed in LoadAdded and LoadRemoved.
	Load                   []MetricChange
	LoadAdded, LoadRemoved []string
}

// CheckChange is one check's outcome before and after ("" when absent).
type CheckChange struct {
	Name, Group, Section string
	Old, New             Outcome
}

// NewFailure reports whether the check fails now and did not before.
func (c CheckChange) NewFailure() bool { return c.New == Failed && c.Old != Failed }

// Fixed reports whether the check failed before and passes now.
func (c CheckChange) Fixed() bool { return c.Old == Failed && c.New == Passed }

// LostCoverage reports whether the check verified the OP before (passed
// or warned) and is skipped now: nothing is known of that requirement any
// more, which is a regression of the run even though nothing failed.
func (c CheckChange) LostCoverage() bool {
	return (c.Old == Passed || c.Old == Warning) && c.New == Skipped
}

// MetricChange is one load metric of one run before and after.
type MetricChange struct {
	Run, Metric, Unit string
	Old, New          float64
	// ChangePct is (New-Old)/Old in percent; ±Inf when Old is 0.
	ChangePct float64
	// Worse says the metric moved the wrong way; Regression that it did
	// so by more than the tolerance.
	Worse, Regression bool
}

// NewFailures are the checks that fail now and did not before (changed
// or added).
func (d *Diff) NewFailures() []CheckChange {
	var out []CheckChange
	for _, c := range append(append([]CheckChange(nil), d.Changed...), d.Added...) {
		if c.NewFailure() {
			out = append(out, c)
		}
	}
	return out
}

// Fixed are the checks that failed before and pass now.
func (d *Diff) Fixed() []CheckChange {
	var out []CheckChange
	for _, c := range d.Changed {
		if c.Fixed() {
			out = append(out, c)
		}
	}
	return out
}

// LostCoverage are the checks that verified the OP before and are skipped
// now.
func (d *Diff) LostCoverage() []CheckChange {
	var out []CheckChange
	for _, c := range d.Changed {
		if c.LostCoverage() {
			out = append(out, c)
		}
	}
	return out
}

// Regressed reports a new failure, lost coverage or a load metric worse
// than the tolerance: the exit-1 condition of `report diff`.
func (d *Diff) Regressed() bool {
	if len(d.NewFailures()) > 0 || len(d.LostCoverage()) > 0 {
		return true
	}
	for _, m := range d.Load {
		if m.Regression {
			return true
		}
	}
	return false
}

func checkKey(c *Check) string { return c.Group + "\x00" + c.Name }

// Comparable says whether two reports hold results of a common kind
// (conformance checks in both, or load runs in both); when not, a diff
// would call everything added and removed, and says why.
func Comparable(old, new *Model) error {
	kind := func(m *Model) string {
		switch {
		case len(m.Checks) > 0 && len(m.Load) > 0:
			return "a conformance run with load runs"
		case len(m.Checks) > 0:
			return "a conformance run"
		case len(m.Load) > 0:
			return "load runs"
		}
		return "no results"
	}
	if (len(old.Checks) > 0 && len(new.Checks) > 0) || (len(old.Load) > 0 && len(new.Load) > 0) {
		return nil
	}
	return fmt.Errorf("the old report holds %s and the new one %s: there is nothing of the same kind to compare", kind(old), kind(new))
}

// Compare diffs two reports. Checks are matched by group and name, load
// runs by label (the n-th run of a label with the n-th of the same label).
// tolerance <= 0 means DefaultTolerance.
func Compare(old, new *Model, tolerance float64) *Diff {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	d := &Diff{Tolerance: tolerance}
	if old == nil {
		old = &Model{}
	}
	if new == nil {
		new = &Model{}
	}
	before := map[string]*Check{}
	for i := range old.Checks {
		before[checkKey(&old.Checks[i])] = &old.Checks[i]
	}
	seen := map[string]bool{}
	for i := range new.Checks {
		c := &new.Checks[i]
		k := checkKey(c)
		seen[k] = true
		ch := CheckChange{Name: c.Name, Group: c.Group, Section: c.Section(), New: c.Outcome}
		o, ok := before[k]
		switch {
		case !ok:
			d.Added = append(d.Added, ch)
		case o.Outcome != c.Outcome:
			ch.Old = o.Outcome
			d.Changed = append(d.Changed, ch)
		}
	}
	for i := range old.Checks {
		c := &old.Checks[i]
		if !seen[checkKey(c)] {
			d.Removed = append(d.Removed, CheckChange{Name: c.Name, Group: c.Group, Section: c.Section(), Old: c.Outcome})
		}
	}
	compareLoad(d, old.Load, new.Load)
	return d
}

func compareLoad(d *Diff, old, new []LoadRun) {
	// The n-th run with a label matches the n-th old run with it.
	byLabel := map[string][]*LoadRun{}
	for i := range old {
		byLabel[old[i].Label()] = append(byLabel[old[i].Label()], &old[i])
	}
	used := map[*LoadRun]bool{}
	for i := range new {
		n := &new[i]
		cands := byLabel[n.Label()]
		if len(cands) == 0 {
			d.LoadAdded = append(d.LoadAdded, n.Label())
			continue
		}
		o := cands[0]
		byLabel[n.Label()] = cands[1:]
		used[o] = true
		metric := func(name, unit string, ov, nv float64, higherBetter bool) {
			mc := MetricChange{Run: n.Label(), Metric: name, Unit: unit, Old: ov, New: nv}
			switch {
			case ov == nv:
			case ov == 0:
				mc.ChangePct = math.Inf(1)
				if nv < 0 {
					mc.ChangePct = math.Inf(-1)
				}
			default:
				mc.ChangePct = (nv - ov) / math.Abs(ov) * 100
			}
			if higherBetter {
				mc.Worse = nv < ov
			} else {
				mc.Worse = nv > ov
			}
			mc.Regression = mc.Worse && math.Abs(mc.ChangePct) > d.Tolerance*100
			d.Load = append(d.Load, mc)
		}
		metric("rate achieved", "/s", o.Rate.Achieved, n.Rate.Achieved, true)
		metric("latency p50", "ms", o.LatencyMS.P50, n.LatencyMS.P50, false)
		metric("latency p99", "ms", o.LatencyMS.P99, n.LatencyMS.P99, false)
		metric("error rate", "ratio", o.ErrorRate, n.ErrorRate, false)
		if o.ApprovalToTokenMS != nil && n.ApprovalToTokenMS != nil {
			metric("approval→token p50", "ms", o.ApprovalToTokenMS.P50, n.ApprovalToTokenMS.P50, false)
			metric("approval→token p99", "ms", o.ApprovalToTokenMS.P99, n.ApprovalToTokenMS.P99, false)
		}
	}
	for i := range old {
		if !used[&old[i]] {
			d.LoadRemoved = append(d.LoadRemoved, old[i].Label())
		}
	}
}

func fmtMetric(v float64, unit string) string {
	switch unit {
	case "ms":
		return fmtMS(v)
	case "/s":
		return fmtNum(round2(v)) + "/s"
	case "ratio":
		return fmtPct(v)
	}
	return fmtNum(v)
}

func fmtChange(pct float64) string {
	switch {
	case math.IsInf(pct, 1):
		return "new"
	case math.IsInf(pct, -1):
		return "new (negative)"
	case pct == 0:
		return "±0%"
	}
	s := strconv.FormatFloat(pct, 'f', 1, 64) + "%"
	if pct > 0 {
		s = "+" + s
	}
	return s
}

func outcomeOrNone(o Outcome) string {
	if o == "" {
		return "absent"
	}
	return string(o)
}

// RenderDiffText writes the diff for a terminal or a CI log.
func RenderDiffText(w io.Writer, d *Diff) error {
	var b strings.Builder
	nf, fixed := d.NewFailures(), d.Fixed()
	verdict := "no regression"
	if d.Regressed() {
		verdict = "REGRESSION"
	}
	lost := d.LostCoverage()
	fmt.Fprintf(&b, "%s: %s, %d fixed, %s, %s, %s, %d removed (load tolerance %s)\n",
		verdict, Count(len(nf), "new failure", "new failures"), len(fixed), Count(len(lost), "check lost coverage", "checks lost coverage"),
		Count(len(d.Changed)-countNewOrFixed(d.Changed), "other outcome change", "other outcome changes"),
		Count(len(d.Added), "check added", "checks added"), len(d.Removed), fmtPct(d.Tolerance))
	section := func(title string, cs []CheckChange) {
		if len(cs) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n%s:\n", title)
		for _, c := range cs {
			fmt.Fprintf(&b, "  %-8s → %-8s %s [%s]\n", outcomeOrNone(c.Old), outcomeOrNone(c.New), c.Name, c.Section)
		}
	}
	section("New failures", nf)
	section("Lost coverage (verified before, skipped now)", lost)
	section("Fixed", fixed)
	var other []CheckChange
	for _, c := range d.Changed {
		if !c.NewFailure() && !c.Fixed() && !c.LostCoverage() {
			other = append(other, c)
		}
	}
	section("Other outcome changes", other)
	var addedOK []CheckChange
	for _, c := range d.Added {
		if !c.NewFailure() {
			addedOK = append(addedOK, c)
		}
	}
	section("Added", addedOK)
	section("Removed", d.Removed)
	if len(d.Load) > 0 {
		b.WriteString("\nLoad:\n")
		for _, m := range d.Load {
			mark := " "
			if m.Regression {
				mark = "✗"
			} else if m.Worse {
				mark = "~"
			}
			fmt.Fprintf(&b, "  %s %-12s %-20s %12s → %-12s %s\n", mark, m.Run, m.Metric, fmtMetric(m.Old, m.Unit), fmtMetric(m.New, m.Unit), fmtChange(m.ChangePct))
		}
	}
	for _, r := range d.LoadAdded {
		fmt.Fprintf(&b, "  load run %s is new (nothing to compare)\n", r)
	}
	for _, r := range d.LoadRemoved {
		fmt.Fprintf(&b, "  load run %s is gone\n", r)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func countNewOrFixed(cs []CheckChange) int {
	n := 0
	for _, c := range cs {
		if c.NewFailure() || c.Fixed() || c.LostCoverage() {
			n++
		}
	}
	return n
}

// RenderDiffMarkdown writes the diff as Markdown for a PR comment or step
// summary, within limit bytes (<= 0: PRCommentLimit).
func RenderDiffMarkdown(w io.Writer, d *Diff, limit int) error {
	if limit <= 0 {
		limit = PRCommentLimit
	}
	if limit < minMarkdownLimit {
		return fmt.Errorf("reports: Markdown limit %d bytes is too small; at least %d are needed", limit, minMarkdownLimit)
	}
	md := &mdWriter{budget: limit - mdNoteReserve}
	nf, fixed := d.NewFailures(), d.Fixed()
	verdict := "✅ no regression"
	if d.Regressed() {
		verdict = "❌ regression"
	}
	lost := d.LostCoverage()
	md.b.WriteString(fmt.Sprintf("## ciba-check diff: %s\n\n%s · %d fixed · %s · %s · %d removed · load tolerance %s\n\n",
		verdict, Count(len(nf), "new failure", "new failures"), len(fixed), Count(len(lost), "check lost coverage", "checks lost coverage"),
		Count(len(d.Added), "check added", "checks added"), len(d.Removed), fmtPct(d.Tolerance)))
	table := func(title string, cs []CheckChange) {
		if len(cs) == 0 {
			return
		}
		head := fmt.Sprintf("### %s (%d)\n\n| Check | Section | Before | After |\n|:--|:--|:--|:--|\n", title, len(cs))
		if !md.write(head) {
			md.omitted.Failed += len(cs)
			return
		}
		for i, c := range cs {
			r := fmt.Sprintf("| %s | %s | %s | %s |\n", mdEscape(clipText(c.Name, maxCell)), mdCode(c.Section), outcomeOrNone(c.Old), outcomeOrNone(c.New))
			if !md.write(r) {
				md.omitted.Failed += len(cs) - i
				break
			}
		}
		md.b.WriteString("\n")
	}
	table("❌ New failures", nf)
	table("⚠️ Lost coverage (verified before, skipped now)", lost)
	table("✅ Fixed", fixed)
	if len(d.Load) > 0 && md.write("### Load\n\n| Run | Metric | Before | After | Change |\n|:--|:--|--:|--:|--:|\n") {
		for i, m := range d.Load {
			mark := ""
			if m.Regression {
				mark = " ❌"
			}
			r := fmt.Sprintf("| %s | %s | %s | %s | %s%s |\n", mdEscape(clipText(m.Run, 60)), m.Metric, fmtMetric(m.Old, m.Unit), fmtMetric(m.New, m.Unit), fmtChange(m.ChangePct), mark)
			if !md.write(r) {
				md.omittedRuns += len(d.Load) - i
				break
			}
		}
		md.b.WriteString("\n")
	}
	out := md.b.String()
	if md.omitted.Total() > 0 || md.omittedRuns > 0 {
		out += "> [!NOTE]\n> This diff is shortened to stay under the size limit; run `ciba-check report diff` for all of it.\n"
	}
	_, err := io.WriteString(w, out)
	return err
}
