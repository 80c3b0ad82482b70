package refop

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
)

// Backchannel fault names (faults_backchannel.go). Each is switched on at
// the one place of backchannel.go or requestobject.go where the deviation
// happens.
const (
	FaultBindingMessageFormEncoded   = "binding-message-form-encoded"
	FaultBindingMessageTruncated     = "binding-message-truncated"
	FaultBindingMessageDropped       = "binding-message-dropped"
	FaultKidlessAnyClientKey         = "kidless-request-object-any-client-key"
	FaultFirstRequestParamWins       = "first-request-param-wins"
	FaultFormOverridesSigned         = "form-overrides-signed"
	FaultHintsNotCounted             = "hints-not-counted"
	FaultIgnoreACRValues             = "ignore-acr-values"
	FaultIgnoreSignedUserCode        = "ignore-signed-user-code"
	FaultLenientRequestedExpiry      = "lenient-requested-expiry"
	FaultNotificationTokenBase64URL  = "notification-token-base64url-only"
	FaultNotificationTokenOptional   = "notification-token-optional"
	FaultNotificationTokenUnlimited  = "notification-token-unlimited"
	FaultNullInterval                = "null-interval"
	FaultOmitExpiresIn               = "omit-expires-in"
	FaultOversizedRequestServerError = "oversized-request-server-error"
	FaultPaddedAuthReqID             = "padded-auth-req-id"
	FaultRefuseJARTyp                = "refuse-jar-typ"
	FaultRequestedExpiryNumberOnly   = "requested-expiry-number-only"
	FaultRequestURIServerError       = "request-uri-server-error"
	FaultScopeOpenIDOptional         = "scope-openid-optional"
	FaultScopeOrderSensitive         = "scope-order-sensitive"
	FaultUnknownUserAccepted         = "unknown-user-accepted"
	FaultUserCodeOptional            = "user-code-optional"
	FaultUserCodeUnchecked           = "user-code-unchecked"
)

// backchannelFaults deviate at the backchannel authentication endpoint: parameters, hints, binding_message, user_code, request objects, the acknowledgement.
func backchannelFaults() []Fault {
	return []Fault{
		{Name: FaultBindingMessageFormEncoded, Breaks: "the binding_message reaches the device form-encoded (spaces as +)", Trips: []string{"shows the binding_message on the authentication device as sent"}},
		{Name: FaultKidlessAnyClientKey, Breaks: "a request object without kid is verified against every registered client's keys, not only the sender's", Trips: []string{"refuses a request object without kid signed by another client's key"}},
		{Name: FaultBindingMessageDropped, Breaks: "binding_message is accepted but never passed on to the authentication device",
			Trips: []string{
				"accepts a binding_message and completes the flow",
				"shows the binding_message on the authentication device as sent",
			}},
		{Name: FaultBindingMessageTruncated, Breaks: "an over-long binding_message is accepted and silently truncated on the device", Trips: []string{"refuses an undisplayable binding_message or shows it faithfully"}},
		{Name: FaultFirstRequestParamWins, Breaks: "a repeated request parameter is not refused: the first value is used", Trips: []string{"refuses a backchannel request with the request parameter twice"}},
		{Name: FaultFormOverridesSigned, Breaks: "form fields beside the request object are accepted and override the signed values", Trips: []string{"uses only the signed parameters, not form fields beside the request object"}},
		{Name: FaultHintsNotCounted, Breaks: "hints are not counted: the first present one wins and none gives unknown_user_id", Trips: []string{"refuses a request with both login_hint and login_hint_token", "refuses a request without any hint"}},
		{Name: FaultIgnoreACRValues, Breaks: "acr_values is ignored: ID tokens carry no acr", Trips: []string{"returns a requested acr in the ID token"}},
		{Name: FaultIgnoreSignedUserCode, Breaks: "a user_code inside the request object is ignored (missing_user_code)",
			Trips: []string{
				"accepts a request with the user's user_code",
				"refuses a request with a wrong user_code with invalid_user_code",
				"refuses a request without the user's user_code with missing_user_code",
			}},
		{Name: FaultLenientRequestedExpiry, Breaks: "a requested_expiry that is not a positive integer falls back to the default expiry", Trips: []string{"refuses a requested_expiry that is not a positive integer"}},
		{Name: FaultNotificationTokenBase64URL, Breaks: "client_notification_token is limited to the base64url alphabet (b64token's ~ + / = refused)", Trips: []string{"accepts and echoes a 1024-character client_notification_token"}},
		{Name: FaultNotificationTokenOptional, Breaks: "ping requests without client_notification_token are accepted", Trips: []string{"refuses a ping request without client_notification_token"}},
		{Name: FaultNotificationTokenUnlimited, Breaks: "client_notification_token longer than 1024 characters is accepted", Trips: []string{"refuses a client_notification_token longer than 1024 characters"}},
		{Name: FaultNullInterval, Breaks: "the acknowledgement carries interval: null", Trips: []string{"acknowledges with interval as a positive JSON number if at all"}},
		// The concurrency check polls until expires_in has passed: without
		// expires_in it has no time to poll at all.
		// The exactly-once check no longer trips on a missing expires_in: it
		// bounds its wait by the request's lifetime, and its first round
		// decides at once.
		{Name: FaultOmitExpiresIn, Breaks: "the acknowledgement omits expires_in unless requested_expiry was sent", Trips: []string{"acknowledges with expires_in as a positive JSON number"}},
		{Name: FaultOversizedRequestServerError, Breaks: "an oversized backchannel request is answered 500 server_error", Trips: []string{"answers an oversized request object without a server error"}},
		{Name: FaultPaddedAuthReqID, Breaks: "auth_req_id is padded standard base64 (with = + /)", Trips: []string{"acknowledges with JSON and an auth_req_id of A-Z a-z 0-9 . - _"}},
		{Name: FaultRefuseJARTyp, Breaks: "request objects with typ oauth-authz-req+jwt are refused", Trips: []string{"accepts a request object with typ oauth-authz-req+jwt"}},
		{Name: FaultRequestedExpiryNumberOnly, Breaks: "requested_expiry as a JSON string is refused", Trips: []string{"accepts requested_expiry as a JSON string"}},
		{Name: FaultRequestURIServerError, Breaks: "a request with request_uri is answered 500 server_error (the OP tried to load it)", Trips: []string{"refuses request_uri instead of request with a well-formed invalid_request"}},
		{Name: FaultScopeOpenIDOptional, Breaks: "a scope without openid is accepted", Trips: []string{"refuses a scope without openid"}},
		{Name: FaultScopeOrderSensitive, Breaks: "scope must start with openid: other orders are refused invalid_scope", Trips: []string{"accepts the scope values in another order"}},
		{Name: FaultUnknownUserAccepted, Breaks: "a login_hint that names no user falls back to the first user and is acknowledged", Trips: []string{"refuses an unknown login_hint with unknown_user_id"}},
		{Name: FaultUserCodeOptional, Breaks: "a request without the user's user_code is accepted", Trips: []string{"refuses a request without the user's user_code with missing_user_code"}},
		{Name: FaultUserCodeUnchecked, Breaks: "any user_code is accepted for a user who has one", Trips: []string{"refuses a request with a wrong user_code with invalid_user_code"}},
	}
}

