package conformance

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
)

// attackBackchannelFormChecks registers the probes of the request's form: a parameter
// sent twice and an oversized request object (CIBA 7.1, RFC 6749 3.1).
func attackBackchannelFormChecks(fw *Framework) {
	// Testname: Two request objects refused
	// Spec: RFC6749-3.1, CIBA-7.1, CIBA-13
	// Description: A backchannel request with the request parameter
	// twice MUST be refused with HTTP 400 invalid_request.
	// Quote: RFC6749-3.1: "Request and response parameters MUST NOT be
	// included more than once." CIBA-7.2: "The OpenID Provider MUST
	// verify that all the REQUIRED parameters are present and their
	// usage conforms to this specification." CIBA-13: "invalid_request
	// The request is missing a required parameter, includes an invalid
	// parameter value, includes a parameter more than once, contains
	// more than one of the hints, or is otherwise malformed."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses a backchannel request with the request parameter twice", func(ctx context.Context, f *Fixture) {
		c := f.SigningClient()
		p := f.Params(c, f.PendingUserOrAny())
		f.ControlAck(c, p)
		jwt, err := c.RequestObject(p)
		if err != nil {
			f.fail(fmt.Sprintf("signing the request object of %s: %v", c.ClientID(), err))
		}
		_, ex, err := c.Authenticate(ctx, p, client.CallForm(ciba.ParamRequest, jwt, jwt))
		f.ExpectOAuthError(ex, err, Status400, ciba.ErrInvalidRequest)
	}, Refs("RFC6749-3.1", "CIBA-7.1", "CIBA-13"), Negative)

	// Testname: Oversized request object answered without a server error
	// Spec: CIBA-13
	// Description: A request object of more than 64 KiB (an unknown
	// claim of 70 KiB) MUST NOT get a server error: no spec sets a size
	// limit, so the OP may accept it or refuse it with a 4xx answer
	// (400 invalid_request, or 413 from its HTTP layer), but a 5xx is
	// none of the errors CIBA 13 lists. No answer at all is not
	// judged.
	// Quote: CIBA-13: "error REQUIRED. A single ASCII error code from
	// one present in the list below." "List of authentication error
	// codes associated with HTTP Errors: HTTP 400 Bad Request" ...
	// "HTTP 401 Unauthorized" ... "HTTP 403 Forbidden"
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("answers an oversized request object without a server error", func(ctx context.Context, f *Fixture) {
		c := f.Client(AnyMode, AnyAuth)
		p := f.Params(c, f.PendingUserOrAny())
		f.ControlAck(c, p)
		p.Extra = map[string]any{"ciba_check_padding": strings.Repeat("x", oversizedPadding)}
		_, ex, err := c.Authenticate(ctx, p)
		if ex == nil {
			f.fail(fmt.Sprintf("building the request of %s: %v", c.ClientID(), err))
		}
		if ex.Status == 0 {
			f.Undetermined(ex, "expected an answer other than a server error to a request object of %d KiB, got none: %v", oversizedPadding>>10, err)
		}
		f.Expect(ex.Status < http.StatusInternalServerError, ex,
			"expected the oversized request object accepted or refused with a 4xx answer (CIBA 13 lists 400, 401 and 403 errors), got HTTP %d", ex.Status)
	}, Refs("CIBA-13"), Negative)
}

// attackRequestedExpiryChecks registers the probe of requested_expiry values that are
// no positive integer (CIBA 7.1).
func attackRequestedExpiryChecks(fw *Framework) {
	// Testname: Non-positive or fractional requested_expiry refused
	// Spec: CIBA-7.1
	// Description: requested_expiry is a positive integer; the OP
	// SHOULD refuse 0, -5, "abc" and 3.5 with HTTP 400 invalid_request.
	// A warning only: the positive integer is what the client sends,
	// and the server MAY use the value or not, so an OP that ignores a
	// bad one breaks no MUST. ("30" as a string must be accepted: a
	// check of its own.)
	// Quote: CIBA-7.1: "requested_expiry OPTIONAL. A positive integer
	// allowing the client to request the expires_in value for the
	// auth_req_id the server will return. The server MAY use this
	// value to influence the lifetime of the authentication request
	// and is encouraged to do so where it will improve the user
	// experience, for example by terminating the authentication when
	// it knows the client is no longer interested in the result."
	// Duty: client
	// Level: SHOULD
	fw.ConformanceIt("refuses a requested_expiry that is not a positive integer", func(ctx context.Context, f *Fixture) {
		c := f.Client(AnyMode, AnyAuth)
		u := f.PendingUserOrAny()
		valid := f.Params(c, u)
		valid.RequestedExpiry = 60
		f.ControlAck(c, valid)
		for _, v := range []any{0, -5, "abc", 3.5} {
			p := f.Params(c, u)
			p.RequestedExpiry = v
			_, ex, err := c.Authenticate(ctx, p)
			f.ExpectOAuthError(ex, err, Status400, ciba.ErrInvalidRequest)
		}
	}, Refs("CIBA-7.1"), Negative, Should)
}

