package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// Exit codes, the same for every command (DESIGN.md).
const (
	ExitOK     = 0 // all checks passed, thresholds held
	ExitFailed = 1 // a check failed or a threshold was breached
	ExitUsage  = 2 // usage, configuration or target error
	// ExitInterrupted: a load run was stopped by SIGINT (Ctrl-C) or
	// SIGTERM before its duration was up; what it measured is printed and
	// written (JSON "aborted": "interrupted", "passed": false) but is no
	// verdict. 130 is the shell's 128+SIGINT; k6 exits 105
	// (ExternalAbort) in the same case.
	ExitInterrupted = 130
)

// UsageError is a bad flag, argument or configuration file. Its message is
// one line saying what and where.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// usageErrorf builds a UsageError.
func usageErrorf(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// ErrChecksFailed reports that the command ran but a check or threshold
// failed; the command has already said which.
var ErrChecksFailed = errors.New("checks failed")

// ErrInterrupted reports that a load run was interrupted; the command has
// already printed and written what it measured.
var ErrInterrupted = errors.New("interrupted")

// exitCode maps an error returned by a command to the process exit code.
// It is the only place that decides exit codes.
func exitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrChecksFailed):
		return ExitFailed
	case errors.Is(err, ErrInterrupted):
		return ExitInterrupted
	default:
		// Usage errors, unreachable targets and broken configuration all
		// leave the verdict unknown: exit 2, never 1.
		return ExitUsage
	}
}

// explainTLSError adds the likely fix to a certificate verification error;
// giveCA says how to give a CA bundle where the error is shown ("with
// --ca" for a flag, "with ca: in target.yaml" for the file).
func explainTLSError(err error, giveCA string) error {
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var alert tls.AlertError
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("%w (the OP's certificate is not from a trusted CA: give its CA bundle "+giveCA+")", err)
	case errors.As(err, &hostname):
		return fmt.Errorf("%w (the OP's certificate does not name this host)", err)
	case errors.As(err, &invalid):
		return fmt.Errorf("%w (the OP's certificate is invalid, e.g. expired)", err)
	case errors.As(err, &alert):
		return fmt.Errorf("%w (the OP refused the TLS handshake)", err)
	}
	return err
}