// overlayFormParams is the form-overrides-signed fault: form fields
// beside the request object replace the signed values.
func overlayFormParams(p authParams, form url.Values) authParams {
	f := formParams(form.Get, form.Has)
	for _, o := range []struct {
		name string
		dst  *string
		v    string
	}{
		{ciba.ParamScope, &p.Scope, f.Scope},
		{ciba.ParamClientNotificationToken, &p.ClientNotificationToken, f.ClientNotificationToken},
		{ciba.ParamACRValues, &p.ACRValues, f.ACRValues},
		{ciba.ParamLoginHintToken, &p.LoginHintToken, f.LoginHintToken},
		{ciba.ParamIDTokenHint, &p.IDTokenHint, f.IDTokenHint},
		{ciba.ParamLoginHint, &p.LoginHint, f.LoginHint},
		{ciba.ParamBindingMessage, &p.BindingMessage, f.BindingMessage},
		{ciba.ParamUserCode, &p.UserCode, f.UserCode},
	} {
		if form.Has(o.name) {
			*o.dst = o.v
		}
	}
	if f.HasExpiry {
		p.RequestedExpiry, p.HasExpiry = f.RequestedExpiry, true
	}
	return p
}

// onlyRequestRepeated reports whether request is the one repeated form
// parameter, the case the first-request-param-wins fault lets through.
func onlyRequestRepeated(form url.Values) bool {
	for name, vs := range form {
		if len(vs) > 1 && name != ciba.ParamRequest {
			return false
		}
	}
	return len(form[ciba.ParamRequest]) > 1
}

// truncateRunes cuts s to at most n runes (binding-message-truncated).
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// anyAlgRSAKeys is the accept-rs256 fault's key matching: RSA keys are
// matched by key type only, so a key registered for PS256 also verifies
// RS256 (the faulty OP ignores the registered alg).
func anyAlgRSAKeys(keys []jose.JSONWebKey) []jose.JSONWebKey {
	out := make([]jose.JSONWebKey, len(keys))
	for i, k := range keys {
		if k.Algorithm == ciba.AlgPS256 {
			k.Algorithm = ""
		}
		out[i] = k
	}
	return out
}

// paddedAuthReqID is the padded-auth-req-id fault's encoding: standard
// base64 with = padding, outside the CIBA 7.3 character set.
func paddedAuthReqID(raw []byte) string { return base64.StdEncoding.EncodeToString(raw) }

