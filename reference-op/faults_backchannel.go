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
		{Name: FaultBindingMessageFormEncoded, Breaks: "the binding_message reaches the device form-encoded (spaces as +)", Trips: []string{"shows the binding_message on the authentication device as sent"}, bend: onDeviceView(func(ar *AuthRequest) { ar.BindingMessage = url.QueryEscape(ar.BindingMessage) })},
		{Name: FaultKidlessAnyClientKey, Breaks: "a request object without kid is verified against every registered client's keys, not only the sender's", Trips: []string{"refuses a request object without kid signed by another client's key"}, bend: kidlessAnyClientKey},
		{Name: FaultBindingMessageDropped, Breaks: "binding_message is accepted but never passed on to the authentication device",
			Trips: []string{
				"accepts a binding_message and completes the flow",
				"shows the binding_message on the authentication device as sent",
			}, bend: onDeviceView(func(ar *AuthRequest) { ar.BindingMessage = "" })},
		{Name: FaultBindingMessageTruncated, Breaks: "an over-long binding_message is accepted and silently truncated on the device", Trips: []string{"refuses an undisplayable binding_message or shows it faithfully"}, bend: onParams(func(p *authParams) { p.BindingMessage = truncateRunes(p.BindingMessage, MaxBindingMessageRunes) })},
		{Name: FaultFirstRequestParamWins, Breaks: "a repeated request parameter is not refused: the first value is used", Trips: []string{"refuses a backchannel request with the request parameter twice"}, bend: firstRequestParamWins},
		{Name: FaultFormOverridesSigned, Breaks: "form fields beside the request object are accepted and override the signed values", Trips: []string{"uses only the signed parameters, not form fields beside the request object"}, bend: bends(waive(ruleOnlySignedParams), func(h *hooks) { h.signedParams = overlayFormParams })},
		{Name: FaultHintsNotCounted, Breaks: "hints are not counted: the first present one wins and none gives unknown_user_id", Trips: []string{"refuses a request with both login_hint and login_hint_token", "refuses a request without any hint"}, bend: hintsNotCounted},
		{Name: FaultIgnoreACRValues, Breaks: "acr_values is ignored: ID tokens carry no acr", Trips: []string{"returns an acr claim in the ID token when acr is requested"}, bend: onParams(func(p *authParams) { p.ACRValues = "" })},
		{Name: FaultIgnoreSignedUserCode, Breaks: "a user_code inside the request object is ignored (missing_user_code)",
			Trips: []string{
				"accepts a request with the user's user_code",
				"refuses a request with a wrong user_code with invalid_user_code",
				"refuses a request without the user's user_code with missing_user_code",
			}, bend: onParams(func(p *authParams) { p.UserCode = "" })},
		{Name: FaultLenientRequestedExpiry, Breaks: "a requested_expiry that is not a positive integer falls back to the default expiry", Trips: []string{"refuses a requested_expiry that is not a positive integer"}, bend: func(h *hooks) { h.requestedExpiry = func(any, error) error { return nil } }},
		{Name: FaultNotificationTokenBase64URL, Breaks: "client_notification_token is limited to the base64url alphabet (b64token's ~ + / = refused)", Trips: []string{"accepts and echoes a 1024-character client_notification_token"}, bend: notificationTokenBase64URL},
		{Name: FaultNotificationTokenOptional, Breaks: "ping requests without client_notification_token are accepted", Trips: []string{"refuses a ping request without client_notification_token"}, bend: notificationTokenOptional},
		{Name: FaultNotificationTokenUnlimited, Breaks: "client_notification_token longer than 1024 characters is accepted", Trips: []string{"refuses a client_notification_token longer than 1024 characters"}, bend: notificationTokenUnlimited},
		{Name: FaultNullInterval, Breaks: "the acknowledgement carries interval: null", Trips: []string{"acknowledges with interval as a positive JSON number if at all"}, bend: nullInterval},
		// The concurrency check polls until expires_in has passed: without
		// expires_in it has no time to poll at all.
		// The exactly-once check no longer trips on a missing expires_in: it
		// bounds its wait by the request's lifetime, and its first round
		// decides at once.
		{Name: FaultOmitExpiresIn, Breaks: "the acknowledgement omits expires_in unless requested_expiry was sent", Trips: []string{"acknowledges with expires_in as a positive JSON number"}, bend: omitExpiresIn},
		{Name: FaultOversizedRequestServerError, Breaks: "an oversized backchannel request is answered 500 server_error", Trips: []string{"answers an oversized request object without a server error"}, bend: oversizedRequestServerError},
		{Name: FaultPaddedAuthReqID, Breaks: "auth_req_id is padded standard base64 (with = + /)", Trips: []string{"acknowledges with JSON and an auth_req_id of A-Z a-z 0-9 . - _"}, bend: func(h *hooks) { h.encodeAuthReqID = paddedAuthReqID }},
		{Name: FaultRefuseJARTyp, Breaks: "request objects with typ oauth-authz-req+jwt are refused", Trips: []string{"accepts a request object with typ oauth-authz-req+jwt"}, bend: refuseJARTyp},
		{Name: FaultRequestedExpiryNumberOnly, Breaks: "requested_expiry as a JSON string is refused", Trips: []string{"accepts requested_expiry as a JSON string"}, bend: requestedExpiryNumberOnly},
		{Name: FaultRequestURIServerError, Breaks: "a request with request_uri is answered 500 server_error (the OP tried to load it)", Trips: []string{"refuses request_uri instead of request with invalid_request or request_uri_not_supported"}, bend: answer(ruleRequestURIRefused, ciba.ErrServerError.WithDescription("cannot load request_uri"))},
		{Name: FaultScopeOpenIDOptional, Breaks: "a scope without openid is accepted", Trips: []string{"refuses a scope without openid"}, bend: scopeOpenIDOptional},
		{Name: FaultScopeOrderSensitive, Breaks: "scope must start with openid: other orders are refused invalid_scope", Trips: []string{"accepts the scope values in another order"}, bend: scopeOrderSensitive},
		{Name: FaultUnknownUserAccepted, Breaks: "a login_hint that names no user falls back to the first user and is acknowledged", Trips: []string{"refuses a hint naming no user with unknown_user_id or invalid_request"}, bend: unknownUserAccepted},
		{Name: FaultUserCodeOptional, Breaks: "a request without the user's user_code is accepted", Trips: []string{"refuses a request without the user's user_code with missing_user_code"}, bend: waive(ruleUserCodeRequired)},
		{Name: FaultUserCodeUnchecked, Breaks: "any user_code is accepted for a user who has one", Trips: []string{"refuses a request with a wrong user_code with invalid_user_code"}, bend: waive(ruleUserCodeMatches)},
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

