package conformance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/device"
)

// tokenRedemptionChecks registers the checks that an auth_req_id gives tokens
// exactly once, sequentially and concurrently (CIBA 11, RFC 6749 10.5).
func tokenRedemptionChecks(fw *Framework) {
	// Testname: Redeemed auth_req_id refused
	// Spec: CIBA-11, CIBA-10.1
	// Description: After tokens were issued, the same auth_req_id is
	// no longer valid and MUST be answered with HTTP 400
	// invalid_grant. (The approved flow that redeemed it is the
	// positive control.)
	// Quote: CIBA-11: "If the auth_req_id is invalid or was issued to another Client, an invalid_grant error MUST be returned as described in Section 5.2 of [RFC6749]." RFC6749-5.2: "invalid_grant The provided authorization grant (e.g., authorization code, resource owner credentials) or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses a redeemed auth_req_id with invalid_grant", func(ctx context.Context, f *Fixture) {
		c := f.Client(AnyMode, AnyAuth)
		_, _, ack := f.Approved(c)
		_, ex, err := c.Token(ctx, ack.AuthReqID)
		f.ExpectOAuthError(ex, err, Status400, ciba.ErrInvalidGrant)
	}, Refs("CIBA-11", "CIBA-10.1"), Negative, OIDF(ModHappy))

	// Testname: Tokens issued once under concurrent redemption
	// Spec: CIBA-10.1, CIBA-11
	// Description: Two simultaneous token requests for an approved
	// auth_req_id MUST yield tokens exactly once: one gets tokens,
	// the other MUST get HTTP 400 invalid_grant. Every answer is
	// judged. A request that got no response (a reset) proves
	// nothing, not even a second issuance: the round is repeated once
	// on a fresh approved request, and a second loss leaves the check
	// undetermined. Each round runs on fresh connections. Why: against
	// oidc-provider over Node.js https the check failed in 2 of 18
	// full runs with "read: connection reset by peer". Node closes a
	// kept-alive connection after about 6 s idle (keepAliveTimeout
	// 5 s plus its timer slack), and a pending first round was
	// repeated after exactly 6 s (interval 1 s, as the OP sent none,
	// plus 5 s) over the connections of the previous round: requests
	// written into sockets the server was destroying (measured against
	// the interop harness: connections idle 5.9 s were reused, at
	// 5.95 s some were found closed, and a POST on one idle 6.0 s
	// failed with EOF; Go does not retry a POST once written). Two
	// requests are not too many TLS handshakes; the reuse was the
	// cause. The wait now follows CIBA 7.3 (5 s without interval).
	// Quote: CIBA-11: "If the auth_req_id is invalid or was issued to another Client, an invalid_grant error MUST be returned as described in Section 5.2 of [RFC6749]." RFC6749-5.2: "invalid_grant The provided authorization grant (e.g., authorization code, resource owner credentials) or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("issues tokens exactly once to concurrent token requests", func(ctx context.Context, f *Fixture) {
		c := f.Client(ciba.ModePoll, AnyAuth)
		var o raceOutcome
		for attempt := range 2 {
			o = exactlyOnce(ctx, f, c)
			if o.verdict != raceUnknown {
				break
			}
			if attempt == 1 {
				f.Undetermined(o.answers[o.other].ex, "a concurrent token request got no response twice (%v; the other got %v): it may have been the one that got the tokens", o.answers[o.other], o.answers[1-o.other])
			}
		}
		a, b := o.answers[0], o.answers[1]
		switch o.verdict {
		case raceTwice:
			f.Failf(o.answers[o.other].ex, "expected tokens exactly once, both concurrent token requests got tokens")
		case raceNoTokens:
			f.Failf(o.answers[o.other].ex, "expected one of the concurrent token requests for the approved request to get tokens, got %v and %v", a, b)
		case raceLoserWrong:
			f.Failf(o.answers[o.other].ex, "expected HTTP 400 invalid_grant for the concurrent token request that did not get the tokens (CIBA 11), got %v", o.answers[o.other])
		case raceUnknown:
			f.Undetermined(o.answers[o.other].ex, "a concurrent token request got no response: %v", o.answers[o.other])
		}
	}, Refs("CIBA-10.1", "CIBA-11"), Modes(ciba.ModePoll), Negative)
}