// attackNotificationTokenChecks registers the probes of client_notification_token at
// and past its 1024-character bound (CIBA 7.1).
func attackNotificationTokenChecks(fw *Framework) {
	// Testname: Overlong client_notification_token refused
	// Spec: CIBA-7.1
	// Description: The OP SHOULD refuse a client_notification_token
	// longer than 1024 characters with HTTP 400 invalid_request. A
	// warning only: the 1024-character limit binds the client that
	// makes the token; no sentence tells the OP to enforce it.
	// Quote: CIBA-7.1: "It is a bearer token provided by the Client
	// that will be used by the OpenID Provider to authenticate the
	// callback request to the Client. The length of the token MUST NOT
	// exceed 1024 characters and it MUST conform to the syntax for
	// Bearer credentials as defined in Section 2.1 of [RFC6750]."
	// Duty: client
	// Level: SHOULD
	fw.ConformanceIt("refuses a client_notification_token longer than 1024 characters", func(ctx context.Context, f *Fixture) {
		c := f.Client(ciba.ModePing, AnyAuth)
		p := f.Params(c, f.PendingUserOrAny())
		f.ControlAck(c, p)
		p.ClientNotificationToken = strings.Repeat("A", ciba.MaxClientNotificationTokenLength+1)
		_, ex, err := c.Authenticate(ctx, p)
		f.ExpectOAuthError(ex, err, Status400, ciba.ErrInvalidRequest)
	}, Refs("CIBA-7.1"), Modes(ciba.ModePing), Negative, Should)

	// Testname: Long random client_notification_token accepted
	// Spec: CIBA-7.1, CIBA-10.2
	// Description: The OIDF suite's happy flow sends a long random
	// client_notification_token and MUST get it back in the ping: a
	// token of 1024 characters of the b64token syntax (RFC 6750 2.1:
	// - . _ ~ + / and trailing =) is accepted and echoed exactly. CERT
	// level: CIBA describes the echo ("the OP sends") but words no MUST
	// on the OP for it (the MUSTs of 7.1 bind the token the client
	// makes).
	// Quote: CIBA-7.1: "It is a bearer token provided by the Client
	// that will be used by the OpenID Provider to authenticate the
	// callback request to the Client. The length of the token MUST NOT
	// exceed 1024 characters and it MUST conform to the syntax for
	// Bearer credentials as defined in Section 2.1 of [RFC6750]."
	// CIBA-10.2: "In this mode the OP sends the
	// client_notification_token as a bearer token in the Authorization
	// header field and sends only the auth_req_id in the body of the
	// request."
	// Duty: OP
	// Level: CERT
	fw.ConformanceIt("accepts and echoes a 1024-character client_notification_token", func(ctx context.Context, f *Fixture) {
		c := f.Client(ciba.ModePing, AnyAuth)
		var want string
		tr, _, ack := f.Approved(c, func(p *client.AuthParams) {
			// b64token (RFC 6750 2.1): "=" only as padding at the end.
			p.ClientNotificationToken = (p.ClientNotificationToken + "-._~+/" + strings.Repeat("Z", 1024))[:1023] + "="
			want = p.ClientNotificationToken
		})
		f.Expect(tr.AccessToken != "", nil, "expected tokens")
		n := f.Env().Receivers.For(c.ClientID()).NotificationsFor(ack.AuthReqID)
		f.Expect(firstBearer(n) == want, nil, "expected the 1024-character token echoed exactly in the ping, got %d characters", len(firstBearer(n)))
	}, Refs("CIBA-7.1", "CIBA-10.2"), Modes(ciba.ModePing), OIDF(ModHappy), Cert)
}

// oversizedPadding is the size of the claim that makes a request object
// oversized: more than 64 KiB, a common limit of request bodies.
const oversizedPadding = 70 << 10

func firstBearer(ns []client.Notification) string {
	if len(ns) == 0 {
		return ""
	}
	return ns[0].BearerToken
}
