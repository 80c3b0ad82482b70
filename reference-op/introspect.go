package refop

import (
	"net/http"

	"github.com/ciba-check/ciba-check/ciba"
)

// handleIntrospect is token introspection (RFC 7662) for the token's own
// client; other clients' tokens look inactive.
func (op *OP) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ac, value, ok := op.clientAndToken(w, r, PathIntrospect)
	if !ok {
		return
	}
	if err := op.hooks.introspection(ac); err != nil {
		op.fail(w, r, err)
		return
	}
	t, err := op.store.GetToken(ctx, tokenKey(value))
	if err != nil || t.Revoked || !op.clock.Now().Before(t.ExpiresAt) || t.ClientID != ac.ID {
		writeJSONStatus(w, http.StatusOK, ciba.IntrospectionResponse{Active: false})
		return
	}
	resp := ciba.IntrospectionResponse{
		Active:    true,
		Scope:     t.Scope,
		ClientID:  t.ClientID,
		TokenType: "Bearer",
		Exp:       t.ExpiresAt.Unix(),
		Iat:       t.IssuedAt.Unix(),
		Sub:       t.Subject,
		Iss:       op.Issuer(),
	}
	if t.Kind == KindRefresh {
		resp.TokenType = string(KindRefresh)
	}
	if t.CertThumbprint != "" && op.hooks.enforced(ruleIntrospectionCNF) {
		resp.CNF = map[string]string{ciba.ClaimX5TS256: t.CertThumbprint} // RFC 8705 3.2
	}
	writeJSONStatus(w, http.StatusOK, resp)
}

// handleRevoke is token revocation (RFC 7009): only the owning client's
// tokens are revoked, and the answer is 200 whether or not the token was
// known (RFC 7009 2.2).
func (op *OP) handleRevoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ac, value, ok := op.clientAndToken(w, r, PathRevoke)
	if !ok {
		return
	}
	key := tokenKey(value)
	if t, err := op.store.GetToken(ctx, key); err == nil && t.ClientID == ac.ID {
		if err := op.store.RevokeToken(ctx, key); err != nil {
			op.fail(w, r, err)
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// clientAndToken authenticates the client of an introspection or
// revocation request (RFC 7662 2.1, RFC 7009 2.1) and reads its token
// parameter. When it returns false it has already answered.
func (op *OP) clientAndToken(w http.ResponseWriter, r *http.Request, path string) (*authenticatedClient, string, bool) {
	form, err := parseForm(r)
	if err != nil {
		op.fail(w, r, err)
		return nil, "", false
	}
	ac, err := op.authenticateClient(r.Context(), r, form, []string{op.endpoint(path), op.endpoint(PathToken), op.Issuer()})
	if err != nil {
		op.fail(w, r, err)
		return nil, "", false
	}
	value := form.Get(ciba.ParamToken)
	if value == "" {
		writeError(w, ciba.ErrInvalidRequest.WithDescription("token is missing"))
		return nil, "", false
	}
	return ac, value, true
}