// tokenAuthReqIDChecks registers the checks that only the client's own, known
// auth_req_id is accepted (CIBA 10.1, 11).
func tokenAuthReqIDChecks(fw *Framework) {
	// Testname: Another client's auth_req_id refused
	// Spec: CIBA-11
	// Description: A client presenting another client's auth_req_id
	// MUST get HTTP 400 invalid_grant. What then becomes of the
	// owner's request is not judged: no sentence says it must stay
	// pending. Positive control: the same client's token request for
	// a request of its own is accepted.
	// Quote: CIBA-11: "If the auth_req_id is invalid or was issued to another Client, an invalid_grant error MUST be returned as described in Section 5.2 of [RFC6749]."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses another client's auth_req_id with invalid_grant", func(ctx context.Context, f *Fixture) {
		owner := f.Client(ciba.ModePoll, AnyAuth)
		thief := f.OtherClient(owner, false)
		tokenControl(ctx, f, thief, f.PendingUserOrAny())
		ack := f.Start(owner, f.Params(owner, f.PendingUser()))
		_, ex, err := thief.Token(ctx, ack.AuthReqID)
		f.ExpectOAuthError(ex, err, Status400, ciba.ErrInvalidGrant)
	}, Refs("CIBA-11"), Modes(ciba.ModePoll), Negative, OIDF(ModWrongAuthReqID))

	// Testname: Unknown auth_req_id refused
	// Spec: CIBA-11
	// Description: An auth_req_id the OP never issued MUST be answered
	// with HTTP 400 invalid_grant. Positive control: the client's
	// token request for a request of its own is accepted.
	// Quote: CIBA-11: "If the auth_req_id is invalid or was issued to another Client, an invalid_grant error MUST be returned as described in Section 5.2 of [RFC6749]."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses an unknown auth_req_id with invalid_grant", func(ctx context.Context, f *Fixture) {
		c := f.Client(AnyMode, AnyAuth)
		tokenControl(ctx, f, c, f.PendingUserOrAny())
		id, err := c.NewJTI()
		if err != nil {
			f.Failf(nil, "%v", err)
		}
		_, ex, err := c.Token(ctx, id)
		f.ExpectOAuthError(ex, err, Status400, ciba.ErrInvalidGrant)
	}, Refs("CIBA-11"), Negative)

	// Testname: Token request without auth_req_id refused
	// Spec: CIBA-10.1, RFC6749-5.2
	// Description: A CIBA grant request without auth_req_id MUST be
	// answered with HTTP 400 invalid_request. Positive control: the
	// same request with the client's own auth_req_id is accepted.
	// Quote: RFC6749-5.2: "The authorization server responds with an HTTP 400 (Bad Request) status code (unless specified otherwise) and includes the following parameters with the response: error REQUIRED." RFC6749-5.2: "invalid_request The request is missing a required parameter, includes an unsupported parameter value (other than grant type), repeats a parameter, includes multiple credentials, utilizes more than one mechanism for authenticating the client, or is otherwise malformed."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses a CIBA grant request without auth_req_id", func(ctx context.Context, f *Fixture) {
		c := f.Client(AnyMode, AnyAuth)
		tokenControl(ctx, f, c, f.PendingUserOrAny())
		_, ex, err := c.Token(ctx, "x", client.CallWithoutForm(ciba.ParamAuthReqID))
		f.ExpectOAuthError(ex, err, Status400, ciba.ErrInvalidRequest)
	}, Refs("CIBA-10.1", "RFC6749-5.2"), Negative)
}

// tokenAnswer is one answer of the token endpoint.
type tokenAnswer struct {
	tr  *ciba.TokenResponse
	ex  *client.Exchange
	err error
}

func (a tokenAnswer) tokens() bool { return a.err == nil && a.tr != nil }

func (a tokenAnswer) lost() bool { return noResponse(a.ex, a.err) }

func (a tokenAnswer) code() string {
	var ce *ciba.Error
	if errors.As(a.err, &ce) {
		return ce.Code
	}
	return ""
}

func (a tokenAnswer) String() string {
	switch {
	case a.tokens():
		return "tokens"
	case a.lost():
		return fmt.Sprintf("no response (%v)", a.err)
	case a.code() != "":
		return fmt.Sprintf("HTTP %d %s", a.ex.Status, a.code())
	}
	return fmt.Sprintf("HTTP %d (%v)", statusOf(a.ex), a.err)
}

// raceVerdict is what one round of concurrent token requests for an
// approved auth_req_id shows.
type raceVerdict int

