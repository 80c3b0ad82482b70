package device

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ciba-check/ciba-check/internal/target"
)

// maxCommandOutput bounds the output quoted in an error.
const maxCommandOutput = 2048

// The environment variables a command receives the values in, beside its
// arguments: a shell script reads them as "$CIBA_CHECK_AUTH_REQ_ID".
const (
	EnvAuthReqID = "CIBA_CHECK_AUTH_REQ_ID"
	EnvLoginHint = "CIBA_CHECK_LOGIN_HINT"
	EnvAction    = "CIBA_CHECK_ACTION"
)

// Command runs a program for each decision, in the target's folder, and
// counts exit status 0 as success. It never runs a shell of its own:
//
//   - The template is split into words the way a POSIX shell splits a
//     simple command: blanks separate words, '...' keeps everything
//     literal, "..." keeps everything literal except \" \\ \$ \` and a
//     backslash escapes the next character. The first word is the
//     program (relative to the target's folder when it holds a "/").
//   - Each placeholder ({auth_req_id}, {login_hint}, {action}) is
//     replaced inside its word by the value itself, whatever quotes
//     surround it: a value is never split, expanded or interpreted.
//   - Syntax only a shell understands (unquoted | & ; < > ( ) # or a new
//     line, $ or ` outside single quotes) is refused when the driver is
//     built: put such a command in a script.
//   - A placeholder inside the script of sh -c (or bash -c, ...) is
//     refused: there the value would be code. Such a script reads the
//     values from the environment instead: CIBA_CHECK_AUTH_REQ_ID,
//     CIBA_CHECK_LOGIN_HINT and CIBA_CHECK_ACTION are set for every
//     command.
//
// And the OP's auth_req_id must be of the CIBA 7.3 character set, or
// the command is not run at all (UnsafeValueError).
type Command struct {
	template string
	words    []cmdWord
	dir      string
	timeout  time.Duration
}

// cmdPart is a literal piece of a word or a placeholder.
type cmdPart struct {
	lit, placeholder string
}

type cmdWord []cmdPart

