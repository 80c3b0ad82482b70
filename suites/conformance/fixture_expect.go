package conformance

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
)

// Skipf skips the check with a reason: the target cannot exercise it.
func (f *Fixture) Skipf(format string, args ...any) {
	ginkgo.GinkgoHelper()
	f.skip(fmt.Sprintf(format, args...))
}

// Failf fails the check; ex, when not nil, is quoted below the message.
// In a check decorated Should it records the message as a warning
// instead and ends the check there (outcome "warning").
func (f *Fixture) Failf(ex *client.Exchange, format string, args ...any) {
	ginkgo.GinkgoHelper()
	f.failf(Detail{}, ex, format, args...)
}

// failf is Failf recording d (expected, got) and ex as the structured
// evidence beside the message.
func (f *Fixture) failf(d Detail, ex *client.Exchange, format string, args ...any) {
	ginkgo.GinkgoHelper()
	msg := f.expectationMessage(ex, format, args...)
	d.Warning = f.should
	f.detail(d, ex)
	if f.should {
		f.warn(msg)
		panic(warningStop{})
	}
	f.fail(msg)
}

// ExpectShould records a warning and lets the check go on unless ok: a
// SHOULD-level expectation inside a check whose other expectations are
// MUSTs (e.g. expires_in beside token_type Bearer). The check's outcome
// is then "warning" unless a MUST expectation fails it.
func (f *Fixture) ExpectShould(ok bool, ex *client.Exchange, format string, args ...any) {
	ginkgo.GinkgoHelper()
	if !ok {
		msg := f.expectationMessage(ex, format, args...)
		f.detail(Detail{Warning: true}, ex)
		f.warn(msg)
	}
}

// ExpectCert is an expectation that only the OIDF certification suite
// demands, inside a check of a higher level: a failure under --profile
// oidf-cert, a warning otherwise.
func (f *Fixture) ExpectCert(ok bool, ex *client.Exchange, format string, args ...any) {
	ginkgo.GinkgoHelper()
	if f.certFails {
		f.Expect(ok, ex, format, args...)
		return
	}
	f.ExpectShould(ok, ex, CertWarning+format, args...)
}

// CertWarning starts the message of a warning that only the OIDF
// certification suite's demand raised (ExpectCert): a spec-compliant OP
// may get it.
const CertWarning = "CERT (OIDF certification only): "

// WarningEntry names the Ginkgo report entries that carry warnings; a
// passed spec with one has the outcome "warning".
const WarningEntry = "ciba-check/warning"

// expectationMessage is the message of an unmet expectation, with ex
// quoted below it. An exchange without any response aborts the run when
// the OP is gone.
func (f *Fixture) expectationMessage(ex *client.Exchange, format string, args ...any) string {
	ginkgo.GinkgoHelper()
	msg := fmt.Sprintf(format, args...)
	if f.basis != "" {
		msg += "\n" + f.basis
	}
	if ex != nil {
		if ex.Status == 0 && !f.runDeadline.IsZero() && !time.Now().Before(f.runDeadline) {
			// No answer because the run ran out of time: nothing the OP
			// can be judged by.
			f.skip(DeadlineReached + f.runLimit + " while this check waited: " + msg + "\n" + quote(ex))
		}
		if ex.Status == 0 && f.env != nil {
			if err := f.env.probe(f.ctx); err != nil {
				// Nothing after this can pass or fail for a reason
				// about the OP: stop the run (reported as exit 2).
				f.abort(err.Error())
			}
		}
		msg += "\n" + quote(ex)
	}
	return msg
}

// EnsureReachable aborts the run when the OP can no longer be reached,
// so that a refusal a check expects (a failed TLS handshake) is never
// mistaken for a vanished target.
func (f *Fixture) EnsureReachable() {
	ginkgo.GinkgoHelper()
	if err := f.env.probe(f.ctx); err != nil {
		f.abort(err.Error())
	}
}

// Expect fails the check with the message unless ok.
func (f *Fixture) Expect(ok bool, ex *client.Exchange, format string, args ...any) {
	ginkgo.GinkgoHelper()
	if !ok {
		f.Failf(ex, format, args...)
	}
}

