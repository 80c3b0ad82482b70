package conformance

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/device"
	"github.com/ciba-check/ciba-check/internal/target"
)

// pushErrorCodes are the error codes of a push error payload (CIBA 12).
var pushErrorCodes = []*ciba.Error{ciba.ErrAccessDenied, ciba.ErrExpiredToken, ciba.ErrTransactionFailed}

// pushRun is one request of a push client and what reached its
// notification endpoint for it.
type pushRun struct {
	c   *client.Client
	r   *client.NotificationReceiver
	p   client.AuthParams
	ack *ciba.AuthenticationResponse
}

// startPush sends a valid request of the target's push client for user
// u (edit adjusts the parameters); it skips when the target has no push
// client or the client no receiver. Push checks run only with fapi: false
// (the framework skips them under FAPI-CIBA, which forbids push).
func startPush(f *Fixture, u *target.User, edit ...func(*client.AuthParams)) pushRun {
	ginkgo.GinkgoHelper()
	c := f.Client(ciba.ModePush, AnyAuth)
	r := f.Env().Receivers.For(c.ClientID())
	if r == nil {
		f.Skipf("push client %s has no notification receiver (notification missing in target.yaml)", c.ClientID())
	}
	p := f.Params(c, u)
	for _, e := range edit {
		e(&p)
	}
	return pushRun{c: c, r: r, p: p, ack: f.Start(c, p)}
}

// await waits, for the request's lifetime at most, for the first push of
// the request: a notification naming its auth_req_id or, with a broken
// body, carrying its client_notification_token.
func (pr pushRun) await(ctx context.Context) (client.Notification, bool) {
	wctx, cancel := context.WithTimeout(ctx, requestLifetime(pr.ack))
	defer cancel()
	select {
	case n := <-pr.r.Expect(pr.ack.AuthReqID, pr.p.ClientNotificationToken):
		return n, true
	case <-wctx.Done():
		return client.Notification{}, false
	}
}

// mine reports whether n belongs to the request.
func (pr pushRun) mine(n client.Notification) bool {
	return n.AuthReqID == pr.ack.AuthReqID || (pr.p.ClientNotificationToken != "" && n.BearerToken == pr.p.ClientNotificationToken)
}

