package conformance

// OIDFModule is one module of the OpenID Foundation's FAPI-CIBA OP test
// plan (fapi-ciba-id1-test-plan; CIBA.md §6.1), in plan order.
type OIDFModule struct {
	Number int
	Name   string
	// Applies says to which variants the module applies, as the plan does.
	Applies string
	// NotApplicable, when set, says why ciba-check has no check for it.
	NotApplicable string
}

// OIDFModules returns the generic FAPI-CIBA plan's 45 modules (the 21
// connectid-* modules of the connectid_au profile are out of scope).
func OIDFModules() []OIDFModule {
	return []OIDFModule{
		{Number: 1, Name: "fapi-ciba-id1-discovery-end-point-verification", Applies: "not Brazil"},
		{Number: 2, Name: "fapi-ciba-id1-brazil-discovery-end-point-verification", Applies: "Brazil only", NotApplicable: "Brazil-only profile (openbanking_brazil); ciba-check tests the generic FAPI-CIBA profile"},
		{Number: 3, Name: "fapi-ciba-id1", Applies: "all"},
		{Number: 4, Name: "fapi-ciba-id1-user-rejects-authentication", Applies: "all"},
		{Number: 5, Name: "fapi-ciba-id1-multiple-call-to-token-endpoint", Applies: "all"},
		{Number: 6, Name: "fapi-ciba-id1-auth-req-id-expired", Applies: "all"},
		{Number: 7, Name: "fapi-ciba-id1-ensure-authorization-request-with-binding-message-succeeds", Applies: "all"},
		{Number: 8, Name: "fapi-ciba-id1-ensure-other-scope-order-succeeds", Applies: "all"},
		{Number: 9, Name: "fapi-ciba-id1-ensure-requested-expiry-as-string-succeeds", Applies: "all"},
		{Number: 10, Name: "fapi-ciba-id1-ensure-requested-expiry-is-ignored-for-brazil", Applies: "Brazil only", NotApplicable: "Brazil-only profile (openbanking_brazil); ciba-check tests the generic FAPI-CIBA profile"},
		{Number: 11, Name: "fapi-ciba-id1-ensure-authorization-request-with-potentially-bad-binding-message", Applies: "all"},
		{Number: 12, Name: "fapi-ciba-id1-ensure-request-object-missing-aud-fails", Applies: "all"},
		{Number: 13, Name: "fapi-ciba-id1-ensure-request-object-bad-aud-fails", Applies: "all"},
		{Number: 14, Name: "fapi-ciba-id1-ensure-request-object-missing-iss-fails", Applies: "all"},
		{Number: 15, Name: "fapi-ciba-id1-ensure-request-object-bad-iss-fails", Applies: "all"},
		{Number: 16, Name: "fapi-ciba-id1-ensure-request-object-missing-exp-fails", Applies: "all"},
		{Number: 17, Name: "fapi-ciba-id1-ensure-request-object-expired-exp-fails", Applies: "all"},
		{Number: 18, Name: "fapi-ciba-id1-ensure-request-object-exp-is-70-minutes-in-future-fails", Applies: "all"},
		{Number: 19, Name: "fapi-ciba-id1-ensure-request-object-missing-iat-fails", Applies: "all"},
		{Number: 20, Name: "fapi-ciba-id1-ensure-request-object-missing-nbf-fails", Applies: "all"},
		{Number: 21, Name: "fapi-ciba-id1-ensure-request-object-nbf-is-10-minutes-in-future-fails", Applies: "all"},
		{Number: 22, Name: "fapi-ciba-id1-ensure-request-object-nbf-is-70-minutes-in-past-fails", Applies: "all"},
		{Number: 23, Name: "fapi-ciba-id1-ensure-request-object-missing-jti-fails", Applies: "all"},
		{Number: 24, Name: "fapi-ciba-id1-ensure-request-object-signature-algorithm-is-none-fails", Applies: "all"},
		{Number: 25, Name: "fapi-ciba-id1-ensure-request-object-signature-algorithm-is-bad-fails", Applies: "all"},
		{Number: 26, Name: "fapi-ciba-id1-ensure-request-object-signature-algorithm-is-RS256-fails", Applies: "RSA client keys"},
		{Number: 27, Name: "fapi-ciba-id1-ensure-request-object-signed-by-other-client-fails", Applies: "all"},
		{Number: 28, Name: "fapi-ciba-id1-ensure-authorization-request-with-multiple-hints-fails", Applies: "all"},
		{Number: 29, Name: "fapi-ciba-id1-ensure-wrong-auth-req-id-in-token-endpoint-request", Applies: "all"},
		{Number: 30, Name: "fapi-ciba-id1-ensure-different-client-id-and-issuer-in-backchannel-authorization-request", Applies: "mtls"},
		{Number: 31, Name: "fapi-ciba-id1-ensure-wrong-client-id-in-token-endpoint-request", Applies: "mtls"},
		{Number: 32, Name: "fapi-ciba-id1-ensure-wrong-client-id-in-backchannel-authorization-request", Applies: "mtls"},
		{Number: 33, Name: "fapi-ciba-id1-ensure-without-client-assertion-in-token-endpoint-request", Applies: "private_key_jwt"},
		{Number: 34, Name: "fapi-ciba-id1-ensure-without-client-assertion-in-backchannel-authorization-request", Applies: "private_key_jwt"},
		{Number: 35, Name: "fapi-ciba-id1-ensure-client-assertion-signature-algorithm-in-backchannel-authorization-request-is-RS256-fails", Applies: "private_key_jwt"},
		{Number: 36, Name: "fapi-ciba-id1-ensure-client-assertion-signature-algorithm-in-token-endpoint-request-is-RS256-fails", Applies: "private_key_jwt"},
		{Number: 37, Name: "fapi-ciba-id1-ensure-client-assertion-with-iss-aud-to-token-endpoint-succeeds", Applies: "private_key_jwt"},
		{Number: 38, Name: "fapi-ciba-id1-ping-backchannel-notification-endpoint-response-has-body", Applies: "ping"},
		{Number: 39, Name: "fapi-ciba-id1-ping-backchannel-notification-endpoint-response-401", Applies: "ping"},
		{Number: 40, Name: "fapi-ciba-id1-ping-backchannel-notification-endpoint-response-403", Applies: "ping"},
		{Number: 41, Name: "fapi-ciba-id1-ping-with-mtls-ciba-notification-endpoint-response-401-and-require-server-does-not-retry", Applies: "ping"},
		{Number: 42, Name: "fapi-ciba-id1-ping-backchannel-notification-endpoint-return-redirect-request", Applies: "ping"},
		{Number: 43, Name: "fapi-ciba-id1-ensure-unsigned-backchannel-authorization-request-fails", Applies: "all"},
		{Number: 44, Name: "fapi-ciba-id1-refresh-token", Applies: "all"},
		{Number: 45, Name: "fapi-ciba-id1-ensure-mtls-holder-of-key-required", Applies: "all"},
	}
}

