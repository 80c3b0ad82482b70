package cli

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/internal/targetclient"
)

// readmeCommand is one shell command from a code block of the README, with
// its continuation lines joined and its trailing comment removed.
type readmeCommand struct {
	Line int
	Text string
}

// readmePrograms are the first words that make a code-block line a
// command (other lines are output, YAML or a file tree).
var readmePrograms = []string{"curl", "ciba-check", "go", "kubectl", "vegeta", "docker", "START_AT="}

// readmeCommands reads every command in the fenced code blocks (``` or
// ```sh) of the README at path.
func readmeCommands(t *testing.T, path string) []readmeCommand {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		cmds    []readmeCommand
		inBlock bool
		shell   bool
		pending *readmeCommand
		lineNo  int
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lineNo++
		raw := sc.Text()
		trimmed := strings.TrimSpace(raw)
		if strings.HasPrefix(trimmed, "```") {
			if !inBlock {
				info := strings.TrimPrefix(trimmed, "```")
				shell = info == "" || info == "sh" || info == "bash" || info == "shell"
			}
			inBlock = !inBlock
			continue
		}
		if !inBlock || !shell {
			continue
		}
		text := stripShellComment(trimmed)
		if pending != nil {
			pending.Text += " " + strings.TrimSuffix(text, `\`)
			if !strings.HasSuffix(text, `\`) {
				cmds = append(cmds, *pending)
				pending = nil
			}
			continue
		}
		isCmd := false
		for _, p := range readmePrograms {
			if strings.HasPrefix(text, p+" ") || (strings.HasSuffix(p, "=") && strings.HasPrefix(text, p)) {
				isCmd = true
			}
		}
		if !isCmd {
			continue
		}
		c := readmeCommand{Line: lineNo, Text: strings.TrimSpace(strings.TrimSuffix(text, `\`))}
		if strings.HasSuffix(text, `\`) {
			pending = &c
			continue
		}
		cmds = append(cmds, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cmds
}

// stripShellComment removes a "# ..." comment that starts after
// whitespace outside quotes.
func stripShellComment(s string) string {
	var quote rune
	for i, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && i > 0 && (s[i-1] == ' ' || s[i-1] == '\t'):
			return strings.TrimSpace(s[:i])
		}
	}
	return strings.TrimSpace(s)
}

// readmeNotRun are the README commands this test does not run, by prefix,
// each with the reason. A command matching neither this table nor the
// runnable kinds below fails the test, so a new README command must be
// decided on.
var readmeNotRun = []struct{ prefix, why string }{
	{"go test ./...", "the test suite itself"},
	{"go install ", "fetches the module from the network; TestVersionFromBuildInfo checks what it installs reports itself"},
	{"go run ./cmd/ciba-check run", "the whole suite (TestRunEmbedded and CI's `go run ./cmd/ciba-check run`)"},
	{"ciba-check run", "the whole suite, or a target that is the reader's own OP"},
	{"ciba-check load ", "load runs of 10 s to minutes (suites/load and load_test.go cover the commands)"},
	{"ciba-check init --dir mybank", "the reader's own OP (TestInit* cover init)"},
	{"ciba-check target check mybank/", "the reader's own OP (TestTargetCheck* cover it)"},
	{"kubectl ", "needs a cluster (go test ./deploy checks the manifests)"},
	{"START_AT=", "needs a cluster (go test ./deploy checks the manifests)"},
	{"docker build", "needs the network for base images (TestDockerfileMatchesDeploy checks the Dockerfile)"},
}

// TestReadmeCommands runs the README's commands that can run offline
// against an in-process `serve`, as a reader would type them: the serve
// command, then every curl against the mock device (PORT, ID and
// AUTH_REQ_ID replaced by the real port and pending requests), each of
// which must answer 2xx. Every other command must be listed in
// readmeNotRun with a reason.
func TestReadmeCommands(t *testing.T) {
	cmds := readmeCommands(t, filepath.Join("..", "..", "README.md"))
	if len(cmds) < 10 {
		t.Fatalf("found only %d commands in README.md; the parser is broken", len(cmds))
	}
	var serveCmd *readmeCommand
	var curls []readmeCommand
	for i, c := range cmds {
		switch {
		case strings.HasPrefix(c.Text, "go run ./cmd/ciba-check serve ") || strings.HasPrefix(c.Text, "ciba-check serve "):
			if serveCmd == nil {
				serveCmd = &cmds[i]
			}
		case strings.HasPrefix(c.Text, "curl "):
			curls = append(curls, c)
		case strings.HasPrefix(c.Text, "ciba-check version"):
			code, out, _ := runCLI(t, "version")
			if code != ExitOK || !strings.HasPrefix(out, "ciba-check ") {
				t.Errorf("README.md:%d: %q: exit %d, output %q", c.Line, c.Text, code, out)
			}
		default:
			found := false
			for _, n := range readmeNotRun {
				if strings.HasPrefix(c.Text, n.prefix) {
					found = true
				}
			}
			if !found {
				t.Errorf("README.md:%d: %q is neither run by this test nor listed in readmeNotRun with a reason", c.Line, c.Text)
			}
		}
	}
	if serveCmd == nil || len(curls) == 0 {
		t.Fatalf("README.md has no serve command (%v) or no curl commands (%d)", serveCmd, len(curls))
	}
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("curl is not installed (.ci/run installs it)")
		}
		t.Skip("curl is not installed")
	}

	// The serve command, in a temporary folder and on free ports.
	dir := t.TempDir()
	args := strings.Fields(serveCmd.Text)
	args = args[slicesIndex(args, "serve"):]
	devDir := ""
	for i := range args {
		if i > 0 && args[i-1] == "--dir" {
			devDir = args[i]
			args[i] = filepath.Join(dir, args[i])
		}
		if i > 0 && strings.HasSuffix(args[i-1], "-addr") {
			args[i] = "127.0.0.1:0"
		}
	}
	if devDir == "" {
		t.Fatalf("README.md:%d: the serve command names no --dir", serveCmd.Line)
	}
	out, _ := startServe(t, args)
	ctx := t.Context()
	tgt, err := target.Load(filepath.Join(dir, devDir, "target.yaml"))
	if err != nil {
		t.Fatalf("serve did not start (%v):\n%s", err, out)
	}

	// Pending requests for the user whose device never answers, for the
	// curl commands that name one.
	pending := func() string {
		t.Helper()
		md, err := targetclient.Discover(ctx, tgt)
		if err != nil {
			t.Fatal(err)
		}
		var tc *target.Client
		for i := range tgt.Clients {
			if tgt.Clients[i].Mode == "poll" {
				tc = &tgt.Clients[i]
				break
			}
		}
		c, err := targetclient.New(tgt, tc, md, nil)
		if err != nil {
			t.Fatal(err)
		}
		ack, _, err := c.Authenticate(ctx, client.AuthParams{Scope: "openid", LoginHint: "carol", BindingMessage: "README"})
		if err != nil {
			t.Fatal(err)
		}
		return ack.AuthReqID
	}
	port := regexp.MustCompile(`https://127\.0\.0\.1:PORT`)
	for _, c := range curls {
		line := c.Text
		line = port.ReplaceAllString(line, tgt.Device.URL)
		line = strings.ReplaceAll(line, " "+strings.TrimSuffix(devDir, "/")+"/", " "+filepath.Join(dir, devDir)+"/")
		line = strings.ReplaceAll(line, " "+strings.TrimPrefix(strings.TrimSuffix(devDir, "/"), "./")+"/", " "+filepath.Join(dir, devDir)+"/")
		if strings.Contains(line, "/requests/ID/") {
			line = strings.Replace(line, "/requests/ID/", "/requests/"+pending()+"/", 1)
		}
		if strings.Contains(line, "AUTH_REQ_ID") {
			line = strings.Replace(line, "AUTH_REQ_ID", pending(), 1)
		}
		// -w prints the status on a last line of its own; -sS keeps errors.
		cmd := exec.CommandContext(ctx, "sh", "-c", line+` -sS -w '\n%{http_code}'`)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("README.md:%d: %s\n%v: %s", c.Line, c.Text, err, b)
			continue
		}
		outLines := strings.Split(strings.TrimSpace(string(b)), "\n")
		status := outLines[len(outLines)-1]
		if !strings.HasPrefix(status, "2") {
			t.Errorf("README.md:%d: %s\nanswered HTTP %s: %s", c.Line, c.Text, status, b)
		}
	}
}

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return 0
}

// runCLI runs ciba-check with args in-process and returns the exit code,
// standard output and standard error.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	s, _, out, errOut := TestStreams()
	code := Run(context.Background(), args, &Factory{IO: s, Version: buildVersion()})
	return code, out.String(), errOut.String()
}
