package device

import (
	"context"
	"fmt"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/target"
)

// Hints is for OPs that decide by login_hint themselves (as many test
// OPs do): there is nothing to drive. Decide only confirms that the
// user's scripted outcome is the action asked for.
type Hints struct {
	caps Capabilities
}

// NewHints derives the capabilities from the users' outcomes.
func NewHints(users []target.User) *Hints {
	h := &Hints{caps: Capabilities{FollowsUserOutcomes: true}}
	for i := range users {
		switch outcomeOf(&users[i]) {
		case ciba.OutcomeApprove:
			h.caps.Approve = true
		case ciba.OutcomeDeny:
			h.caps.Deny = true
		}
	}
	return h
}

func outcomeOf(u *target.User) ciba.Outcome {
	if u.Outcome == "" {
		return ciba.OutcomeApprove
	}
	return u.Outcome
}

// Kind is hints.
func (*Hints) Kind() target.DeviceKind { return target.DeviceHints }

// Capabilities: approve and deny as far as some user has that outcome;
// never hold.
func (h *Hints) Capabilities() Capabilities { return h.caps }

// Decide succeeds when the OP will do action by itself for req.User.
func (h *Hints) Decide(_ context.Context, req Request, action Action) error {
	if err := checkRequest(req, action); err != nil {
		return err
	}
	if req.User == nil {
		return fmt.Errorf("%w: the hints driver needs to know the user", ErrUnsupported)
	}
	want := ciba.OutcomeApprove
	if action == ActionDeny {
		want = ciba.OutcomeDeny
	}
	if got := outcomeOf(req.User); got != want {
		return fmt.Errorf("%w: with device kind hints, user %q gets %q from the OP, not %q", ErrUnsupported, req.User.Name, got, want)
	}
	return nil
}