// payloadShape describes a push body without its secrets: its members,
// sorted, or the start of a body that is not a JSON object.
func payloadShape(n client.Notification) string {
	if n.Payload == nil {
		return "a body that is not a JSON object: " + client.Redact(clip(string(n.Body), 40))
	}
	keys := make([]string, 0, len(n.Payload))
	for k := range n.Payload {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return "a JSON object with members [" + strings.Join(keys, ", ") + "]"
}

// approvedPush runs an approved push flow and returns the token payload
// delivered; it fails the check when no token delivery arrives.
func approvedPush(ctx context.Context, f *Fixture) (pushRun, client.Notification, *ciba.PushTokenPayload) {
	ginkgo.GinkgoHelper()
	u := f.UserFor(device.ActionAllow)
	pr := startPush(f, u)
	f.Decide(pr.c, pr.ack, u, pr.p, device.ActionAllow)
	n, ok := pr.await(ctx)
	if !ok {
		f.Failf(nil, "expected the tokens of the approved request pushed to the client notification endpoint within the request's lifetime (%d s, CIBA 10.3.1), got nothing", pr.ack.ExpiresIn)
	}
	tok, perr, err := n.PushPayload()
	switch {
	case err != nil:
		f.Failf(nil, "expected a token payload (CIBA 10.3.1), got %s: %v", payloadShape(n), err)
	case perr != nil:
		f.Failf(nil, "expected a token payload for the approved request (CIBA 10.3.1), got the error payload %q", perr.Error)
	}
	return pr, n, tok
}

// expectPushError judges a push that must be an error payload of CIBA 12
// for the request, with one of codes.
func expectPushError(f *Fixture, pr pushRun, n client.Notification, wanted ...*ciba.Error) {
	ginkgo.GinkgoHelper()
	codes := ciba.Codes(wanted...)
	tok, perr, err := n.PushPayload()
	switch {
	case err != nil:
		f.Failf(nil, "expected a push error payload (CIBA 12), got %s: %v", payloadShape(n), err)
	case tok != nil:
		f.Failf(nil, "expected a push error payload (CIBA 12), got a token payload (%s)", payloadShape(n))
	}
	f.Expect(slices.Contains(codes, perr.Error), nil, "expected the push error %v (CIBA 12), got %q", codes, perr.Error)
	f.Expect(perr.AuthReqID == pr.ack.AuthReqID, nil, "expected the push error payload to carry the request's auth_req_id (CIBA 12: REQUIRED), got %q", client.Redact(perr.AuthReqID))
}

// pushDeliveryChecks registers the checks of how the tokens reach the
// client: a POST to its notification endpoint with its bearer token (CIBA
// 10.3).
func pushDeliveryChecks(fw *Framework) {
	// Testname: Push flow delivers tokens
	// Spec: CIBA-10.3.1, OIDC-3.1.3.3, RFC6749-5.1
	// Description: For an approved request of a push client the OP
	// MUST deliver a token payload to the client notification
	// endpoint: an access_token, token_type and an ID token. The
	// push is awaited for the request's lifetime. CIBA 10.3.1 states
	// the delivery in the indicative; without it a push client, which
	// never calls the token endpoint, never gets the tokens the
	// quoted MUSTs require. Runs only with fapi: false (FAPI-CIBA
	// forbids push) and a push client in target.yaml.
	// Quote: CIBA-10.3.1: "If the Client is registered in Push mode and the user is well authenticated and has authorized the request, the OpenID Provider delivers a payload that includes an ID Token, an Access Token and, optionally, a Refresh Token to the Client Notification Endpoint." OIDC-3.1.3.3: "In addition to the response parameters specified by OAuth 2.0, the following parameters MUST be included in the response: id_token ID Token value associated with the authenticated session." RFC6749-5.1: "access_token REQUIRED. The access token issued by the authorization server." RFC6749-5.1: "token_type REQUIRED. The type of the token issued as described in Section 7.1. Value is case insensitive."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("pushes the tokens of an approved request to the client notification endpoint", func(ctx context.Context, f *Fixture) {
		f.ClaimFlow()
		_, n, tok := approvedPush(ctx, f)
		f.Expect(tok.AccessToken != "", nil, "expected an access_token in the push, got %s", payloadShape(n))
		f.Expect(tok.TokenType != "", nil, "expected a token_type in the push, got %s", payloadShape(n))
		f.Expect(tok.IDToken != "", nil, "expected an id_token in the push (scope openid), got %s", payloadShape(n))
	}, Refs("CIBA-10.3.1", "OIDC-3.1.3.3", "RFC6749-5.1"), Modes(ciba.ModePush))

	// Testname: Push sent with the client_notification_token
	// Spec: CIBA-7.1, CIBA-10.3.1
	// Description: The push SHOULD be a POST with Content-Type
	// application/json authenticated by Authorization: Bearer
	// <client_notification_token>, the token the client gave for
	// this request: it is how the client tells the OP's push from a
	// forged one. A warning, not a failure: CIBA states the bearer
	// token's use in the indicative ("will be used"), without a
	// requirement keyword on the OP.
	// Quote: CIBA-7.1: "client_notification_token REQUIRED if the Client is registered to use Ping or Push modes. It is a bearer token provided by the Client that will be used by the OpenID Provider to authenticate the callback request to the Client."
	// Duty: OP
	// Level: SHOULD
	fw.ConformanceIt("sends the push as a POST with the client_notification_token as bearer", func(ctx context.Context, f *Fixture) {
		pr, n, _ := approvedPush(ctx, f)
		f.Expect(n.Method == http.MethodPost, nil, "expected the push as POST, got %s", n.Method)
		f.Expect(n.BearerToken == pr.p.ClientNotificationToken, nil, "expected Authorization: Bearer <the request's client_notification_token>, got %q", client.Redact(n.BearerToken))
		ct := strings.TrimSpace(strings.Split(n.Header.Get("Content-Type"), ";")[0])
		f.Expect(ct == "application/json", nil, "expected Content-Type application/json, got %q", n.Header.Get("Content-Type"))
	}, Refs("CIBA-7.1", "CIBA-10.3.1"), Modes(ciba.ModePush), Should)
}

