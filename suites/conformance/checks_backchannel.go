package conformance

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/device"
)

// Binding messages the checks send: short, space-free plain text of the
// characters a display policy has no reason to refuse. The "+" and "/" of
// shownBindingMessage are what a form-decoding slip on the way to the
// device mangles (a "+" shown as a space, "%2B").
const (
	shownBindingMessage    = "ciba+4711/ok"
	signedBindingMessage   = "signed4711"
	unsignedBindingMessage = "unsigned666"
)

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

// startRaw sends a valid backchannel request and returns its
// acknowledgement and exchange, for the checks that judge the
// acknowledgement. An HTTP 200 whose body is no acknowledgement fails
// the check; a refusal skips it (CIBA 7.3 says the OP "will return" 200
// for a request it validated, without a requirement keyword, and the
// OP's reason may lie outside the check's claim: the checks of the
// refused request say whether it was right); no answer is undetermined.
func startRaw(ctx context.Context, f *Fixture, c *client.Client) (*ciba.AuthenticationResponse, *client.Exchange) {
	ginkgo.GinkgoHelper()
	return startPrepared(ctx, f, c, f.Params(c, f.PendingUserOrAny()))
}

// startPrepared sends p, a valid request a check needs before it can
// judge anything, as startRaw does.
func startPrepared(ctx context.Context, f *Fixture, c *client.Client, p client.AuthParams) (*ciba.AuthenticationResponse, *client.Exchange) {
	ginkgo.GinkgoHelper()
	ack, ex, err := c.Authenticate(ctx, p)
	switch {
	case err == nil && ack.AuthReqID != "":
		return ack, ex
	case err == nil:
		f.Failf(ex, "expected an auth_req_id in the acknowledgement (CIBA 7.3), got none")
	case !hadResponse(ex):
		f.Undetermined(ex, "expected an acknowledgement of the valid backchannel request, got no answer: %v", err)
	case ex.Status == http.StatusOK:
		f.Failf(ex, "expected a JSON acknowledgement (CIBA 7.3), got: %v", err)
	}
	f.preparationFailed(ex, err, "the OP refused the valid backchannel request of %s, so there is nothing to judge", c.ClientID())
	return nil, nil
}

// expectRefused judges the answer (ex, err) to a negative probe of client
// c. A success fails the check at once. A refusal counts only once the
// positive control has passed: c sending control, the
// same request made valid, must be acknowledged, else the check is
// skipped ("the OP refused the valid request too") — a refusal of the bad
// request then proves nothing. The control is sent after the probe, so
// that a pending control request cannot be why the probe was refused,
// and only when the probe was refused, so that it costs one request at
// most. No answer at all is undetermined (ExpectOAuthError).
func expectRefused(f *Fixture, c *client.Client, control client.AuthParams, ex *client.Exchange, err error, statuses []int, codes ...*ciba.Error) {
	ginkgo.GinkgoHelper()
	if err != nil && hadResponse(ex) {
		f.ControlAck(c, control)
	}
	f.ExpectOAuthError(ex, err, statuses, codes...)
}

// startVariant sends p, a valid request varied in the one respect a
// positive check is about, and returns the acknowledgement. When the OP
// refuses it, control (the request without the variation) decides what
// the refusal means: refused too, the check is skipped (the OP refused
// the valid request too); acknowledged, the refusal of the variation
// fails the check with what.
func startVariant(ctx context.Context, f *Fixture, c *client.Client, p client.AuthParams, opts []client.CallOption, control client.AuthParams, what string) *ciba.AuthenticationResponse {
	ginkgo.GinkgoHelper()
	ack, ex, err := c.Authenticate(ctx, p, opts...)
	if err == nil {
		return ack
	}
	if !hadResponse(ex) {
		f.Undetermined(ex, "expected an answer to the backchannel request, got none: %v", err)
	}
	f.ControlAck(c, control)
	f.Failf(ex, "expected %s, got: %v (the same request without it was acknowledged)", what, err)
	return nil
}

// oauthCode is the OAuth error code of err, "" when it has none.
func oauthCode(err error) string {
	var ce *ciba.Error
	if errors.As(err, &ce) {
		return ce.Code
	}
	return ""
}

