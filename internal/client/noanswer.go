package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// NoAnswerError is a request the OP did not answer in time: the
// connection was made (or was still being made) and then nothing came
// back before the client's timeout or the caller's deadline. It is not
// the OP being unreachable, and not a refusal.
type NoAnswerError struct {
	Method, URL string
	// After is how long the client waited.
	After time.Duration
	Err   error
}

func (e *NoAnswerError) Error() string {
	return fmt.Sprintf("the OP did not answer %s %s within %s", e.Method, e.URL, waited(e.After))
}

func (e *NoAnswerError) Unwrap() error { return e.Err }

// waited is d in whole seconds ("30 s"), or in milliseconds below one.
func waited(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.0f s", d.Seconds())
}

// isTimeout reports whether err is a request that ran out of time (the
// HTTP client's Timeout, a context deadline, a dial or TLS timeout), as
// opposed to a refusal, a reset or a cancellation.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// NoAnswer wraps a timed-out request's error as a *NoAnswerError, and
// returns any other error unchanged.
func NoAnswer(method, url string, after time.Duration, err error) error {
	if err == nil || !isTimeout(err) {
		return err
	}
	return &NoAnswerError{Method: method, URL: url, After: after, Err: err}
}
