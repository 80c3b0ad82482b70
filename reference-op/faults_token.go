package refop

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
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

// tokenFaults deviate at the token endpoint, ID tokens, refresh, ping delivery, userinfo and TLS.
func tokenFaults() []Fault {
	return []Fault{
		{Name: FaultTokenResponseCacheable, Breaks: "token responses (CIBA and refresh grant) lack Cache-Control no-store and Pragma no-cache",
			Trips: []string{
				"answers the token request as application/json with Cache-Control no-store",
				"refreshes the access token for the client that owns the refresh token",
			}},
		{Name: FaultShortAccessToken, Breaks: "access tokens carry only 64 bits of randomness", Trips: []string{"issues a Bearer access token of at least 128 bits with expires_in"}},
		{Name: FaultFullAtHash, Breaks: "at_hash is the whole SHA-256 of the access token, not its left half", Trips: []string{"issues an ID token whose at_hash, if any, matches the access token"}},
		{Name: FaultWrongAuthReqIDClaim, Breaks: "ID tokens carry an auth_req_id claim holding the OP's internal key of the request", Trips: []string{"issues an ID token whose auth_req_id claim, if any, is the request's"}},
		{Name: FaultIDTokenWithoutKid, Breaks: "ID tokens are signed without a kid header", Trips: []string{"signs the ID token with PS256 or ES256 under a kid of its JWKS"}},
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
				"returns a requested acr in the ID token",
				"signs the ID token with PS256 or ES256 under a kid of its JWKS",
			}},
		{Name: FaultTokenWithoutCertificate, Breaks: "token requests without a client certificate get unbound tokens: mutual-TLS clients are taken at their client_id (as behind a TLS-terminating proxy)", Trips: []string{"issues no tokens to a token request without a client certificate"}},
		{Name: FaultPingOmitIDToken, Breaks: "token responses to ping clients carry no id_token (poll ones do)",
			Trips: []string{
				"notifies and issues tokens to an approved ping client using private_key_jwt",
				"notifies and issues tokens to an approved ping client using tls_client_auth",
			}},
		{Name: FaultTokenRequiresCAIssuedCert, Breaks: "the token endpoint verifies client certificates against its CA pool, refusing self_signed_tls_client_auth clients there", Trips: []string{"issues tokens to an approved poll client using self_signed_tls_client_auth"}},
		{Name: FaultRefreshScopeWidening, Breaks: "the refresh grant grants any requested scope, beyond the original grant", Trips: []string{"refuses a refresh request for a wider scope with invalid_scope"}},
		{Name: FaultMissingAuthReqIDInvalidGrant, Breaks: "a CIBA grant request without auth_req_id is answered invalid_grant", Trips: []string{"refuses a CIBA grant request without auth_req_id"}},
		{Name: FaultUnknownAuthReqIDExpired, Breaks: "an unknown or altered auth_req_id is answered expired_token, as if purged", Trips: []string{"refuses an altered auth_req_id with invalid_grant", "refuses an unknown auth_req_id with invalid_grant"}},
		{Name: FaultUnknownGrantTypeInvalidRequest, Breaks: "an unknown grant_type is answered invalid_request", Trips: []string{"refuses an unknown grant_type with unsupported_grant_type"}},
		{Name: FaultDeniedAsInvalidGrant, Breaks: "after the user denies, the token endpoint answers invalid_grant",
			Trips: []string{
				"answers access_denied after the user denies (poll)",
				"pings after the user denies and then answers access_denied",
			}},
		{Name: FaultThrottleWith429, Breaks: "a client slowed down twice gets HTTP 429 with slow_down instead of 400", Trips: []string{"answers twenty back-to-back polls with pending, slow_down or 503"}},
		{Name: FaultPingExtraMembers, Breaks: "the ping body carries status and client_id next to auth_req_id", Trips: []string{"sends the ping as a POST with the bearer token and a body of exactly auth_req_id"}},
		{Name: FaultPingAnswerFailsRequest, Breaks: "a ping answered other than 204 fails the request: no tokens",
			Trips: []string{
				"issues tokens after the ping was answered 200 with a body",
				"issues tokens after the ping was answered 401",
				"issues tokens after the ping was answered 403",
			}},
		{Name: FaultNoInteractionIDEcho, Breaks: "userinfo answers a fresh x-fapi-interaction-id instead of echoing the client's", Trips: []string{"echoes x-fapi-interaction-id and sends a Date header at the protected resource"}},
		{Name: FaultUserinfoTokenInQuery, Breaks: "userinfo accepts the access token in the query string or form body", Trips: []string{"refuses an access token sent in the query string at the protected resource"}},
		// Without a FAPI suite the non-FAPI-suite check's positive control (a
		// TLS 1.2 handshake with one) fails too: skipped, which counts.
		{Name: FaultTLS12ChaChaOnly, Breaks: "TLS is capped at 1.2 with ChaCha20-Poly1305 and ECDSA suites only: no FAPI cipher suite",
			Trips: []string{
				"accepts TLS 1.2 with a FAPI cipher suite or TLS 1.3",
				"refuses a TLS 1.2 handshake offering only a non-FAPI cipher suite",
			}},
		{Name: FaultTLSLegacyVersions, Breaks: "TLS 1.0 and 1.1 handshakes (with a CBC suite) are accepted", Trips: []string{"refuses a TLS 1.1 handshake"}},
		{Name: FaultPendingAs401, Breaks: "authorization_pending is answered with HTTP 401 instead of 400",
			Trips: []string{
				"answers authorization_pending while the user has not decided",
				"refuses another client's auth_req_id and leaves the owner's request pending",
				"answers twenty back-to-back polls with pending, slow_down or 503",
			}},
	}
}

