package conformance

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// DocBlock is the comment block above a check, as Kubernetes'
// conformance walker reads: Testname, Spec and Description (MUST wording,
// or SHOULD for checks decorated Should), and the normative basis the
// check enforces: Quote (the verbatim sentence(s), each with its
// section), Duty (whose duty that sentence is: OP or client) and Level
// (MUST, SHOULD or CERT; see Basis).
type DocBlock struct {
	Testname    string
	Spec        []string
	Description string
	Quote       string
	Duty        string
	Level       string
}

// Levels of a check's basis, as its comment block's Level line names them.
const (
	// LevelMust: the OP breaks a MUST/SHALL/REQUIRED it cites; a failure.
	LevelMust = "MUST"
	// LevelShould: the OP departs from a SHOULD/RECOMMENDED; a warning.
	LevelShould = "SHOULD"
	// LevelCert: what only the OIDF certification suite demands; a
	// warning, a failure under --profile oidf-cert.
	LevelCert = "CERT"
)

// Duties: whose duty the quoted sentence is.
const (
	DutyOP     = "OP"
	DutyClient = "client"
)

// normativeMust finds a requirement keyword in a quote: RFC 2119's
// upper-case MUST/SHALL/REQUIRED, or the lower-case "shall" of the ISO
// drafting rules the FAPI documents follow.
var normativeMust = regexp.MustCompile(`\b(MUST|SHALL|REQUIRED|shall)\b`)

// quotedSentence finds a quoted sentence: "..." of at least a few words.
var quotedSentence = regexp.MustCompile(`"[^"]{12,}"`)

// ValidateBasis checks that the block's normative basis fits the check's
// labels: a Quote holding a quoted sentence; Duty OP or client; Level
// MUST only with a MUST/SHALL/REQUIRED in the quote and the OP's duty;
// SHOULD exactly when decorated Should; CERT exactly when decorated Cert.
// Nothing is asserted at MAY level, and a client's duty never fails an OP.
func ValidateBasis(db DocBlock, m Meta) error {
	switch {
	case db.Quote == "":
		return fmt.Errorf("no Quote: (the verbatim sentence the check enforces, with its section)")
	case !quotedSentence.MatchString(db.Quote):
		return fmt.Errorf("the Quote holds no sentence in double quotes")
	case db.Duty != DutyOP && db.Duty != DutyClient:
		return fmt.Errorf("Duty is %q, not %s or %s", db.Duty, DutyOP, DutyClient)
	}
	switch db.Level {
	case LevelMust:
		if m.Should || m.Cert {
			return fmt.Errorf("Level MUST, but the check is decorated %s", m.Severity())
		}
		if db.Duty != DutyOP {
			return fmt.Errorf("Level MUST on a duty of the %s: a client's duty never fails an OP", db.Duty)
		}
		if !normativeMust.MatchString(db.Quote) {
			return fmt.Errorf("Level MUST, but the Quote has no MUST, SHALL or REQUIRED")
		}
	case LevelShould:
		if !m.Should {
			return fmt.Errorf("Level SHOULD, but the check is not decorated Should")
		}
	case LevelCert:
		if !m.Cert {
			return fmt.Errorf("Level CERT, but the check is not decorated Cert")
		}
	default:
		return fmt.Errorf("Level is %q, not %s, %s or %s", db.Level, LevelMust, LevelShould, LevelCert)
	}
	return nil
}

// ReadDocBlocks parses the suite's Go files in dir and returns the
// comment block of every ConformanceIt call, by check name.
func ReadDocBlocks(dir string) (map[string]DocBlock, error) {
	return readDocBlocks(os.DirFS(dir))
}

// readDocBlocks is ReadDocBlocks over any file system: the directory in
// tests, the sources embedded in the binary at run time (basis.go).
func readDocBlocks(fsys fs.FS) (map[string]DocBlock, error) {
	fset := token.NewFileSet()
	files, err := fs.Glob(fsys, "*.go")
	if err != nil {
		return nil, err
	}
	out := map[string]DocBlock{}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		src, err := fs.ReadFile(fsys, path)
		if err != nil {
			return nil, err
		}
		f, err := parser.ParseFile(fset, path, src, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		var errs []error
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "ConformanceIt" || len(call.Args) == 0 {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				errs = append(errs, fmt.Errorf("%s: ConformanceIt needs a literal name", fset.Position(call.Pos())))
				return true
			}
			name, _ := strconv.Unquote(lit.Value)
			line := fset.Position(call.Pos()).Line
			var block *ast.CommentGroup
			for _, cg := range f.Comments {
				if fset.Position(cg.End()).Line == line-1 {
					block = cg
				}
			}
			if block == nil {
				errs = append(errs, fmt.Errorf("%s: check %q has no comment block right above it", filepath.Base(fset.Position(call.Pos()).Filename), name))
				return true
			}
			db, err := parseDocBlock(block.Text())
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: check %q: %v", filepath.Base(fset.Position(call.Pos()).Filename), name, err))
				return true
			}
			out[name] = db
			return true
		})
		if len(errs) > 0 {
			return nil, fmt.Errorf("%v", errs)
		}
	}
	return out, nil
}

