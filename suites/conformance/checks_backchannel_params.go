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
	"github.com/ciba-check/ciba-check/internal/targetclient"
)

// backchannelHintChecks registers the checks that a request must be signed
// and carry exactly one hint (FAPI-CIBA 5.2.2, CIBA 7.1).
func backchannelHintChecks(fw *Framework) {
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
		expectHintsRefused(ctx, f, "ciba-check-user", "ciba-check-login-hint-token")
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
		expectHintsRefused(ctx, f, "", "")
	}, Refs("CIBA-7.1", "CIBA-7.2"), Negative)
}

// backchannelUnknownValueChecks registers the checks that an unknown user and a
// scope without openid are refused with the error CIBA 13 names.
func backchannelUnknownValueChecks(fw *Framework) {
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
	fw.ConformanceIt("refuses a hint naming no user with unknown_user_id or invalid_request", func(ctx context.Context, f *Fixture) {
		c := f.Client(AnyMode, AnyAuth)
		u := f.PendingUserOrAny()
		p := f.Params(c, u)
		id, err := c.NewJTI()
		if err != nil {
			f.Undetermined(nil, "could not make a random value: %v", err)
		}
		param, v := u.Hint()
		_, ex, err := c.Authenticate(ctx, targetclient.WithHint(p, param, unknownHint(v, id)))
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
}

// backchannelPingParamChecks registers the check that a ping client's request
// without client_notification_token is refused (CIBA 7.1).
func backchannelPingParamChecks(fw *Framework) {
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
}

// backchannelVariantChecks registers the checks that valid variations of a
// request (requested_expiry as a string, scopes in another order) are
// accepted (CIBA 7.1.1).
func backchannelVariantChecks(fw *Framework) {
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
}

// backchannelSignedRequestChecks registers the checks of how the request
// travels: only the signed parameters count, and request_uri is refused
// well-formed (CIBA 7.1.1, 13).
func backchannelSignedRequestChecks(fw *Framework) {
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
	fw.ConformanceIt("refuses request_uri instead of request with invalid_request or request_uri_not_supported", func(ctx context.Context, f *Fixture) {
		c := f.Client(AnyMode, AnyAuth)
		ex, err := c.PostForm(ctx, c.BackchannelEndpoint(), map[string][]string{ciba.ParamRequestURI: {"urn:ietf:params:oauth:request_uri:ciba-check"}},
			client.WithAuth(client.AuthAudience(c.Metadata().BackchannelAuthenticationEndpoint)))
		if err != nil || !hadResponse(ex) {
			f.Undetermined(ex, "expected an answer to the request_uri request, got: %v", err)
		}
		expectRefused(f, c, f.Params(c, f.PendingUserOrAny()), ex, errorOf(ex), Status400, ciba.ErrInvalidRequest, ciba.ErrRequestURINotSupported)
	}, Refs("CIBA-7.1.1", "CIBA-7.2", "CIBA-13", "OIDC-3.1.2.6"), Negative)
}

// expectHintsRefused sends the valid request of a client with its hints
// replaced by loginHint and loginHintToken (and no id_token_hint), and
// expects HTTP 400 invalid_request, the valid request acknowledged.
func expectHintsRefused(ctx context.Context, f *Fixture, loginHint, loginHintToken string) {
	ginkgo.GinkgoHelper()
	c := f.Client(AnyMode, AnyAuth)
	p := f.Params(c, f.PendingUserOrAny())
	bad := p
	bad.LoginHint, bad.LoginHintToken, bad.IDTokenHint = loginHint, loginHintToken, ""
	_, ex, err := c.Authenticate(ctx, bad)
	expectRefused(f, c, p, ex, err, Status400, ciba.ErrInvalidRequest)
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