const (
	// raceOpen: every request got authorization_pending, slow_down or
	// 503: the round must be repeated after the interval.
	raceOpen raceVerdict = iota
	// raceOnce: one request got tokens, every other one invalid_grant.
	raceOnce
	// raceTwice: more than one request got tokens.
	raceTwice
	// raceLoserPending: one got tokens, another still authorization_pending,
	// slow_down or 503 (the approval landed between them, or the OP was
	// busy): that one must be asked again.
	raceLoserPending
	// raceLoserWrong: one got tokens, another an answer other than
	// invalid_grant.
	raceLoserWrong
	// raceNoTokens: no request got tokens although the round is decided.
	raceNoTokens
	// raceUnknown: a request got no response, so the round proves nothing
	// (it may have been the one that got the tokens).
	raceUnknown
)

// judgeRace judges one round; other is the index of the answer a verdict
// other than raceOpen and raceOnce is about.
func judgeRace(answers []tokenAnswer) (verdict raceVerdict, other int) {
	winners, lost, open := 0, -1, 0
	for i, a := range answers {
		switch {
		case a.tokens():
			winners++
			if winners == 2 {
				other = i
			}
		case a.lost():
			lost = i
		case undecided(a.ex, a.err):
			open++
		}
	}
	switch {
	case winners > 1:
		return raceTwice, other
	case lost >= 0:
		return raceUnknown, lost
	case winners == 0 && open == len(answers):
		return raceOpen, 0
	case winners == 0:
		for i, a := range answers {
			if !undecided(a.ex, a.err) {
				return raceNoTokens, i
			}
		}
	}
	for i, a := range answers {
		switch {
		case a.tokens():
		case undecided(a.ex, a.err):
			return raceLoserPending, i
		case a.code() != ciba.ErrInvalidGrant.Code || a.ex.Status != http.StatusBadRequest:
			return raceLoserWrong, i
		}
	}
	return raceOnce, 0
}

// raceTokens sends n token requests for id at the same moment. Each round
// starts on fresh connections: a request written into a kept-alive
// connection that the server is just closing for idleness is reset
// ("connection reset by peer", a lost answer), which is what made this
// check flaky against a Node.js OP polled every 6 s (see the check).
func raceTokens(ctx context.Context, c *client.Client, id string, n int) []tokenAnswer {
	c.CloseIdleConnections()
	out := make([]tokenAnswer, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i].tr, out[i].ex, out[i].err = c.Token(ctx, id)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// raceOutcome is how exactlyOnce ended for one approved request.
type raceOutcome struct {
	verdict raceVerdict
	answers []tokenAnswer
	other   int
}

// exactlyOnce starts and approves a request of c and sends concurrent
// token requests for it, round after round while they are all pending,
// until a round is decided; a loser that was still pending is asked once
// more after the interval.
func exactlyOnce(ctx context.Context, f *Fixture, c *client.Client) raceOutcome {
	ginkgo.GinkgoHelper()
	u := f.UserFor(device.ActionAllow)
	p := f.Params(c, u)
	ack := f.Start(c, p)
	f.Decide(c, ack, u, p, device.ActionAllow)
	deadline := time.Now().Add(requestLifetime(ack))
	interval := pollInterval(ack)
	for {
		answers := raceTokens(ctx, c, ack.AuthReqID, 2)
		verdict, other := judgeRace(answers)
		switch verdict {
		case raceOpen:
			if slices.ContainsFunc(answers, func(a tokenAnswer) bool { return errors.Is(a.err, ciba.ErrSlowDown) }) {
				interval += ciba.SlowDownIncrement * time.Second
			}
			if time.Now().Add(interval).After(deadline) {
				f.Failf(answers[0].ex, "expected tokens for the approved request before it expired, every token request got %v", answers[0])
			}
			if !sleepCtx(ctx, interval) {
				f.Failf(nil, "interrupted while polling")
			}
			continue
		case raceLoserPending:
			if !sleepCtx(ctx, interval) {
				f.Failf(nil, "interrupted while polling")
			}
			c.CloseIdleConnections()
			a := &answers[other]
			a.tr, a.ex, a.err = c.Token(ctx, ack.AuthReqID)
			verdict, other = judgeRace(answers)
			if verdict == raceLoserPending {
				// Still pending after the other got the tokens is a
				// wrong answer; still busy (503) says nothing.
				verdict = raceLoserWrong
				if statusOf(a.ex) == http.StatusServiceUnavailable {
					verdict = raceUnknown
				}
			}
		}
		return raceOutcome{verdict: verdict, answers: answers, other: other}
	}
}
