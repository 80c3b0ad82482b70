package conformance

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/internal/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/device"
)

// authReqIDRE is the character set CIBA 7.3 allows in auth_req_id.
var authReqIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// ackJSON decodes the acknowledgement body keeping JSON types.
func ackJSON(f *Fixture, ex *client.Exchange) map[string]any {
	ginkgo.GinkgoHelper()
	f.Expect(ex.ContentType() == "application/json", ex, "expected the acknowledgement as application/json (CIBA 7.3), got %q", ex.ContentType())
	m, err := ex.JSON()
	if err != nil {
		f.Failf(ex, "expected a JSON object acknowledgement (CIBA 7.3), got: %v", err)
	}
	return m
}

// startRaw sends a valid backchannel request and returns its exchange.
func startRaw(ctx context.Context, f *Fixture, c *client.Client) (*ciba.AuthenticationResponse, *client.Exchange) {
	ginkgo.GinkgoHelper()
	p := f.Params(c, f.PendingUserOrAny())
	ack, ex, err := c.Authenticate(ctx, p)
	if err != nil {
		f.Failf(ex, "expected the backchannel request to be acknowledged (CIBA 7.3), got: %v", err)
	}
	return ack, ex
}

func describeBackchannel(fw *Framework) {
	fw.Describe("Backchannel authentication endpoint", func() {
		// Testname: Acknowledgement is JSON with an auth_req_id of the allowed characters
		// Spec: CIBA-7.3
		// Description: A valid backchannel request MUST be answered with
		// HTTP 200, application/json, and an auth_req_id made only of
		// A-Z a-z 0-9 . - _.
		fw.ConformanceIt("acknowledges with JSON and an auth_req_id of A-Z a-z 0-9 . - _", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			ack, ex := startRaw(ctx, f, c)
			ackJSON(f, ex)
			f.Expect(authReqIDRE.MatchString(ack.AuthReqID), ex, "expected auth_req_id of A-Z a-z 0-9 . - _ only, got %q", ack.AuthReqID)
		}, Refs("CIBA-7.3"), OIDF(ModHappy))

		// Testname: auth_req_id carries at least 128 bits and is unique
		// Spec: CIBA-7.3
		// Description: auth_req_id MUST have at least 128 bits of entropy
		// (judged from its length and alphabet) and MUST differ between
		// requests.
		fw.ConformanceIt("issues unique auth_req_ids of at least 128 bits", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			a1, ex := startRaw(ctx, f, c)
			a2, _ := startRaw(ctx, f, c)
			f.Expect(entropyBits(a1.AuthReqID) >= 128, ex, "expected auth_req_id of >= 128 bits, %q can hold at most %.0f", a1.AuthReqID, entropyBits(a1.AuthReqID))
			f.Expect(a1.AuthReqID != a2.AuthReqID, ex, "expected two requests to get different auth_req_ids, both got %q", a1.AuthReqID)
		}, Refs("CIBA-7.3"), OIDF(ModHappy))

		// Testname: expires_in is a positive number
		// Spec: CIBA-7.3
		// Description: The acknowledgement MUST carry expires_in, a
		// positive JSON number of seconds.
		fw.ConformanceIt("acknowledges with expires_in as a positive JSON number", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			_, ex := startRaw(ctx, f, c)
			m := ackJSON(f, ex)
			v, ok := number(m, "expires_in")
			f.Expect(ok && v > 0, ex, "expected expires_in as a positive JSON number, got %v (%T)", m["expires_in"], m["expires_in"])
		}, Refs("CIBA-7.3"), OIDF(ModHappy))

		// Testname: interval is a positive number when present
		// Spec: CIBA-7.3
		// Description: interval, when present, MUST be a positive JSON
		// number of seconds.
		fw.ConformanceIt("acknowledges with interval as a positive JSON number if at all", func(ctx context.Context, f *Fixture) {
			c := f.Client(ciba.ModePoll, AnyAuth)
			_, ex := startRaw(ctx, f, c)
			m := ackJSON(f, ex)
			raw, present := m["interval"]
			if !present {
				return
			}
			v, ok := raw.(float64)
			f.Expect(ok && v > 0, ex, "expected interval as a positive JSON number, got %v (%T)", raw, raw)
		}, Refs("CIBA-7.3"), Modes(ciba.ModePoll), OIDF(ModHappy))

		// Testname: Immediate poll is authorization_pending
		// Spec: CIBA-11
		// Description: A token request for a request the user has not yet
		// decided MUST be answered 400 authorization_pending (or
		// slow_down), never with tokens.
		fw.ConformanceIt("answers authorization_pending while the user has not decided", func(ctx context.Context, f *Fixture) {
			c := f.Client(ciba.ModePoll, AnyAuth)
			ack := f.Start(c, f.Params(c, f.PendingUser()))
			_, ex, err := c.Token(ctx, ack.AuthReqID)
			f.ExpectOAuthError(ex, err, Status400, "authorization_pending", "slow_down")
		}, Refs("CIBA-11"), Modes(ciba.ModePoll), OIDF(ModHappy))

		// Testname: Unsigned backchannel request refused
		// Spec: FAPI-CIBA-5.2.2-6
		// Description: The OP MUST refuse a backchannel request whose
		// parameters arrive as plain form fields without a signed request
		// object, with HTTP 400 invalid_request.
		fw.ConformanceIt("refuses an unsigned backchannel request", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			_, ex, err := c.Authenticate(ctx, f.Params(c, f.PendingUserOrAny()), client.CallUnsigned())
			f.ExpectOAuthError(ex, err, Status400, "invalid_request")
		}, Refs("FAPI-CIBA-5.2.2-6"), Negative, OIDF(ModUnsignedRequest))

		// Testname: Two hints refused
		// Spec: CIBA-7.1
		// Description: A request carrying more than one of login_hint,
		// login_hint_token and id_token_hint MUST be refused with HTTP 400
		// invalid_request.
		fw.ConformanceIt("refuses a request with both login_hint and login_hint_token", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			p := f.Params(c, f.PendingUserOrAny())
			p.LoginHint, p.LoginHintToken, p.IDTokenHint = "ciba-check-user", "ciba-check-login-hint-token", ""
			_, ex, err := c.Authenticate(ctx, p)
			f.ExpectOAuthError(ex, err, Status400, "invalid_request")
		}, Refs("CIBA-7.1"), Negative, OIDF(ModMultipleHints))

		// Testname: Request without a hint refused
		// Spec: CIBA-7.1
		// Description: A request carrying none of login_hint,
		// login_hint_token and id_token_hint MUST be refused with HTTP 400
		// invalid_request.
		fw.ConformanceIt("refuses a request without any hint", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			p := f.Params(c, f.PendingUserOrAny())
			p.LoginHint, p.LoginHintToken, p.IDTokenHint = "", "", ""
			_, ex, err := c.Authenticate(ctx, p)
			f.ExpectOAuthError(ex, err, Status400, "invalid_request")
		}, Refs("CIBA-7.1"), Negative)

		// Testname: Unknown user refused
		// Spec: CIBA-13
		// Description: A login_hint that identifies no user MUST be
		// refused with HTTP 400 unknown_user_id.
		fw.ConformanceIt("refuses an unknown login_hint with unknown_user_id", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			p := f.Params(c, f.PendingUserOrAny())
			id, err := c.NewJTI()
			if err != nil {
				f.Failf(nil, "%v", err)
			}
			p.LoginHint, p.LoginHintToken, p.IDTokenHint = "ciba-check-nobody-"+id, "", ""
			_, ex, err := c.Authenticate(ctx, p)
			f.ExpectOAuthError(ex, err, Status400, "unknown_user_id")
		}, Refs("CIBA-13"), Negative)

		// Testname: Scope without openid refused
		// Spec: CIBA-7.1
		// Description: scope MUST contain openid; a request without it
		// MUST be refused with HTTP 400 invalid_scope or invalid_request.
		fw.ConformanceIt("refuses a scope without openid", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			p := f.Params(c, f.PendingUserOrAny())
			p.Scope = strings.TrimSpace(strings.ReplaceAll(" "+p.Scope+" ", " openid ", " "))
			if p.Scope == "" {
				p.Scope = "profile"
			}
			_, ex, err := c.Authenticate(ctx, p)
			f.ExpectOAuthError(ex, err, Status400, "invalid_scope", "invalid_request")
		}, Refs("CIBA-7.1"), Negative)

		// Testname: Ping request without client_notification_token refused
		// Spec: CIBA-7.1
		// Description: client_notification_token is REQUIRED for a client
		// registered for ping; a request without it MUST be refused with
		// HTTP 400 invalid_request.
		fw.ConformanceIt("refuses a ping request without client_notification_token", func(ctx context.Context, f *Fixture) {
			c := f.Client(ciba.ModePing, AnyAuth)
			p := f.Params(c, f.PendingUserOrAny())
			p.ClientNotificationToken = ""
			_, ex, err := c.Authenticate(ctx, p)
			f.ExpectOAuthError(ex, err, Status400, "invalid_request")
		}, Refs("CIBA-7.1"), Modes(ciba.ModePing), Negative)

		// Testname: requested_expiry as a JSON string accepted
		// Spec: CIBA-7.1.1
		// Description: requested_expiry inside a signed request MAY be a
		// JSON string ("30"); the OP MUST accept it and the flow MUST
		// complete with tokens.
		fw.ConformanceIt("accepts requested_expiry as a JSON string", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			f.Approved(c, func(p *client.AuthParams) { p.RequestedExpiry = "30" })
		}, Refs("CIBA-7.1.1"), OIDF(ModRequestedExpiryString))

		// Testname: Scope values in another order accepted
		// Spec: RFC6749-3.3
		// Description: The order of scope values is irrelevant; a request
		// with them reversed MUST complete with tokens.
		fw.ConformanceIt("accepts the scope values in another order", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			f.Approved(c, func(p *client.AuthParams) {
				s := strings.Fields(p.Scope)
				for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
					s[i], s[j] = s[j], s[i]
				}
				p.Scope = strings.Join(s, " ")
			})
		}, Refs("RFC6749-3.3"), OIDF(ModOtherScopeOrder))

		// Testname: Binding message accepted
		// Spec: FAPI-CIBA-5.2.2-2, CIBA-7.1
		// Description: A request with binding_message "1234" MUST complete
		// with tokens, and the binding_message MUST reach the
		// authentication device (checked where the device driver can
		// report what the device was given).
		fw.ConformanceIt("accepts a binding_message and completes the flow", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			_, ex, ack := f.Approved(c, func(p *client.AuthParams) { p.BindingMessage = "1234" })
			obs, ok := f.Env().Driver.(device.Observer)
			if !ok {
				return // the completed flow is all this driver lets us see (as in the OIDF module)
			}
			shown, err := obs.Shown(ctx, ack.AuthReqID)
			if err != nil {
				f.Failf(ex, "expected the request on the device, got: %v", err)
			}
			f.Expect(shown.BindingMessage == "1234", ex, "expected the device to be given binding_message %q, it was given %q", "1234", shown.BindingMessage)
		}, Refs("FAPI-CIBA-5.2.2-2", "CIBA-7.1"), OIDF(ModBindingMessage))

		// Testname: Binding message shown on the device
		// Spec: CIBA-7.1
		// Description: The binding_message MUST be displayed on the
		// authentication device exactly as sent.
		fw.ConformanceIt("shows the binding_message on the authentication device as sent", func(ctx context.Context, f *Fixture) {
			obs, ok := f.Env().Driver.(device.Observer)
			if !ok {
				f.Skipf("the %s device driver cannot report what the device showed", f.Env().Driver.Kind())
			}
			c := f.Client(AnyMode, AnyAuth)
			u := f.PendingUserOrAny()
			p := f.Params(c, u)
			p.BindingMessage = "ciba-check 4711"
			ack := f.Start(c, p)
			shown, err := obs.Shown(ctx, ack.AuthReqID)
			if err != nil {
				f.Failf(nil, "expected the request on the device, got: %v", err)
			}
			f.Expect(shown.BindingMessage == p.BindingMessage, nil, "expected the device to show binding_message %q, it showed %q", p.BindingMessage, shown.BindingMessage)
		}, Refs("CIBA-7.1"), OIDF(ModBindingMessage))

		// Testname: Potentially bad binding message handled
		// Spec: CIBA-7.1, CIBA-13
		// Description: A long binding_message of emoji and CJK text MUST
		// either be refused with HTTP 400 invalid_binding_message or be
		// accepted and shown faithfully.
		fw.ConformanceIt("refuses an undisplayable binding_message or shows it faithfully", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			u := f.PendingUserOrAny()
			p := f.Params(c, u)
			p.BindingMessage = "🔐 确认付款 " + strings.Repeat("Lorem ipsum dolor sit amet ", 8)
			ack, ex, err := c.Authenticate(ctx, p)
			if err != nil {
				f.ExpectOAuthError(ex, err, Status400, "invalid_binding_message")
				return
			}
			obs, ok := f.Env().Driver.(device.Observer)
			if !ok {
				f.Skipf("accepted; the %s device driver cannot report whether it was shown faithfully", f.Env().Driver.Kind())
			}
			shown, err := obs.Shown(ctx, ack.AuthReqID)
			if err != nil {
				f.Failf(ex, "expected the accepted request on the device, got: %v", err)
			}
			f.Expect(shown.BindingMessage == p.BindingMessage, ex, "expected the device to show %q, it showed %q", p.BindingMessage, shown.BindingMessage)
		}, Refs("CIBA-7.1", "CIBA-13"), OIDF(ModBadBindingMessage))

		// Testname: Parameters beside the request object not used
		// Spec: CIBA-7.1.1
		// Description: Authentication request parameters sent as form
		// fields beside the signed request object MUST NOT be used: the OP
		// either refuses the request with HTTP 400 invalid_request or acts
		// on the signed values only.
		fw.ConformanceIt("uses only the signed parameters, not form fields beside the request object", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			u := f.PendingUserOrAny()
			p := f.Params(c, u)
			p.BindingMessage = "signed 4711"
			ack, ex, err := c.Authenticate(ctx, p, client.CallForm(ciba.ParamBindingMessage, "unsigned 666"))
			if err != nil {
				f.ExpectOAuthError(ex, err, Status400, "invalid_request")
				return
			}
			obs, ok := f.Env().Driver.(device.Observer)
			if !ok {
				f.Skipf("accepted; the %s device driver cannot report which binding_message the device showed", f.Env().Driver.Kind())
			}
			shown, err := obs.Shown(ctx, ack.AuthReqID)
			if err != nil {
				f.Failf(ex, "expected the accepted request on the device, got: %v", err)
			}
			f.Expect(shown.BindingMessage == p.BindingMessage, ex, "expected the device to show the signed binding_message %q, it showed %q", p.BindingMessage, shown.BindingMessage)
		}, Refs("CIBA-7.1.1"), Negative)

		// Testname: request_uri refused with a well-formed error
		// Spec: CIBA-13, CIBA-7.1.1
		// Description: CIBA has no request_uri: a request carrying one
		// instead of a signed request MUST be refused with HTTP 400
		// invalid_request as JSON with only error, error_description and
		// error_uri.
		fw.ConformanceIt("refuses request_uri instead of request with a well-formed invalid_request", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			ex, err := c.PostForm(ctx, c.BackchannelEndpoint(), map[string][]string{ciba.ParamRequestURI: {"urn:ietf:params:oauth:request_uri:ciba-check"}},
				client.WithAuth(client.AuthAudience(c.Metadata().BackchannelAuthenticationEndpoint)))
			if err != nil {
				f.Failf(ex, "expected an answer, got: %v", err)
			}
			f.ExpectOAuthError(ex, errorOf(ex), Status400, "invalid_request")
		}, Refs("CIBA-13", "CIBA-7.1.1"), Negative)
	})
}

// errorOf turns a raw exchange into the error a typed call would return:
// nil for 200, the OAuth error otherwise.
func errorOf(ex *client.Exchange) error {
	if ex.Status == http.StatusOK {
		return nil
	}
	if oe := ex.OAuthError(); oe != nil {
		return oe
	}
	return errors.New("error status without an OAuth error body")
}