// pushPayloadChecks registers the checks of the pushed tokens: the ID
// token binds them to the request, and they are pushed once (CIBA 10.3.1).
func pushPayloadChecks(fw *Framework) {
	// Testname: Push ID token bound to the tokens and the request
	// Spec: CIBA-10.3.1, OIDC-3.3.2.11
	// Description: The ID token of a push MUST carry at_hash of the
	// pushed access token and the urn:openid:params:jwt:claim:auth_req_id
	// claim with the request's auth_req_id; when a refresh token is
	// pushed, also urn:openid:params:jwt:claim:rt_hash of it. Hashes
	// are the base64url left half of the token's hash under the hash
	// of the ID token's alg (OIDC 3.3.2.11, applied alike to the
	// refresh token). These claims are only required in push mode.
	// Quote: CIBA-10.3.1: "In order to bind together the ID Token, the Access Token, and the auth_req_id, the OP MUST include the hash value of the Access Token and the auth_req_id within the ID Token using the at_hash and urn:openid:params:jwt:claim:auth_req_id claims respectively. In case a Refresh Token is sent to the Client, the hash value of it MUST also be added to the ID token using the urn:openid:params:jwt:claim:rt_hash claim." OIDC-3.3.2.11: "at_hash Access Token hash value. Its value is the base64url encoding of the left-most half of the hash of the octets of the ASCII representation of the access_token value, where the hash algorithm used is the hash algorithm used in the alg Header Parameter of the ID Token's JOSE Header."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("binds the push ID token with at_hash, rt_hash and the auth_req_id claim", func(ctx context.Context, f *Fixture) {
		pr, n, tok := approvedPush(ctx, f)
		if tok.IDToken == "" {
			f.Failf(nil, "expected an id_token in the push to carry the binding claims (CIBA 10.3.1), got %s", payloadShape(n))
		}
		t := f.ParseIDToken(tok.IDToken, nil)
		alg, _ := t.Header["alg"].(string)
		wantAt, ok := tokenHash(alg, tok.AccessToken)
		if !ok {
			f.Skipf("the ID token's alg %q defines no hash for at_hash (OIDC 3.3.2.11 covers the SHA-2 algorithms)", alg)
		}
		at, present := t.Claims[ciba.ClaimATHash]
		f.Expect(present, nil, "expected at_hash in the push ID token (CIBA 10.3.1), got none")
		f.Expect(at == wantAt, nil, "expected at_hash %q (the left half of the %s hash of the pushed access token), got %v", wantAt, alg, at)
		id, present := t.Claims[ciba.ClaimAuthReqID]
		f.Expect(present, nil, "expected the %s claim in the push ID token (CIBA 10.3.1), got none", ciba.ClaimAuthReqID)
		f.Expect(id == pr.ack.AuthReqID, nil, "expected the %s claim to be the request's auth_req_id, got %v", ciba.ClaimAuthReqID, id)
		if tok.RefreshToken == "" {
			return
		}
		wantRt, _ := tokenHash(alg, tok.RefreshToken)
		rt, present := t.Claims[ciba.ClaimRTHash]
		f.Expect(present, nil, "expected the %s claim in the push ID token: a refresh token was pushed (CIBA 10.3.1), got none", ciba.ClaimRTHash)
		f.Expect(rt == wantRt, nil, "expected %s %q (the left half of the %s hash of the pushed refresh token), got %v", ciba.ClaimRTHash, wantRt, alg, rt)
	}, Refs("CIBA-10.3.1", "OIDC-3.3.2.11"), Modes(ciba.ModePush))

	// Testname: Push delivered once
	// Spec: CIBA-10.3.1
	// Description: The OP SHOULD push the tokens of an approved request
	// once: after the client notification endpoint answered 204 a
	// second delivery (the same tokens or fresh ones for one
	// auth_req_id) is a duplicate the client has to discard. Further
	// pushes are watched for NoRetryGrace after the first. A warning:
	// CIBA 10.3.1 describes one payload, without a requirement
	// keyword on the count.
	// Quote: CIBA-10.3.1: "If the Client is registered in Push mode and the user is well authenticated and has authorized the request, the OpenID Provider delivers a payload that includes an ID Token, an Access Token and, optionally, a Refresh Token to the Client Notification Endpoint."
	// Duty: OP
	// Level: SHOULD
	fw.ConformanceIt("pushes the tokens of an approved request exactly once", func(ctx context.Context, f *Fixture) {
		pr, _, _ := approvedPush(ctx, f)
		got := quiet(ctx, pr.r, pr.mine)
		f.Expect(len(got) == 1, nil, "expected exactly one push for the request after the endpoint answered 204, got %d", len(got))
	}, Refs("CIBA-10.3.1"), Modes(ciba.ModePush), Should)
}

