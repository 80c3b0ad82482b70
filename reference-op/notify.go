package refop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
)

// Notification delivery policy (CIBA 10.2, 10.3): retry only network
// errors and 5xx, at most notifyAttempts times with doubling backoff;
// never after 3xx/4xx and never following redirects.
const (
	notifyAttempts = 3
	notifyBackoff  = time.Second
	// outboundTimeout bounds each device, ping or push call, whatever
	// Config.HTTPClient's own timeout (CIBA.md 7.5: hanging endpoints).
	outboundTimeout = 10 * time.Second
)

// notify delivers the outcome of a decided request to a ping or push
// client; poll clients see it at the token endpoint. It reports whether a
// delivery was started.
func (op *OP) notify(ar AuthRequest) bool { return op.notifyFrom(ar, 1) }

// notifyFrom is notify starting at the given attempt number, so a
// delivery resumed after a restart keeps the overall bound.
func (op *OP) notifyFrom(ar AuthRequest, attempt int) bool {
	c, ok := op.clients[ar.ClientID]
	if !ok {
		return false
	}
	switch op.hooks.notifyMode(ar) {
	case ciba.ModePing:
		body := op.hooks.pingBody(ar, pingBody(ar))
		op.goBackground(func(ctx context.Context) { op.deliver(ctx, c, ar, body, attempt) })
		return true
	case ciba.ModePush:
		op.goBackground(func(ctx context.Context) {
			body, err := op.pushPayload(ctx, ar)
			if err != nil {
				op.log.Warn("push payload failed", "auth_req_id", redact(ar.ID), "err", err)
				return
			}
			op.hooks.pushed(ctx, op, c, ar, body)
			op.deliver(ctx, c, ar, body, attempt)
		})
		return true
	}
	return false
}

// pingBody is the ping notification: the auth_req_id alone (CIBA 10.2).
func pingBody(ar AuthRequest) []byte {
	body, _ := json.Marshal(ciba.PingNotification{AuthReqID: ar.ID})
	return body
}

// deliver POSTs body to the client's notification endpoint with the
// client_notification_token as bearer (CIBA 10.2), scheduling a retry on
// the configured clock when allowed.
func (op *OP) deliver(ctx context.Context, c *Client, ar AuthRequest, body []byte, attempt int) {
	token := ar.ClientNotificationToken
	if ciba.DeliveryMode(ar.DeliveryMode) == ciba.ModePush && !op.hooks.enforced(rulePushBearer) {
		token = ""
	}
	status, err := op.postNotification(ctx, c.NotificationEndpoint, token, body)
	retryable := err != nil || status >= 500 || (status >= 400 && !op.hooks.enforced(ruleNoRetryAfter4xx))
	stopping := ctx.Err() != nil
	retry := retryable && attempt < notifyAttempts && !stopping
	if retry {
		op.after(notifyBackoff<<(attempt-1), func(ctx context.Context) { op.deliver(ctx, c, ar, body, attempt+1) })
	}
	// An attempt cut short by shutdown is not counted: Resume retries it
	// after a restart. Otherwise record progress so a restart neither
	// forgets an undelivered notification nor exceeds the bound.
	if !(stopping && retryable) {
		done := !retry
		if _, uerr := op.store.UpdateAuthRequest(context.WithoutCancel(ctx), ar.ID, func(r *AuthRequest) error {
			r.NotifyAttempts = max(r.NotifyAttempts, attempt)
			r.NotifyDone = r.NotifyDone || done
			op.hooks.pingAnswered(r, status, err)
			return nil
		}); uerr != nil && !errors.Is(uerr, ErrNotFound) {
			op.log.Warn("recording notification progress failed", "auth_req_id", redact(ar.ID), "err", uerr)
		}
	}
	// Logged after scheduling, so the record also says a retry is armed.
	op.log.Info("notification sent", "client_id", c.ID, "auth_req_id", redact(ar.ID), "attempt", attempt,
		"status", status, "err", errString(err), "retry", retry, "token", redact(ar.ClientNotificationToken))
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (op *OP) postNotification(ctx context.Context, endpoint, token string, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, outboundTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := op.outbound.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	// Bounded read: a client answering with a huge body cannot stall us.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, nil
}

// pushPayload issues the tokens of an approved push request and marks it
// redeemed (CIBA 10.3), or builds the error payload (CIBA 12). Push tokens
// cannot be certificate-bound: no client TLS connection exists then,
// which is one reason FAPI-CIBA 5.2.2-3 bans push.
func (op *OP) pushPayload(ctx context.Context, ar AuthRequest) ([]byte, error) {
	switch ar.Status {
	case StatusApproved:
		redeemed, err := op.store.UpdateAuthRequest(ctx, ar.ID, func(r *AuthRequest) error {
			if r.Status != StatusApproved {
				return errors.New("request is no longer approved")
			}
			r.Status = StatusRedeemed
			r.Redemptions++
			return nil
		})
		if err != nil {
			return nil, err
		}
		tr, err := op.issueTokens(ctx, tokenGrant{
			clientID: redeemed.ClientID, subject: redeemed.Subject, scope: redeemed.Scope, requested: redeemed.Scope,
			acr: redeemed.ACR, authTime: redeemed.AuthTime, authReqID: redeemed.ID, push: true,
		}, nil, true)
		if err != nil {
			return nil, err
		}
		return json.Marshal(ciba.PushTokenPayload{AuthReqID: ar.ID, TokenResponse: tr})
	case StatusDenied:
		return op.pushError(ar, "access_denied", "the user denied the request")
	case StatusFailed:
		return op.pushError(ar, ciba.ErrTransactionFailed.Code, "the authentication device failed")
	case StatusExpired:
		return op.pushError(ar, ciba.ErrExpiredToken.Code, "the request expired before the user decided")
	}
	return nil, fmt.Errorf("nothing to push for status %s", ar.Status)
}

// pushError is the push error payload of CIBA 12 for ar.
func (op *OP) pushError(ar AuthRequest, code, description string) ([]byte, error) {
	return json.Marshal(op.hooks.pushError(ciba.PushErrorPayload{AuthReqID: ar.ID, Error: code, ErrorDescription: description}))
}

// errStillOpen stops expirePush's update: the request was decided, or the
// clock has not reached its expiry.
var errStillOpen = errors.New("request not expired undecided")

// armPushExpiry tells a push client when its request expires undecided:
// a push client never polls, so without the expired_token error payload
// (CIBA 12) it would hear nothing.
func (op *OP) armPushExpiry(ar AuthRequest) {
	op.after(ar.ExpiresAt.Sub(op.clock.Now()), func(ctx context.Context) { op.expirePush(ctx, ar.ID) })
}

func (op *OP) expirePush(ctx context.Context, id string) {
	ar, err := op.store.UpdateAuthRequest(ctx, id, func(r *AuthRequest) error {
		if r.Status != StatusPending || op.clock.Now().Before(r.ExpiresAt) {
			return errStillOpen
		}
		r.Status = StatusExpired
		return nil
	})
	if err != nil {
		if !errors.Is(err, errStillOpen) && !errors.Is(err, ErrNotFound) {
			op.log.Warn("expiring push request failed", "auth_req_id", redact(id), "err", err)
		}
		return
	}
	op.notify(ar)
}
