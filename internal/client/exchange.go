package client

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ciba-check/ciba-check/ciba"
)

// MaxResponseBody bounds every response body ciba-check reads from an OP
// during a conformance run or a target check: the client's exchanges
// (backchannel, token, userinfo, introspection, revocation), discovery and
// the JWKS. 1 MiB is far above any legitimate answer (a JWKS of dozens of
// RSA keys is tens of KiB). A longer body is read only up to the bound
// (memory stays bounded whatever the OP sends), cut, marked Truncated and
// treated as an unexpected answer (TooLargeReason), never as a valid one.
const MaxResponseBody = 1 << 20

// TooLargeReason says why an answer longer than MaxResponseBody was not
// taken as an answer.
// (The number is MaxResponseBody; a test keeps them equal.)
const TooLargeReason = "the OP answered more than 1048576 bytes (ciba-check reads no more of an answer)"

// Exchange is a faithful record of one HTTP request and its answer, as
// evidence for reports. Secrets (client assertions, request-object
// signatures, tokens, client_notification_token) are redacted with Redact
// wherever they appear, including inside the response body.
type Exchange struct {
	Method        string
	URL           string
	RequestHeader http.Header
	// RequestForm is the form sent, redacted; nil when a raw body was sent.
	RequestForm url.Values
	// RequestBody is the body sent, redacted.
	RequestBody string
	Started     time.Time
	Duration    time.Duration

	// Status is 0 when no response arrived (see the call's error).
	Status         int
	ResponseHeader http.Header
	// ResponseBody is the raw body up to MaxResponseBody, with secret
	// values replaced in place (the layout is otherwise untouched).
	ResponseBody []byte
	Truncated    bool
}

// OAuthError parses the response body as an OAuth error (RFC 6749 5.2,
// CIBA 13) and returns it with the response status, or nil when the body
// has no string "error" member.
func (e *Exchange) OAuthError() *ciba.Error {
	if e.Truncated {
		return nil // not the OP's whole answer (TooLargeReason)
	}
	return parseOAuthError(e.Status, e.ResponseBody)
}

// JSON decodes the response body as a JSON object.
func (e *Exchange) JSON() (map[string]any, error) {
	if e.Truncated {
		return nil, errors.New("client: " + TooLargeReason)
	}
	var m map[string]any
	if err := json.Unmarshal(e.ResponseBody, &m); err != nil {
		return nil, fmt.Errorf("client: response body is not a JSON object: %w", err)
	}
	return m, nil
}

// ContentType is the response's media type without parameters.
func (e *Exchange) ContentType() string {
	mt, _, err := mime.ParseMediaType(e.ResponseHeader.Get("Content-Type"))
	if err != nil {
		return e.ResponseHeader.Get("Content-Type")
	}
	return mt
}

func parseOAuthError(status int, body []byte) *ciba.Error {
	var er struct {
		Error            any `json:"error"`
		ErrorDescription any `json:"error_description"`
	}
	if json.Unmarshal(body, &er) != nil {
		return nil
	}
	code, ok := er.Error.(string)
	if !ok || code == "" {
		return nil
	}
	desc, _ := er.ErrorDescription.(string)
	return &ciba.Error{Code: code, Description: desc, Status: status}
}

// Redact shows the first six characters of secret followed by "…" (of a
// secret of twelve characters or fewer, only the first half), enough to
// correlate log lines without revealing the value.
func Redact(secret string) string {
	if secret == "" {
		return ""
	}
	n := utf8.RuneCountInString(secret)
	keep := 6
	if n <= 12 {
		keep = n / 2
	}
	i := 0
	for k := range secret {
		if keep == 0 {
			break
		}
		keep--
		_, size := utf8.DecodeRuneInString(secret[k:])
		i = k + size
	}
	return secret[:i] + "…"
}

// secretParams are form fields and JSON members whose values are redacted.
var secretParams = []string{
	ciba.ParamClientAssertion, ciba.ParamClientNotificationToken, ciba.ParamRefreshToken,
	ciba.ParamToken, ciba.ParamClientSecret, "access_token",
}

func isSecretParam(name string) bool {
	for _, s := range secretParams {
		if s == name {
			return true
		}
	}
	return false
}

// redactor replaces known secret values wherever they occur. It is filled
// from what is sent (form, headers) and what is received (token members),
// so a secret echoed back in an error description is hidden too.
type redactor struct {
	secrets []string
	// replacements are exact substitutions made before secrets are
	// redacted (a request-object payload re-encoded without its token).
	replacements [][2]string
	// hidden are client secrets and Basic credentials: replaced whole by
	// Hidden, not even a prefix shown.
	hidden []string
}

// Hidden replaces a client secret, and the Basic credential carrying one,
// wherever it occurs in an Exchange.
const Hidden = "[redacted]"

