package conformance

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/device"
)

// tokenPollOutcomeChecks registers the checks of the answers once a request is
// denied or expired (CIBA 11).
func tokenPollOutcomeChecks(fw *Framework) {
	// Testname: Denied request gives access_denied (poll)
	// Spec: CIBA-11, RFC6749-5.2
	// Description: After the user denies on the authentication device,
	// the token endpoint MUST answer HTTP 400 access_denied.
	// Quote: CIBA-11: "If the Token Request is invalid or unauthorized, the OpenID Provider constructs an error response according to Section 3.1.3.4 Token Error Response of [OpenID.Core]. In addition to the error codes defined in Section 5.2 of [RFC6749], the following error codes defined in the OAuth Device Flow are also applicable:" CIBA-11: "access_denied The end-user denied the authorization request." RFC6749-5.2: "The authorization server responds with an HTTP 400 (Bad Request) status code (unless specified otherwise) and includes the following parameters with the response: error REQUIRED."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("answers access_denied after the user denies (poll)", func(ctx context.Context, f *Fixture) {
		c := f.Client(ciba.ModePoll, AnyAuth)
		u := f.UserFor(device.ActionDeny)
		p := f.Params(c, u)
		ack := f.Start(c, p)
		f.Decide(c, ack, u, p, device.ActionDeny)
		_, ex, err := f.Outcome(c, ack)
		f.ExpectOAuthError(ex, err, Status400, ciba.ErrAccessDenied)
	}, Refs("CIBA-11", "RFC6749-5.2"), Modes(ciba.ModePoll), OIDF(ModUserRejects))

	// Testname: Expired request gives expired_token
	// Spec: CIBA-11, CIBA-7.3
	// Description: Once the request's expires_in has passed without a
	// decision, the token endpoint MUST answer HTTP 400 expired_token.
	// The check asks for requested_expiry 1, which the OP MAY ignore
	// (CIBA 7.1), and waits the expires_in the OP answered; a pending
	// answer just after that moment is asked again once after the
	// interval (clocks of whole seconds). When the OP's expires_in is
	// longer than the check may wait, the check is skipped with the
	// reason (raise RunConfig.CheckTimeout).
	// Quote: CIBA-7.3: "expires_in REQUIRED. A JSON number with a positive integer value indicating the expiration time of the "auth_req_id" in seconds since the authentication request was received. A Client calling the token endpoint with an expired auth_req_id will receive an error, see Token Error Response." CIBA-11: "expired_token The auth_req_id has expired. The Client will need to make a new Authentication Request." RFC6749-5.2: "The authorization server responds with an HTTP 400 (Bad Request) status code (unless specified otherwise) and includes the following parameters with the response: error REQUIRED."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("answers expired_token after expires_in has passed", func(ctx context.Context, f *Fixture) {
		c := f.Client(ciba.ModePoll, AnyAuth)
		p := f.Params(c, f.PendingUser())
		p.RequestedExpiry = 1
		ack := f.Start(c, p)
		acked := time.Now()
		if ack.ExpiresIn <= 0 {
			f.Skipf("the acknowledgement has no positive expires_in to wait for (the backchannel checks judge that)")
		}
		interval := pollInterval(ack)
		expired := acked.Add(time.Duration(ack.ExpiresIn)*time.Second + expiryMargin)
		giveUp := expired.Add(interval)
		if left := f.TimeLeft(); time.Until(giveUp.Add(expiryMargin)) > left {
			f.Skipf("the OP answered expires_in %d s (requested_expiry 1 is a hint it MAY ignore, CIBA 7.1): longer than this check may wait, %s of its timeout left; raise the check timeout (RunConfig.CheckTimeout) to run it", ack.ExpiresIn, left.Round(time.Second))
		}
		if !sleepCtx(ctx, time.Until(expired)) {
			f.Failf(nil, "interrupted while waiting %d s for the request to expire", ack.ExpiresIn)
		}
		_, ex, err := c.Token(ctx, ack.AuthReqID)
		if undecided(ex, err) && sleepCtx(ctx, time.Until(giveUp)) {
			_, ex, err = c.Token(ctx, ack.AuthReqID)
		}
		f.ExpectOAuthError(ex, err, Status400, ciba.ErrExpiredToken)
	}, Refs("CIBA-11", "CIBA-7.3"), Modes(ciba.ModePoll), OIDF(ModAuthReqIDExpired), Slow)
}

// tokenPollRateChecks registers the check of polls faster than the interval
// (CIBA 7.3, 11).
func tokenPollRateChecks(fw *Framework) {
	// Testname: Twenty back-to-back polls are answered sanely
	// Spec: CIBA-11, RFC6749-5.2
	// Description: Token requests sent without delay for a pending
	// request MUST each get HTTP 400 authorization_pending or
	// slow_down: never tokens, never another error. As the OIDF suite
	// does, the check stops at the first invalid_request (an answer
	// the OIDF suite accepts for a client that keeps polling too
	// fast) or HTTP 503; a 503 without Retry-After is a
	// certification-level warning (the OIDF suite demands it).
	// Quote: CIBA-11: "authorization_pending The authorization request is still pending as the end-user hasn't yet been authenticated." CIBA-11: "slow_down A variant of "authorization_pending", the authorization request is still pending and polling should continue, but the interval MUST be increased by at least 5 seconds for this and all subsequent requests." RFC6749-5.2: "The authorization server responds with an HTTP 400 (Bad Request) status code (unless specified otherwise) and includes the following parameters with the response: error REQUIRED."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("answers twenty back-to-back polls with pending, slow_down, invalid_request or 503", func(ctx context.Context, f *Fixture) {
		c := f.Client(ciba.ModePoll, AnyAuth)
		ack := f.Start(c, f.Params(c, f.PendingUser()))
		for i := range 20 {
			_, ex, err := c.Token(ctx, ack.AuthReqID)
			if ex != nil && ex.Status == http.StatusServiceUnavailable {
				f.ExpectCert(ex.ResponseHeader.Get("Retry-After") != "", ex, "poll %d: expected Retry-After with HTTP 503 (the OIDF suite demands it)", i+1)
				return
			}
			f.ExpectOAuthError(ex, err, Status400, ciba.ErrAuthorizationPending, ciba.ErrSlowDown, ciba.ErrInvalidRequest)
			if errors.Is(err, ciba.ErrInvalidRequest) {
				return
			}
		}
	}, Refs("CIBA-11", "RFC6749-5.2"), Modes(ciba.ModePoll), Negative, OIDF(ModMultipleCalls))
}

// expiryMargin is how long after expires_in the expired_token check
// asks: the OP counts from the request's arrival, a little before the
// acknowledgement arrived here, but may round to whole seconds.
const expiryMargin = 500 * time.Millisecond
