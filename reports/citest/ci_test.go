package citest

// The CI surfaces (action.yml and .github/workflows) are linted here with
// actionlint used as a library, so a broken workflow fails `go test`.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/rhysd/actionlint"
)

// repoRoot is the directory holding go.mod, found upwards from the test's
// working directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

// lintFiles runs actionlint on files of the repository at root and
// returns its findings as text ("" when clean). shellcheck and pyflakes
// are off so the result does not depend on what the machine has.
func lintFiles(t *testing.T, root string, files ...string) string {
	t.Helper()
	var out bytes.Buffer
	l, err := actionlint.NewLinter(&out, &actionlint.LinterOptions{WorkingDir: root, Oneline: true})
	if err != nil {
		t.Fatal(err)
	}
	proj, err := actionlint.NewProject(root)
	if err != nil {
		t.Fatal(err)
	}
	errs, err := l.LintFiles(files, proj)
	if err != nil {
		t.Fatalf("actionlint: %v", err)
	}
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "%s:%d:%d: %s [%s]\n", e.Filepath, e.Line, e.Column, e.Message, e.Kind)
	}
	return b.String()
}

// actionAsWorkflow turns a composite action's steps into a reusable
// workflow with the same inputs. actionlint checks action metadata only
// where a workflow uses the action; linted as a workflow, every step's
// expressions, contexts and input references are checked too.
func actionAsWorkflow(action []byte) ([]byte, error) {
	var a struct {
		Inputs map[string]struct {
			Default  string `yaml:"default"`
			Required bool   `yaml:"required"`
		} `yaml:"inputs"`
		Runs struct {
			Using string `yaml:"using"`
			Steps []any  `yaml:"steps"`
		} `yaml:"runs"`
	}
	if err := yaml.Unmarshal(action, &a); err != nil {
		return nil, fmt.Errorf("action.yml does not parse: %w", err)
	}
	if a.Runs.Using != "composite" || len(a.Runs.Steps) == 0 {
		return nil, fmt.Errorf("action.yml is not a composite action with steps (runs.using %q)", a.Runs.Using)
	}
	inputs := map[string]any{}
	for name, in := range a.Inputs {
		inputs[name] = map[string]any{"type": "string", "required": in.Required, "default": in.Default}
	}
	wf := map[string]any{
		"name": "action.yml steps",
		"on":   map[string]any{"workflow_call": map[string]any{"inputs": inputs}},
		"jobs": map[string]any{"action": map[string]any{"runs-on": "ubuntu-latest", "steps": a.Runs.Steps}},
	}
	return yaml.Marshal(wf)
}

// lintAction lints the composite action at root/action.yml as a workflow
// in a scratch repository.
func lintAction(t *testing.T, actionPath string) string {
	t.Helper()
	data, err := os.ReadFile(actionPath)
	if err != nil {
		t.Fatal(err)
	}
	wf, err := actionAsWorkflow(data)
	if err != nil {
		return err.Error()
	}
	scratch := t.TempDir()
	dir := filepath.Join(scratch, ".github", "workflows")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "action-steps.yml")
	if err := os.WriteFile(path, wf, 0o644); err != nil {
		t.Fatal(err)
	}
	return lintFiles(t, scratch, path)
}

func workflowFiles(t *testing.T, root string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.yaml"))
	return append(files, more...)
}

func TestWorkflowsLint(t *testing.T) {
	root := repoRoot(t)
	files := workflowFiles(t, root)
	if len(files) == 0 {
		t.Fatal("no workflows under .github/workflows")
	}
	// The workflows use the action (uses: ./), so this also checks
	// action.yml's metadata and the inputs passed to it.
	if out := lintFiles(t, root, files...); out != "" {
		t.Errorf("actionlint found problems in the workflows:\n%s", out)
	}
}

func TestActionLint(t *testing.T) {
	if out := lintAction(t, filepath.Join(repoRoot(t), "action.yml")); out != "" {
		t.Errorf("actionlint found problems in action.yml's steps:\n%s", out)
	}
}

