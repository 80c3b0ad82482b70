package refop

import (
	"cmp"
	"crypto/tls"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/ciba-check/ciba-check/ciba"
)

// allowanceCatalogue is the catalogue in source order. Basis quotes the
// text verbatim; "..." marks an omission.
func allowanceCatalogue() []Allowance {
	return []Allowance{
		{
			Name:      AllowACRAlways,
			Permits:   "every ID token carries acr (the device's multi-factor class), whether or not acr_values asked for one",
			Basis:     `OIDC-2: "acr OPTIONAL. Authentication Context Class Reference. String specifying an Authentication Context Class Reference value that identifies the Authentication Context Class that the authentication performed satisfied."`,
			Exclusive: []string{AllowACRUnsupported},
			bend:      onNewRequest(func(_ *OP, ar *AuthRequest) { ar.ACR = cmp.Or(ar.ACR, ACRMultiFactor) }),
		},
		{
			Name:    AllowACRUnsupported,
			Permits: "no acr support: acr_values_supported is not published, acr_values is ignored and ID tokens carry no acr",
			Basis:   `OIDC-3.1.2.1: "acr_values OPTIONAL. ... The acr Claim is requested as a Voluntary Claim by this parameter."; OIDC-DISCOVERY-3: "acr_values_supported OPTIONAL."`,
			Departs: `OIDC-5.5.1.1: "If the Claim is not Essential and a requested value cannot be provided, the Authorization Server SHOULD return the session's current acr as the value of the acr Claim."`,
			bend:    bends(onNewRequest(func(_ *OP, ar *AuthRequest) { ar.ACR = "" }), onMetadata(acrUnsupported)),
		},
		{
			Name:    AllowAuthReqID128Bits,
			Permits: "auth_req_id holds exactly 128 random bits, as 32 lowercase hex digits",
			Basis:   `CIBA-7.3: "It MUST contain sufficient entropy (a minimum of 128 bits while 160 bits is recommended) to make brute force guessing or forgery of a valid auth_req_id computationally infeasible"`,
			Departs: `CIBA-7.3: "160 bits is recommended"`,
			bend:    func(h *hooks) { h.authReqIDBytes, h.encodeAuthReqID = 16, hex.EncodeToString },
		},
		{
			Name:    AllowBindingMessageRestricted,
			Permits: "binding_message must match ^[a-zA-Z0-9-._+/!?#]{1,20}$; any other value gets 400 invalid_binding_message",
			Basis:   `CIBA-7.1: "the binding_message value SHOULD be relatively short and use a limited set of plain text characters"; CIBA-13: "invalid_binding_message The binding message is invalid or unacceptable for use in the context of the given request."`,
			bend:    bindingMessageRestricted,
		},
		{
			Name:    AllowCacheControlExtra,
			Permits: "responses carrying Cache-Control no-store send Cache-Control: no-store, no-cache, private",
			Basis:   `RFC6749-5.1: "The authorization server MUST include the HTTP "Cache-Control" response header field [RFC2616] with a value of "no-store" in any response containing tokens, credentials, or other sensitive information"; RFC7234-5.2: "Cache-Control   = 1#cache-directive"`,
			bend:    onCacheControl(func(cc string) string { return cc + ", no-cache, private" }),
		},
		{
			Name:    AllowCacheControlMixedCase,
			Permits: "Cache-Control directives are spelt in mixed case (No-Store)",
			Basis:   `RFC7234-5.2: "Cache directives are identified by a token, to be compared case-insensitively"`,
			bend:    onCacheControl(func(cc string) string { return strings.Replace(cc, "no-store", "No-Store", 1) }),
		},
		{
			Name:    AllowDiscoveryExtraMetadata,
			Permits: "discovery carries members beyond the ones the suite reads (end_session_endpoint, claims_parameter_supported, a vendor x_ member)",
			Basis:   `OIDC-DISCOVERY-3: "Additional OpenID Provider Metadata parameters MAY also be used."`,
			bend:    onDocument(discoveryExtraMetadata),
		},
		{
			Name:    AllowErrorExtraMembers,
			Permits: "OAuth error bodies carry extra members: error_details (an object) and trace_id",
			Basis:   `RFC6749-5.1: "The client MUST ignore unrecognized value names in the response."; CIBA-7.3: "Clients MUST ignore unrecognized response parameters." (RFC6749-5.2 lists error, error_description and error_uri and excludes nothing else)`,
			bend:    errorExtraMembers,
		},
		{
			Name:      AllowGenericErrorDescription,
			Permits:   `every error_description is the same generic text ("` + genericErrorDescription + `")`,
			Basis:     `RFC6749-5.2: "error_description OPTIONAL. Human-readable ASCII [USASCII] text providing additional information, used to assist the client developer in understanding the error that occurred."`,
			Exclusive: []string{AllowNoErrorDescription},
			bend: onErrorResponse(func(_ *http.Request, _ *int, body *ciba.ErrorResponse) {
				body.ErrorDescription = genericErrorDescription
			}),
		},
		{
			Name:    AllowIDTokenAudArray,
			Permits: "the ID token aud is a one-element JSON array holding the client_id",
			Basis:   `OIDC-2: "In the general case, the aud value is an array of case sensitive strings. In the common special case when there is one audience, the aud value MAY be a single case sensitive string."`,
			bend:    onIDTokenClaims(func(_ *OP, c map[string]any, _ tokenGrant, _ ciba.TokenResponse) { c["aud"] = []any{c["aud"]} }),
		},
		{
			Name:    AllowIDTokenAuthReqIDClaim,
			Permits: "poll and ping ID tokens also carry the urn:openid:params:jwt:claim:auth_req_id claim (push ones must)",
			Basis:   `OIDC-2: "ID Tokens MAY contain other Claims. Any Claims used that are not understood MUST be ignored."`,
			bend:    onIDTokenClaims(authReqIDClaim),
		},
		{
			Name:      AllowIDTokenES256Only,
			Permits:   "ID tokens are always signed with the ES256 key and id_token_signing_alg_values_supported lists ES256 alone",
			Basis:     `FAPI-RW-8.6: "For JWS, both clients and authorization servers: 1. shall use PS256 or ES256 algorithms"`,
			Exclusive: []string{AllowSingleKeyWithoutKid},
			bend:      bends(signIDTokenWith(func(op *OP) any { return op.es256Key() }), onMetadata(func(_ *OP, md *ciba.ProviderMetadata) { md.IDTokenSigningAlgValuesSupported = []string{ciba.AlgES256} })),
		},
		{
			Name:    AllowIDTokenWithoutATHash,
			Permits: "poll and ping ID tokens carry no at_hash (push ones keep it: CIBA 10.3.1 requires it there)",
			Basis:   `OIDC-3.1.3.6: "at_hash OPTIONAL. Access Token hash value."`,
			bend:    onIDTokenClaims(withoutATHash),
		},
		{
			Name:    AllowIDTokenWithoutAuthTime,
			Permits: "ID tokens carry no auth_time",
			Basis:   `OIDC-2: "auth_time ... When a max_age request is made or when auth_time is requested as an Essential Claim, then this Claim is REQUIRED; otherwise, its inclusion is OPTIONAL."`,
			bend:    dropClaim(ciba.ClaimAuthTime),
		},
		{
			Name:    AllowIntervalAbsent,
			Permits: "the acknowledgement has no interval; polls are held to the 5 s default (slow_down below it)",
			Basis:   `CIBA-7.3: "interval OPTIONAL. A JSON number with a positive integer value indicating the minimum amount of time in seconds that the Client MUST wait between polling requests to the token endpoint. ... If no value is provided, clients MUST use 5 as the default value."`,
			bend:    intervalAbsent,
		},
		{
			Name:      AllowIntrospectionAbsent,
			Permits:   "there is no introspection endpoint: discovery omits introspection_endpoint and the path answers 404",
			Basis:     `RFC8414-2: "introspection_endpoint OPTIONAL. URL of the authorization server's OAuth 2.0 introspection endpoint [RFC7662]."`,
			Exclusive: []string{AllowIntrospectionRefused},
			bend:      introspectionAbsent,
		},
		{
			Name:    AllowIntrospectionRefused,
			Permits: "introspection is reserved to resource servers: CIBA clients get 401 invalid_client there",
			Basis:   `RFC7662-2.1: "To prevent token scanning attacks, the endpoint MUST also require some form of authorization to access this endpoint ... The methods of managing and validating these authentication credentials are out of scope of this specification."`,
			bend:    func(h *hooks) { h.introspection = refuseIntrospection },
		},
		{
			Name:    AllowInvalidClient400,
			Permits: "invalid_client is answered with HTTP 400 instead of 401 (401 stays when the client tried the Authorization header)",
			Basis:   `RFC6749-5.2: "The authorization server responds with an HTTP 400 (Bad Request) status code (unless specified otherwise)"; "invalid_client ... The authorization server MAY return an HTTP 401 (Unauthorized) status code to indicate which HTTP authentication schemes are supported. If the client attempted to authenticate via the "Authorization" request header field, the authorization server MUST respond with an HTTP 401 (Unauthorized) status code"`,
			bend:    onErrorResponse(invalidClient400),
		},
		{
			Name:      AllowJWKSMixedKeys,
			Permits:   "the JWKS also holds encryption keys of other types: an RSA-OAEP-256 key and an X25519 (OKP) key, all with use",
			Basis:     `OIDC-DISCOVERY-3: "The JWK Set MAY also contain the Server's encryption key(s), which are used by RPs to encrypt requests to the Server. When both signing and encryption keys are made available, a use (Key Use) parameter value is REQUIRED for all keys in the referenced JWK Set"; RFC7517-5: "Implementations SHOULD ignore JWKs within a JWK Set that use "kty" (key type) values that are not understood by them"`,
			Exclusive: []string{AllowSingleKeyWithoutKid},
			bend:      onJWKSDocument(mixedKeys),
		},
		{
			Name:    AllowJWTAccessTokens,
			Permits: "access tokens are signed JWTs (typ at+jwt, RFC 9068 claims, cnf x5t#S256) instead of opaque strings",
			Basis:   `RFC6749-1.4: "The string is usually opaque to the client. ... Access tokens can have different formats, structures, and methods of utilization (e.g., cryptographic properties) based on the resource server security requirements."`,
			bend:    func(h *hooks) { h.accessToken = jwtAccessToken },
		},
		{
			Name:    AllowNeverSlowDown,
			Permits: "polls faster than the interval get authorization_pending, never slow_down",
			Basis:   `CIBA-11: "slow_down A variant of "authorization_pending", the authorization request is still pending and polling should continue, but the interval MUST be increased by at least 5 seconds for this and all subsequent requests." (a code the OP may use; waiting is the client's duty, CIBA-7.3: "the minimum amount of time in seconds that the Client MUST wait between polling requests")`,
			bend:    waive(ruleSlowDown),
		},
		{
			Name:      AllowNoErrorDescription,
			Permits:   "error responses carry no error_description",
			Basis:     `RFC6749-5.2: "error_description OPTIONAL."`,
			Exclusive: []string{AllowGenericErrorDescription},
			bend:      onErrorResponse(func(_ *http.Request, _ *int, body *ciba.ErrorResponse) { body.ErrorDescription = "" }),
		},
		{
			Name:      AllowNoRefreshTokens,
			Permits:   "no refresh token is ever issued",
			Basis:     `RFC6749-1.5: "Issuing a refresh token is optional at the discretion of the authorization server."; RFC6749-5.1: "refresh_token OPTIONAL."`,
			Exclusive: []string{AllowRefreshOfflineAccessOnly},
			bend:      func(h *hooks) { h.refreshToken = func(string) bool { return false } },
		},
		{
			Name:    AllowPingRetry4xx,
			Permits: "a ping the client answered with 4xx is retried like a 5xx (bounded, with backoff)",
			Basis:   `CIBA-10.2: "How the OP handles HTTP error codes in the ranges of 4xx and 5xx is out-of-scope of this specification."`,
			bend:    waive(ruleNoRetryAfter4xx),
		},
		{
			Name:    AllowRefreshOfflineAccessOnly,
			Permits: "a refresh token is issued only when the scope includes offline_access (which every client may request)",
			Basis:   `RFC6749-1.5: "Issuing a refresh token is optional at the discretion of the authorization server."; OIDC-11: "offline_access This scope value requests that an OAuth 2.0 Refresh Token be issued that can be used to obtain an Access Token that grants access to the End-User's UserInfo Endpoint even when the End-User is not present (not logged in)."`,
			bend:    refreshOfflineAccessOnly,
		},
		{
			Name:    AllowRefreshTokenRotation,
			Permits: "each refresh issues a new refresh token and revokes the one presented",
			Basis:   `RFC6749-6: "The authorization server MAY issue a new refresh token, in which case the client MUST discard the old refresh token and replace it with the new refresh token. The authorization server MAY revoke the old refresh token after issuing a new refresh token to the client."`,
			bend:    func(h *hooks) { h.refreshed = rotateRefresh },
		},
		{
			Name:    AllowRefreshWithoutIDToken,
			Permits: "refresh-grant responses carry no id_token",
			Basis:   `OIDC-12.2: "Upon successful validation of the Refresh Token, the response body is the Token Response of Section 3.1.3.3 except that it might not contain an id_token."`,
			bend:    onTokenResponse(refreshWithoutIDToken),
		},
		{
			Name:    AllowRefreshWiderScopeIgnored,
			Permits: "a refresh request for a wider scope gets tokens for the original scope (named in scope) instead of invalid_scope",
			Basis:   `RFC6749-3.3: "The authorization server MAY fully or partially ignore the scope requested by the client, based on the authorization server policy or the resource owner's instructions."`,
			bend:    refreshWiderScopeIgnored,
		},
		{
			Name:    AllowReplayRevokesTokens,
			Permits: "redeeming an auth_req_id a second time gets invalid_grant and revokes the tokens the first redemption issued",
			Basis:   `RFC6749-4.1.2: "If an authorization code is used more than once, the authorization server MUST deny the request and SHOULD revoke (when possible) all tokens previously issued based on that authorization code." (the same rule for the CIBA grant's one-time auth_req_id)`,
			bend:    replayRevokesTokens,
		},
		{
			Name:    AllowRequestObjectReplay,
			Permits: "a request object replayed within its lifetime (same jti) is accepted again",
			Basis:   `RFC7519-4.1.7: "The "jti" claim can be used to prevent the JWT from being replayed. ... Use of this claim is OPTIONAL." (CIBA-7.1.1 requires jti in the request object but no replay check)`,
			bend:    waive(ruleRequestObjectOnce),
		},
		{
			Name:    AllowRequestURINotSupported,
			Permits: "a backchannel request with request_uri gets 400 request_uri_not_supported instead of invalid_request",
			Basis:   `OIDC-3.1.2.6: "request_uri_not_supported The OP does not support use of the request_uri parameter defined in Section 6."`,
			bend:    answer(ruleRequestURIRefused, ciba.ErrRequestURINotSupported.WithDescription("request_uri is not supported")),
		},
		{
			Name:    AllowRequestedExpiryIgnored,
			Permits: "expires_in is always 120 s, whatever requested_expiry asks (a malformed one is still refused)",
			Basis:   `CIBA-7.1: "requested_expiry OPTIONAL. A positive integer allowing the client to request the expires_in value for the auth_req_id the server will return. The server MAY use this value to influence the lifetime of the authentication request"`,
			bend:    onNewRequest(func(op *OP, ar *AuthRequest) { ar.ExpiresAt = ar.CreatedAt.Add(min(fixedExpiry, op.cfg.MaxExpiry)) }),
		},
		{
			Name:      AllowSingleKeyWithoutKid,
			Permits:   "the JWKS holds one signing key, without kid, and ID tokens are signed with it without a kid header",
			Basis:     `OIDC-10.1: "If there are multiple keys in the referenced JWK Set document, a kid value MUST be provided in the JOSE Header."`,
			Exclusive: []string{AllowJWKSMixedKeys, AllowIDTokenES256Only},
			bend:      singleKeyWithoutKid,
		},
		{
			Name:    AllowSlowDevice,
			Permits: "the OP reaches the authentication device 7 s after accepting a ping client's request, so approvals and pings come 7 s late",
			Basis:   `CIBA-7.3: "expires_in REQUIRED. A JSON number with a positive integer value indicating the expiration time of the "auth_req_id" in seconds since the authentication request was received." (the only bound CIBA puts on when the user decides)`,
			bend:    func(h *hooks) { h.deviceDelay = slowPingDevice },
		},
		{
			Name:    AllowTLS13Only,
			Permits: "TLS 1.3 only: TLS 1.2 handshakes are refused",
			Basis:   `FAPI-R-7.1: "TLS version 1.2 or later shall be used for all communications."`,
			bend:    onTLS(func(c *tls.Config) { c.MinVersion = tls.VersionTLS13 }),
		},
		{
			Name:    AllowTokenExpiresInAbsent,
			Permits: "token responses carry no expires_in",
			Basis:   `RFC6749-5.1: "expires_in RECOMMENDED. The lifetime in seconds of the access token."`,
			Departs: `RFC6749-5.1: "expires_in RECOMMENDED."`,
			bend:    onTokenResponse(func(_ *OP, tr *ciba.TokenResponse, _ tokenGrant) { tr.ExpiresIn = 0 }),
		},
		{
			Name:    AllowTokenScopeOmitted,
			Permits: "token responses omit scope when it equals the scope requested",
			Basis:   `RFC6749-5.1: "scope OPTIONAL, if identical to the scope requested by the client; otherwise, REQUIRED."`,
			bend:    onTokenResponse(scopeOmittedWhenGranted),
		},
		{
			Name:    AllowTokenTypeLowercase,
			Permits: `token_type is "bearer" (lowercase)`,
			Basis:   `RFC6749-5.1: "token_type REQUIRED. The type of the token issued as described in Section 7.1. Value is case insensitive."`,
			bend:    onTokenResponse(func(_ *OP, tr *ciba.TokenResponse, _ tokenGrant) { tr.TokenType = strings.ToLower(tr.TokenType) }),
		},
	}
}
