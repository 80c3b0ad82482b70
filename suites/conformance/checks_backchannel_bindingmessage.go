package conformance

import (
	"context"
	"errors"
	"strings"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/device"
)

// backchannelBindingMessageChecks registers the check that a request with a
// binding_message completes (CIBA 7.1, FAPI-CIBA 5.2.2-2).
func backchannelBindingMessageChecks(fw *Framework) {
	// Testname: Binding message accepted
	// Spec: FAPI-CIBA-5.2.2-2, CIBA-7.1
	// Description: A request with binding_message "1234" MUST complete
	// with tokens, and the binding_message SHOULD reach the
	// authentication device (checked where the device driver can
	// report what the device was given). CIBA lets the OP refuse a
	// binding_message it finds unacceptable (invalid_binding_message);
	// the OIDF suite fails an OP that does not complete this flow:
	// certification level. That the device gets the message is what
	// binding_message is "intended" for, a warning (ExpectShould).
	// Quote: FAPI-CIBA-5.2.2-2: "shall ensure unique authorization context exists in the authorization request or require a binding_message in the authentication request" CIBA-7.1: "binding_message OPTIONAL. A human-readable identifier or message intended to be displayed on both the consumption device and the authentication device to interlock them together for the transaction by way of a visual cue for the end-user."
	// Duty: OP
	// Level: CERT
	fw.ConformanceIt("accepts a binding_message and completes the flow", func(ctx context.Context, f *Fixture) {
		c := f.Client(AnyMode, AnyAuth)
		// Params sends binding_message "1234" (as the OIDF suite does),
		// so the shared approved flow is this check's flow.
		_, ex, ack := f.SharedApproved(c)
		obs, ok := f.Env().Driver.(device.Observer)
		if !ok {
			return // the completed flow is all this driver lets us see (as in the OIDF module)
		}
		shown, err := obs.Shown(ctx, ack.AuthReqID)
		if err != nil {
			f.ExpectShould(false, ex, "expected the request on the device, got: %v", err)
			return
		}
		f.ExpectShould(shown.BindingMessage == "1234", ex, "expected the device to be given binding_message %q, it was given %q", "1234", shown.BindingMessage)
	}, Refs("FAPI-CIBA-5.2.2-2", "CIBA-7.1"), Cert, OIDF(ModBindingMessage), SharesFlow)
}