// TestActionlintCatchesBreakage proves the two tests above can fail: a
// broken copy of each file must draw findings.
func TestActionlintCatchesBreakage(t *testing.T) {
	root := repoRoot(t)
	action, err := os.ReadFile(filepath.Join(root, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	ci, err := os.ReadFile(filepath.Join(root, ".github", "workflows", "ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	mustReplace := func(s, old, new string) []byte {
		t.Helper()
		if !strings.Contains(s, old) {
			t.Fatalf("the file no longer contains %q; update this test", old)
		}
		return []byte(strings.Replace(s, old, new, 1))
	}
	workflowCases := []struct {
		name     string
		workflow []byte
		want     string
	}{
		{"undeclared action input", mustReplace(string(ci), "command: run", "command: run\n          colour: always"), `input "colour" is not defined`},
		{"unknown job in needs", mustReplace(string(ci), "needs: test", "needs: tests"), `"tests"`},
		{"bad expression", mustReplace(string(ci), "${{ steps.conformance.outputs.exit-code }}", "${{ steps.conformance.outputs.exit-code) }}"), "expression"},
		{"unknown context", mustReplace(string(ci), "${{ github.ref }}", "${{ gihub.ref }}"), `undefined variable "gihub"`},
	}
	for _, tc := range workflowCases {
		t.Run("workflow/"+tc.name, func(t *testing.T) {
			scratch := t.TempDir()
			wfDir := filepath.Join(scratch, ".github", "workflows")
			if err := os.MkdirAll(wfDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(scratch, "action.yml"), action, 0o644); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(wfDir, "ci.yml")
			if err := os.WriteFile(path, tc.workflow, 0o644); err != nil {
				t.Fatal(err)
			}
			out := lintFiles(t, scratch, path)
			if !strings.Contains(out, tc.want) {
				t.Errorf("actionlint output lacks %q:\n%s", tc.want, out)
			}
		})
	}
	actionCases := []struct {
		name   string
		action []byte
		want   string
	}{
		{"undefined input", mustReplace(string(action), "${{ inputs.command }}", "${{ inputs.comand }}"), `property "comand" is not defined`},
		{"unknown step key", mustReplace(string(action), "shell: bash", "shel: bash"), `unexpected key "shel"`},
		{"not composite", mustReplace(string(action), "using: composite", "using: node20"), "not a composite action"},
	}
	for _, tc := range actionCases {
		t.Run("action/"+tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "action.yml")
			if err := os.WriteFile(path, tc.action, 0o644); err != nil {
				t.Fatal(err)
			}
			out := lintAction(t, path)
			if !strings.Contains(out, tc.want) {
				t.Errorf("actionlint output lacks %q:\n%s", tc.want, out)
			}
		})
	}
}

// TestDocsWorkflowLints lints the GitHub workflow docs/ci.md tells users
// to copy, so the documentation cannot drift into a broken example.
func TestDocsWorkflowLints(t *testing.T) {
	root := repoRoot(t)
	doc, err := os.ReadFile(filepath.Join(root, "docs", "ci.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	start := strings.Index(s, "## GitHub Actions")
	if start < 0 {
		t.Fatal("docs/ci.md has no GitHub Actions section")
	}
	s = s[start:]
	open := strings.Index(s, "```yaml\n")
	if open < 0 {
		t.Fatal("docs/ci.md's GitHub Actions section has no yaml block")
	}
	s = s[open+len("```yaml\n"):]
	workflow := s[:strings.Index(s, "```")]
	scratch := t.TempDir()
	dir := filepath.Join(scratch, ".github", "workflows")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ciba-check.yml")
	if err := os.WriteFile(path, []byte(workflow), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := lintFiles(t, scratch, path); out != "" {
		t.Errorf("actionlint found problems in the workflow of docs/ci.md:\n%s", out)
	}
}