// IsOIDFModule reports whether name is a module of the plan.
func IsOIDFModule(name string) bool {
	for _, m := range OIDFModules() {
		if m.Name == name {
			return true
		}
	}
	return false
}

// Module names used by checks, so a typo is a compile error.
const (
	ModDiscovery               = "fapi-ciba-id1-discovery-end-point-verification"
	ModHappy                   = "fapi-ciba-id1"
	ModUserRejects             = "fapi-ciba-id1-user-rejects-authentication"
	ModMultipleCalls           = "fapi-ciba-id1-multiple-call-to-token-endpoint"
	ModAuthReqIDExpired        = "fapi-ciba-id1-auth-req-id-expired"
	ModBindingMessage          = "fapi-ciba-id1-ensure-authorization-request-with-binding-message-succeeds"
	ModOtherScopeOrder         = "fapi-ciba-id1-ensure-other-scope-order-succeeds"
	ModRequestedExpiryString   = "fapi-ciba-id1-ensure-requested-expiry-as-string-succeeds"
	ModBadBindingMessage       = "fapi-ciba-id1-ensure-authorization-request-with-potentially-bad-binding-message"
	ModROMissingAud            = "fapi-ciba-id1-ensure-request-object-missing-aud-fails"
	ModROBadAud                = "fapi-ciba-id1-ensure-request-object-bad-aud-fails"
	ModROMissingIss            = "fapi-ciba-id1-ensure-request-object-missing-iss-fails"
	ModROBadIss                = "fapi-ciba-id1-ensure-request-object-bad-iss-fails"
	ModROMissingExp            = "fapi-ciba-id1-ensure-request-object-missing-exp-fails"
	ModROExpiredExp            = "fapi-ciba-id1-ensure-request-object-expired-exp-fails"
	ModROExp70Future           = "fapi-ciba-id1-ensure-request-object-exp-is-70-minutes-in-future-fails"
	ModROMissingIat            = "fapi-ciba-id1-ensure-request-object-missing-iat-fails"
	ModROMissingNbf            = "fapi-ciba-id1-ensure-request-object-missing-nbf-fails"
	ModRONbf10Future           = "fapi-ciba-id1-ensure-request-object-nbf-is-10-minutes-in-future-fails"
	ModRONbf70Past             = "fapi-ciba-id1-ensure-request-object-nbf-is-70-minutes-in-past-fails"
	ModROMissingJti            = "fapi-ciba-id1-ensure-request-object-missing-jti-fails"
	ModROAlgNone               = "fapi-ciba-id1-ensure-request-object-signature-algorithm-is-none-fails"
	ModROBadSignature          = "fapi-ciba-id1-ensure-request-object-signature-algorithm-is-bad-fails"
	ModRORS256                 = "fapi-ciba-id1-ensure-request-object-signature-algorithm-is-RS256-fails"
	ModROOtherClient           = "fapi-ciba-id1-ensure-request-object-signed-by-other-client-fails"
	ModMultipleHints           = "fapi-ciba-id1-ensure-authorization-request-with-multiple-hints-fails"
	ModWrongAuthReqID          = "fapi-ciba-id1-ensure-wrong-auth-req-id-in-token-endpoint-request"
	ModDifferentClientIDIss    = "fapi-ciba-id1-ensure-different-client-id-and-issuer-in-backchannel-authorization-request"
	ModWrongClientIDToken      = "fapi-ciba-id1-ensure-wrong-client-id-in-token-endpoint-request"
	ModWrongClientIDBC         = "fapi-ciba-id1-ensure-wrong-client-id-in-backchannel-authorization-request"
	ModNoAssertionToken        = "fapi-ciba-id1-ensure-without-client-assertion-in-token-endpoint-request"
	ModNoAssertionBC           = "fapi-ciba-id1-ensure-without-client-assertion-in-backchannel-authorization-request"
	ModAssertionRS256BC        = "fapi-ciba-id1-ensure-client-assertion-signature-algorithm-in-backchannel-authorization-request-is-RS256-fails"
	ModAssertionRS256Token     = "fapi-ciba-id1-ensure-client-assertion-signature-algorithm-in-token-endpoint-request-is-RS256-fails"
	ModAssertionIssAudToken    = "fapi-ciba-id1-ensure-client-assertion-with-iss-aud-to-token-endpoint-succeeds"
	ModPingResponseHasBody     = "fapi-ciba-id1-ping-backchannel-notification-endpoint-response-has-body"
	ModPingResponse401         = "fapi-ciba-id1-ping-backchannel-notification-endpoint-response-401"
	ModPingResponse403         = "fapi-ciba-id1-ping-backchannel-notification-endpoint-response-403"
	ModPing401NoRetry          = "fapi-ciba-id1-ping-with-mtls-ciba-notification-endpoint-response-401-and-require-server-does-not-retry"
	ModPingRedirect            = "fapi-ciba-id1-ping-backchannel-notification-endpoint-return-redirect-request"
	ModUnsignedRequest         = "fapi-ciba-id1-ensure-unsigned-backchannel-authorization-request-fails"
	ModRefreshToken            = "fapi-ciba-id1-refresh-token"
	ModMTLSHolderOfKeyRequired = "fapi-ciba-id1-ensure-mtls-holder-of-key-required"
)
