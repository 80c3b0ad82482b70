package refop

import "net/http"

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
		{Name: FaultAcceptWrongSecret, Breaks: "a client_secret_basic or client_secret_post client is accepted with any client_secret", Trips: []string{"refuses a wrong client secret with invalid_client"}, NoFAPI: true, bend: waive(ruleSecretMatches)},
		{Name: FaultAcceptSecretBothWays, Breaks: "a client may send its secret in the Authorization header and the body at once", Trips: []string{"refuses a client secret sent both in the Authorization header and the body"}, NoFAPI: true, bend: waive(ruleOneAuthMethod, ruleRegisteredSecretWay)},
		{Name: FaultBasicFailure400, Breaks: "a failed client_secret_basic authentication is answered 400 instead of 401", Trips: []string{"refuses a wrong client secret with invalid_client"}, NoFAPI: true, bend: answerWithStatus(ruleBasicFailure401, http.StatusBadRequest)},
		{Name: FaultIgnoreSecretAssertionReplay, Breaks: "a client_secret_jwt assertion jti may be used again", Trips: []string{"refuses a replayed client_secret_jwt assertion"}, NoFAPI: true, bend: waive(ruleSecretAssertionOnce)},
	}
}
