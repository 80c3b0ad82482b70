package conformance

import refop "github.com/ciba-check/ciba-check/reference-op"

// pushFaultTrips: the checks each push fault (reference-op/faults_push.go,
// and missing-at-hash, which matters only in push) must trip. Push exists
// only with FAPI off, so TestFaultMatrix runs these faults against the
// reference OP with fapi: false (noFAPIFault).
var pushFaultTrips = map[string][]string{
	refop.FaultMissingAtHash:     {"binds the push ID token with at_hash, rt_hash and the auth_req_id claim"},
	refop.FaultPushMissingRTHash: {"binds the push ID token with at_hash, rt_hash and the auth_req_id claim"},
	refop.FaultPushWithoutBearer: {"sends the push as a POST with the client_notification_token as bearer"},
	refop.FaultPushTwice:         {"pushes the tokens of an approved request exactly once"},
	refop.FaultPushErrorWrongCode: {
		"pushes access_denied with the auth_req_id after the user denies",
		"pushes a CIBA 12 error payload when the authentication device fails",
		"pushes no tokens for a request that expired undecided",
	},
	refop.FaultPushSendsPing: {
		"pushes the tokens of an approved request to the client notification endpoint",
		"binds the push ID token with at_hash, rt_hash and the auth_req_id claim",
	},
	refop.FaultPollAcceptedForPushClient: {"refuses a push client's token request with unauthorized_client"},
}

// noFAPIFault reports whether fault runs against a target with fapi: false.
func noFAPIFault(fault string) bool {
	_, ok := pushFaultTrips[fault]
	return ok
}
