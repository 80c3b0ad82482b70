package reports

import (
	"slices"
	"strconv"
	"strings"
)

// Skip reasons of checks that were never judged: the filters left them
// out (NotSelected) or the run stopped before them (NotRun: --fail-fast,
// --timeout, a vanished target). The conformance suite gives them; the
// terminal summary counts them apart from the skips the target caused.
const (
	NotSelected = "not selected by --label-filter, --focus or --skip"
	NotRun      = "not run: the run stopped early"
)

// sectionRow is one spec section of a run and its checks' outcomes.
// Skipped counts every skipped check, NotRun and NotSelected those of
// them that were never judged.
type sectionRow struct {
	Section string
	Counts
	NotRun, NotSelected int
}

// sectionRows groups the checks by spec section, the one grouping of the
// HTML matrix and the terminal summary: a check counts once in the row of
// every section it proves, its list items folded into the section
// ("FAPI-CIBA-5.2.2-9" in "FAPI-CIBA-5.2.2"); rows are in document, then
// numeric section order ("CIBA-4" before "CIBA-10.1").
func sectionRows(m *Model) []sectionRow {
	idx := map[string]int{}
	var rows []sectionRow
	for i := range m.Checks {
		c := &m.Checks[i]
		refs := c.SpecRefs
		if len(refs) == 0 {
			refs = []string{c.Section()}
		}
		seen := map[string]bool{}
		for _, ref := range refs {
			sec := SectionOf(ref)
			if sec == "" || seen[sec] {
				continue
			}
			seen[sec] = true
			j, ok := idx[sec]
			if !ok {
				j = len(rows)
				idx[sec] = j
				rows = append(rows, sectionRow{Section: sec})
			}
			rows[j].add(c)
		}
	}
	slices.SortFunc(rows, func(a, b sectionRow) int { return compareSections(a.Section, b.Section) })
	return rows
}

func (r *sectionRow) add(c *Check) {
	switch c.Outcome {
	case Passed:
		r.Passed++
	case Warning:
		r.Warnings++
	case Failed:
		r.Failed++
	case Skipped:
		r.Skipped++
		switch c.Message {
		case NotRun:
			r.NotRun++
		case NotSelected:
			r.NotSelected++
		}
	}
}

// docTitle names the documents spec references point into.
func docTitle(doc string) string {
	switch doc {
	case "CIBA":
		return "OpenID Connect CIBA Core 1.0"
	case "FAPI-CIBA":
		return "FAPI-CIBA profile"
	case "FAPI-RW":
		return "FAPI Read and Write API Security Profile"
	case "FAPI-R":
		return "FAPI Read-Only API Security Profile"
	case "OIDC":
		return "OpenID Connect Core 1.0"
	case "OIDC-DISCOVERY":
		return "OpenID Connect Discovery 1.0"
	}
	if strings.HasPrefix(doc, "RFC") {
		return "RFC " + strings.TrimPrefix(doc, "RFC")
	}
	return doc
}

// compareSections orders spec sections by document, then numerically by
// section number ("CIBA-7.10" after "CIBA-7.9").
func compareSections(a, b string) int {
	da, na := splitSection(a)
	db, nb := splitSection(b)
	if c := strings.Compare(da, db); c != 0 {
		return c
	}
	for i := 0; i < len(na) && i < len(nb); i++ {
		if na[i] != nb[i] {
			return na[i] - nb[i]
		}
	}
	if c := len(na) - len(nb); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// splitSection splits "FAPI-CIBA-5.2.2" into "FAPI-CIBA" and [5 2 2].
func splitSection(s string) (string, []int) {
	i := strings.LastIndexByte(s, '-')
	if i < 0 {
		return s, nil
	}
	var nums []int
	for _, part := range strings.Split(s[i+1:], ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			return s, nil
		}
		nums = append(nums, n)
	}
	return s[:i], nums
}
