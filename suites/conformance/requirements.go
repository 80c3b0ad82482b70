package conformance

// Requirement is one OP requirement of shared/CIBA.md, by spec section.
// Coverage is by section: every check citing Section covers it.
type Requirement struct {
	Section string
	Text    string
	// NotApplicable says why no check can or should cover it.
	NotApplicable string
}

// Requirements is the checklist docs/coverage.md maps to checks, in the
// order of CIBA.md.
func Requirements() []Requirement {
	return []Requirement{
		{Section: "OIDC-DISCOVERY-4", Text: "Discovery document served with HTTP 200 as application/json"},
		{Section: "OIDC-DISCOVERY-4.3", Text: "issuer equals the URL the document was fetched from"},
		{Section: "OIDC-DISCOVERY-3", Text: "token_endpoint and jwks_uri published"},
		{Section: "CIBA-4", Text: "backchannel endpoint, delivery modes, signing algs, user_code flag, CIBA grant type published"},
		{Section: "FAPI-CIBA-5.2.2-3", Text: "push mode not supported"},
		{Section: "FAPI-CIBA-5.2.2-4", Text: "poll mode supported"},
		{Section: "FAPI-CIBA-5.2.2-5", Text: "ping mode may be supported (listed when offered)"},
		{Section: "OIDC-10.1", Text: "a kid on every signing key and in the ID token header when the JWKS holds several keys (distinct kids a SHOULD, RFC 7517 4.5)"},
		{Section: "FAPI-R-5.2.2-5", Text: "server keys: RSA >= 2048 bits, EC >= 160 bits"},
		{Section: "FAPI-RW-5.2.2-14", Text: "only private_key_jwt, tls_client_auth, self_signed_tls_client_auth"},
		{Section: "FAPI-CIBA-5.2.2-1", Text: "confidential clients only"},
		{Section: "FAPI-RW-8.6", Text: "PS256/ES256 used for request objects, client assertions, ID tokens, never none (RS256 a should not); discovery lists need at least one FAPI alg"},
		{Section: "RFC8705-3.3", Text: "tls_client_certificate_bound_access_tokens true"},
		{Section: "RFC8705-5", Text: "mtls_endpoint_aliases well-formed"},
		{Section: "CIBA-7.1", Text: "request parameters: scope with openid, exactly one hint, client_notification_token for ping, binding_message, client assertion aud = issuer / token / backchannel endpoint"},
		{Section: "CIBA-7.1.1", Text: "signed authentication request: asymmetric signature by the client's key, aud, iss, exp, iat, jti; requested_expiry as number or string"},
		{Section: "CIBA-7.1.2", Text: "user_code: missing_user_code / invalid_user_code when required"},
		{Section: "FAPI-CIBA-5.2.2-2", Text: "binding_message accepted (or required without unique authorization context)"},
		{Section: "FAPI-CIBA-5.2.2-6", Text: "backchannel requests must be signed"},
		{Section: "FAPI-CIBA-5.2.2-7", Text: "user authenticated to a level fitting the access granted", NotApplicable: "not observable from a client"},
		{Section: "FAPI-CIBA-5.2.2-8", Text: "acr returned in the ID token when requested and supported"},
		{Section: "FAPI-CIBA-5.2.2-9", Text: "request object carries nbf and exp, lifetime <= 60 minutes, nbf not in the future"},
		{Section: "FAPI-CIBA-5.2.2-10", Text: "OP may require request_context", NotApplicable: "optional OP policy; nothing to require of every OP"},
		{Section: "FAPI-CIBA-5.2.2-11", Text: "hints identify the user only", NotApplicable: "OP design guidance, not observable"},
		{Section: "CIBA-7.3", Text: "acknowledgement: auth_req_id (charset, >= 128 bits, unique), expires_in, interval"},
		{Section: "CIBA-13", Text: "backchannel errors: JSON with error (error_description, error_uri well-formed if present; other members allowed, RFC 6749 5.1), codes and statuses of CIBA 13"},
		{Section: "CIBA-10.1", Text: "CIBA grant at the token endpoint with client authentication; tokens exactly once"},
		{Section: "CIBA-10.1.1", Text: "successful token response: JSON, no-store, ID token"},
		{Section: "CIBA-11", Text: "authorization_pending, slow_down, expired_token, access_denied, invalid_grant (redeemed, unknown, other client's), unauthorized_client for a push client"},
		{Section: "OIDC-3.1.3.3", Text: "token response not cacheable"},
		{Section: "OIDC-2", Text: "ID token claims iss, sub, aud, exp, iat"},
		{Section: "OIDC-3.3.2.11", Text: "at_hash, when present, matches the access token"},
		{Section: "CIBA-10.3.1", Text: "push token delivery (fapi: false): tokens to the client notification endpoint with the bearer client_notification_token, once; auth_req_id / at_hash / rt_hash claims of push ID tokens; auth_req_id claim consistent if present"},
		{Section: "FAPI-R-5.2.2-16", Text: "access token of >= 128 bits"},
		{Section: "FAPI-R-6.2.2-1", Text: "token_type Bearer", NotApplicable: "a client rule (the OP's token_type Bearer is OIDC 3.1.3.3's, checked there)"},
		{Section: "RFC6749-6", Text: "refresh grant bound to the client, no scope widening"},
		{Section: "RFC8705-2", Text: "mutual-TLS client authentication bound to the certificate and client_id"},
		{Section: "RFC8705-3", Text: "certificate-bound access tokens refused with another certificate"},
		{Section: "RFC8705-3.2", Text: "introspection reports cnf x5t#S256"},
		{Section: "CIBA-10.2", Text: "ping: POST, bearer client_notification_token, body exactly auth_req_id, also on denial; redirects not followed (4xx handling is out of scope: no retry after 4xx is a CERT rule)"},
		{Section: "CIBA-12", Text: "push error payloads (fapi: false): access_denied, expired_token, transaction_failed with the auth_req_id"},
		{Section: "FAPI-RW-8.5", Text: "TLS 1.2+ with FAPI cipher suites only"},
		{Section: "FAPI-R-6.2.1", Text: "resource server: Bearer in header, x-fapi-interaction-id, JSON"},
	}
}
