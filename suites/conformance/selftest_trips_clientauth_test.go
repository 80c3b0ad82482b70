package conformance

import refop "github.com/ciba-check/ciba-check/reference-op"

// clientAuthFaultTrips are the trips of the client-secret faults
// (reference-op/faults_clientauth.go); they run with FAPI off, where the
// reference OP has client_secret_basic, client_secret_post and
// client_secret_jwt clients.
var clientAuthFaultTrips = map[string][]string{
	refop.FaultAcceptWrongSecret:           {"refuses a wrong client secret with invalid_client"},
	refop.FaultBasicFailure400:             {"refuses a wrong client secret with invalid_client"},
	refop.FaultAcceptSecretBothWays:        {"refuses a client secret sent both in the Authorization header and the body"},
	refop.FaultIgnoreSecretAssertionReplay: {"refuses a replayed client_secret_jwt assertion"},
}

// noFAPIFaults run in the FAPI-off environment (TestFaultMatrix).
var noFAPIFaults = map[string]bool{
	refop.FaultAcceptWrongSecret:           true,
	refop.FaultBasicFailure400:             true,
	refop.FaultAcceptSecretBothWays:        true,
	refop.FaultIgnoreSecretAssertionReplay: true,
}

// checksNeedingFAPIOff are the checks the FAPI baseline skips: they need
// clients only a FAPI-off OP registers (client secrets).
var checksNeedingFAPIOff = map[string]bool{
	"refuses a wrong client secret with invalid_client":                          true,
	"refuses a client secret sent both in the Authorization header and the body": true,
	"refuses a replayed client_secret_jwt assertion":                             true,
}
