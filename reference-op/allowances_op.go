package refop

import (
	"context"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
)

// The behaviour of the allowances (allowances.go): the bends their
// catalogue entries name (hooks.go), and the helpers of the allowances
// still read where they act, each returning the strict value unchanged
// unless its allowance is on.

// allowanceState is what some allowances keep while the OP runs.
type allowanceState struct {
	// grantsMu guards grants: auth_req_id -> keys of the tokens its
	// redemption issued (replay-revokes-tokens).
	grantsMu sync.Mutex
	grants   map[string][]string

	// encKeys are the extra JWKS members of jwks-mixed-keys, made once.
	encKeysOnce sync.Once
	encKeys     []map[string]any
	encKeysErr  error
}

// errRequestURINotSupported is the OIDC Core 3.1.2.6 code
// request-uri-not-supported answers instead of invalid_request.
var errRequestURINotSupported = &ciba.Error{Code: "request_uri_not_supported", Status: http.StatusBadRequest}

// restrictedBindingMessage is binding-message-restricted's character set.
var restrictedBindingMessage = regexp.MustCompile(`^[a-zA-Z0-9\-._+/!?#]{1,20}$`)

// bindingMessageRestricted (binding-message-restricted) refuses a
// binding_message outside the restricted set.
func bindingMessageRestricted(h *hooks) {
	prev := h.bindingMessage
	h.bindingMessage = func(m string, strict error) error {
		if err := prev(m, strict); err != nil || m == "" || restrictedBindingMessage.MatchString(m) {
			return err
		}
		return ciba.ErrInvalidBindingMessage.WithDescription("binding_message must be 1 to 20 characters of A-Z a-z 0-9 - . _ + / ! ? #")
	}
}

// intervalAbsent (interval-absent): the acknowledgement has no interval;
// polls are held to the default clients assume without one (CIBA 7.3).
func intervalAbsent(h *hooks) {
	onNewRequest(func(_ *OP, ar *AuthRequest) { ar.Interval = ciba.DefaultPollInterval })(h)
	prev := h.ack
	h.ack = func(ack backchannelAck) any {
		ack.Interval = 0
		return prev(ack)
	}
}

// refreshWiderScopeIgnored (refresh-wider-scope-ignored): a refresh
// request for a wider scope is ignored (RFC 6749 3.3): the original
// grant's scope is issued.
func refreshWiderScopeIgnored(h *hooks) {
	prev := h.refreshScope
	h.refreshScope = func(req, granted []string, strict error) ([]string, error) {
		if strict != nil {
			return granted, nil
		}
		return prev(req, granted, strict)
	}
}

// refreshWithoutIDToken (refresh-without-id-token): refresh-grant
// responses carry no ID token.
func refreshWithoutIDToken(_ *OP, tr *ciba.TokenResponse, g tokenGrant) {
	if g.refresh {
		tr.IDToken = ""
	}
}

// scopeOmittedWhenGranted (token-scope-omitted): scope is left out of the
// token response when it is the one requested.
func scopeOmittedWhenGranted(_ *OP, tr *ciba.TokenResponse, g tokenGrant) {
	if g.requested == g.scope {
		tr.Scope = ""
	}
}

// authReqIDClaim (id-token-auth-req-id-claim): every ID token of a CIBA
// grant carries the auth_req_id claim.
func authReqIDClaim(_ *OP, c map[string]any, g tokenGrant, _ ciba.TokenResponse) {
	if g.authReqID != "" {
		c[ciba.ClaimAuthReqID] = g.authReqID
	}
}

// withoutATHash (id-token-without-at-hash): poll and ping ID tokens carry
// no at_hash.
func withoutATHash(_ *OP, c map[string]any, g tokenGrant, _ ciba.TokenResponse) {
	if !g.push {
		delete(c, ciba.ClaimATHash)
	}
}

// issuesRefreshToken reports whether a grant of scope gets a refresh token.
func (op *OP) issuesRefreshToken(scope string) bool {
	switch {
	case op.allow.on(AllowNoRefreshTokens):
		return false
	case op.allow.on(AllowRefreshOfflineAccessOnly):
		return slices.Contains(strings.Fields(scope), scopeOfflineAccess)
	}
	return true
}

// es256Key is the first ES256 signing key (New checks one exists when
// id-token-es256-only is on).
func (op *OP) es256Key() jose.JSONWebKey {
	for _, k := range op.cfg.SigningKeys {
		if k.Algorithm == ciba.AlgES256 {
			return k
		}
	}
	return op.signer
}

