package refop

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
)

// Fault names of the token area: token endpoint, ID tokens, refresh,
// ping delivery, userinfo and TLS.
const (
	FaultTokenResponseCacheable         = "token-response-cacheable"
	FaultShortAccessToken               = "short-access-token"
	FaultFullAtHash                     = "full-at-hash"
	FaultWrongAuthReqIDClaim            = "wrong-auth-req-id-claim"
	FaultIDTokenWithoutKid              = "id-token-without-kid"
	FaultOmitIDToken                    = "omit-id-token"
	FaultTokenWithoutCertificate        = "token-without-certificate"
	FaultPingOmitIDToken                = "ping-omit-id-token"
	FaultTokenRequiresCAIssuedCert      = "token-requires-ca-issued-cert"
	FaultRefreshScopeWidening           = "refresh-scope-widening"
	FaultMissingAuthReqIDInvalidGrant   = "missing-auth-req-id-invalid-grant"
	FaultUnknownAuthReqIDExpired        = "unknown-auth-req-id-expired"
	FaultUnknownGrantTypeInvalidRequest = "unknown-grant-type-invalid-request"
	FaultDeniedAsInvalidGrant           = "denied-as-invalid-grant"
	FaultThrottleWith429                = "throttle-with-429"
	FaultPingExtraMembers               = "ping-extra-members"
	FaultPingAnswerFailsRequest         = "ping-answer-fails-request"
	FaultNoInteractionIDEcho            = "no-interaction-id-echo"
	FaultUserinfoTokenInQuery           = "userinfo-token-in-query"
	FaultTLS12ChaChaOnly                = "tls12-chacha-only"
	FaultTLSLegacyVersions              = "tls-legacy-versions"
	FaultPendingAs401                   = "pending-as-401"
)

