package conformance

import refop "github.com/ciba-check/ciba-check/reference-op"

// backchannelFaultTrips: the checks each fault of reference-op/faults_backchannel.go must trip.
var backchannelFaultTrips = map[string][]string{
	// accept-rs256 is declared in faults.go but lives in the backchannel
	// area (request object verification).
	refop.FaultAcceptRS256: {"refuses a request object signed with RS256"},

	refop.FaultBindingMessageFormEncoded:   {"shows the binding_message on the authentication device as sent"},
	refop.FaultKidlessAnyClientKey:         {"refuses a request object without kid signed by another client's key"},
	refop.FaultBindingMessageDropped:       {"accepts a binding_message and completes the flow", "shows the binding_message on the authentication device as sent"},
	refop.FaultBindingMessageTruncated:     {"refuses an undisplayable binding_message or shows it faithfully"},
	refop.FaultFirstRequestParamWins:       {"refuses a backchannel request with the request parameter twice"},
	refop.FaultFormOverridesSigned:         {"uses only the signed parameters, not form fields beside the request object"},
	refop.FaultHintsNotCounted:             {"refuses a request with both login_hint and login_hint_token", "refuses a request without any hint"},
	refop.FaultIgnoreACRValues:             {"returns a requested acr in the ID token"},
	refop.FaultIgnoreSignedUserCode:        {"accepts a request with the user's user_code", "refuses a request with a wrong user_code with invalid_user_code", "refuses a request without the user's user_code with missing_user_code"},
	refop.FaultLenientRequestedExpiry:      {"refuses a requested_expiry that is not a positive integer"},
	refop.FaultNotificationTokenBase64URL:  {"accepts and echoes a 1024-character client_notification_token"},
	refop.FaultNotificationTokenOptional:   {"refuses a ping request without client_notification_token"},
	refop.FaultNotificationTokenUnlimited:  {"refuses a client_notification_token longer than 1024 characters"},
	refop.FaultNullInterval:                {"acknowledges with interval as a positive JSON number if at all"},
	refop.FaultOversizedRequestServerError: {"answers an oversized request object without a server error"},
	refop.FaultPaddedAuthReqID:             {"acknowledges with JSON and an auth_req_id of A-Z a-z 0-9 . - _"},
	refop.FaultRefuseJARTyp:                {"accepts a request object with typ oauth-authz-req+jwt"},
	refop.FaultRequestedExpiryNumberOnly:   {"accepts requested_expiry as a JSON string"},
	refop.FaultScopeOpenIDOptional:         {"refuses a scope without openid"},
	refop.FaultScopeOrderSensitive:         {"accepts the scope values in another order"},
	refop.FaultUnknownUserAccepted:         {"refuses an unknown login_hint with unknown_user_id"},
	refop.FaultRequestURIServerError:       {"refuses request_uri instead of request with a well-formed invalid_request"},
	refop.FaultUserCodeOptional:            {"refuses a request without the user's user_code with missing_user_code"},
	refop.FaultUserCodeUnchecked:           {"refuses a request with a wrong user_code with invalid_user_code"},
	// The concurrency check polls until expires_in has passed: without
	// expires_in it has no time to poll at all.
	// The exactly-once check no longer trips on a missing expires_in: it
	// bounds its wait by the request's lifetime, and its first round
	// decides at once.
	refop.FaultOmitExpiresIn: {"acknowledges with expires_in as a positive JSON number"},
}
