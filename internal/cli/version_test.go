package cli

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// TestVersionFromBuildInfo: `version` prints the module version and the
// VCS revision from build info, and says so when there is none.
func TestVersionFromBuildInfo(t *testing.T) {
	tests := []struct {
		name string
		info *debug.BuildInfo
		ok   bool
		want []string
		not  []string
	}{
		{"go install @tag", &debug.BuildInfo{Main: debug.Module{Path: "github.com/ciba-check/ciba-check", Version: "v1.4.0"}}, true,
			[]string{"ciba-check v1.4.0 ", "(no VCS revision stamped)"}, []string{"devel"}},
		{"build from a clone", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "1d2a5678c0ffee"}, {Key: "vcs.modified", Value: "true"}, {Key: "vcs.time", Value: "2026-12-03T16:00:00Z"}}}, true,
			[]string{"ciba-check devel (revision 1d2a5678c0ffee, modified, 2026-12-03T16:00:00Z)"}, nil},
		{"pseudo-version, clean tree", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261203160000-1d2a5678c0ff"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "1d2a5678c0ffee"}, {Key: "vcs.modified", Value: "false"}}}, true,
			[]string{"ciba-check v0.0.0-20261203160000-1d2a5678c0ff (revision 1d2a5678c0ffee)"}, []string{"modified"}},
		{"no build info", nil, false, []string{"ciba-check devel (no VCS revision stamped)"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, out, _ := TestStreams()
			cmd := NewCmdVersion(&Factory{IO: s}, func(o *VersionOptions) error {
				o.BuildInfo = func() (*debug.BuildInfo, bool) { return tt.info, tt.ok }
				return runVersion(o)
			})
			cmd.SetArgs(nil)
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output %q lacks %q", out.String(), w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(out.String(), n) {
					t.Errorf("output %q has %q", out.String(), n)
				}
			}
		})
	}
}

// TestReadmeInstallsTheModule: the README's install step is `go install`
// of this module's command, the path go.mod declares.
func TestReadmeInstallsTheModule(t *testing.T) {
	mod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	first := strings.SplitN(string(mod), "\n", 2)[0]
	module := strings.TrimSpace(strings.TrimPrefix(first, "module "))
	want := "go install " + module + "/cmd/ciba-check@latest"
	found := false
	for _, c := range readmeCommands(t, filepath.Join("..", "..", "README.md")) {
		if c.Text == want {
			found = true
		}
	}
	if !found {
		t.Errorf("README.md has no install step %q", want)
	}
	if _, err := os.Stat(filepath.Join("..", "..", "cmd", "ciba-check", "main.go")); err != nil {
		t.Errorf("the installed command is not at cmd/ciba-check: %v", err)
	}
}
