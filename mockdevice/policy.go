package mockdevice

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
)

// DefaultErrorStatus is the status ciba.OutcomeError answers when the policy
// names none: the device is "unavailable".
const DefaultErrorStatus = http.StatusServiceUnavailable

// Policy scripts the user behind a login_hint.
type Policy struct {
	Outcome ciba.Outcome
	// Delay is how long the user takes before approving, denying or
	// cancelling, measured on Config.Clock. Only for those three outcomes.
	Delay time.Duration
	// ErrorStatus is what ciba.OutcomeError answers the OP's POST with (4xx or
	// 5xx); zero means DefaultErrorStatus. Only for ciba.OutcomeError.
	ErrorStatus int
}

// Validate reports whether the policy can be carried out.
func (p Policy) Validate() error {
	if _, err := ciba.ParseOutcome(string(p.Outcome)); err != nil {
		return fmt.Errorf("mockdevice: %w", err)
	}
	if p.Delay < 0 {
		return fmt.Errorf("mockdevice: negative delay %v", p.Delay)
	}
	if _, decides := p.Outcome.DeviceStatus(); p.Delay != 0 && !decides {
		return fmt.Errorf("mockdevice: a delay applies only to approve, deny and cancel, not %s", p.Outcome)
	}
	if p.ErrorStatus != 0 {
		if p.Outcome != ciba.OutcomeError {
			return fmt.Errorf("mockdevice: error_status applies only to the error outcome, not %s", p.Outcome)
		}
		if p.ErrorStatus < 400 || p.ErrorStatus > 599 {
			return fmt.Errorf("mockdevice: error_status %d is not an HTTP error status (400-599)", p.ErrorStatus)
		}
	}
	return nil
}

// errorStatus is the status an ciba.OutcomeError policy answers with.
func (p Policy) errorStatus() int {
	if p.ErrorStatus == 0 {
		return DefaultErrorStatus
	}
	return p.ErrorStatus
}

// String renders the policy in the form ParsePolicy reads.
func (p Policy) String() string {
	switch {
	case p.Delay > 0:
		return fmt.Sprintf("%s after %s", p.Outcome, p.Delay)
	case p.Outcome == ciba.OutcomeError && p.ErrorStatus != 0:
		return fmt.Sprintf("%s %d", p.Outcome, p.ErrorStatus)
	}
	return string(p.Outcome)
}

// ParsePolicy reads the short form used in target files: an outcome name,
// "<outcome> after <duration>" (e.g. "approve after 5s") or
// "error <status>" (e.g. "error 503").
func ParsePolicy(s string) (Policy, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return Policy{}, fmt.Errorf("mockdevice: empty policy")
	}
	outcome, err := ciba.ParseOutcome(fields[0])
	if err != nil {
		return Policy{}, fmt.Errorf("mockdevice: %w", err)
	}
	p := Policy{Outcome: outcome}
	switch {
	case len(fields) == 1:
	case len(fields) == 3 && fields[1] == "after":
		if p.Delay, err = time.ParseDuration(fields[2]); err != nil {
			return Policy{}, fmt.Errorf("mockdevice: policy %q: bad delay: %v", s, err)
		}
	case len(fields) == 2 && outcome == ciba.OutcomeError:
		if p.ErrorStatus, err = strconv.Atoi(fields[1]); err != nil {
			return Policy{}, fmt.Errorf("mockdevice: policy %q: bad status %q", s, fields[1])
		}
	default:
		return Policy{}, fmt.Errorf(`mockdevice: policy %q: want "<outcome>", "<outcome> after <duration>" or "error <status>"`, s)
	}
	if err := p.Validate(); err != nil {
		return Policy{}, fmt.Errorf("mockdevice: policy %q: %w", s, err)
	}
	return p, nil
}

// policyJSON is the wire form of a Policy: the delay as a Go duration
// string ("2s", "1m30s").
type policyJSON struct {
	Outcome     ciba.Outcome `json:"outcome"`
	Delay       string       `json:"delay,omitempty"`
	ErrorStatus int          `json:"error_status,omitempty"`
}

// MarshalJSON writes {"outcome": ..., "delay": "2s", "error_status": 503}.
func (p Policy) MarshalJSON() ([]byte, error) {
	w := policyJSON{Outcome: p.Outcome, ErrorStatus: p.ErrorStatus}
	if p.Delay != 0 {
		w.Delay = p.Delay.String()
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads the form MarshalJSON writes and validates it.
func (p *Policy) UnmarshalJSON(data []byte) error {
	var w policyJSON
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	q, err := w.policy()
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// policy converts and validates the wire form.
func (w policyJSON) policy() (Policy, error) {
	p := Policy{Outcome: w.Outcome, ErrorStatus: w.ErrorStatus}
	if w.Delay != "" {
		d, err := time.ParseDuration(w.Delay)
		if err != nil {
			return Policy{}, fmt.Errorf("mockdevice: bad delay %q: %v", w.Delay, err)
		}
		p.Delay = d
	}
	if err := p.Validate(); err != nil {
		return Policy{}, err
	}
	return p, nil
}