// tokenFaults deviate at the token endpoint, in ID tokens and at refresh.
func tokenFaults() []Fault {
	return []Fault{
		{Name: FaultTokenResponseCacheable, Breaks: "token responses (CIBA and refresh grant) lack Cache-Control no-store and Pragma no-cache",
			Trips: []string{
				"answers the token request as application/json with Cache-Control no-store",
				"refreshes the access token for the client that owns the refresh token",
			}, bend: tokenResponseCacheable},
		{Name: FaultShortAccessToken, Breaks: "access tokens carry only 64 bits of randomness", Trips: []string{"issues a Bearer access token of at least 128 bits with expires_in"}, bend: func(h *hooks) { h.accessTokenBytes = 8 }},
		{Name: FaultFullAtHash, Breaks: "at_hash is the whole SHA-256 of the access token, not its left half", Trips: []string{"issues an ID token whose at_hash, if any, matches the access token"}, bend: onIDTokenClaims(fullAtHash)},
		{Name: FaultWrongAuthReqIDClaim, Breaks: "ID tokens carry an auth_req_id claim holding the OP's internal key of the request", Trips: []string{"issues an ID token whose auth_req_id claim, if any, is the request's"}, bend: onIDTokenClaims(internalAuthReqIDClaim)},
		{Name: FaultIDTokenWithoutKid, Breaks: "ID tokens are signed without a kid header", Trips: []string{"signs the ID token with PS256 or ES256 by a key of its JWKS, with a kid when it has several"}, bend: signIDTokenWith(bareSigningKey)},
		{Name: FaultOmitIDToken, Breaks: "token responses carry no id_token although scope openid was granted",
			Trips: []string{
				"issues an ID token whose at_hash, if any, matches the access token",
				"issues an ID token whose auth_req_id claim, if any, is the request's",
				"issues an ID token with iss, aud, sub, iat and a future exp",
				"issues refresh-grant ID tokens with the original iss and sub",
				"issues tokens to an approved poll client using private_key_jwt",
				"issues tokens to an approved poll client using self_signed_tls_client_auth",
				"issues tokens to an approved poll client using tls_client_auth",
				"notifies and issues tokens to an approved ping client using private_key_jwt",
				"notifies and issues tokens to an approved ping client using tls_client_auth",
				"returns an acr claim in the ID token when acr is requested",
				"signs the ID token with PS256 or ES256 by a key of its JWKS, with a kid when it has several",
			}, bend: onTokenResponse(func(_ *OP, tr *ciba.TokenResponse, _ tokenGrant) { tr.IDToken = "" })},
		{Name: FaultTokenWithoutCertificate, Breaks: "token requests without a client certificate get unbound tokens: mutual-TLS clients are taken at their client_id (as behind a TLS-terminating proxy)", Trips: []string{"issues no tokens to a token request without a client certificate"}, bend: tokenWithoutCertificate},
		{Name: FaultPingOmitIDToken, Breaks: "token responses to ping clients carry no id_token (poll ones do)",
			Trips: []string{
				"notifies and issues tokens to an approved ping client using private_key_jwt",
				"notifies and issues tokens to an approved ping client using tls_client_auth",
			}, bend: onTokenResponse(omitPingIDToken)},
		{Name: FaultTokenRequiresCAIssuedCert, Breaks: "the token endpoint verifies client certificates against its CA pool, refusing self_signed_tls_client_auth clients there", Trips: []string{"issues tokens to an approved poll client using self_signed_tls_client_auth"}, bend: tokenRequiresCAIssuedCert},
		{Name: FaultRefreshScopeWidening, Breaks: "the refresh grant grants any requested scope, beyond the original grant", Trips: []string{"refuses a refresh request for a wider scope or grants it without the extra scope"}, bend: func(h *hooks) { h.refreshScope = func(req, _ []string, _ error) ([]string, error) { return req, nil } }},
		{Name: FaultMissingAuthReqIDInvalidGrant, Breaks: "a CIBA grant request without auth_req_id is answered invalid_grant", Trips: []string{"refuses a CIBA grant request without auth_req_id"}, bend: answer(ruleAuthReqIDRequired, ciba.ErrInvalidGrant.WithDescription("auth_req_id is invalid"))},
		{Name: FaultUnknownAuthReqIDExpired, Breaks: "an unknown or altered auth_req_id is answered expired_token, as if purged", Trips: []string{"refuses an altered auth_req_id with invalid_grant, or invalid_request when malformed", "refuses an unknown auth_req_id with invalid_grant"}, bend: answer(ruleAuthReqIDKnown, ciba.ErrExpiredToken.WithDescription("auth_req_id has expired"))},
		{Name: FaultUnknownGrantTypeInvalidRequest, Breaks: "an unknown grant_type is answered invalid_request", Trips: []string{"refuses an unknown grant_type with unsupported_grant_type"}, bend: answer(ruleUnsupportedGrantType, ciba.ErrInvalidRequest.WithDescription("grant_type is invalid"))},
		{Name: FaultDeniedAsInvalidGrant, Breaks: "after the user denies, the token endpoint answers invalid_grant",
			Trips: []string{
				"answers access_denied after the user denies (poll)",
				"pings after the user denies and then answers access_denied",
			}, bend: answer(ruleDeniedAccessDenied, ciba.ErrInvalidGrant.WithDescription("auth_req_id is no longer valid"))},
		{Name: FaultThrottleWith429, Breaks: "a client slowed down twice gets HTTP 429 with slow_down instead of 400", Trips: []string{"answers twenty back-to-back polls with pending, slow_down, invalid_request or 503"}, bend: throttleWith429},
		{Name: FaultPendingAs401, Breaks: "authorization_pending is answered with HTTP 401 instead of 400",
			Trips: []string{
				"answers authorization_pending while the user has not decided",
				"answers twenty back-to-back polls with pending, slow_down, invalid_request or 503",
			}, bend: pendingAs401},
	}
}

// pingResourceTLSFaults deviate at ping delivery, the protected resource
// and TLS.
func pingResourceTLSFaults() []Fault {
	return []Fault{
		{Name: FaultPingExtraMembers, Breaks: "the ping body carries status and client_id next to auth_req_id", Trips: []string{"sends the ping as a POST with the bearer token and a body of exactly auth_req_id"}, bend: pingExtraMembers},
		{Name: FaultPingAnswerFailsRequest, Breaks: "a ping answered other than 204 fails the request: no tokens",
			Trips: []string{
				"issues tokens after the ping was answered 200 with a body",
				"issues tokens after the ping was answered 401",
				"issues tokens after the ping was answered 403",
			}, bend: pingAnswerFailsRequest},
		{Name: FaultNoInteractionIDEcho, Breaks: "userinfo answers a fresh x-fapi-interaction-id instead of echoing the client's", Trips: []string{"echoes x-fapi-interaction-id and sends a Date header at the protected resource"}, bend: func(h *hooks) { h.freshInteractionID = true }},
		{Name: FaultUserinfoTokenInQuery, Breaks: "userinfo accepts the access token in the query string or form body", Trips: []string{"refuses an access token sent in the query string at the protected resource"}, bend: waive(ruleBearerHeaderOnly)},
		// Without a FAPI suite the non-FAPI-suite check's positive control (a
		// TLS 1.2 handshake with one) fails too: skipped, which counts.
		{Name: FaultTLS12ChaChaOnly, Breaks: "TLS is capped at 1.2 with ChaCha20-Poly1305 and ECDSA suites only: no FAPI cipher suite",
			Trips: []string{
				"accepts TLS 1.2 with a FAPI cipher suite or TLS 1.3",
				"refuses a TLS 1.2 handshake offering only a non-FAPI cipher suite",
			}, bend: onTLS(func(c *tls.Config) { c.MaxVersion, c.CipherSuites = tls.VersionTLS12, nonFAPICipherSuites() })},
		{Name: FaultTLSLegacyVersions, Breaks: "TLS 1.0 and 1.1 handshakes (with a CBC suite) are accepted", Trips: []string{"refuses a TLS 1.1 handshake"}, bend: onTLS(legacyTLS)},
	}
}

