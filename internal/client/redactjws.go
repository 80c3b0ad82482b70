package client

import (
	"encoding/base64"
	"encoding/json"
	"regexp"
)

// SignatureRedacted replaces the signature of a compact JWS in evidence.
const SignatureRedacted = "[signature redacted]"

// compactJWS matches what may be a compact JWS (RFC 7515 7.1): three
// base64url segments, the first one a JOSE header. The signature segment
// is required to be long enough to be one (an HMAC-SHA256 is 43).
var compactJWS = regexp.MustCompile(`[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]{16,}`)

// RedactJWSSignatures replaces the signature of every compact JWS in s
// (an ID token, a signed userinfo or introspection answer, a request
// object) by SignatureRedacted, leaving header and claims readable as
// evidence: a report then cannot hand anyone a token the OP signed, or a
// request object that could be replayed. A match counts only when its
// first segment decodes to a JSON object with "alg", so URLs, hashes and
// other dotted text stay untouched. Access and refresh tokens are
// redacted whole where they are recognised (Exchange, Redact).
func RedactJWSSignatures(s string) string {
	if len(s) < 30 {
		return s
	}
	return compactJWS.ReplaceAllStringFunc(s, func(m string) string {
		var header, sig string
		for i, dot := 0, 0; i < len(m); i++ {
			if m[i] != '.' {
				continue
			}
			if dot == 0 {
				header = m[:i]
			}
			dot++
			if dot == 2 {
				sig = m[i+1:]
			}
		}
		raw, err := base64.RawURLEncoding.DecodeString(header)
		if err != nil {
			return m
		}
		var h map[string]any
		if json.Unmarshal(raw, &h) != nil {
			return m
		}
		if _, ok := h["alg"]; !ok {
			return m
		}
		return m[:len(m)-len(sig)] + SignatureRedacted
	})
}
