package refop

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/ciba-check/ciba-check/ciba"
)

// HeaderInteractionID is FAPI-R 6.2.1-11's correlation header.
const HeaderInteractionID = "x-fapi-interaction-id"

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// handleUserinfo is the UserInfo endpoint as a FAPI protected resource
// (OIDC 5.3, RFC 6750 2.1, RFC 8705 3, FAPI-R 6.2.1).
func (op *OP) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	if err := op.setInteractionID(w, r); err != nil {
		op.fail(w, r, err)
		return
	}
	w.Header().Set("Date", op.clock.Now().UTC().Format(http.TimeFormat))
	body, err := op.userinfo(r.Context(), r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", bearerChallenge(err))
		op.fail(w, r, err)
		return
	}
	writeJSONStatus(w, http.StatusOK, body)
}

func bearerChallenge(err error) string {
	if e, ok := err.(*ciba.Error); ok && e.Code == ciba.ErrInvalidToken.Code {
		return `Bearer error="invalid_token"`
	}
	return `Bearer`
}

// setInteractionID echoes a well-formed x-fapi-interaction-id or makes one.
func (op *OP) setInteractionID(w http.ResponseWriter, r *http.Request) error {
	id := r.Header.Get(HeaderInteractionID)
	if id == "" || !uuidPattern.MatchString(id) || op.hooks.freshInteractionID {
		b, err := op.random(16)
		if err != nil {
			return err
		}
		b[6] = b[6]&0x0f | 0x40
		b[8] = b[8]&0x3f | 0x80
		id = fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	}
	w.Header().Set(HeaderInteractionID, id)
	return nil
}

// bearerToken reads the access token from the Authorization header only
// (FAPI-R 6.2.1-3: never from the query or body).
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

func (op *OP) userinfo(ctx context.Context, r *http.Request) (map[string]any, error) {
	token, ok := bearerToken(r)
	if !ok && !op.hooks.enforced(ruleBearerHeaderOnly) {
		token = r.FormValue("access_token")
		ok = token != ""
	}
	if !ok {
		return nil, ciba.ErrInvalidToken.WithDescription("a Bearer access token in the Authorization header is required")
	}
	t, err := op.store.GetToken(ctx, tokenKey(token))
	if err != nil || t.Kind != KindAccess || t.Revoked || !op.clock.Now().Before(t.ExpiresAt) {
		return nil, ciba.ErrInvalidToken.WithDescription("the access token is not active")
	}
	// RFC 8705 3: the certificate of this connection must be the one the
	// token is bound to.
	unbound := t.CertThumbprint == "" && !op.fapi() // FAPI off: tokens issued without a certificate
	if !unbound && op.hooks.enforced(ruleAccessTokenBound) && (t.CertThumbprint == "" || certThumbprint(peerCert(r)) != t.CertThumbprint) {
		return nil, ciba.ErrInvalidToken.WithDescription("the access token is bound to another client certificate")
	}
	u, ok := op.userBySubject(t.Subject)
	if !ok {
		return nil, ciba.ErrInvalidToken.WithDescription("the token's user no longer exists")
	}
	out := map[string]any{}
	for k, v := range u.Claims {
		out[k] = v
	}
	out["sub"] = u.Subject
	return out, nil
}