// tokenWithoutCertificate (token-without-certificate): a token request
// without a client certificate naming a mutual-TLS client by client_id is
// taken as that client, as if a proxy had checked the certificate; and
// the certificate an authenticated client lacks is not required.
func tokenWithoutCertificate(h *hooks) {
	prev := h.tokenClient
	h.tokenClient = func(op *OP, r *http.Request, form url.Values, ac *authenticatedClient, err error) (*authenticatedClient, error) {
		if ac, err = prev(op, r, form, ac, err); err == nil {
			return ac, nil
		}
		if ac != nil { // authenticated, without the certificate
			return ac, nil
		}
		return op.certlessClient(r, form, err)
	}
}

// certlessClient is the client a certificate-less token request naming a
// mutual-TLS client by client_id is taken as (token-without-certificate),
// or authErr.
func (op *OP) certlessClient(r *http.Request, form url.Values, authErr error) (*authenticatedClient, error) {
	if peerCert(r) != nil || form.Has(ciba.ParamClientAssertion) {
		return nil, authErr
	}
	c, ok := op.clients[form.Get(ciba.ParamClientID)]
	if !ok || !c.AuthMethod.UsesMTLS() {
		return nil, authErr
	}
	return &authenticatedClient{Client: c}, nil
}

// tokenRequiresCAIssuedCert (token-requires-ca-issued-cert): the reference
// OP's self-signed client certificates never chain to a CA, so refusing
// the method is what chain verification at the token endpoint would do.
func tokenRequiresCAIssuedCert(h *hooks) {
	prev := h.tokenClient
	h.tokenClient = func(op *OP, r *http.Request, form url.Values, ac *authenticatedClient, err error) (*authenticatedClient, error) {
		if ac, err = prev(op, r, form, ac, err); err == nil && ac.AuthMethod == ciba.AuthSelfSignedTLSClient {
			return nil, invalidClient("the client certificate is not issued by a trusted CA")
		}
		return ac, err
	}
}

// pendingAs401 (pending-as-401): authorization_pending is answered 401.
func pendingAs401(h *hooks) {
	prev := h.tokenAnswer
	h.tokenAnswer = func(w http.ResponseWriter, resp ciba.TokenResponse, err error) bool {
		if errors.Is(err, ciba.ErrAuthorizationPending) {
			writeJSONStatus(w, http.StatusUnauthorized, ciba.ErrorResponse{Error: ciba.ErrAuthorizationPending.Code, ErrorDescription: "the user has not decided yet"})
			return true
		}
		return prev(w, resp, err)
	}
}

// tokenResponseCacheable (token-response-cacheable): token responses go
// out without the no-store headers.
func tokenResponseCacheable(h *hooks) {
	prev := h.tokenAnswer
	h.tokenAnswer = func(w http.ResponseWriter, resp ciba.TokenResponse, err error) bool {
		if err == nil {
			writeJSON(w, resp)
			return true
		}
		return prev(w, resp, err)
	}
}

// omitPingIDToken (ping-omit-id-token): ping clients' token responses
// carry no id_token.
func omitPingIDToken(op *OP, tr *ciba.TokenResponse, g tokenGrant) {
	if op.clientMode(g.clientID) == ciba.ModePing {
		tr.IDToken = ""
	}
}

// issuerAsAudience (wrong-id-token-aud): the ID token aud is the issuer.
func issuerAsAudience(op *OP, c map[string]any, _ tokenGrant, _ ciba.TokenResponse) {
	c["aud"] = op.Issuer()
}

// fullAtHash (full-at-hash): at_hash is the whole SHA-256.
func fullAtHash(_ *OP, c map[string]any, _ tokenGrant, tr ciba.TokenResponse) {
	c[ciba.ClaimATHash] = fullHash(tr.AccessToken)
}