// pushErrorChecks registers the checks of pushed errors: a denial and a
// failed authentication device (CIBA 12).
func pushErrorChecks(fw *Framework) {
	// Testname: Denied push request answered access_denied
	// Spec: CIBA-12
	// Description: When the user denies a push client's request, the
	// OP MUST push an error payload with error access_denied and the
	// request's auth_req_id (both REQUIRED members). A push client
	// never polls, so without this payload it never learns the
	// outcome. The push is awaited for the request's lifetime.
	// Quote: CIBA-12: "error REQUIRED. A single ASCII error code from one present in the list below." CIBA-12: "auth_req_id REQUIRED. The authentication request identifier." CIBA-12: "access_denied The end-user denied the authorization request."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("pushes access_denied with the auth_req_id after the user denies", func(ctx context.Context, f *Fixture) {
		u := f.UserFor(device.ActionDeny)
		pr := startPush(f, u)
		f.Decide(pr.c, pr.ack, u, pr.p, device.ActionDeny)
		n, ok := pr.await(ctx)
		if !ok {
			f.Failf(nil, "expected an access_denied error payload pushed within the request's lifetime (%d s, CIBA 12), got nothing", pr.ack.ExpiresIn)
		}
		expectPushError(f, pr, n, ciba.ErrAccessDenied)
	}, Refs("CIBA-12"), Modes(ciba.ModePush))

	// Testname: Failed push request answered with a CIBA 12 error
	// Spec: CIBA-12
	// Description: When the authentication device fails (a user whose
	// scripted outcome is error), whatever the OP pushes for the
	// request MUST be an error payload with an error code of CIBA 12
	// (transaction_failed fits; access_denied or expired_token are
	// codes of the list too) and the request's auth_req_id, never
	// tokens. The check asks for requested_expiry 10 and waits the
	// request's lifetime; an OP that pushes nothing is not failed
	// here (it may still be retrying the device).
	// Quote: CIBA-12: "error REQUIRED. A single ASCII error code from one present in the list below." CIBA-12: "auth_req_id REQUIRED. The authentication request identifier." CIBA-12: "transaction_failed The OpenID Provider encountered an unexpected condition that prevented it from successfully completing the transaction."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("pushes a CIBA 12 error payload when the authentication device fails", func(ctx context.Context, f *Fixture) {
		if !f.Env().Driver.Capabilities().FollowsUserOutcomes {
			f.Skipf("the %s device driver does not play scripted user outcomes", f.Env().Driver.Kind())
		}
		var u *target.User
		for i := range f.Env().Target.Users {
			if outcomeOf(&f.Env().Target.Users[i]) == ciba.OutcomeError {
				u = &f.Env().Target.Users[i]
				break
			}
		}
		if u == nil {
			f.Skipf("target.yaml has no user whose device fails (outcome: error)")
		}
		pr := startPush(f, u, func(p *client.AuthParams) { p.RequestedExpiry = 10 })
		n, ok := pr.await(ctx)
		if !ok {
			return // nothing pushed in the request's lifetime: nothing to judge
		}
		expectPushError(f, pr, n, pushErrorCodes...)
	}, Refs("CIBA-12"), Modes(ciba.ModePush))
}

