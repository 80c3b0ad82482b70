package device

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/ciba-check/ciba-check/internal/target"
)

// Manual asks a human operator: it prints the request and what to do
// with it, and reads back what the operator did ("approve" or "deny").
type Manual struct {
	out io.Writer

	mu    sync.Mutex // one question at a time
	lines chan string
	once  sync.Once
	in    io.Reader
}

// NewManual asks on out and reads answers from in, a line each.
func NewManual(in io.Reader, out io.Writer) *Manual {
	return &Manual{in: in, out: out, lines: make(chan string)}
}

// Kind is manual.
func (*Manual) Kind() target.DeviceKind { return target.DeviceManual }

// Capabilities: a human can do anything, whenever asked.
func (*Manual) Capabilities() Capabilities {
	return Capabilities{Approve: true, Deny: true, Hold: true}
}

// read delivers the operator's lines. One goroutine reads the terminal
// for the driver's life; it ends at end of input.
func (m *Manual) read() {
	sc := bufio.NewScanner(m.in)
	for sc.Scan() {
		m.lines <- sc.Text()
	}
	close(m.lines)
}

// Decide prints the request and waits for the operator's answer.
func (m *Manual) Decide(ctx context.Context, req Request, action Action) error {
	if err := checkRequest(req, action); err != nil {
		return err
	}
	// The operator is shown the auth_req_id: nothing outside its
	// character set reaches the terminal.
	if err := checkOPValues(req); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.once.Do(func() { go m.read() })
	verb := "APPROVE"
	if action == ActionDeny {
		verb = "DENY"
	}
	fmt.Fprintf(m.out, "\nAuthentication request %s\n  user: %s\n  client: %s\n", req.AuthReqID, req.LoginHint(), req.ClientID)
	if req.BindingMessage != "" {
		fmt.Fprintf(m.out, "  binding message: %q\n", req.BindingMessage)
	}
	fmt.Fprintf(m.out, "Please %s it on the authentication device, then type what you did (approve/deny): ", verb)
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("device: waiting for the operator: %w", ctx.Err())
		case line, ok := <-m.lines:
			if !ok {
				return errors.New("device: the operator's input ended before an answer")
			}
			switch strings.ToLower(strings.TrimSpace(line)) {
			case "approve", "approved", "allow", "a":
				if action != ActionAllow {
					return errors.New("device: the operator approved, but the check needed a denial")
				}
				return nil
			case "deny", "denied", "d":
				if action != ActionDeny {
					return errors.New("device: the operator denied, but the check needed an approval")
				}
				return nil
			case "":
			default:
				fmt.Fprint(m.out, "Please type approve or deny: ")
			}
		}
	}
}
