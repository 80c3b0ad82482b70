package conformance

import refop "github.com/ciba-check/ciba-check/reference-op"

// tokenFaultTrips: the checks each fault of reference-op/faults_token.go must trip.
var tokenFaultTrips = map[string][]string{
	refop.FaultPendingAs401: {
		"answers authorization_pending while the user has not decided", "refuses another client's auth_req_id and leaves the owner's request pending",
		"answers twenty back-to-back polls with pending, slow_down or 503",
	},
	refop.FaultDeniedAsInvalidGrant:         {"answers access_denied after the user denies (poll)", "pings after the user denies and then answers access_denied"},
	refop.FaultFullAtHash:                   {"issues an ID token whose at_hash, if any, matches the access token"},
	refop.FaultIDTokenWithoutKid:            {"signs the ID token with PS256 or ES256 under a kid of its JWKS"},
	refop.FaultMissingAuthReqIDInvalidGrant: {"refuses a CIBA grant request without auth_req_id"},
	refop.FaultNoInteractionIDEcho:          {"echoes x-fapi-interaction-id and sends a Date header at the protected resource"},
	refop.FaultOmitIDToken: {
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
	},
	refop.FaultPingAnswerFailsRequest: {
		"issues tokens after the ping was answered 200 with a body",
		"issues tokens after the ping was answered 401",
		"issues tokens after the ping was answered 403",
	},
	refop.FaultPingExtraMembers: {"sends the ping as a POST with the bearer token and a body of exactly auth_req_id"},
	refop.FaultPingOmitIDToken: {
		"notifies and issues tokens to an approved ping client using private_key_jwt",
		"notifies and issues tokens to an approved ping client using tls_client_auth",
	},
	refop.FaultTokenRequiresCAIssuedCert: {"issues tokens to an approved poll client using self_signed_tls_client_auth"},
	refop.FaultRefreshScopeWidening:      {"refuses a refresh request for a wider scope with invalid_scope"},
	refop.FaultShortAccessToken:          {"issues a Bearer access token of at least 128 bits with expires_in"},
	refop.FaultThrottleWith429:           {"answers twenty back-to-back polls with pending, slow_down or 503"},
	// Without a FAPI suite the non-FAPI-suite check's positive control (a
	// TLS 1.2 handshake with one) fails too: skipped, which counts.
	refop.FaultTLS12ChaChaOnly: {
		"accepts TLS 1.2 with a FAPI cipher suite or TLS 1.3",
		"refuses a TLS 1.2 handshake offering only a non-FAPI cipher suite",
	},
	refop.FaultTLSLegacyVersions:              {"refuses a TLS 1.1 handshake"},
	refop.FaultTokenResponseCacheable:         {"answers the token request as application/json with Cache-Control no-store", "refreshes the access token for the client that owns the refresh token"},
	refop.FaultTokenWithoutCertificate:        {"issues no tokens to a token request without a client certificate"},
	refop.FaultUnknownAuthReqIDExpired:        {"refuses an altered auth_req_id with invalid_grant", "refuses an unknown auth_req_id with invalid_grant"},
	refop.FaultUnknownGrantTypeInvalidRequest: {"refuses an unknown grant_type with unsupported_grant_type"},
	refop.FaultUserinfoTokenInQuery:           {"refuses an access token sent in the query string at the protected resource"},
	refop.FaultWrongAuthReqIDClaim:            {"issues an ID token whose auth_req_id claim, if any, is the request's"},
}
