package refop

// Fault names of push mode (CIBA 10.3, 11, 12). Push exists only with
// Config.PushAllowed (FAPI off), so these faults show only there; the
// suite's fault matrix runs them against a target with fapi: false.
const (
	FaultPushWithoutBearer         = "push-without-bearer"
	FaultPushMissingRTHash         = "push-missing-rt-hash"
	FaultPushTwice                 = "push-twice"
	FaultPushErrorWrongCode        = "push-error-wrong-code"
	FaultPushSendsPing             = "push-sends-ping"
	FaultPollAcceptedForPushClient = "poll-accepted-for-push-client"
)

// pushFaultErrorCode is the code push-error-wrong-code puts in every push
// error payload: an OAuth code, but not one of CIBA 12's.
const pushFaultErrorCode = "server_error"

// pushFaults are the faults of push mode.
func pushFaults() []Fault {
	return []Fault{
		{FaultPushWithoutBearer, "pushes are sent without the client_notification_token as bearer", "CIBA-7.1 / CIBA-10.3.1: push authenticated with the client_notification_token (a SHOULD: warning)"},
		{FaultPushMissingRTHash, "push ID tokens omit urn:openid:params:jwt:claim:rt_hash though a refresh token is pushed", "CIBA-10.3.1: push ID token carries at_hash, rt_hash and auth_req_id"},
		{FaultPushTwice, "the token payload of an approved push request is delivered twice", "CIBA-10.3.1: one push per request (a SHOULD: warning)"},
		{FaultPushErrorWrongCode, "push error payloads carry server_error instead of access_denied, expired_token or transaction_failed", "CIBA-12: push error codes from the list"},
		{FaultPushSendsPing, "approved push requests get a ping ({auth_req_id}) instead of their tokens", "CIBA-10.3.1: tokens pushed to the client notification endpoint"},
		{FaultPollAcceptedForPushClient, "the token endpoint serves a push client's CIBA grant like a poll client's", "CIBA-11: unauthorized_client for a push client at the token endpoint"},
	}
}