// certlessClient is token-without-certificate: a token request without a
// client certificate naming a mutual-TLS client by client_id is taken as
// that client, as if a proxy had checked the certificate.
func (op *OP) certlessClient(r *http.Request, form url.Values, authErr error) (*authenticatedClient, error) {
	if !op.faults.on(FaultTokenWithoutCertificate) || peerCert(r) != nil || form.Has(ciba.ParamClientAssertion) {
		return nil, authErr
	}
	c, ok := op.clients[form.Get(ciba.ParamClientID)]
	if !ok || !c.AuthMethod.UsesMTLS() {
		return nil, authErr
	}
	return &authenticatedClient{Client: c}, nil
}

// refusesSelfSigned is token-requires-ca-issued-cert: the reference
// OP's self-signed client certificates never chain to a CA, so refusing
// the method is what chain verification at the token endpoint would do.
func (op *OP) refusesSelfSigned(ac *authenticatedClient) error {
	if op.faults.on(FaultTokenRequiresCAIssuedCert) && ac.AuthMethod == ciba.AuthSelfSignedTLSClient {
		return invalidClient("the client certificate is not issued by a trusted CA")
	}
	return nil
}

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

// signWithoutKid signs like op.sign but with the bare key, so no kid
// header is set (id-token-without-kid).
func (op *OP) signWithoutKid(c map[string]any, typ string) (string, error) {
	return op.signWith(op.signer.Key, c, typ)
}

// throttled reports whether a too-fast poll of ar should get HTTP 429
// (throttle-with-429): after two slow_downs the interval grew by 10 s.
func (op *OP) throttled(ar *AuthRequest) bool {
	return op.faults.on(FaultThrottleWith429) && ar.Interval-op.cfg.Interval >= 2*ciba.SlowDownIncrement
}

// pingBody is the ping notification; with ping-extra-members it carries
// more than auth_req_id.
func (op *OP) pingBody(ar AuthRequest) []byte {
	if op.faults.on(FaultPingExtraMembers) {
		body, _ := json.Marshal(map[string]string{"auth_req_id": ar.ID, "status": string(ar.Status), "client_id": ar.ClientID})
		return body
	}
	body, _ := json.Marshal(ciba.PingNotification{AuthReqID: ar.ID})
	return body
}

// failOnPingAnswer marks an approved request failed when the ping was
// answered other than 204 (ping-answer-fails-request).
func (op *OP) failOnPingAnswer(r *AuthRequest, status int, err error) {
	if op.faults.on(FaultPingAnswerFailsRequest) && err == nil && status != http.StatusNoContent &&
		ciba.DeliveryMode(r.DeliveryMode) == ciba.ModePing && r.Status == StatusApproved {
		r.Status = StatusFailed
	}
}

// awaitPingOutcome makes a ping client's token request that overtakes
// the OP's reading of the ping answer wait (at most about a second) until
// the delivery outcome is stored, so ping-answer-fails-request shows
// deterministically: the client sees the ping before the OP sees the
// answer. It polls on real time because it waits on a network exchange,
// not on protocol time.
func (op *OP) awaitPingOutcome(ctx context.Context, id string) {
	if !op.faults.on(FaultPingAnswerFailsRequest) {
		return
	}
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

// faultyMaxRedemptions is how often an approved auth_req_id may be
// redeemed: strict, or twice under issue-token-twice.
func (op *OP) faultyMaxRedemptions(strict int) int {
	if op.faults.on(FaultIssueTokenTwice) {
		return 2
	}
	return strict
}