// kidlessAnyClientKey (kidless-request-object-any-client-key): a request
// object without kid verifies with every registered client's keys.
func kidlessAnyClientKey(h *hooks) {
	prev := h.requestObjectKeys
	h.requestObjectKeys = func(op *OP, hdr jwsHeader, v verification) verification {
		v = prev(op, hdr, v)
		if hdr.Kid == "" {
			v.keys = op.everyClientKey()
		}
		return v
	}
}

// acceptRS256RequestObjects (accept-rs256): RS256 verifies too, with any
// RSA key whatever its registered alg.
func acceptRS256RequestObjects(h *hooks) {
	prev := h.requestObjectKeys
	h.requestObjectKeys = func(op *OP, hdr jwsHeader, v verification) verification {
		v = prev(op, hdr, v)
		v.algs = append(v.algs, ciba.AlgRS256)
		v.keys = anyAlgRSAKeys(v.keys)
		return v
	}
}

// acceptUnsignedRequestObjects (accept-alg-none): a request object with
// alg none is read without verification.
func acceptUnsignedRequestObjects(h *hooks) {
	prev := h.requestObjectKeys
	h.requestObjectKeys = func(op *OP, hdr jwsHeader, v verification) verification {
		v = prev(op, hdr, v)
		v.unsigned = hdr.Alg == ciba.AlgNone
		return v
	}
}

// refuseJARTyp (refuse-jar-typ): typ oauth-authz-req+jwt is refused.
func refuseJARTyp(h *hooks) {
	h.requestObjectTyp = func(typ string, strict bool) bool {
		return strict && !strings.EqualFold(typ, "oauth-authz-req+jwt")
	}
}

// hintsNotCounted (hints-not-counted): several hints pass, the first
// present one wins; none is unknown_user_id.
func hintsNotCounted(h *hooks) {
	h.hintCount = func(n int, _ error) error {
		if n == 0 {
			return ciba.ErrUnknownUserID.WithDescription("no user for an empty login_hint")
		}
		return nil
	}
}

