package conformance

import (
	"context"
	"errors"
	"net/http"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
)

// ackJSON decodes the acknowledgement body keeping JSON types.
func ackJSON(f *Fixture, ex *client.Exchange) map[string]any {
	ginkgo.GinkgoHelper()
	f.Expect(ex.ContentType() == "application/json", ex, "expected the acknowledgement as application/json (CIBA 7.3), got %q", ex.ContentType())
	m, err := ex.JSON()
	if err != nil {
		f.Failf(ex, "expected a JSON object acknowledgement (CIBA 7.3), got: %v", err)
	}
	return m
}

// startRaw sends a valid backchannel request and returns its
// acknowledgement and exchange, for the checks that judge the
// acknowledgement. An HTTP 200 whose body is no acknowledgement fails
// the check; a refusal skips it (CIBA 7.3 says the OP "will return" 200
// for a request it validated, without a requirement keyword, and the
// OP's reason may lie outside the check's claim: the checks of the
// refused request say whether it was right); no answer is undetermined.
func startRaw(ctx context.Context, f *Fixture, c *client.Client) (*ciba.AuthenticationResponse, *client.Exchange) {
	ginkgo.GinkgoHelper()
	return startPrepared(ctx, f, c, f.Params(c, f.PendingUserOrAny()))
}

// startPrepared sends p, a valid request a check needs before it can
// judge anything, as startRaw does.
func startPrepared(ctx context.Context, f *Fixture, c *client.Client, p client.AuthParams) (*ciba.AuthenticationResponse, *client.Exchange) {
	ginkgo.GinkgoHelper()
	ack, ex, err := c.Authenticate(ctx, p)
	switch {
	case err == nil && ack.AuthReqID != "":
		return ack, ex
	case err == nil:
		f.Failf(ex, "expected an auth_req_id in the acknowledgement (CIBA 7.3), got none")
	case !hadResponse(ex):
		f.Undetermined(ex, "expected an acknowledgement of the valid backchannel request, got no answer: %v", err)
	case ex.Status == http.StatusOK:
		f.Failf(ex, "expected a JSON acknowledgement (CIBA 7.3), got: %v", err)
	}
	f.preparationFailed(ex, err, "the OP refused the valid backchannel request of %s, so there is nothing to judge", c.ClientID())
	return nil, nil
}

// expectRefused judges the answer (ex, err) to a negative probe of client
// c. A success fails the check at once. A refusal counts only once the
// positive control has passed: c sending control, the
// same request made valid, must be acknowledged, else the check is
// skipped ("the OP refused the valid request too") — a refusal of the bad
// request then proves nothing. The control is sent after the probe, so
// that a pending control request cannot be why the probe was refused,
// and only when the probe was refused, so that it costs one request at
// most. No answer at all is undetermined (ExpectOAuthError).
func expectRefused(f *Fixture, c *client.Client, control client.AuthParams, ex *client.Exchange, err error, statuses []int, codes ...*ciba.Error) {
	ginkgo.GinkgoHelper()
	if err != nil && hadResponse(ex) {
		f.ControlAck(c, control)
	}
	f.ExpectOAuthError(ex, err, statuses, codes...)
}

// startVariant sends p, a valid request varied in the one respect a
// positive check is about, and returns the acknowledgement. When the OP
// refuses it, control (the request without the variation) decides what
// the refusal means: refused too, the check is skipped (the OP refused
// the valid request too); acknowledged, the refusal of the variation
// fails the check with what.
func startVariant(ctx context.Context, f *Fixture, c *client.Client, p client.AuthParams, opts []client.CallOption, control client.AuthParams, what string) *ciba.AuthenticationResponse {
	ginkgo.GinkgoHelper()
	ack, ex, err := c.Authenticate(ctx, p, opts...)
	if err == nil {
		return ack
	}
	if !hadResponse(ex) {
		f.Undetermined(ex, "expected an answer to the backchannel request, got none: %v", err)
	}
	f.ControlAck(c, control)
	f.Failf(ex, "expected %s, got: %v (the same request without it was acknowledged)", what, err)
	return nil
}

// oauthCode is the OAuth error code of err, "" when it has none.
func oauthCode(err error) string {
	var ce *ciba.Error
	if errors.As(err, &ce) {
		return ce.Code
	}
	return ""
}

