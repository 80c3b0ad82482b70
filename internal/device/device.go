// Package device drives the end-user's authentication device of an OP
// under test: it makes the user approve or deny a CIBA request (CIBA 1:
// the authentication device is where the user consents). One driver per
// target.yaml device kind: mockdevice, approval_url, hints, command and
// manual.
//
// A driver states what it can do (Capabilities), so a conformance check
// that needs a denial or a request held pending can skip with a reason
// instead of passing without having tested anything.
package device

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/target"
)

// Action is what the user does with a request: the {action} of the OIDF
// suite's automated_ciba_approval_url contract.
type Action string

// The two actions.
const (
	ActionAllow Action = "allow"
	ActionDeny  Action = "deny"
)

// Valid reports whether a is allow or deny.
func (a Action) Valid() bool { return a == ActionAllow || a == ActionDeny }

// Request identifies the authentication request the user acts on.
type Request struct {
	// AuthReqID is the OP's acknowledgement id (CIBA 7.3).
	AuthReqID string
	// User is the test user the request was made for.
	User *target.User
	// ClientID and BindingMessage are shown to a human operator.
	ClientID       string
	BindingMessage string
}

// LoginHint is the hint value identifying the user (login_hint,
// login_hint_token or id_token_hint, whichever the user has).
func (r Request) LoginHint() string {
	if r.User == nil {
		return ""
	}
	_, v := r.User.Hint()
	return v
}

// Capabilities say which outcomes a driver can produce.
type Capabilities struct {
	// Approve and Deny: the driver can make the user approve / deny.
	Approve, Deny bool
	// Hold: a request can stay pending while the driver waits, and be
	// decided later on demand (approval_url, command, manual; mockdevice
	// for users whose outcome is "never").
	Hold bool
	// FollowsUserOutcomes: the device acts by itself according to the
	// users' scripted outcomes in target.yaml (mockdevice, hints); when
	// false nothing happens until Decide is called.
	FollowsUserOutcomes bool
}

// Driver makes the user behind a request approve or deny it.
type Driver interface {
	Kind() target.DeviceKind
	Capabilities() Capabilities
	// Decide makes the user take action on req and returns once the
	// device has accepted the decision (for the mock device: once it has
	// called the OP back). An action the driver cannot produce returns an
	// error wrapping ErrUnsupported.
	Decide(ctx context.Context, req Request, action Action) error
}

// Shown is what the authentication device displayed to the user.
type Shown struct {
	LoginHint, Scope, BindingMessage, UserCode, ClientID string
}

// Observer is implemented by drivers that can report what the device
// showed for a request (the mock device), so checks can assert that a
// binding_message was displayed faithfully (CIBA 7.1, FAPI-CIBA 5.2.2-2).
type Observer interface {
	Shown(ctx context.Context, authReqID string) (Shown, error)
}

// ErrUnsupported reports an action the driver cannot produce.
var ErrUnsupported = errors.New("device: the driver cannot produce this outcome")

// DefaultCommandTimeout bounds one run of a command driver.
const DefaultCommandTimeout = 30 * time.Second

// Options are what drivers need from the caller.
type Options struct {
	// HTTPClient calls the mock device and approval URLs; it should trust
	// the target's CA. Nil means http.DefaultClient.
	HTTPClient *http.Client
	// In and Out are the operator's terminal for the manual driver.
	In  io.Reader
	Out io.Writer
	// CommandTimeout bounds one command run; 0 means DefaultCommandTimeout.
	CommandTimeout time.Duration
}

// New returns the driver target.yaml's device section asks for.
func New(t *target.Target, o Options) (Driver, error) {
	if t == nil {
		return nil, errors.New("device: no target")
	}
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = DefaultCommandTimeout
	}
	switch t.Device.Kind {
	case target.DeviceMock:
		return NewMockDevice(t.Device.URL, o.HTTPClient)
	case target.DeviceApprovalURL:
		return NewApprovalURL(t.Device.ApprovalURL, o.HTTPClient)
	case target.DeviceHints:
		return NewHints(t.Users), nil
	case target.DeviceCommand:
		return NewCommand(t.Device.Command, t.BaseDir, o.CommandTimeout)
	case target.DeviceManual:
		if o.In == nil || o.Out == nil {
			return nil, errors.New("device: the manual driver needs the operator's terminal (Options.In and Options.Out)")
		}
		return NewManual(o.In, o.Out), nil
	}
	return nil, fmt.Errorf("device: unknown device kind %q", t.Device.Kind)
}

// UnsafeValueError is a value from the OP that a driver refuses to pass
// on because it is outside the character set its spec allows: it is
// never put into a command, a URL or the operator's terminal. The OP is
// at fault; the conformance check of the value's format fails for it.
type UnsafeValueError struct {
	// Name is the value's name, e.g. auth_req_id.
	Name string
	// Value is the value as the OP sent it.
	Value string
	// Rule quotes the spec's rule on its characters.
	Rule string
}

func (e *UnsafeValueError) Error() string {
	v := e.Value
	if len(v) > 64 {
		v = v[:64] + "…"
	}
	return fmt.Sprintf("device: the OP's %s %q is outside the characters its spec allows (%s); ciba-check does not pass it to the device", e.Name, v, e.Rule)
}

// checkOPValues refuses a request whose auth_req_id (the one value the
// OP supplies to a driver) is outside the CIBA 7.3 character set.
// Drivers that put the value into a command, a URL or the terminal call
// it before doing so.
func checkOPValues(req Request) error {
	if !ciba.ValidAuthReqID(req.AuthReqID) {
		return &UnsafeValueError{Name: ciba.ParamAuthReqID, Value: req.AuthReqID, Rule: ciba.AuthReqIDCharsetQuote}
	}
	return nil
}

func checkRequest(req Request, action Action) error {
	if req.AuthReqID == "" {
		return errors.New("device: request has no auth_req_id")
	}
	if !action.Valid() {
		return fmt.Errorf("device: action %q is not allow or deny", action)
	}
	return nil
}