// unknownHint returns a hint of the same type as the user's hint v that
// identifies nobody, marked with id: for a login_hint, or any opaque
// value, the name "ciba-check-nobody-<id>"; for a JWT (a login_hint_token
// or an id_token_hint), the same JOSE header and a payload whose sub (and
// login_hint, when it has one) is that name, with v's signature, which no
// longer verifies. Whether the OP answers that it cannot identify the user
// or that the hint is invalid, both are refusals CIBA 13 names.
func unknownHint(v, id string) string {
	nobody := "ciba-check-nobody-" + id
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return nobody
	}
	var header, claims map[string]any
	h, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	b, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	if err1 != nil || err2 != nil || json.Unmarshal(h, &header) != nil || json.Unmarshal(b, &claims) != nil || header == nil || claims == nil {
		return nobody
	}
	claims["sub"] = nobody
	if _, ok := claims["login_hint"]; ok {
		claims["login_hint"] = nobody
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return nobody
	}
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2]
}

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

func describeBackchannel(fw *Framework) {
	fw.Describe("Backchannel authentication endpoint", func() {
		// Testname: Acknowledgement is JSON with an auth_req_id of the allowed characters
		// Spec: CIBA-7.3
		// Description: A valid backchannel request MUST be answered with
		// HTTP 200, application/json, and an auth_req_id made only of
		// A-Z a-z 0-9 . - _.
		// Quote: CIBA-7.3: "auth_req_id REQUIRED. This is a unique identifier to identify the authentication request made by the Client. [...] The OpenID Provider MUST restrict the characters used to 'A'-'Z', 'a'-'z', '0'-'9', '.', '-' and '_', to reduce the chance of the client incorrectly decoding or re-encoding the auth_req_id"
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("acknowledges with JSON and an auth_req_id of A-Z a-z 0-9 . - _", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			ack, ex := startRaw(ctx, f, c)
			ackJSON(f, ex)
			f.Expect(ciba.ValidAuthReqID(ack.AuthReqID), ex, "expected auth_req_id of A-Z a-z 0-9 . - _ only, got %q", ack.AuthReqID)
		}, Refs("CIBA-7.3"), OIDF(ModHappy))

		// Testname: auth_req_id carries at least 128 bits and is unique
		// Spec: CIBA-7.3
		// Description: auth_req_id MUST have at least 128 bits of entropy
		// (judged from its length and alphabet) and MUST differ between
		// requests.
		// Quote: CIBA-7.3: "auth_req_id REQUIRED. This is a unique identifier to identify the authentication request made by the Client. It MUST contain sufficient entropy (a minimum of 128 bits while 160 bits is recommended) to make brute force guessing or forgery of a valid auth_req_id computationally infeasible"
		// Duty: OP
		// Level: MUST
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
		// Quote: CIBA-7.3: "expires_in REQUIRED. A JSON number with a positive integer value indicating the expiration time of the "auth_req_id" in seconds since the authentication request was received."
		// Duty: OP
		// Level: MUST
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
		// number of seconds. CIBA 7.3 defines the type without a
		// requirement keyword of the OP's (its MUSTs bind the client), and
		// the OIDF suite fails an interval that is not a number
		// (ValidateAuthenticationRequestIdInterval): certification level.
		// Quote: CIBA-7.3: "interval OPTIONAL. A JSON number with a positive integer value indicating the minimum amount of time in seconds that the Client MUST wait between polling requests to the token endpoint."
		// Duty: OP
		// Level: CERT
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
		}, Refs("CIBA-7.3"), Modes(ciba.ModePoll), Cert, OIDF(ModHappy))

		// Testname: Immediate poll is authorization_pending
		// Spec: CIBA-11, RFC6749-5.2
		// Description: A token request for a request the user has not yet
		// decided MUST be answered 400 authorization_pending (or
		// slow_down), never with tokens.
		// Quote: CIBA-11: "authorization_pending The authorization request is still pending as the end-user hasn't yet been authenticated." RFC6749-5.2: "The authorization server responds with an HTTP 400 (Bad Request) status code (unless specified otherwise) and includes the following parameters with the response: error REQUIRED."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("answers authorization_pending while the user has not decided", func(ctx context.Context, f *Fixture) {
			c := f.Client(ciba.ModePoll, AnyAuth)
			ack, _ := startPrepared(ctx, f, c, f.Params(c, f.PendingUser()))
			_, ex, err := c.Token(ctx, ack.AuthReqID)
			f.ExpectOAuthError(ex, err, Status400, ciba.ErrAuthorizationPending, ciba.ErrSlowDown)
		}, Refs("CIBA-11", "RFC6749-5.2"), Modes(ciba.ModePoll), OIDF(ModHappy))

		// Testname: Unsigned backchannel request refused
		// Spec: FAPI-CIBA-5.2.2-6
		// Description: The OP MUST refuse a backchannel request whose
		// parameters arrive as plain form fields without a signed request
		// object, with HTTP 400 invalid_request. Positive control: the same
		// request, signed, is acknowledged.
		// Quote: FAPI-CIBA-5.2.2-6: "shall require Backchannel Authentication Endpoint requests to be signed as described in [CIBA] 7.1.1" CIBA-13: "invalid_request The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, contains more than one of the hints, or is otherwise malformed."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses an unsigned backchannel request", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			p := f.Params(c, f.PendingUserOrAny())
			_, ex, err := c.Authenticate(ctx, p, client.CallUnsigned())
			expectRefused(f, c, p, ex, err, Status400, ciba.ErrInvalidRequest)
		}, Refs("FAPI-CIBA-5.2.2-6"), Negative, OIDF(ModUnsignedRequest))

		// Testname: Two hints refused
		// Spec: CIBA-7.1, CIBA-7.2
		// Description: A request carrying more than one of login_hint,
		// login_hint_token and id_token_hint MUST be refused with HTTP 400
		// invalid_request. Positive control: the request with the user's
		// own hint alone is acknowledged.
		// Quote: CIBA-7.2: "Validate all the authentication request parameters. In the event the request contains more than one of the hints specified in Authentication Request, the OpenID Provider MUST return an "invalid_request" error response as per Section 13."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses a request with both login_hint and login_hint_token", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			p := f.Params(c, f.PendingUserOrAny())
			bad := p
			bad.LoginHint, bad.LoginHintToken, bad.IDTokenHint = "ciba-check-user", "ciba-check-login-hint-token", ""
			_, ex, err := c.Authenticate(ctx, bad)
			expectRefused(f, c, p, ex, err, Status400, ciba.ErrInvalidRequest)
		}, Refs("CIBA-7.1", "CIBA-7.2"), Negative, OIDF(ModMultipleHints))

		// Testname: Request without a hint refused
		// Spec: CIBA-7.1, CIBA-7.2
		// Description: A request carrying none of login_hint,
		// login_hint_token and id_token_hint MUST be refused with HTTP 400
		// invalid_request. Positive control: the request with the user's
		// hint is acknowledged.
		// Quote: CIBA-7.1: "it is REQUIRED that the Client provides one (and only one) of the hints specified above in the authentication request, that is "login_hint_token", "id_token_hint" or "login_hint"." CIBA-7.2: "The OpenID Provider MUST verify that all the REQUIRED parameters are present and their usage conforms to this specification." CIBA-13: "invalid_request The request is missing a required parameter"
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses a request without any hint", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			p := f.Params(c, f.PendingUserOrAny())
			bad := p
			bad.LoginHint, bad.LoginHintToken, bad.IDTokenHint = "", "", ""
			_, ex, err := c.Authenticate(ctx, bad)
			expectRefused(f, c, p, ex, err, Status400, ciba.ErrInvalidRequest)
		}, Refs("CIBA-7.1", "CIBA-7.2"), Negative)

		// Testname: Unknown user refused
		// Spec: CIBA-7.2, CIBA-13
		// Description: A hint that identifies no user MUST be refused with
		// HTTP 400 unknown_user_id, or invalid_request (an invalid
		// parameter value: CIBA 7.2 speaks of a hint that "is not valid").
		// The hint is of the user's own type: an unused login_hint, or for
		// a login_hint_token or id_token_hint a JWT of the same header
		// naming nobody (unknownHint). Positive control: the user's own
		// hint is acknowledged.
		// Quote: CIBA-7.2: "The OpenID Provider MUST process the hint provided to determine if the hint is valid and if it corresponds to a valid user." CIBA-13: "unknown_user_id The OpenID Provider is not able to identify which end-user the Client wishes to be authenticated by means of the hint provided in the request (login_hint_token, id_token_hint, or login_hint)."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses an unknown login_hint with unknown_user_id", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			u := f.PendingUserOrAny()
			p := f.Params(c, u)
			id, err := c.NewJTI()
			if err != nil {
				f.Undetermined(nil, "could not make a random value: %v", err)
			}
			param, v := u.Hint()
			_, ex, err := c.Authenticate(ctx, withHint(p, param, unknownHint(v, id)))
			expectRefused(f, c, p, ex, err, Status400, ciba.ErrUnknownUserID, ciba.ErrInvalidRequest)
		}, Refs("CIBA-7.2", "CIBA-13"), Negative)

		// Testname: Scope without openid refused
		// Spec: CIBA-7.1
		// Description: The OP SHOULD refuse a request whose scope lacks
		// openid, with HTTP 400 invalid_scope or invalid_request. It is the
		// client's MUST, and CIBA 7.1 leaves the OP's behaviour unspecified,
		// so acceptance is only a warning. Positive control: the request
		// with the client's own scope is acknowledged.
		// Quote: CIBA-7.1: "Consistent with that, CIBA authentication requests MUST therefore contain the openid scope value. The behavior when the openid scope value is not present is left unspecified by this document, thus allowing for the potential definition of the behavior in a non-OpenID context, such as an OAuth authorization flow."
		// Duty: client
		// Level: SHOULD
		fw.ConformanceIt("refuses a scope without openid", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			p := f.Params(c, f.PendingUserOrAny())
			bad := p
			bad.Scope = strings.TrimSpace(strings.ReplaceAll(" "+p.Scope+" ", " openid ", " "))
			if bad.Scope == "" {
				bad.Scope = "profile"
			}
			_, ex, err := c.Authenticate(ctx, bad)
			expectRefused(f, c, p, ex, err, Status400, ciba.ErrInvalidScope, ciba.ErrInvalidRequest)
		}, Refs("CIBA-7.1"), Negative, Should)

		// Testname: Ping request without client_notification_token refused
		// Spec: CIBA-7.1, CIBA-7.2
		// Description: client_notification_token is REQUIRED for a client
		// registered for ping; a request without it MUST be refused with
		// HTTP 400 invalid_request. Positive control: the request with a
		// token is acknowledged.
		// Quote: CIBA-7.1: "client_notification_token REQUIRED if the Client is registered to use Ping or Push modes." CIBA-7.2: "The OpenID Provider MUST verify that all the REQUIRED parameters are present and their usage conforms to this specification." CIBA-13: "invalid_request The request is missing a required parameter"
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses a ping request without client_notification_token", func(ctx context.Context, f *Fixture) {
			c := f.Client(ciba.ModePing, AnyAuth)
			p := f.Params(c, f.PendingUserOrAny())
			bad := p
			bad.ClientNotificationToken = ""
			_, ex, err := c.Authenticate(ctx, bad)
			expectRefused(f, c, p, ex, err, Status400, ciba.ErrInvalidRequest)
		}, Refs("CIBA-7.1", "CIBA-7.2"), Modes(ciba.ModePing), Negative)

		// Testname: requested_expiry as a JSON string accepted
		// Spec: CIBA-7.1.1
		// Description: requested_expiry inside a signed request MAY be a
		// JSON string ("30"); the OP MUST accept it and the flow MUST
		// complete with tokens. When the string is refused, the same
		// request with the number 30 decides: refused too, the check is
		// skipped.
		// Quote: CIBA-7.1.1: "requested_expiry [...] may be sent as either a JSON string or a JSON number, the OP MUST accept either type."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("accepts requested_expiry as a JSON string", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			u := f.UserFor(device.ActionAllow)
			p := f.Params(c, u)
			p.RequestedExpiry = "30"
			control := f.Params(c, f.PendingUserOrAny())
			control.RequestedExpiry = 30
			ack := startVariant(ctx, f, c, p, nil, control, `requested_expiry "30" (a JSON string) to be accepted (CIBA 7.1.1)`)
			f.Decide(c, ack, u, p, device.ActionAllow)
			f.Tokens(c, ack)
		}, Refs("CIBA-7.1.1"), OIDF(ModRequestedExpiryString))

		// Testname: Scope values in another order accepted
		// Spec: RFC6749-3.3
		// Description: The order of scope values is irrelevant; a request
		// with them reversed MUST complete with tokens. RFC 6749 3.3 says
		// so without a requirement keyword (and lets the server ignore
		// scope by policy); the OIDF suite fails an OP that refuses the
		// reversed order: certification level. When the reversed scope is
		// refused, the same request in the client's order decides: refused
		// too, the check is skipped.
		// Quote: RFC6749-3.3: "If the value contains multiple space-delimited strings, their order does not matter, and each string adds an additional access range to the requested scope."
		// Duty: OP
		// Level: CERT
		fw.ConformanceIt("accepts the scope values in another order", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			u := f.UserFor(device.ActionAllow)
			p := f.Params(c, u)
			s := strings.Fields(p.Scope)
			for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
				s[i], s[j] = s[j], s[i]
			}
			p.Scope = strings.Join(s, " ")
			ack := startVariant(ctx, f, c, p, nil, f.Params(c, f.PendingUserOrAny()), "the scope values in reversed order ("+p.Scope+") to be accepted (RFC 6749 3.3)")
			f.Decide(c, ack, u, p, device.ActionAllow)
			f.Tokens(c, ack)
		}, Refs("RFC6749-3.3"), Cert, OIDF(ModOtherScopeOrder))

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

		// Testname: Parameters beside the request object not used
		// Spec: CIBA-7.1.1, CIBA-7.2
		// Description: An authentication request parameter sent as a form
		// field beside the signed request object MUST NOT be used: the OP
		// either refuses the request (any HTTP 400) or acts on the signed
		// values only. The check sends binding_message "signed4711" inside
		// the request object and "unsigned666" beside it, and fails only
		// when the device shows the unsigned value. The MUST NOT of CIBA
		// 7.1.1 binds the client; the OP's duty is CIBA 7.2's: a parameter
		// outside the JWT is not a usage that conforms, and acting on it
		// takes an unsigned value for a signed one. Positive control for a
		// refusal: the request without the form field is acknowledged.
		// Quote: CIBA-7.1.1: "Authentication request parameters MUST NOT be present outside of the JWT, in particular they MUST NOT appear as HTTP request parameters." CIBA-7.2: "The OpenID Provider MUST verify that all the REQUIRED parameters are present and their usage conforms to this specification."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("uses only the signed parameters, not form fields beside the request object", func(ctx context.Context, f *Fixture) {
			c := f.SigningClient()
			p := f.Params(c, f.PendingUserOrAny())
			p.BindingMessage = signedBindingMessage
			ack, ex, err := c.Authenticate(ctx, p, client.CallForm(ciba.ParamBindingMessage, unsignedBindingMessage))
			if err != nil {
				if !hadResponse(ex) {
					f.Undetermined(ex, "expected an answer to the backchannel request, got none: %v", err)
				}
				f.ControlAck(c, p)
				f.Expect(ex.Status == http.StatusBadRequest, ex, "expected the request refused with HTTP 400 or acted on with the signed values only, got HTTP %d: %v", ex.Status, err)
				return
			}
			shown := deviceShown(ctx, f, ex, ack, "accepted")
			f.Expect(shown.BindingMessage != unsignedBindingMessage, ex, "expected the device to show the signed binding_message %q (or none), it showed the form field's %q", signedBindingMessage, shown.BindingMessage)
		}, Refs("CIBA-7.1.1", "CIBA-7.2"), Negative)

		// Testname: request_uri refused with a well-formed error
		// Spec: CIBA-7.1.1, CIBA-7.2, CIBA-13, OIDC-3.1.2.6
		// Description: CIBA has no request_uri: a request carrying only one
		// instead of a signed request MUST be refused with HTTP 400 as JSON
		// (error, error_description, error_uri well-formed), with
		// invalid_request or with request_uri_not_supported, the code OIDC
		// Core registers for exactly this. Positive control: a valid signed
		// request of the same client is acknowledged.
		// Quote: CIBA-7.2: "The OpenID Provider MUST verify that all the REQUIRED parameters are present and their usage conforms to this specification." CIBA-13: "Authentication Error Responses are sent in the same format as Token Error Responses, i.e. the HTTP response body uses the application/json media type with the following parameters: error REQUIRED." OIDC-3.1.2.6: "request_uri_not_supported The OP does not support use of the request_uri parameter defined in Section 6."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("refuses request_uri instead of request with a well-formed invalid_request", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			ex, err := c.PostForm(ctx, c.BackchannelEndpoint(), map[string][]string{ciba.ParamRequestURI: {"urn:ietf:params:oauth:request_uri:ciba-check"}},
				client.WithAuth(client.AuthAudience(c.Metadata().BackchannelAuthenticationEndpoint)))
			if err != nil || !hadResponse(ex) {
				f.Undetermined(ex, "expected an answer to the request_uri request, got: %v", err)
			}
			expectRefused(f, c, f.Params(c, f.PendingUserOrAny()), ex, errorOf(ex), Status400, ciba.ErrInvalidRequest, ciba.ErrRequestURINotSupported)
		}, Refs("CIBA-7.1.1", "CIBA-7.2", "CIBA-13", "OIDC-3.1.2.6"), Negative)
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