// pushWithholdingChecks registers the checks that tokens are withheld: not
// pushed for an expired request, not given to a push client's token
// request (CIBA 10.3, 11).
func pushWithholdingChecks(fw *Framework) {
	// Testname: Expired push request pushes no tokens
	// Spec: CIBA-12
	// Description: When a push client's request expires undecided the
	// OP need not push anything (CIBA 12: "OpenID Providers are not
	// required to send this error"), but what it pushes MUST be an
	// error payload with an error code of CIBA 12 (expired_token fits)
	// and the request's auth_req_id, never tokens. The check asks for
	// requested_expiry 2 (a hint the OP MAY ignore) and watches the
	// endpoint until the request's lifetime and NoRetryGrace have
	// passed.
	// Quote: CIBA-12: "error REQUIRED. A single ASCII error code from one present in the list below." CIBA-12: "auth_req_id REQUIRED. The authentication request identifier." CIBA-12: "expired_token The auth_req_id has expired. The Client will need to make a new Authentication Request."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("pushes no tokens for a request that expired undecided", func(ctx context.Context, f *Fixture) {
		pr := startPush(f, f.PendingUser(), func(p *client.AuthParams) { p.RequestedExpiry = 2 })
		if left := f.TimeLeft(); requestLifetime(pr.ack)+2*NoRetryGrace > left {
			f.Skipf("the OP answered expires_in %d s (requested_expiry 2 is a hint it MAY ignore): longer than this check may wait, %s of its timeout left", pr.ack.ExpiresIn, left.Round(time.Second))
		}
		n, ok := pr.await(ctx)
		if !ok {
			got := quiet(ctx, pr.r, pr.mine)
			if len(got) == 0 {
				return // nothing pushed: allowed
			}
			n = got[0]
		}
		expectPushError(f, pr, n, pushErrorCodes...)
	}, Refs("CIBA-12"), Modes(ciba.ModePush))

	// Testname: Token endpoint refuses a push client's CIBA grant
	// Spec: CIBA-11, RFC6749-5.2
	// Description: A push client gets its tokens at its notification
	// endpoint; the token endpoint MUST refuse its CIBA grant request
	// with an error response: HTTP 400 unauthorized_client, the code
	// CIBA 11 names for a client configured in push mode. An answer
	// as to a poll client (authorization_pending, tokens) fails; the
	// refusal invalid_grant is a warning (a refusal, but not the code
	// CIBA 11 names). Positive control: the same client's
	// backchannel request is acknowledged.
	// Quote: CIBA-11: "If the Token Request is invalid or unauthorized, the OpenID Provider constructs an error response according to Section 3.1.3.4 Token Error Response of [OpenID.Core]." CIBA-11: "unauthorized_client The Client is not authorized as it is configured in Push Mode" RFC6749-5.2: "The authorization server responds with an HTTP 400 (Bad Request) status code (unless specified otherwise) and includes the following parameters with the response: error REQUIRED."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses a push client's token request with unauthorized_client", func(ctx context.Context, f *Fixture) {
		pr := startPush(f, f.PendingUserOrAny())
		_, ex, err := pr.c.Token(ctx, pr.ack.AuthReqID)
		var ce *ciba.Error
		if errors.As(err, &ce) && ce.Code == ciba.ErrInvalidGrant.Code && hadResponse(ex) {
			f.ExpectShould(false, ex, "expected unauthorized_client, the code CIBA 11 names for a push client, got invalid_grant (a refusal, so a warning)")
			return
		}
		f.ExpectOAuthError(ex, err, Status400, ciba.ErrUnauthorizedClient)
	}, Refs("CIBA-11", "RFC6749-5.2"), Modes(ciba.ModePush), Negative)
}