// internalAuthReqIDClaim (wrong-auth-req-id-claim): poll and ping ID
// tokens carry the OP's internal key of the request as auth_req_id.
func internalAuthReqIDClaim(_ *OP, c map[string]any, g tokenGrant, _ ciba.TokenResponse) {
	if g.authReqID != "" && !g.push {
		c[ciba.ClaimAuthReqID] = tokenKey(g.authReqID)
	}
}

// dropClaim is the bend removing claim name from ID tokens.
func dropClaim(name string) func(*hooks) {
	return onIDTokenClaims(func(_ *OP, c map[string]any, _ tokenGrant, _ ciba.TokenResponse) { delete(c, name) })
}

// bareSigningKey is the signing key without its JWK wrapper, so no kid
// header is set (id-token-without-kid).
func bareSigningKey(op *OP) any { return op.signer.Key }

// clientMode is the registered delivery mode of a client.
func (op *OP) clientMode(id string) ciba.DeliveryMode {
	if c, ok := op.clients[id]; ok {
		return c.DeliveryMode
	}
	return ""
}

// fullHash is the whole SHA-256 of value, base64url (full-at-hash).
func fullHash(value string) string {
	sum := sha256.Sum256([]byte(value))
	return b64(sum[:])
}

// throttleWith429 (throttle-with-429): after two slow_downs (the
// interval grew by 10 s) a too-fast poll gets HTTP 429.
func throttleWith429(h *hooks) {
	prev := h.slowDown
	h.slowDown = func(op *OP, ar *AuthRequest, strict error) error {
		if ar.Interval-op.cfg.Interval >= 2*ciba.SlowDownIncrement {
			return ciba.ErrSlowDown.WithStatus(http.StatusTooManyRequests).WithDescription("too many requests")
		}
		return prev(op, ar, strict)
	}
}

// noPingOnDeny (no-ping-on-deny): a ping client is not pinged when the
// user did not approve.
func noPingOnDeny(h *hooks) {
	prev := h.notifyMode
	h.notifyMode = func(ar AuthRequest) ciba.DeliveryMode {
		mode := prev(ar)
		if mode == ciba.ModePing && ar.Status != StatusApproved {
			return ""
		}
		return mode
	}
}

// pingExtraMembers (ping-extra-members): the ping carries more than
// auth_req_id.
func pingExtraMembers(h *hooks) {
	h.pingBody = func(ar AuthRequest, _ []byte) []byte {
		body, _ := json.Marshal(map[string]string{"auth_req_id": ar.ID, "status": string(ar.Status), "client_id": ar.ClientID})
		return body
	}
}

// pingAnswerFailsRequest (ping-answer-fails-request): an approved request
// fails when its ping was answered other than 204; a token request that
// overtakes the OP's reading of that answer waits for it.
func pingAnswerFailsRequest(h *hooks) {
	h.pingAnswered = func(r *AuthRequest, status int, err error) {
		if err == nil && status != http.StatusNoContent && ciba.DeliveryMode(r.DeliveryMode) == ciba.ModePing && r.Status == StatusApproved {
			r.Status = StatusFailed
		}
	}
	h.beforeRedeem = awaitPingOutcome
}

// awaitPingOutcome makes a ping client's token request that overtakes
// the OP's reading of the ping answer wait (at most about a second) until
// the delivery outcome is stored, so ping-answer-fails-request shows
// deterministically: the client sees the ping before the OP sees the
// answer. It polls on real time because it waits on a network exchange,
// not on protocol time.
func awaitPingOutcome(ctx context.Context, op *OP, id string) {
	for range 100 {
		ar, err := op.store.GetAuthRequest(ctx, id)
		if err != nil || ciba.DeliveryMode(ar.DeliveryMode) != ciba.ModePing || ar.Status != StatusApproved || ar.NotifyDone {
			return
		}
		t := time.NewTimer(10 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// nonFAPICipherSuites is the suite list of tls12-chacha-only: ChaCha20
// for RSA certificates plus the ECDSA GCM suite that net/http's HTTP/2
// setup insists on (and that an RSA certificate cannot use), so no FAPI
// suite is offered (FAPI-RW 8.5-2).
func nonFAPICipherSuites() []uint16 {
	return []uint16{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
}

// legacyTLS lets TLS 1.0/1.1 clients in with a CBC suite while TLS 1.2+
// clients keep the FAPI configuration (tls-legacy-versions).
func legacyTLS(c *tls.Config) {
	legacy := c.Clone()
	legacy.MinVersion = tls.VersionTLS10
	legacy.CipherSuites = append(legacy.CipherSuites, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA)
	c.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if slices.Contains(hello.SupportedVersions, tls.VersionTLS12) || slices.Contains(hello.SupportedVersions, tls.VersionTLS13) {
			return nil, nil
		}
		return legacy, nil
	}
}
