package refop

// Faults of client-secret authentication (FAPI off: client_secret_basic,
// client_secret_post, client_secret_jwt).
const (
	FaultAcceptWrongSecret           = "accept-wrong-client-secret"
	FaultAcceptSecretBothWays        = "accept-secret-both-ways"
	FaultBasicFailure400             = "basic-auth-failure-400"
	FaultIgnoreSecretAssertionReplay = "ignore-secret-assertion-replay"
)

func clientAuthFaults() []Fault {
	return []Fault{
		{FaultAcceptWrongSecret, "a client_secret_basic or client_secret_post client is accepted with any client_secret", "RFC6749-2.3.1 / RFC6749-5.2: wrong client secret refused with invalid_client"},
		{FaultAcceptSecretBothWays, "a client may send its secret in the Authorization header and the body at once", "RFC6749-2.3: more than one authentication method refused"},
		{FaultBasicFailure400, "a failed client_secret_basic authentication is answered 400 instead of 401", "RFC6749-5.2: 401 with WWW-Authenticate after an Authorization header"},
		{FaultIgnoreSecretAssertionReplay, "a client_secret_jwt assertion jti may be used again", "OIDC-9 / RFC7523-3: replayed HS256 client assertion refused (SHOULD)"},
	}
}