// hide records a value to replace whole, with its encodings.
func (r *redactor) hide(s string) {
	if s == "" {
		return
	}
	r.hidden = append(r.hidden, s)
	if q := url.QueryEscape(s); q != s {
		r.hidden = append(r.hidden, q)
	}
	if q := url.PathEscape(s); q != s {
		r.hidden = append(r.hidden, q)
	}
	if j, err := json.Marshal(s); err == nil {
		if js := string(j[1 : len(j)-1]); js != s {
			r.hidden = append(r.hidden, js)
		}
	}
}

func (r *redactor) add(s string) {
	if s != "" {
		r.secrets = append(r.secrets, s)
	}
}

func (r *redactor) apply(s string) string {
	for _, rep := range r.replacements {
		s = strings.ReplaceAll(s, rep[0], rep[1])
	}
	// Longest first, so a secret inside a longer hidden value (its Basic
	// credential) does not break that value's replacement.
	hidden := append([]string(nil), r.hidden...)
	sort.Slice(hidden, func(i, j int) bool { return len(hidden[i]) > len(hidden[j]) })
	for _, h := range hidden {
		s = strings.ReplaceAll(s, h, Hidden)
	}
	for _, secret := range r.secrets {
		if len(secret) < 4 {
			continue // too short to replace without mangling unrelated text
		}
		red := Redact(secret)
		s = strings.ReplaceAll(s, secret, red)
		if q := url.QueryEscape(secret); q != secret {
			s = strings.ReplaceAll(s, q, url.QueryEscape(red))
		}
		if j, err := json.Marshal(secret); err == nil {
			if js := string(j[1 : len(j)-1]); js != secret {
				s = strings.ReplaceAll(s, js, red)
			}
		}
		// JSON may also escape "/" as "\/" (RFC 8259 7).
		if strings.Contains(secret, "/") {
			s = strings.ReplaceAll(s, strings.ReplaceAll(secret, "/", `\/`), red)
		}
	}
	return s
}

// addForm records the secrets of a form about to be sent.
func (r *redactor) addForm(form url.Values) {
	for name, vs := range form {
		for _, v := range vs {
			switch {
			case name == ciba.ParamRequest:
				r.addRequestObject(v)
			case name == ciba.ParamClientSecret:
				r.hide(v)
			case isSecretParam(name):
				r.add(v)
			}
		}
	}
}

// addRequestObject hides the signature of a request object (so the record
// cannot be replayed) and the client_notification_token inside it.
func (r *redactor) addRequestObject(jwt string) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return
	}
	r.add(parts[2])
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return
	}
	var claims map[string]any
	if json.Unmarshal(raw, &claims) != nil {
		return
	}
	if tok, ok := claims[ciba.ParamClientNotificationToken].(string); ok && tok != "" {
		r.add(tok)
		claims[ciba.ParamClientNotificationToken] = Redact(tok)
		if b, err := json.Marshal(claims); err == nil {
			// The payload is re-encoded with the token redacted; the
			// signature is redacted anyway, so nothing verifiable is lost.
			r.replacements = append(r.replacements, [2]string{parts[1], base64.RawURLEncoding.EncodeToString(b)})
		}
	}
}

// addHeader records bearer credentials of a request header.
func (r *redactor) addHeader(h http.Header) {
	for _, v := range h.Values("Authorization") {
		scheme, cred, ok := strings.Cut(v, " ")
		switch {
		case ok && strings.EqualFold(scheme, "bearer"):
			r.add(strings.TrimSpace(cred))
		case ok && strings.EqualFold(scheme, "basic"):
			cred = strings.TrimSpace(cred)
			r.hide(cred)
			if raw, err := base64.StdEncoding.DecodeString(cred); err == nil {
				if _, secret, ok := strings.Cut(string(raw), ":"); ok {
					r.hide(secret)
					if dec, err := url.QueryUnescape(secret); err == nil {
						r.hide(dec)
					}
				}
			}
		}
	}
}

// addResponse records the token members of a JSON response body.
func (r *redactor) addResponse(body []byte) {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return
	}
	for _, name := range []string{"access_token", "refresh_token"} {
		if v, ok := m[name].(string); ok {
			r.add(v)
		}
	}
}

func (r *redactor) values(form url.Values) url.Values {
	if form == nil {
		return nil
	}
	out := make(url.Values, len(form))
	for k, vs := range form {
		for _, v := range vs {
			if k == ciba.ParamClientSecret {
				out[k] = append(out[k], Hidden)
				continue
			}
			if isSecretParam(k) {
				// By name too: a secret too short for apply to replace
				// safely is still hidden.
				out[k] = append(out[k], Redact(v))
				continue
			}
			out[k] = append(out[k], r.apply(v))
		}
	}
	return out
}

func (r *redactor) header(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, vs := range h {
		for _, v := range vs {
			out[k] = append(out[k], r.apply(v))
		}
	}
	return out
}