// backchannelAuthReqIDChecks registers the checks of the acknowledgement's
// auth_req_id: its characters and its entropy (CIBA 7.3).
func backchannelAuthReqIDChecks(fw *Framework) {
	// Testname: Acknowledgement is JSON with an auth_req_id of the allowed characters
	// Spec: CIBA-7.3
	// Description: A valid backchannel request MUST be answered with
	// HTTP 200, application/json, and an auth_req_id made only of
	// A-Z a-z 0-9 . - _.
	// Quote: CIBA-7.3: "auth_req_id REQUIRED. This is a unique identifier to identify the authentication request made by the Client. [...] The OpenID Provider MUST restrict the characters used to 'A'-'Z', 'a'-'z', '0'-'9', '.', '-' and '_', to reduce the chance of the client incorrectly decoding or re-encoding the auth_req_id"
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("acknowledges with JSON and an auth_req_id of A-Z a-z 0-9 . - _", func(ctx context.Context, f *Fixture) {
		c := f.Client(AnyMode, AnyAuth)
		ack, ex := startRaw(ctx, f, c)
		ackJSON(f, ex)
		f.Expect(ciba.ValidAuthReqID(ack.AuthReqID), ex, "expected auth_req_id of A-Z a-z 0-9 . - _ only, got %q", ack.AuthReqID)
	}, Refs("CIBA-7.3"), OIDF(ModHappy))

	// Testname: auth_req_id carries at least 128 bits and is unique
	// Spec: CIBA-7.3
	// Description: auth_req_id MUST have at least 128 bits of entropy
	// (judged from its length and alphabet) and MUST differ between
	// requests.
	// Quote: CIBA-7.3: "auth_req_id REQUIRED. This is a unique identifier to identify the authentication request made by the Client. It MUST contain sufficient entropy (a minimum of 128 bits while 160 bits is recommended) to make brute force guessing or forgery of a valid auth_req_id computationally infeasible"
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("issues unique auth_req_ids of at least 128 bits", func(ctx context.Context, f *Fixture) {
		c := f.Client(AnyMode, AnyAuth)
		a1, ex := startRaw(ctx, f, c)
		a2, _ := startRaw(ctx, f, c)
		f.Expect(entropyBits(a1.AuthReqID) >= 128, ex, "expected auth_req_id of >= 128 bits, %q can hold at most %.0f", a1.AuthReqID, entropyBits(a1.AuthReqID))
		f.Expect(a1.AuthReqID != a2.AuthReqID, ex, "expected two requests to get different auth_req_ids, both got %q", a1.AuthReqID)
	}, Refs("CIBA-7.3"), OIDF(ModHappy))
}

// backchannelAckTimingChecks registers the checks of expires_in and interval in
// the acknowledgement, and of the pending state that follows (CIBA 7.3,
// 11).
func backchannelAckTimingChecks(fw *Framework) {
	// Testname: expires_in is a positive number
	// Spec: CIBA-7.3
	// Description: The acknowledgement MUST carry expires_in, a
	// positive JSON number of seconds.
	// Quote: CIBA-7.3: "expires_in REQUIRED. A JSON number with a positive integer value indicating the expiration time of the "auth_req_id" in seconds since the authentication request was received."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("acknowledges with expires_in as a positive JSON number", func(ctx context.Context, f *Fixture) {
		c := f.Client(AnyMode, AnyAuth)
		_, ex := startRaw(ctx, f, c)
		m := ackJSON(f, ex)
		v, ok := number(m, "expires_in")
		f.Expect(ok && v > 0, ex, "expected expires_in as a positive JSON number, got %v (%T)", m["expires_in"], m["expires_in"])
	}, Refs("CIBA-7.3"), OIDF(ModHappy))

	// Testname: interval is a positive number when present
	// Spec: CIBA-7.3
	// Description: interval, when present, MUST be a positive JSON
	// number of seconds. CIBA 7.3 defines the type without a
	// requirement keyword of the OP's (its MUSTs bind the client), and
	// the OIDF suite fails an interval that is not a number
	// (ValidateAuthenticationRequestIdInterval): certification level.
	// Quote: CIBA-7.3: "interval OPTIONAL. A JSON number with a positive integer value indicating the minimum amount of time in seconds that the Client MUST wait between polling requests to the token endpoint."
	// Duty: OP
	// Level: CERT
	fw.ConformanceIt("acknowledges with interval as a positive JSON number if at all", func(ctx context.Context, f *Fixture) {
		c := f.Client(ciba.ModePoll, AnyAuth)
		_, ex := startRaw(ctx, f, c)
		m := ackJSON(f, ex)
		raw, present := m["interval"]
		if !present {
			return
		}
		v, ok := raw.(float64)
		f.Expect(ok && v > 0, ex, "expected interval as a positive JSON number, got %v (%T)", raw, raw)
	}, Refs("CIBA-7.3"), Modes(ciba.ModePoll), Cert, OIDF(ModHappy))

	// Testname: Immediate poll is authorization_pending
	// Spec: CIBA-11, RFC6749-5.2
	// Description: A token request for a request the user has not yet
	// decided MUST be answered 400 authorization_pending (or
	// slow_down), never with tokens.
	// Quote: CIBA-11: "authorization_pending The authorization request is still pending as the end-user hasn't yet been authenticated." RFC6749-5.2: "The authorization server responds with an HTTP 400 (Bad Request) status code (unless specified otherwise) and includes the following parameters with the response: error REQUIRED."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("answers authorization_pending while the user has not decided", func(ctx context.Context, f *Fixture) {
		c := f.Client(ciba.ModePoll, AnyAuth)
		ack, _ := startPrepared(ctx, f, c, f.Params(c, f.PendingUser()))
		_, ex, err := c.Token(ctx, ack.AuthReqID)
		f.ExpectOAuthError(ex, err, Status400, ciba.ErrAuthorizationPending, ciba.ErrSlowDown)
	}, Refs("CIBA-11", "RFC6749-5.2"), Modes(ciba.ModePoll), OIDF(ModHappy))
}
