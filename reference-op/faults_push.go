package refop

import (
	"context"

	"github.com/ciba-check/ciba-check/ciba"
)

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
		{Name: FaultPushWithoutBearer, Breaks: "pushes are sent without the client_notification_token as bearer", Trips: []string{"sends the push as a POST with the client_notification_token as bearer"}, NoFAPI: true, bend: waive(rulePushBearer)},
		{Name: FaultPushMissingRTHash, Breaks: "push ID tokens omit urn:openid:params:jwt:claim:rt_hash though a refresh token is pushed", Trips: []string{"binds the push ID token with at_hash, rt_hash and the auth_req_id claim"}, NoFAPI: true, bend: dropClaim(ciba.ClaimRTHash)},
		{Name: FaultPushTwice, Breaks: "the token payload of an approved push request is delivered twice", Trips: []string{"pushes the tokens of an approved request exactly once"}, NoFAPI: true, bend: pushTwice},
		{Name: FaultPushErrorWrongCode, Breaks: "push error payloads carry server_error instead of access_denied, expired_token or transaction_failed",
			Trips: []string{
				"pushes access_denied with the auth_req_id after the user denies",
				"pushes a CIBA 12 error payload when the authentication device fails",
				"pushes no tokens for a request that expired undecided",
			}, NoFAPI: true, bend: pushErrorWrongCode},
		{Name: FaultPushSendsPing, Breaks: "approved push requests get a ping ({auth_req_id}) instead of their tokens",
			Trips: []string{
				"pushes the tokens of an approved request to the client notification endpoint",
				"binds the push ID token with at_hash, rt_hash and the auth_req_id claim",
			}, NoFAPI: true, bend: pushSendsPing},
		{Name: FaultPollAcceptedForPushClient, Breaks: "the token endpoint serves a push client's CIBA grant like a poll client's", Trips: []string{"refuses a push client's token request with unauthorized_client"}, NoFAPI: true, bend: waive(rulePushClientsDoNotPoll)},
	}
}

// pushSendsPing (push-sends-ping): an approved push request is notified
// like a ping client's.
func pushSendsPing(h *hooks) {
	prev := h.notifyMode
	h.notifyMode = func(ar AuthRequest) ciba.DeliveryMode {
		mode := prev(ar)
		if mode == ciba.ModePush && ar.Status == StatusApproved {
			return ciba.ModePing
		}
		return mode
	}
}

// pushTwice (push-twice): an approved request's tokens are pushed once
// more, before the logged delivery.
func pushTwice(h *hooks) {
	h.pushed = func(ctx context.Context, op *OP, c *Client, ar AuthRequest, body []byte) {
		if ar.Status == StatusApproved {
			_, _ = op.postNotification(ctx, c.NotificationEndpoint, ar.ClientNotificationToken, body)
		}
	}
}

// pushErrorWrongCode (push-error-wrong-code): push error payloads carry
// pushFaultErrorCode.
func pushErrorWrongCode(h *hooks) {
	h.pushError = func(p ciba.PushErrorPayload) ciba.PushErrorPayload {
		p.Error = pushFaultErrorCode
		return p
	}
}