func parseDocBlock(text string) (DocBlock, error) {
	var db DocBlock
	var field *string
	var spec string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "Testname:"):
			db.Testname = strings.TrimSpace(strings.TrimPrefix(line, "Testname:"))
			field = &db.Testname
		case strings.HasPrefix(line, "Spec:"):
			spec = strings.TrimSpace(strings.TrimPrefix(line, "Spec:"))
			field = &spec
		case strings.HasPrefix(line, "Description:"):
			db.Description = strings.TrimSpace(strings.TrimPrefix(line, "Description:"))
			field = &db.Description
		case strings.HasPrefix(line, "Quote:"):
			db.Quote = strings.TrimSpace(strings.TrimPrefix(line, "Quote:"))
			field = &db.Quote
		case strings.HasPrefix(line, "Duty:"):
			db.Duty = strings.TrimSpace(strings.TrimPrefix(line, "Duty:"))
			field = nil
		case strings.HasPrefix(line, "Level:"):
			db.Level = strings.TrimSpace(strings.TrimPrefix(line, "Level:"))
			field = nil
		case line == "":
		case field != nil:
			*field += " " + line
		}
	}
	for _, s := range strings.Split(spec, ",") {
		if s = strings.TrimSpace(s); s != "" {
			db.Spec = append(db.Spec, s)
		}
	}
	switch {
	case db.Testname == "":
		return db, fmt.Errorf("no Testname:")
	case len(db.Spec) == 0:
		return db, fmt.Errorf("no Spec:")
	case db.Description == "":
		return db, fmt.Errorf("no Description:")
	case !strings.Contains(db.Description, "MUST") && !strings.Contains(db.Description, "SHOULD"):
		return db, fmt.Errorf("the Description has no MUST or SHOULD")
	}
	return db, nil
}

// Coverage renders docs/coverage.md from the previewed suite and the
// comment blocks of the sources in srcDir. It fails when a check has no
// comment block or its Spec line disagrees with its labels.
func Coverage(r *Result, srcDir string) ([]byte, error) {
	blocks, err := ReadDocBlocks(srcDir)
	if err != nil {
		return nil, err
	}
	if err := validateBlocks(r.Checks, blocks); err != nil {
		return nil, err
	}
	byModule := map[string][]string{}
	for _, c := range r.Checks {
		for _, m := range c.Meta.OIDFModules {
			byModule[m] = append(byModule[m], c.Name)
		}
	}
	w := &coverageWriter{}
	w.header(r.Checks, byModule)
	w.requirements(r.Checks, blocks)
	w.modules(byModule)
	w.checks(r.Checks, blocks)
	return w.b.Bytes(), nil
}

// validateBlocks refuses a check without a comment block, or one whose
// block disagrees with its labels or states no valid basis.
func validateBlocks(checks []CheckResult, blocks map[string]DocBlock) error {
	for _, c := range checks {
		db, ok := blocks[c.Name]
		if !ok {
			return fmt.Errorf("check %q has no comment block", c.Name)
		}
		a, b := slices.Clone(db.Spec), slices.Clone(c.Meta.SpecRefs)
		sort.Strings(a)
		sort.Strings(b)
		if !slices.Equal(a, b) {
			return fmt.Errorf("check %q: comment says Spec %v, labels say %v", c.Name, db.Spec, c.Meta.SpecRefs)
		}
		if c.Meta.Should && !strings.Contains(db.Description, "SHOULD") {
			return fmt.Errorf("check %q is decorated Should but its Description has no SHOULD", c.Name)
		}
		if err := ValidateBasis(db, c.Meta); err != nil {
			return fmt.Errorf("check %q: %v", c.Name, err)
		}
	}
	return nil
}

// coverageWriter writes the sections of docs/coverage.md.
type coverageWriter struct{ b bytes.Buffer }

func (w *coverageWriter) printf(format string, args ...any) { fmt.Fprintf(&w.b, format, args...) }