// Undetermined ends the check as skipped with "could not determine" and
// the reason: the OP gave no answer the sentence under test can be judged
// by (a timeout, a reset, a name mismatch or another transport error). It
// is never a pass, and never the OP's failure; when the OP is gone
// altogether, the run stops instead (exit 2).
func (f *Fixture) Undetermined(ex *client.Exchange, format string, args ...any) {
	ginkgo.GinkgoHelper()
	if f.env != nil {
		if err := f.env.probe(f.ctx); err != nil {
			f.abort(err.Error())
		}
	}
	msg := CouldNotDetermine + fmt.Sprintf(format, args...)
	if ex != nil {
		msg += "\n" + quote(ex)
	}
	f.skip(msg)
}

// CouldNotDetermine starts the skip reason of a check whose answer could
// not be judged.
const CouldNotDetermine = "could not determine: "

// ControlRefused starts the skip reason of a negative check whose
// positive control failed.
const ControlRefused = "the OP refused the valid request too: "

// Control is the positive control of a negative check: the same client
// making the same request, valid. Unless ok (the valid request
// succeeded), the check is skipped with "the OP refused the valid request
// too", never passed: a refusal of the bad request then proves nothing.
func (f *Fixture) Control(ok bool, ex *client.Exchange, format string, args ...any) {
	ginkgo.GinkgoHelper()
	if ok {
		return
	}
	msg := ControlRefused + fmt.Sprintf(format, args...)
	if ex != nil {
		msg += "\n" + quote(ex)
	}
	f.skip(msg)
}

// ControlAck is Control for a backchannel request: it sends p for c
// (with opts) and skips the check unless the OP acknowledges it. The
// acknowledged request is left to expire.
func (f *Fixture) ControlAck(c *client.Client, p client.AuthParams, opts ...client.CallOption) *ciba.AuthenticationResponse {
	ginkgo.GinkgoHelper()
	ack, ex, err := c.Authenticate(f.ctx, p, opts...)
	if err == nil && !hadResponse(ex) {
		err = errors.New("no response")
	}
	f.Control(err == nil && ack != nil && ack.AuthReqID != "", ex, "the valid backchannel request of %s was not acknowledged: %v", c.ClientID(), err)
	return ack
}

// ExpectOAuthError fails unless the call was answered with the code of one
// of wanted and one of statuses (none given: any; the sentinels' own
// statuses are not consulted), with a well-formed error body (CIBA 13,
// RFC 6749 5.2: JSON with only error, error_description and error_uri;
// error_description in the allowed ASCII range).
func (f *Fixture) ExpectOAuthError(ex *client.Exchange, err error, statuses []int, wanted ...*ciba.Error) {
	ginkgo.GinkgoHelper()
	codes := ciba.Codes(wanted...)
	want := fmt.Sprintf("HTTP %v with error %v", statuses, codes)
	expect := Detail{Expected: want}
	if err == nil {
		expect.Got = "a success"
		f.failf(expect, ex, "expected %s, got a success", want)
	}
	if !hadResponse(ex) {
		f.Undetermined(ex, "expected %s, got no response: %v", want, err)
	}
	var ce *ciba.Error
	if !errors.As(err, &ce) {
		expect.Got = fmt.Sprintf("HTTP %d without an OAuth error body", ex.Status)
		f.failf(expect, ex, "expected %s, got a response without an OAuth error body: %v", want, err)
	}
	expect.Got = fmt.Sprintf("HTTP %d with error %q", ex.Status, ce.Code)
	if !slices.Contains(codes, ce.Code) {
		f.failf(expect, ex, "expected error %v, got %q (HTTP %d)", codes, ce.Code, ex.Status)
	}
	if len(statuses) > 0 && !slices.Contains(statuses, ex.Status) {
		f.failf(expect, ex, "expected HTTP status %v with error %q, got HTTP %d", statuses, ce.Code, ex.Status)
	}
	if msg := errorBodyProblem(ex); msg != "" {
		f.Failf(ex, "the error response is malformed (CIBA 13, RFC 6749 5.2): %s", msg)
	}
}

// Status400 is the status nearly every OAuth error travels with.
var Status400 = []int{http.StatusBadRequest}

// StatusInvalidClient is what invalid_client may come with (RFC 6749 5.2
// names 401; the OIDF suite tolerates 400).
var StatusInvalidClient = []int{http.StatusBadRequest, http.StatusUnauthorized}