// jwtAccessToken is an access token as a signed JWT (jwt-access-tokens,
// RFC 9068 claims), or "" when the allowance is off.
func (op *OP) jwtAccessToken(g tokenGrant, thumb string, now time.Time) (string, error) {
	if !op.allow.on(AllowJWTAccessTokens) {
		return "", nil
	}
	jti, err := op.random(16)
	if err != nil {
		return "", err
	}
	c := map[string]any{
		"iss": op.Issuer(), "sub": g.subject, "aud": op.endpoint(PathUserinfo), "client_id": g.clientID,
		"scope": g.scope, "iat": now.Unix(), "exp": now.Add(op.cfg.AccessTokenLifetime).Unix(), "jti": b64(jti),
	}
	if !g.authTime.IsZero() {
		c[ciba.ClaimAuthTime] = g.authTime.Unix()
	}
	if thumb != "" {
		c["cnf"] = map[string]string{ciba.ClaimX5TS256: thumb}
	}
	return op.sign(c, "at+jwt")
}

// recordGrant remembers the tokens an auth_req_id's redemption issued
// (replay-revokes-tokens).
func (op *OP) recordGrant(authReqID string, tr ciba.TokenResponse) {
	if !op.allow.on(AllowReplayRevokesTokens) {
		return
	}
	keys := []string{tokenKey(tr.AccessToken)}
	if tr.RefreshToken != "" {
		keys = append(keys, tokenKey(tr.RefreshToken))
	}
	op.allowed.grantsMu.Lock()
	defer op.allowed.grantsMu.Unlock()
	if op.allowed.grants == nil {
		op.allowed.grants = map[string][]string{}
	}
	op.allowed.grants[authReqID] = append(op.allowed.grants[authReqID], keys...)
}

// revokeGrant revokes the tokens of an auth_req_id presented again
// (replay-revokes-tokens).
func (op *OP) revokeGrant(ctx context.Context, authReqID string) {
	if !op.allow.on(AllowReplayRevokesTokens) {
		return
	}
	op.allowed.grantsMu.Lock()
	keys := op.allowed.grants[authReqID]
	op.allowed.grantsMu.Unlock()
	for _, k := range keys {
		if err := op.store.RevokeToken(ctx, k); err != nil {
			op.log.Warn("revoking a replayed grant's token failed", "err", err)
		}
	}
	op.log.Info("replayed auth_req_id: tokens revoked", "auth_req_id", redact(authReqID), "tokens", len(keys))
}

// rotateRefresh issues a new refresh token like t and revokes t
// (refresh-token-rotation); it returns "" when the allowance is off.
func (op *OP) rotateRefresh(ctx context.Context, t Token, now time.Time) (string, error) {
	if !op.allow.on(AllowRefreshTokenRotation) {
		return "", nil
	}
	raw, err := op.random(32)
	if err != nil {
		return "", err
	}
	next := t
	next.Key, next.IssuedAt, next.ExpiresAt = tokenKey(b64(raw)), now, now.Add(op.cfg.RefreshTokenLifetime)
	if err := op.store.PutToken(ctx, next); err != nil {
		return "", err
	}
	if err := op.store.RevokeToken(ctx, t.Key); err != nil {
		return "", err
	}
	return b64(raw), nil
}

// allowedMetadata applies the discovery allowances.
func (op *OP) allowedMetadata(md ciba.ProviderMetadata) ciba.ProviderMetadata {
	if op.allow.on(AllowIntrospectionAbsent) {
		md.IntrospectionEndpoint = ""
	}
	if op.allow.on(AllowACRUnsupported) {
		md.ACRValuesSupported = nil
		md.ClaimsSupported = slices.DeleteFunc(md.ClaimsSupported, func(c string) bool { return c == ciba.ClaimACR })
	}
	if op.allow.on(AllowRefreshOfflineAccessOnly) && !slices.Contains(md.ScopesSupported, scopeOfflineAccess) {
		md.ScopesSupported = append(md.ScopesSupported, scopeOfflineAccess)
	}
	switch {
	case op.allow.on(AllowIDTokenES256Only):
		md.IDTokenSigningAlgValuesSupported = []string{ciba.AlgES256}
	case op.allow.on(AllowSingleKeyWithoutKid):
		md.IDTokenSigningAlgValuesSupported = []string{op.signer.Algorithm}
	}
	return md
}