// isBase64URLToken reports whether t uses only the base64url alphabet,
// the narrower syntax the notification-token-base64url-only fault enforces.
func isBase64URLToken(t string) bool {
	return strings.Trim(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == ""
}

// isBodyTooLarge reports whether parseForm refused the body for its size
// (413), which the oversized-request-server-error fault turns into a 500.
func isBodyTooLarge(err error) bool {
	var e *ciba.Error
	return errors.As(err, &e) && e.Status == http.StatusRequestEntityTooLarge
}

// everyClientKey is every key any client registered: what an OP that
// "tries all keys" when a kid is missing ends up trusting.
func (op *OP) everyClientKey() []jose.JSONWebKey {
	var keys []jose.JSONWebKey
	for _, c := range op.clients {
		keys = append(keys, c.JWKS.Keys...)
	}
	return keys
}

// faultyAuthParams are the request's parameters as the faulty OP reads
// them (binding-message-truncated, ignore-signed-user-code,
// ignore-acr-values).
func (op *OP) faultyAuthParams(p authParams) authParams {
	if op.faults.on(FaultBindingMessageTruncated) {
		p.BindingMessage = truncateRunes(p.BindingMessage, MaxBindingMessageRunes)
	}
	if op.faults.on(FaultIgnoreSignedUserCode) {
		p.UserCode = ""
	}
	if op.faults.on(FaultIgnoreACRValues) {
		p.ACRValues = ""
	}
	return p
}

// faultyCheckedNotificationToken is the part of t the OP checks: all of
// it, but only the first 1024 characters under
// notification-token-unlimited.
func (op *OP) faultyCheckedNotificationToken(t string) string {
	if op.faults.on(FaultNotificationTokenUnlimited) {
		return t[:min(len(t), ciba.MaxClientNotificationTokenLength)]
	}
	return t
}

// faultyNotificationTokenRefusal refuses a valid b64token outside the
// base64url alphabet (notification-token-base64url-only).
func (op *OP) faultyNotificationTokenRefusal(t string) error {
	if op.faults.on(FaultNotificationTokenBase64URL) && !isBase64URLToken(op.faultyCheckedNotificationToken(t)) {
		return ciba.ErrInvalidRequest.WithDescription("client_notification_token must be base64url")
	}
	return nil
}

// faultyRequestedExpiryRefusal refuses requested_expiry as a JSON string
// (requested-expiry-number-only).
func (op *OP) faultyRequestedExpiryRefusal(requested any) error {
	if _, isString := requested.(string); isString && op.faults.on(FaultRequestedExpiryNumberOnly) {
		return ciba.ErrInvalidRequest.WithDescription("requested_expiry must be a JSON number")
	}
	return nil
}

// faultyAuthReqIDBytes is how many random bytes make an auth_req_id: 8
// under short-auth-req-id.
func (op *OP) faultyAuthReqIDBytes(n int) int {
	if op.faults.on(FaultShortAuthReqID) {
		return 8
	}
	return n
}

// faultyEncodeAuthReqID writes an auth_req_id's random bytes with encode,
// or as padded standard base64 under padded-auth-req-id.
func (op *OP) faultyEncodeAuthReqID(raw []byte, encode func([]byte) string) string {
	if op.faults.on(FaultPaddedAuthReqID) {
		return paddedAuthReqID(raw)
	}
	return encode(raw)
}

// faultyDeviceView is the stored request as the authentication device
// receives it (binding-message-form-encoded, binding-message-dropped).
func (op *OP) faultyDeviceView(ar AuthRequest) AuthRequest {
	if op.faults.on(FaultBindingMessageFormEncoded) {
		ar.BindingMessage = url.QueryEscape(ar.BindingMessage)
	}
	if op.faults.on(FaultBindingMessageDropped) {
		ar.BindingMessage = ""
	}
	return ar
}

// faultyAck is the acknowledgement's body: ack, or a reshaped member set
// under omit-expires-in (when no requested_expiry was sent) and
// null-interval.
func (op *OP) faultyAck(ack backchannelAck) any {
	switch {
	case op.faults.on(FaultOmitExpiresIn) && !ack.expiryRequested:
		return map[string]any{"auth_req_id": ack.AuthReqID, "interval": ack.heldInterval}
	case op.faults.on(FaultNullInterval):
		return map[string]any{"auth_req_id": ack.AuthReqID, "expires_in": ack.ExpiresIn, "interval": nil}
	}
	return ack.AuthenticationResponse
}

// faultyForm is the parsed backchannel form (err: its refusal) as the
// faulty OP takes it: a repeated request parameter is let through
// (first-request-param-wins), an oversized body is a server error
// (oversized-request-server-error).
func (op *OP) faultyForm(r *http.Request, form url.Values, err error) (url.Values, error) {
	if err != nil && op.faults.on(FaultFirstRequestParamWins) && onlyRequestRepeated(r.PostForm) {
		return r.PostForm, nil
	}
	if err != nil && op.faults.on(FaultOversizedRequestServerError) && isBodyTooLarge(err) {
		return form, ciba.ErrServerError.WithDescription("internal error")
	}
	return form, err
}

// faultyOverlay is the signed parameters p with the form fields beside the
// request object laid over them under form-overrides-signed.
func (op *OP) faultyOverlay(p authParams, form url.Values) authParams {
	if op.faults.on(FaultFormOverridesSigned) {
		return overlayFormParams(p, form)
	}
	return p
}