// NewCommand checks the template: it must mention {auth_req_id} and be a
// simple command (see Command).
func NewCommand(template, dir string, timeout time.Duration) (*Command, error) {
	if strings.TrimSpace(template) == "" {
		return nil, errors.New("device: the command driver needs a command")
	}
	if !strings.Contains(template, target.PlaceholderAuthReqID) {
		return nil, fmt.Errorf("device: command %q has no %s placeholder", template, target.PlaceholderAuthReqID)
	}
	words, err := splitCommand(template)
	if err != nil {
		return nil, fmt.Errorf("device: command %q: %w", template, err)
	}
	if err := checkShellScript(words); err != nil {
		return nil, fmt.Errorf("device: command %q: %w", template, err)
	}
	if timeout <= 0 {
		timeout = DefaultCommandTimeout
	}
	return &Command{template: template, words: words, dir: dir, timeout: timeout}, nil
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

// Program is the program the command runs (its first word, as written),
// for messages and for checking that it exists.
func (c *Command) Program() string { return c.words[0].text() }

// ProgramPath is Program resolved the way Decide runs it: relative to
// the target's folder when it holds a "/" (exec.Cmd.Path is evaluated
// relative to Dir), else looked up in PATH.
func (c *Command) ProgramPath() string {
	p := c.Program()
	if strings.ContainsRune(p, '/') && !filepath.IsAbs(p) && c.dir != "" {
		return filepath.Join(c.dir, p)
	}
	return p
}

// Args are the program's arguments for req and action, argv[0] first:
// each placeholder replaced by the value inside its word.
func (c *Command) Args(req Request, action Action) []string {
	values := map[string]string{
		target.PlaceholderAuthReqID: req.AuthReqID,
		target.PlaceholderLoginHint: req.LoginHint(),
		target.PlaceholderAction:    string(action),
	}
	args := make([]string, len(c.words))
	for i, w := range c.words {
		var b strings.Builder
		for _, p := range w {
			if p.placeholder != "" {
				b.WriteString(values[p.placeholder])
			} else {
				b.WriteString(p.lit)
			}
		}
		args[i] = b.String()
	}
	return args
}

// Decide runs the command and waits for it, at most the timeout.
func (c *Command) Decide(ctx context.Context, req Request, action Action) error {
	if err := checkRequest(req, action); err != nil {
		return err
	}
	if err := checkOPValues(req); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	args := c.Args(req, action)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(),
		EnvAuthReqID+"="+req.AuthReqID,
		EnvLoginHint+"="+req.LoginHint(),
		EnvAction+"="+string(action),
	)
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

// commandPlaceholders are the placeholders a command template may hold.
var commandPlaceholders = []string{target.PlaceholderAuthReqID, target.PlaceholderLoginHint, target.PlaceholderAction}

// splitCommand splits a template into words (see Command), keeping the
// placeholders apart from the literal text around them.
func splitCommand(tmpl string) ([]cmdWord, error) {
	l := &cmdLexer{tmpl: tmpl}
	for l.i < len(tmpl) {
		if l.placeholder() {
			continue
		}
		var err error
		switch l.state {
		case quoteSingle:
			l.single()
		case quoteDouble:
			err = l.double()
		default:
			err = l.unquoted()
		}
		if err != nil {
			return nil, err
		}
	}
	switch l.state {
	case quoteSingle:
		return nil, errors.New("a ' quote is not closed")
	case quoteDouble:
		return nil, errors.New(`a " quote is not closed`)
	}
	l.endWord()
	if len(l.words) == 0 {
		return nil, errors.New("no program to run")
	}
	for _, p := range l.words[0] {
		if p.placeholder != "" {
			return nil, fmt.Errorf("the program name cannot be a placeholder (%s)", p.placeholder)
		}
	}
	return l.words, nil
}

// The quoting states of cmdLexer.
const (
	quoteNone = iota
	quoteSingle
	quoteDouble
)

// cmdLexer is splitCommand's state: the template, the position in it,
// the quoting state, the words so far, the word and the literal text
// being read.
type cmdLexer struct {
	tmpl   string
	i      int
	state  int
	words  []cmdWord
	cur    cmdWord
	lit    strings.Builder
	inWord bool
}

func (l *cmdLexer) flushLit() {
	if l.lit.Len() > 0 {
		l.cur = append(l.cur, cmdPart{lit: l.lit.String()})
		l.lit.Reset()
	}
}

func (l *cmdLexer) endWord() {
	l.flushLit()
	if l.inWord {
		l.words = append(l.words, l.cur)
	}
	l.cur, l.inWord = nil, false
}

// placeholder consumes a placeholder at the position, if there is one.
func (l *cmdLexer) placeholder() bool {
	for _, ph := range commandPlaceholders {
		if strings.HasPrefix(l.tmpl[l.i:], ph) {
			l.flushLit()
			l.cur = append(l.cur, cmdPart{placeholder: ph})
			l.inWord = true
			l.i += len(ph)
			return true
		}
	}
	return false
}

// single reads one character inside '...': everything is literal up to
// the closing quote.
func (l *cmdLexer) single() {
	if ch := l.tmpl[l.i]; ch == '\'' {
		l.state = quoteNone
	} else {
		l.lit.WriteByte(ch)
	}
	l.i++
}

// double reads one character inside "...": a backslash escapes " \ $ and
// `, and $ or ` (a shell's expansions) are refused.
func (l *cmdLexer) double() error {
	ch := l.tmpl[l.i]
	switch ch {
	case '"':
		l.state = quoteNone
		l.i++
	case '\\':
		if l.i+1 < len(l.tmpl) && strings.IndexByte("\"\\$`", l.tmpl[l.i+1]) >= 0 {
			l.lit.WriteByte(l.tmpl[l.i+1])
			l.i += 2
		} else {
			l.lit.WriteByte(ch)
			l.i++
		}
	case '$', '`':
		return fmt.Errorf("%q inside double quotes would be expanded by a shell, and the command runs without one: put the command in a script, or quote it with '...'", ch)
	default:
		l.lit.WriteByte(ch)
		l.i++
	}
	return nil
}

// unquoted reads one character outside quotes: blanks end a word, quotes
// and backslashes work as in a shell, and other shell syntax is refused.
func (l *cmdLexer) unquoted() error {
	ch := l.tmpl[l.i]
	switch {
	case ch == ' ' || ch == '\t':
		l.endWord()
		l.i++
	case ch == '\'':
		l.state, l.inWord = quoteSingle, true
		l.i++
	case ch == '"':
		l.state, l.inWord = quoteDouble, true
		l.i++
	case ch == '\\':
		if l.i+1 >= len(l.tmpl) {
			return errors.New("ends with a backslash")
		}
		if l.tmpl[l.i+1] != '\n' {
			l.lit.WriteByte(l.tmpl[l.i+1])
			l.inWord = true
		}
		l.i += 2
	case strings.IndexByte("|&;<>()$`\n\r", ch) >= 0 || (ch == '#' && !l.inWord):
		what := fmt.Sprintf("%q", ch)
		if ch == '\n' || ch == '\r' {
			what = "a line break"
		}
		return fmt.Errorf("%s is shell syntax, and the command runs without a shell: put the command in a script (it gets the values as arguments and as $%s, $%s, $%s)", what, EnvAuthReqID, EnvLoginHint, EnvAction)
	default:
		l.lit.WriteByte(ch)
		l.inWord = true
		l.i++
	}
	return nil
}

// shells are programs that run their -c argument as a script.
var shells = []string{"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish", "busybox"}

// checkShellScript refuses a placeholder in the script of `sh -c`: a
// value put there would be shell code. Such a script reads the values
// from the environment.
func checkShellScript(words []cmdWord) error {
	if !slices.Contains(shells, filepath.Base(words[0].text())) {
		return nil
	}
	script := false
	for _, w := range words[1:] {
		t := w.text()
		if strings.HasPrefix(t, "-") && !strings.HasPrefix(t, "--") && strings.ContainsRune(t, 'c') {
			script = true
			continue
		}
		if strings.HasPrefix(t, "-") {
			continue
		}
		if script && w.hasPlaceholder() {
			return fmt.Errorf("a placeholder inside the script of %s -c would be shell code: write \"$%s\" (and $%s, $%s) in the script instead; the command gets them in its environment", words[0].text(), EnvAuthReqID, EnvLoginHint, EnvAction)
		}
		return nil
	}
	return nil
}

func (w cmdWord) text() string {
	var b strings.Builder
	for _, p := range w {
		b.WriteString(p.lit + p.placeholder)
	}
	return b.String()
}

func (w cmdWord) hasPlaceholder() bool {
	return slices.ContainsFunc(w, func(p cmdPart) bool { return p.placeholder != "" })
}
