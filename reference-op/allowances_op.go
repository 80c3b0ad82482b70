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
// RFC 9068 claims).
func jwtAccessToken(op *OP, g tokenGrant, thumb string, now time.Time) (string, error) {
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

// replayRevokesTokens (replay-revokes-tokens): an auth_req_id presented
// again revokes the tokens its redemption issued.
func replayRevokesTokens(h *hooks) {
	h.redeemed = recordGrant
	h.replayed = revokeGrant
}

// recordGrant remembers the tokens an auth_req_id's redemption issued.
func recordGrant(op *OP, authReqID string, tr ciba.TokenResponse) {
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

// revokeGrant revokes the tokens of an auth_req_id presented again.
func revokeGrant(ctx context.Context, op *OP, authReqID string) {
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
// (refresh-token-rotation).
func rotateRefresh(ctx context.Context, op *OP, t Token, now time.Time) (string, error) {
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

// acrUnsupported (acr-unsupported): discovery publishes no acr support.
func acrUnsupported(_ *OP, md *ciba.ProviderMetadata) {
	md.ACRValuesSupported = nil
	md.ClaimsSupported = slices.DeleteFunc(md.ClaimsSupported, func(c string) bool { return c == ciba.ClaimACR })
}

// refreshOfflineAccessOnly (refresh-token-offline-access-only): refresh
// tokens only for scope offline_access, which every client may ask for
// and discovery lists.
func refreshOfflineAccessOnly(h *hooks) {
	h.everyClientScopes = append(h.everyClientScopes, scopeOfflineAccess)
	prev := h.refreshToken
	h.refreshToken = func(scope string) bool {
		return prev(scope) && slices.Contains(strings.Fields(scope), scopeOfflineAccess)
	}
	onMetadata(func(_ *OP, md *ciba.ProviderMetadata) {
		if !slices.Contains(md.ScopesSupported, scopeOfflineAccess) {
			md.ScopesSupported = append(md.ScopesSupported, scopeOfflineAccess)
		}
	})(h)
}

// singleKeyWithoutKid (single-key-without-kid): one signing key, published
// and used without kid.
func singleKeyWithoutKid(h *hooks) {
	signIDTokenWith(bareSigningKey)(h)
	onMetadata(func(op *OP, md *ciba.ProviderMetadata) {
		md.IDTokenSigningAlgValuesSupported = []string{op.signer.Algorithm}
	})(h)
	onKeySet(func(op *OP, set *jose.JSONWebKeySet) error {
		k := op.signer.Public()
		k.KeyID, k.Use = "", "sig"
		set.Keys = []jose.JSONWebKey{k}
		return nil
	})(h)
}

// introspectionAbsent (introspection-absent): no introspection endpoint.
func introspectionAbsent(h *hooks) {
	h.withoutIntrospection = true
	onMetadata(func(_ *OP, md *ciba.ProviderMetadata) { md.IntrospectionEndpoint = "" })(h)
}

// refuseIntrospection (introspection-refused) refuses every client.
func refuseIntrospection(*authenticatedClient) error {
	return invalidClient("this client is not authorized to introspect tokens")
}

// slowPingDevice (slow-device): the device answers ping clients' requests
// late, where a client waits on the OP's callback (CIBA 10.2) rather than
// on its own polling schedule, and where a timer of the client's could
// wrongly expire. Poll clients see a slow device only as more
// authorization_pending answers.
func slowPingDevice(ar AuthRequest) time.Duration {
	if ar.DeliveryMode == string(ciba.ModePing) {
		return slowDeviceDelay
	}
	return 0
}

// discoveryExtraMetadata (discovery-extra-metadata) adds members beyond
// the ones the suite reads.
func discoveryExtraMetadata(op *OP, m map[string]any) error {
	m["end_session_endpoint"] = op.endpoint("/logout")
	m["claims_parameter_supported"] = false
	m["request_parameter_supported"] = true
	m["x_ciba_check_vendor_feature"] = map[string]any{"enabled": true, "since": "2026-01"}
	return nil
}

// mixedKeys (jwks-mixed-keys) adds encryption keys to the JWKS.
func mixedKeys(op *OP, m map[string]any) error {
	extra, err := op.encryptionKeys()
	if err != nil {
		return err
	}
	keys, _ := m["keys"].([]any)
	for _, k := range extra {
		keys = append(keys, k)
	}
	m["keys"] = keys
	return nil
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

// shapesResponses reports whether a bend reshapes response headers or
// error bodies, so Handler wraps the writer.
func (op *OP) shapesResponses() bool {
	return op.hooks.cacheControl != nil || op.hooks.errorResponse != nil || op.hooks.errorDocument != nil
}

// shapingWriter carries the response bends to writeJSONStatus and
// writeError (responseShaper).
type shapingWriter struct {
	http.ResponseWriter
	op *OP
	r  *http.Request
}

func (w shapingWriter) shapeHeaders(h http.Header) {
	if h.Get("Cache-Control") != "no-store" || w.op.hooks.cacheControl == nil {
		return
	}
	h.Set("Cache-Control", w.op.hooks.cacheControl("no-store"))
}

func (w shapingWriter) shapeError(status int, body ciba.ErrorResponse) (int, any) {
	op := w.op
	if op.hooks.errorResponse != nil {
		op.hooks.errorResponse(w.r, &status, &body)
	}
	if op.hooks.errorDocument == nil {
		return status, body
	}
	m, err := toJSONObject(body)
	if err != nil {
		return status, body
	}
	if err := op.hooks.errorDocument(op, status, m); err != nil {
		return status, body
	}
	return status, m
}

// invalidClient400 (invalid-client-400): a failed client authentication
// without an Authorization header is answered 400.
func invalidClient400(r *http.Request, status *int, body *ciba.ErrorResponse) {
	if body.Error == ciba.ErrInvalidClient.Code && *status == http.StatusUnauthorized && r.Header.Get("Authorization") == "" {
		*status = http.StatusBadRequest
	}
}

// errorExtraMembers (error-extra-members): error bodies carry trace_id
// and error_details.
func errorExtraMembers(h *hooks) {
	h.errorDocument = func(op *OP, status int, m map[string]any) error {
		id, err := op.random(8)
		if err != nil {
			return err
		}
		m["trace_id"] = hex.EncodeToString(id)
		m["error_details"] = map[string]any{"status": status, "retryable": status >= 500}
		return nil
	}
}