// backchannelBindingMessageDisplayChecks registers the checks that the authentication
// device shows the binding_message as sent, or the OP refuses one it cannot
// display (CIBA 7.1, 13).
func backchannelBindingMessageDisplayChecks(fw *Framework) {
	// Testname: Binding message shown on the device
	// Spec: CIBA-7.1
	// Description: The binding_message SHOULD be displayed on the
	// authentication device exactly as sent: "ciba+4711/ok", short
	// plain text without spaces, whose "+" and "/" a form-decoding slip
	// mangles. CIBA 7.1 only says the message is "intended to be
	// displayed", and lets the OP refuse a message it finds
	// unacceptable: a refusal with invalid_binding_message skips the
	// check, a message shown otherwise is a warning.
	// Quote: CIBA-7.1: "binding_message OPTIONAL. A human-readable identifier or message intended to be displayed on both the consumption device and the authentication device to interlock them together for the transaction by way of a visual cue for the end-user. [...] The invalid_binding_message defined in Section 13 is used in the case that it is necessary to inform the Client that the provided binding_message is unacceptable."
	// Duty: OP
	// Level: SHOULD
	fw.ConformanceIt("shows the binding_message on the authentication device as sent", func(ctx context.Context, f *Fixture) {
		if _, ok := f.Env().Driver.(device.Observer); !ok {
			f.Skipf("the %s device driver cannot report what the device showed", f.Env().Driver.Kind())
		}
		c := f.Client(AnyMode, AnyAuth)
		p := f.Params(c, f.PendingUserOrAny())
		p.BindingMessage = shownBindingMessage
		ack, ex, err := c.Authenticate(ctx, p)
		switch {
		case err == nil:
		case !hadResponse(ex):
			f.Undetermined(ex, "expected an answer to the backchannel request, got none: %v", err)
		case errors.Is(err, ciba.ErrInvalidBindingMessage):
			f.Skipf("the OP refused binding_message %q with invalid_binding_message, which CIBA 7.1 allows; nothing was shown", p.BindingMessage)
		default:
			f.Skipf("the OP refused the backchannel request with binding_message %q (%v); nothing was shown", p.BindingMessage, err)
		}
		shown := deviceShown(ctx, f, ex, ack, "acknowledged")
		f.Expect(shown.BindingMessage == p.BindingMessage, ex, "expected the device to show binding_message %q, it showed %q", p.BindingMessage, shown.BindingMessage)
	}, Refs("CIBA-7.1"), Should, OIDF(ModBindingMessage))

	// Testname: Potentially bad binding message handled
	// Spec: CIBA-7.1, CIBA-13
	// Description: A long binding_message of emoji and CJK text (the
	// OIDF module's) SHOULD either be refused with HTTP 400
	// invalid_binding_message or be accepted and shown faithfully. No
	// MUST stands behind a faithful display (CIBA 7.1: "intended to be
	// displayed"), so a departure is a warning. A refusal counts once
	// the positive control passed: the request with binding_message
	// "1234" is acknowledged.
	// Quote: CIBA-7.1: "Because the various devices involved may have limited display abilities and the message is intending for visual inspection by the end-user, the binding_message value SHOULD be relatively short and use a limited set of plain text characters. The invalid_binding_message defined in Section 13 is used in the case that it is necessary to inform the Client that the provided binding_message is unacceptable." CIBA-13: "invalid_binding_message The binding message is invalid or unacceptable for use in the context of the given request."
	// Duty: OP
	// Level: SHOULD
	fw.ConformanceIt("refuses an undisplayable binding_message or shows it faithfully", func(ctx context.Context, f *Fixture) {
		c := f.Client(AnyMode, AnyAuth)
		p := f.Params(c, f.PendingUserOrAny())
		control := p
		p.BindingMessage = "🔐 确认付款 " + strings.Repeat("Lorem ipsum dolor sit amet ", 8)
		ack, ex, err := c.Authenticate(ctx, p)
		if err != nil {
			expectRefused(f, c, control, ex, err, Status400, ciba.ErrInvalidBindingMessage)
			return
		}
		shown := deviceShown(ctx, f, ex, ack, "accepted")
		f.Expect(shown.BindingMessage == p.BindingMessage, ex, "expected the device to show %q, it showed %q", p.BindingMessage, shown.BindingMessage)
	}, Refs("CIBA-7.1", "CIBA-13"), Should, OIDF(ModBadBindingMessage))
}

// Binding messages the checks send: short, space-free plain text of the
// characters a display policy has no reason to refuse. The "+" and "/" of
// shownBindingMessage are what a form-decoding slip on the way to the
// device mangles (a "+" shown as a space, "%2B").
const (
	shownBindingMessage    = "ciba+4711/ok"
	signedBindingMessage   = "signed4711"
	unsignedBindingMessage = "unsigned666"
)

// deviceShown returns what the authentication device was given for the
// request, or skips when the device driver cannot tell.
func deviceShown(ctx context.Context, f *Fixture, ex *client.Exchange, ack *ciba.AuthenticationResponse, why string) device.Shown {
	ginkgo.GinkgoHelper()
	obs, ok := f.Env().Driver.(device.Observer)
	if !ok {
		f.Skipf("%s; the %s device driver cannot report what the device was given", why, f.Env().Driver.Kind())
	}
	shown, err := obs.Shown(ctx, ack.AuthReqID)
	if err != nil {
		f.Failf(ex, "expected the acknowledged request on the authentication device, got: %v", err)
	}
	return shown
}
