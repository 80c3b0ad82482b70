package ciba

import "fmt"

// Outcome is what the user behind an authentication device does with an
// authentication request: the one vocabulary of target.yaml's users
// (internal/target) and the mock device's policies (mockdevice).
type Outcome string

// The outcomes.
const (
	// OutcomeApprove: the user consents; the device answers the OP with
	// SUCCEED.
	OutcomeApprove Outcome = "approve"
	// OutcomeDeny: the user refuses (access_denied, CIBA 11); the device
	// answers UNAUTHORIZED.
	OutcomeDeny Outcome = "deny"
	// OutcomeNever: no answer; the request stays pending until it
	// expires (expired_token) or is decided by hand.
	OutcomeNever Outcome = "never"
	// OutcomeCancel: the user abandons the request; the device answers
	// CANCELLED.
	OutcomeCancel Outcome = "cancel"
	// OutcomeError: the device fails (transaction_failed, CIBA 12); the
	// mock device refuses the OP's POST.
	OutcomeError Outcome = "error"
)

// Outcomes returns every outcome, in the order error messages list them.
func Outcomes() []Outcome {
	return []Outcome{OutcomeApprove, OutcomeDeny, OutcomeNever, OutcomeCancel, OutcomeError}
}

// Valid reports whether o is a known outcome.
func (o Outcome) Valid() bool {
	switch o {
	case OutcomeApprove, OutcomeDeny, OutcomeNever, OutcomeCancel, OutcomeError:
		return true
	}
	return false
}

// ParseOutcome parses an outcome name as written in configuration files:
// approve, deny, cancel, never or error.
func ParseOutcome(s string) (Outcome, error) {
	if o := Outcome(s); o.Valid() {
		return o, nil
	}
	return "", fmt.Errorf("unknown outcome %q (want approve, deny, cancel, never or error)", s)
}

// DeviceStatus is the callback status the outcome sends the OP; ok is
// false for outcomes that send none (never, error).
func (o Outcome) DeviceStatus() (status DeviceStatus, ok bool) {
	switch o {
	case OutcomeApprove:
		return DeviceSucceed, true
	case OutcomeDeny:
		return DeviceUnauthorized, true
	case OutcomeCancel:
		return DeviceCancelled, true
	}
	return "", false
}
