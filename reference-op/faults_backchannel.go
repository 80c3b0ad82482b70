package refop

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/internal/ciba"
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
		{FaultBindingMessageFormEncoded, "the binding_message reaches the device form-encoded (spaces as +)", "CIBA-7.1: binding_message shown on the device as sent"},
		{FaultKidlessAnyClientKey, "a request object without kid is verified against every registered client's keys, not only the sender's", "CIBA-7.1.1: a kid-less request object signed by another client's key is refused"},
		{FaultBindingMessageDropped, "binding_message is accepted but never passed on to the authentication device", "CIBA-7.1 / FAPI-CIBA-5.2.2-2: the binding_message reaches the device"},
		{FaultBindingMessageTruncated, "an over-long binding_message is accepted and silently truncated on the device", "CIBA-7.1 / CIBA-13: undisplayable binding_message refused or shown faithfully"},
		{FaultFirstRequestParamWins, "a repeated request parameter is not refused: the first value is used", "RFC 6749 3.1 / CIBA-7.1: repeated request parameter gives invalid_request"},
		{FaultFormOverridesSigned, "form fields beside the request object are accepted and override the signed values", "CIBA-7.1.1: only the signed parameters are used"},
		{FaultHintsNotCounted, "hints are not counted: the first present one wins and none gives unknown_user_id", "CIBA-7.1: exactly one hint, else invalid_request"},
		{FaultIgnoreACRValues, "acr_values is ignored: ID tokens carry no acr", "FAPI-CIBA-5.2.2-8: requested acr returned in the ID token"},
		{FaultIgnoreSignedUserCode, "a user_code inside the request object is ignored (missing_user_code)", "CIBA-7.1.2: correct user_code accepted, wrong one gives invalid_user_code"},
		{FaultLenientRequestedExpiry, "a requested_expiry that is not a positive integer falls back to the default expiry", "CIBA-7.1: bad requested_expiry gives invalid_request"},
		{FaultNotificationTokenBase64URL, "client_notification_token is limited to the base64url alphabet (b64token's ~ + / = refused)", "CIBA-7.1 / RFC 6750 2.1: a 1024-character b64token accepted and echoed"},
		{FaultNotificationTokenOptional, "ping requests without client_notification_token are accepted", "CIBA-7.1: client_notification_token required for ping"},
		{FaultNotificationTokenUnlimited, "client_notification_token longer than 1024 characters is accepted", "CIBA-7.1: client_notification_token of at most 1024 characters"},
		{FaultNullInterval, "the acknowledgement carries interval: null", "CIBA-7.3: interval a positive JSON number if present"},
		{FaultOmitExpiresIn, "the acknowledgement omits expires_in unless requested_expiry was sent", "CIBA-7.3: expires_in a positive JSON number"},
		{FaultOversizedRequestServerError, "an oversized backchannel request is answered 500 server_error", "CIBA-13: oversized request object refused with a 4xx answer"},
		{FaultPaddedAuthReqID, "auth_req_id is padded standard base64 (with = + /)", "CIBA-7.3: auth_req_id of A-Z a-z 0-9 . - _ only"},
		{FaultRefuseJARTyp, "request objects with typ oauth-authz-req+jwt are refused", "RFC 9101 4 (OIDF certification): typ oauth-authz-req+jwt accepted"},
		{FaultRequestedExpiryNumberOnly, "requested_expiry as a JSON string is refused", "CIBA-7.1.1: requested_expiry as a JSON string accepted"},
		{FaultRequestURIServerError, "a request with request_uri is answered 500 server_error (the OP tried to load it)", "CIBA-7.2 / CIBA-13: request_uri refused with HTTP 400 invalid_request or request_uri_not_supported as JSON"},
		{FaultScopeOpenIDOptional, "a scope without openid is accepted", "CIBA-7.1: scope without openid refused"},
		{FaultScopeOrderSensitive, "scope must start with openid: other orders are refused invalid_scope", "RFC 6749 3.3: scope order irrelevant"},
		{FaultUnknownUserAccepted, "a login_hint that names no user falls back to the first user and is acknowledged", "CIBA-7.2 / CIBA-13: unknown login_hint gives unknown_user_id or invalid_request"},
		{FaultUserCodeOptional, "a request without the user's user_code is accepted", "CIBA-7.1.2: missing user_code gives missing_user_code"},
		{FaultUserCodeUnchecked, "any user_code is accepted for a user who has one", "CIBA-7.1.2: wrong user_code gives invalid_user_code"},
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
