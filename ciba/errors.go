package ciba

import (
	"errors"
	"net/http"
)

// Error is an OAuth 2.0 error as CIBA 11 and 13 and RFC 6749 5.2 define it:
// a code, an optional human description and the HTTP status it travels with.
//
// The sentinels below are never mutated: With* return copies, and Is
// compares codes, so errors.Is(err, ErrInvalidGrant) holds after a
// description was added or the error was wrapped.
type Error struct {
	Code        string
	Description string
	Status      int
}

func (e *Error) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Code == e.Code
}

// WithDescription returns a copy of e carrying description.
func (e *Error) WithDescription(description string) *Error {
	c := *e
	c.Description = description
	return &c
}

// WithStatus returns a copy of e that travels with HTTP status code.
func (e *Error) WithStatus(status int) *Error {
	c := *e
	c.Status = status
	return &c
}

// Response is the JSON body the error is sent as.
func (e *Error) Response() ErrorResponse {
	return ErrorResponse{Error: e.Code, ErrorDescription: e.Description}
}

// Errors of the backchannel authentication endpoint (CIBA 13).
var (
	ErrInvalidRequest          = &Error{Code: "invalid_request", Status: http.StatusBadRequest}
	ErrInvalidScope            = &Error{Code: "invalid_scope", Status: http.StatusBadRequest}
	ErrExpiredLoginHintToken   = &Error{Code: "expired_login_hint_token", Status: http.StatusBadRequest}
	ErrUnknownUserID           = &Error{Code: "unknown_user_id", Status: http.StatusBadRequest}
	ErrUnauthorizedClient      = &Error{Code: "unauthorized_client", Status: http.StatusBadRequest}
	ErrMissingUserCode         = &Error{Code: "missing_user_code", Status: http.StatusBadRequest}
	ErrInvalidUserCode         = &Error{Code: "invalid_user_code", Status: http.StatusBadRequest}
	ErrInvalidBindingMessage   = &Error{Code: "invalid_binding_message", Status: http.StatusBadRequest}
	ErrInvalidClient           = &Error{Code: "invalid_client", Status: http.StatusUnauthorized}
	ErrAccessDeniedBackchannel = &Error{Code: "access_denied", Status: http.StatusForbidden}
)

// ErrRequestURINotSupported is OpenID Connect Core 3.1.2.6's answer to a
// request_uri the OP does not support; an OP may give it at the
// backchannel endpoint too (CIBA 7.1.1 takes request objects from
// OIDC Core 6).
var ErrRequestURINotSupported = &Error{Code: "request_uri_not_supported", Status: http.StatusBadRequest}

// Codes returns the codes of errs, in order.
func Codes(errs ...*Error) []string {
	codes := make([]string, len(errs))
	for i, e := range errs {
		codes[i] = e.Code
	}
	return codes
}

// Errors of the token endpoint (CIBA 11, RFC 6749 5.2).
var (
	ErrAuthorizationPending = &Error{Code: "authorization_pending", Status: http.StatusBadRequest}
	ErrSlowDown             = &Error{Code: "slow_down", Status: http.StatusBadRequest}
	ErrExpiredToken         = &Error{Code: "expired_token", Status: http.StatusBadRequest}
	ErrAccessDenied         = &Error{Code: "access_denied", Status: http.StatusBadRequest}
	ErrInvalidGrant         = &Error{Code: "invalid_grant", Status: http.StatusBadRequest}
	ErrUnsupportedGrantType = &Error{Code: "unsupported_grant_type", Status: http.StatusBadRequest}
)

// Other errors: push error payloads (CIBA 12), protected resources
// (RFC 6750 3.1), revocation (RFC 7009 2.2.1) and the server's own failures.
var (
	ErrTransactionFailed      = &Error{Code: "transaction_failed", Status: http.StatusBadRequest}
	ErrInvalidToken           = &Error{Code: "invalid_token", Status: http.StatusUnauthorized}
	ErrInsufficientScope      = &Error{Code: "insufficient_scope", Status: http.StatusForbidden}
	ErrUnsupportedTokenType   = &Error{Code: "unsupported_token_type", Status: http.StatusBadRequest}
	ErrServerError            = &Error{Code: "server_error", Status: http.StatusInternalServerError}
	ErrTemporarilyUnavailable = &Error{Code: "temporarily_unavailable", Status: http.StatusServiceUnavailable}
)
