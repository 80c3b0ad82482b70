package refop

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/ciba-check/ciba-check/ciba"
)

// writeJSONStatus sends v as JSON with no caching (RFC 6749 5.1, CIBA 10.1.1).
func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"error":"server_error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if s, ok := w.(responseShaper); ok {
		s.shapeHeaders(h)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeError sends err as an OAuth error body (RFC 6749 5.2, CIBA 13):
// only error and error_description, the latter restricted to the allowed
// ASCII characters. Errors that are not *ciba.Error become server_error.
func writeError(w http.ResponseWriter, err error) {
	var e *ciba.Error
	if !errors.As(err, &e) {
		e = ciba.ErrServerError.WithDescription("internal error")
	}
	var ch *challengeError
	if errors.As(err, &ch) {
		w.Header().Set("WWW-Authenticate", ch.challenge)
	}
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	var body any = ciba.ErrorResponse{Error: e.Code, ErrorDescription: sanitizeDescription(e.Description)}
	if s, ok := w.(responseShaper); ok {
		status, body = s.shapeError(status, body.(ciba.ErrorResponse))
	}
	writeJSONStatus(w, status, body)
}

// responseShaper is the writer Handler wraps responses in when an
// allowance changes response headers or error bodies (allowances_op.go).
type responseShaper interface {
	shapeHeaders(h http.Header)
	shapeError(status int, body ciba.ErrorResponse) (int, any)
}

// sanitizeDescription keeps only %x20-21 / %x23-5B / %x5D-7E (RFC 6749 5.2).
func sanitizeDescription(s string) string {
	if isCleanDescription(s) {
		return s // the usual case: our own fixed ASCII texts
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\'')
		case r >= 0x20 && r <= 0x7e:
			b.WriteRune(r)
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}

func isCleanDescription(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// formContentType is the media type every form endpoint takes.
const formContentType = "application/x-www-form-urlencoded"

// parseForm reads an application/x-www-form-urlencoded POST body and
// refuses duplicated parameters (RFC 6749 3.1, CIBA 7.1).
func parseForm(r *http.Request) (url.Values, error) {
	// The exact, parameterless media type is what clients send; only
	// other spellings need the full parser (RFC 7231 3.1.1.1).
	if ct := r.Header.Get("Content-Type"); ct != formContentType {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != formContentType {
			return nil, ciba.ErrInvalidRequest.WithDescription("content type must be application/x-www-form-urlencoded")
		}
	}
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, ciba.ErrInvalidRequest.WithStatus(http.StatusRequestEntityTooLarge).WithDescription("request body too large")
		}
		return nil, ciba.ErrInvalidRequest.WithDescription("malformed form body")
	}
	for name, vs := range r.PostForm {
		if len(vs) > 1 {
			return nil, ciba.ErrInvalidRequest.WithDescription("parameter " + name + " is repeated")
		}
	}
	return r.PostForm, nil
}

// redact shows the first six characters of a secret and hides the rest,
// so logs can correlate without leaking (CIBA 10.2 / FAPI-CIBA 7.8).
func redact(secret string) string {
	if len(secret) <= 6 {
		return "…"
	}
	return secret[:6] + "…"
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// tokenKey is the store key of a token value.
func tokenKey(value string) string {
	sum := sha256.Sum256([]byte(value))
	return b64(sum[:])
}

// halfHash is at_hash / rt_hash: left half of SHA-256, base64url (OIDC 3.3.2.11).
func halfHash(value string) string {
	sum := sha256.Sum256([]byte(value))
	return b64(sum[:16])
}

// writeJSON sends a public, cacheable-by-policy JSON document with 200.
func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// fail answers err and logs it when it is the server's own failure
// (its detail never reaches the client).
func (op *OP) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *ciba.Error
	if !errors.As(err, &e) || e.Status >= 500 {
		op.log.Error("request failed", "path", r.URL.Path, "err", err)
	}
	writeError(w, err)
}
