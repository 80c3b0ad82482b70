package load

import (
	"bytes"
	"encoding/json"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Redacted is what a token value in a results file is replaced with.
const Redacted = "[redacted]"

// secretMembers are the token response members whose values are
// credentials (RFC 6749 5.1, OIDC Core 3.1.3.3): a results file keeps
// their presence, never their value, unless --keep-secrets.
var secretMembers = [...]string{"access_token", "refresh_token", "id_token"}

// redacted returns res, or a copy whose body has its token values
// replaced by Redacted. Only a JSON object naming a token member is
// rewritten; error answers (the bulk of a poll run) are returned as they
// are, without a copy.
func redacted(res *vegeta.Result) *vegeta.Result {
	if !bytes.Contains(res.Body, []byte(`_token"`)) {
		return res
	}
	body, ok := redactBody(res.Body)
	if !ok {
		return res
	}
	cp := *res
	cp.Body = body
	return &cp
}

// redactBody rewrites a JSON object's token members; ok is false when
// there was nothing to rewrite. A body that is not a JSON object but
// names a token member is replaced whole: it cannot be parsed to keep the
// rest, and it may hold a token.
func redactBody(body []byte) ([]byte, bool) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return []byte(`"` + Redacted + ` (unparsed body naming a token)"`), true
	}
	changed := false
	for _, k := range secretMembers {
		if _, ok := obj[k]; ok {
			obj[k] = json.RawMessage(`"` + Redacted + `"`)
			changed = true
		}
	}
	if !changed {
		return nil, false
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return nil, false
	}
	return out, true
}