// esc escapes a table cell.
func esc(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// notCovered fills an empty cell: the reason it does not apply, or a
// visible gap.
func notCovered(cell, notApplicable string) string {
	switch {
	case cell == "" && notApplicable != "":
		return "n/a: " + notApplicable
	case cell == "":
		return "**not yet covered**"
	}
	return cell
}

// header writes the title and the counts.
func (w *coverageWriter) header(checks []CheckResult, byModule map[string][]string) {
	w.printf("# Conformance coverage\n\n")
	w.printf("Generated from the suite (`suites/conformance`) by\n`go test ./suites/conformance -run TestCoverageUpToDate -update`; do not edit by hand.\n")
	w.printf("The test fails when this file is stale.\n\n")
	covered, na := 0, 0
	for _, m := range OIDFModules() {
		switch {
		case len(byModule[m.Name]) > 0:
			covered++
		case m.NotApplicable != "":
			na++
		}
	}
	negative := 0
	for _, c := range checks {
		if c.Meta.Negative {
			negative++
		}
	}
	w.printf("%d checks (%d negative). OIDF FAPI-CIBA modules: %d of %d covered, %d not applicable, %d not yet covered.\n\n",
		len(checks), negative, covered, len(OIDFModules()), na, len(OIDFModules())-covered-na)
}

// requirements writes the table of CIBA.md's requirements and the
// sections checks cite beyond them.
func (w *coverageWriter) requirements(checks []CheckResult, blocks map[string]DocBlock) {
	w.printf("## Requirements (shared/CIBA.md) → checks\n\n")
	w.printf("| Section | Requirement | Checks |\n|---|---|---|\n")
	bySection := map[string][]string{}
	for _, c := range checks {
		for _, ref := range c.Meta.SpecRefs {
			bySection[ref] = append(bySection[ref], blocks[c.Name].Testname)
		}
	}
	listed := map[string]bool{}
	for _, req := range Requirements() {
		listed[req.Section] = true
		cell := notCovered(strings.Join(bySection[req.Section], "; "), req.NotApplicable)
		w.printf("| %s | %s | %s |\n", req.Section, esc(req.Text), esc(cell))
	}
	var extra []string
	for s := range bySection {
		if !listed[s] {
			extra = append(extra, s)
		}
	}
	sort.Strings(extra)
	for _, s := range extra {
		w.printf("| %s | (cited by checks) | %s |\n", s, esc(strings.Join(bySection[s], "; ")))
	}
}

// modules writes the table of the OIDF test plan's modules.
func (w *coverageWriter) modules(byModule map[string][]string) {
	w.printf("\n## OIDF FAPI-CIBA test plan modules → checks\n\n")
	w.printf("| # | Module | Applies | Checks |\n|---|---|---|---|\n")
	for _, m := range OIDFModules() {
		cell := notCovered(strings.Join(byModule[m.Name], "; "), m.NotApplicable)
		w.printf("| %d | `%s` | %s | %s |\n", m.Number, m.Name, m.Applies, esc(cell))
	}
}

// checks writes every check with its basis, by section.
func (w *coverageWriter) checks(checks []CheckResult, blocks map[string]DocBlock) {
	w.printf("\n## Checks\n")
	sections := []string{}
	bySec := map[string][]CheckResult{}
	for _, c := range checks {
		if _, ok := bySec[c.Section]; !ok {
			sections = append(sections, c.Section)
		}
		bySec[c.Section] = append(bySec[c.Section], c)
	}
	sort.Strings(sections)
	for _, s := range sections {
		w.printf("\n### %s\n\n| Check | Spec | Level | Labels | Description | Sentence enforced |\n|---|---|---|---|---|---|\n", s)
		for _, c := range bySec[s] {
			db := blocks[c.Name]
			var labels []string
			labels = append(labels, c.Meta.Modes...)
			labels = append(labels, c.Meta.Auth...)
			if c.Meta.Negative {
				labels = append(labels, LabelNegative)
			}
			level := db.Level
			if db.Duty == DutyClient {
				level += " (client's duty)"
			}
			w.printf("| %s<br>`%s` | %s | %s | %s | %s | %s |\n", esc(db.Testname), esc(c.Name), strings.Join(c.Meta.SpecRefs, ", "), level,
				strings.Join(labels, ", "), esc(db.Description), esc(db.Quote))
		}
	}
}

// WriteCoverage writes Coverage to path.
func WriteCoverage(r *Result, srcDir, path string) error {
	data, err := Coverage(r, srcDir)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