// discoveryExtras adds members to the discovery document
// (discovery-extra-metadata); doc is returned unchanged otherwise.
func (op *OP) discoveryExtras(doc any) (any, error) {
	if !op.allow.on(AllowDiscoveryExtraMetadata) {
		return doc, nil
	}
	m, err := toJSONObject(doc)
	if err != nil {
		return nil, err
	}
	m["end_session_endpoint"] = op.endpoint("/logout")
	m["claims_parameter_supported"] = false
	m["request_parameter_supported"] = true
	m["x_ciba_check_vendor_feature"] = map[string]any{"enabled": true, "since": "2026-01"}
	return m, nil
}

// allowedJWKS applies the JWKS allowances to the published set.
func (op *OP) allowedJWKS(set jose.JSONWebKeySet) (any, error) {
	switch {
	case op.allow.on(AllowSingleKeyWithoutKid):
		k := op.signer.Public()
		k.KeyID, k.Use = "", "sig"
		return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k}}, nil
	case op.allow.on(AllowJWKSMixedKeys):
		extra, err := op.encryptionKeys()
		if err != nil {
			return nil, err
		}
		m, err := toJSONObject(set)
		if err != nil {
			return nil, err
		}
		keys, _ := m["keys"].([]any)
		for _, k := range extra {
			keys = append(keys, k)
		}
		m["keys"] = keys
		return m, nil
	}
	return set, nil
}

// encryptionKeys are jwks-mixed-keys' extra members: an RSA-OAEP-256
// encryption key, and an X25519 key go-jose cannot even parse.
func (op *OP) encryptionKeys() ([]map[string]any, error) {
	st := &op.allowed
	st.encKeysOnce.Do(func() {
		op.randMu.Lock()
		rsaKey, err := rsa.GenerateKey(op.cfg.Rand, 2048)
		op.randMu.Unlock()
		if err != nil {
			st.encKeysErr = err
			return
		}
		rsaJWK, err := toJSONObject(jose.JSONWebKey{Key: &rsaKey.PublicKey, KeyID: "enc-rsa-oaep", Algorithm: "RSA-OAEP-256", Use: "enc"})
		if err != nil {
			st.encKeysErr = err
			return
		}
		x, err := op.random(32)
		if err != nil {
			st.encKeysErr = err
			return
		}
		st.encKeys = []map[string]any{rsaJWK, {"kty": "OKP", "crv": "X25519", "x": b64(x), "kid": "enc-x25519", "use": "enc", "alg": "ECDH-ES"}}
	})
	return st.encKeys, st.encKeysErr
}

// toJSONObject round-trips v through JSON into a map.
func toJSONObject(v any) (map[string]any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// shapesResponses reports whether an allowance changes response headers
// or error bodies, so Handler wraps the writer.
func (op *OP) shapesResponses() bool {
	for _, a := range []string{AllowCacheControlExtra, AllowCacheControlMixedCase, AllowErrorExtraMembers,
		AllowGenericErrorDescription, AllowNoErrorDescription, AllowInvalidClient400} {
		if op.allow.on(a) {
			return true
		}
	}
	return false
}

// shapingWriter carries the response allowances to writeJSONStatus and
// writeError (responseShaper).
type shapingWriter struct {
	http.ResponseWriter
	op *OP
	r  *http.Request
}

func (w shapingWriter) shapeHeaders(h http.Header) {
	if h.Get("Cache-Control") != "no-store" {
		return
	}
	cc := "no-store"
	if w.op.allow.on(AllowCacheControlMixedCase) {
		cc = "No-Store"
	}
	if w.op.allow.on(AllowCacheControlExtra) {
		cc += ", no-cache, private"
	}
	h.Set("Cache-Control", cc)
}

func (w shapingWriter) shapeError(status int, body ciba.ErrorResponse) (int, any) {
	op := w.op
	if op.allow.on(AllowInvalidClient400) && body.Error == ciba.ErrInvalidClient.Code && status == http.StatusUnauthorized &&
		w.r.Header.Get("Authorization") == "" {
		status = http.StatusBadRequest
	}
	switch {
	case op.allow.on(AllowNoErrorDescription):
		body.ErrorDescription = ""
	case op.allow.on(AllowGenericErrorDescription):
		body.ErrorDescription = genericErrorDescription
	}
	if !op.allow.on(AllowErrorExtraMembers) {
		return status, body
	}
	m, err := toJSONObject(body)
	if err != nil {
		return status, body
	}
	id, err := op.random(8)
	if err != nil {
		return status, body
	}
	m["trace_id"] = hex.EncodeToString(id)
	m["error_details"] = map[string]any{"status": status, "retryable": status >= 500}
	return status, m
}
