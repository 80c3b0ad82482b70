package device

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/ciba-check/ciba-check/internal/target"
)

// maxCommandOutput bounds the output quoted in an error.
const maxCommandOutput = 2048

// Command runs a shell command template, with {auth_req_id},
// {login_hint} and {action} replaced by shell-quoted values, in the
// target's folder; exit status 0 is success.
type Command struct {
	template string
	dir      string
	timeout  time.Duration
}

// NewCommand checks the template: it must mention {auth_req_id}.
func NewCommand(template, dir string, timeout time.Duration) (*Command, error) {
	if strings.TrimSpace(template) == "" {
		return nil, errors.New("device: the command driver needs a command")
	}
	if !strings.Contains(template, target.PlaceholderAuthReqID) {
		return nil, fmt.Errorf("device: command %q has no %s placeholder", template, target.PlaceholderAuthReqID)
	}
	if timeout <= 0 {
		timeout = DefaultCommandTimeout
	}
	return &Command{template: template, dir: dir, timeout: timeout}, nil
}

// Kind is command.
func (*Command) Kind() target.DeviceKind { return target.DeviceCommand }

// Capabilities: like approval_url, nothing happens until the command runs.
func (*Command) Capabilities() Capabilities {
	return Capabilities{Approve: true, Deny: true, Hold: true}
}

// ShellQuote quotes s for a POSIX shell: the whole value in single
// quotes, each embedded single quote closed, escaped and reopened.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// CommandLine is the shell command run for req and action.
func (c *Command) CommandLine(req Request, action Action) string {
	return strings.NewReplacer(
		target.PlaceholderAuthReqID, ShellQuote(req.AuthReqID),
		target.PlaceholderLoginHint, ShellQuote(req.LoginHint()),
		target.PlaceholderAction, ShellQuote(string(action)),
	).Replace(c.template)
}

// Decide runs the command and waits for it, at most the timeout.
func (c *Command) Decide(ctx context.Context, req Request, action Action) error {
	if err := checkRequest(req, action); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", c.CommandLine(req, action))
	cmd.Dir = c.dir
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	// Do not wait for grandchildren holding the output pipe after a kill.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("device: command to %s %s did not finish within %s", action, req.AuthReqID, c.timeout)
	}
	if err != nil {
		o := out.String()
		if len(o) > maxCommandOutput {
			o = o[:maxCommandOutput] + "…"
		}
		return fmt.Errorf("device: command to %s %s failed: %v; output: %q", action, req.AuthReqID, err, strings.TrimSpace(o))
	}
	return nil
}