// unknownUserAccepted (unknown-user-accepted): a login_hint naming no user
// falls back to the first user.
func unknownUserAccepted(h *hooks) {
	prev := h.loginHintUser
	h.loginHintUser = func(op *OP, hint string) (User, bool) {
		u, ok := prev(op, hint)
		if !ok && len(op.users) > 0 {
			return op.users[0], true
		}
		return u, ok
	}
}

// scopeOpenIDOptional (scope-openid-optional): a scope without openid
// passes.
func scopeOpenIDOptional(h *hooks) {
	h.scope = func([]string, error) error { return nil }
}

// scopeOrderSensitive (scope-order-sensitive): scope must start with
// openid.
func scopeOrderSensitive(h *hooks) {
	prev := h.scope
	h.scope = func(values []string, strict error) error {
		if len(values) == 0 || values[0] != "openid" {
			return ciba.ErrInvalidScope.WithDescription("scope must start with openid")
		}
		return prev(values, strict)
	}
}

// notificationTokenOptional (notification-token-optional): a ping or push
// request without client_notification_token passes.
func notificationTokenOptional(h *hooks) {
	prev := h.notificationToken
	h.notificationToken = func(t string, strict error) error {
		if t == "" {
			return nil
		}
		return prev(t, strict)
	}
}

// notificationTokenUnlimited (notification-token-unlimited): only the
// first 1024 characters of client_notification_token are checked.
func notificationTokenUnlimited(h *hooks) {
	prev := h.notificationToken
	h.notificationToken = func(t string, _ error) error {
		checked := t[:min(len(t), ciba.MaxClientNotificationTokenLength)]
		return prev(checked, checkNotificationToken(checked))
	}
}

// notificationTokenBase64URL (notification-token-base64url-only): a valid
// b64token outside the base64url alphabet is refused.
func notificationTokenBase64URL(h *hooks) {
	prev := h.notificationToken
	h.notificationToken = func(t string, strict error) error {
		if err := prev(t, strict); err != nil {
			return err
		}
		if !isBase64URLToken(t) {
			return ciba.ErrInvalidRequest.WithDescription("client_notification_token must be base64url")
		}
		return nil
	}
}

// requestedExpiryNumberOnly (requested-expiry-number-only):
// requested_expiry as a JSON string is refused.
func requestedExpiryNumberOnly(h *hooks) {
	prev := h.requestedExpiry
	h.requestedExpiry = func(v any, strict error) error {
		if _, isString := v.(string); isString {
			return ciba.ErrInvalidRequest.WithDescription("requested_expiry must be a JSON number")
		}
		return prev(v, strict)
	}
}

// omitExpiresIn (omit-expires-in): the acknowledgement omits expires_in
// unless requested_expiry was sent.
func omitExpiresIn(h *hooks) {
	prev := h.ack
	h.ack = func(ack backchannelAck) any {
		if !ack.expiryRequested {
			return map[string]any{"auth_req_id": ack.AuthReqID, "interval": ack.heldInterval}
		}
		return prev(ack)
	}
}

// nullInterval (null-interval): the acknowledgement carries interval null.
func nullInterval(h *hooks) {
	h.ack = func(ack backchannelAck) any {
		return map[string]any{"auth_req_id": ack.AuthReqID, "expires_in": ack.ExpiresIn, "interval": nil}
	}
}

// firstRequestParamWins (first-request-param-wins): a repeated request
// parameter is let through, the first value used.
func firstRequestParamWins(h *hooks) {
	prev := h.form
	h.form = func(r *http.Request, form url.Values, err error) (url.Values, error) {
		if err != nil && onlyRequestRepeated(r.PostForm) {
			return r.PostForm, nil
		}
		return prev(r, form, err)
	}
}

// oversizedRequestServerError (oversized-request-server-error): an
// oversized body is answered 500 server_error.
func oversizedRequestServerError(h *hooks) {
	prev := h.form
	h.form = func(r *http.Request, form url.Values, err error) (url.Values, error) {
		if err != nil && isBodyTooLarge(err) {
			return form, ciba.ErrServerError.WithDescription("internal error")
		}
		return prev(r, form, err)
	}
}
