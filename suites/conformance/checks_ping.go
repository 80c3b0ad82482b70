package conformance

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/device"
)

// NoRetryGrace is how long the ping checks watch for a notification the
// OP must not send (a retry after 4xx, a followed redirect): longer than
// the one-second backoff any sane retry policy starts with.
const NoRetryGrace = 2 * time.Second

// pingAnswered runs an approved ping flow whose notification the
// receiver answers with answer, and returns the ack and the receiver.
func pingAnswered(f *Fixture, answer client.Answer) (*client.Client, *ciba.AuthenticationResponse, *client.NotificationReceiver) {
	ginkgo.GinkgoHelper()
	c := f.Client(ciba.ModePing, AnyAuth)
	r := f.Env().Receivers.For(c.ClientID())
	if r == nil {
		f.Skipf("client %s has no notification receiver", c.ClientID())
	}
	u := f.UserFor(device.ActionAllow)
	p := f.Params(c, u)
	ack := f.Start(c, p)
	if err := r.SetAnswers(ack.AuthReqID, answer); err != nil {
		f.Failf(nil, "scripting the receiver: %v", err)
	}
	f.Decide(c, ack, u, p, device.ActionAllow)
	return c, ack, r
}

// quiet waits NoRetryGrace and reports the requests that reached the
// receiver in that time matching match.
func quiet(ctx context.Context, r *client.NotificationReceiver, match func(client.Notification) bool) []client.Notification {
	t := time.NewTimer(NoRetryGrace)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	var out []client.Notification
	for _, n := range r.Notifications() {
		if match(n) {
			out = append(out, n)
		}
	}
	return out
}

// pingFlowChecks registers the approved ping flow under each client
// authentication method (CIBA 10.2).
func pingFlowChecks(fw *Framework) {
	// Testname: Ping flow with private_key_jwt
	// Spec: CIBA-10.2, CIBA-10.1, OIDC-3.1.3.3, RFC6749-5.1
	// Description: A ping client authenticating with private_key_jwt
	// MUST be notified and then receive an access token and an ID
	// token for an approved request. CIBA 10.2 states the ping in the
	// indicative ("will send"); without it a ping client never learns
	// that its tokens are ready, so a missing ping fails the tokens'
	// MUST. The ping is awaited for the request's lifetime.
	// Quote: CIBA-10.2: "If the Client is registered in Ping mode, the OpenID Provider will send an HTTP POST Request to the Client Notification Endpoint after a successful or failed end-user authentication." OIDC-3.1.3.3: "In addition to the response parameters specified by OAuth 2.0, the following parameters MUST be included in the response: id_token ID Token value associated with the authenticated session." RFC6749-5.1: "access_token REQUIRED. The access token issued by the authorization server."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("notifies and issues tokens to an approved ping client using private_key_jwt", func(ctx context.Context, f *Fixture) {
		happyFlow(f, ciba.ModePing, ciba.AuthPrivateKeyJWT)
	}, Refs("CIBA-10.2", "CIBA-10.1", "OIDC-3.1.3.3", "RFC6749-5.1"), Modes(ciba.ModePing), Auth(ciba.AuthPrivateKeyJWT), OIDF(ModHappy), SharesFlow)

	// Testname: Ping flow with tls_client_auth
	// Spec: CIBA-10.2, RFC8705-2.1, OIDC-3.1.3.3, RFC6749-5.1
	// Description: A ping client authenticating with tls_client_auth
	// MUST be notified and then receive an access token and an ID
	// token for an approved request (see the private_key_jwt check
	// on the ping's level).
	// Quote: CIBA-10.2: "If the Client is registered in Ping mode, the OpenID Provider will send an HTTP POST Request to the Client Notification Endpoint after a successful or failed end-user authentication." RFC8705-2.1: "The client is successfully authenticated if the subject information in the certificate matches the single expected subject configured or registered for that particular client" OIDC-3.1.3.3: "In addition to the response parameters specified by OAuth 2.0, the following parameters MUST be included in the response: id_token ID Token value associated with the authenticated session." RFC6749-5.1: "access_token REQUIRED. The access token issued by the authorization server."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("notifies and issues tokens to an approved ping client using tls_client_auth", func(ctx context.Context, f *Fixture) {
		happyFlow(f, ciba.ModePing, ciba.AuthTLSClient)
	}, Refs("CIBA-10.2", "RFC8705-2.1", "OIDC-3.1.3.3", "RFC6749-5.1"), Modes(ciba.ModePing), Auth(ciba.AuthTLSClient), OIDF(ModHappy), SharesFlow)
}

// pingRequestChecks registers the checks of the ping itself, after an
// approval and after a denial (CIBA 10.2).
func pingRequestChecks(fw *Framework) {
	// Testname: Ping notification is well-formed
	// Spec: CIBA-10.2
	// Description: The ping MUST be a POST to the registered endpoint
	// with Authorization Bearer <client_notification_token>,
	// Content-Type application/json and a body of exactly
	// {"auth_req_id": ...}, at certification level: CIBA 10.2
	// describes this message in the indicative, without a
	// requirement keyword on the OP, and makes the client ignore
	// unrecognized members; the OIDF suite fails each deviation
	// (VerifyBearerTokenHeaderCallback, CheckIncomingContentTypeIsApplicationJson,
	// CheckNotificationCallbackOnlyAuthReqId).
	// Quote: CIBA-10.2: "In this mode, the OP sends the client_notification_token as a bearer token in the Authorization header field and sends only the auth_req_id in the body of the request. The request uses the application/json media type." CIBA-10.2: "Clients MUST ignore unrecognized request parameters."
	// Duty: OP
	// Level: CERT
	fw.ConformanceIt("sends the ping as a POST with the bearer token and a body of exactly auth_req_id", func(ctx context.Context, f *Fixture) {
		c := f.Client(ciba.ModePing, AnyAuth)
		u := f.UserFor(device.ActionAllow)
		p := f.Params(c, u)
		ack := f.Start(c, p)
		f.Decide(c, ack, u, p, device.ActionAllow)
		n, err := f.WaitForPing(c, ack)
		if err != nil {
			f.Undetermined(nil, "no ping arrived to judge (the ping-flow checks judge delivery): %v", err)
		}
		f.Expect(n.Method == http.MethodPost, nil, "expected the ping as POST, got %s", n.Method)
		f.Expect(n.BearerToken == p.ClientNotificationToken, nil, "expected Authorization: Bearer <the client_notification_token>, got %q", client.Redact(n.BearerToken))
		ct := strings.TrimSpace(strings.Split(n.Header.Get("Content-Type"), ";")[0])
		f.Expect(ct == "application/json", nil, "expected Content-Type application/json, got %q", n.Header.Get("Content-Type"))
		f.Expect(n.Payload != nil, nil, "expected a JSON object body, got %q", clip(string(n.Body), 200))
		f.Expect(len(n.Payload) == 1 && n.AuthReqID == ack.AuthReqID, nil, "expected a body of exactly {\"auth_req_id\": %q}, got %q", ack.AuthReqID, clip(string(n.Body), 200))
	}, Refs("CIBA-10.2"), Modes(ciba.ModePing), Cert, OIDF(ModHappy))

	// Testname: Denied request is pinged, then access_denied
	// Spec: CIBA-10.2, CIBA-11, RFC6749-5.2
	// Description: When the user denies, the OP MUST still ping the
	// client ("after a successful or failed end-user authentication":
	// without the ping a ping client never learns the outcome), and
	// the token endpoint MUST then answer HTTP 400 access_denied. The
	// ping is awaited for the request's lifetime.
	// Quote: CIBA-10.2: "If the Client is registered in Ping mode, the OpenID Provider will send an HTTP POST Request to the Client Notification Endpoint after a successful or failed end-user authentication." CIBA-11: "access_denied The end-user denied the authorization request." RFC6749-5.2: "The authorization server responds with an HTTP 400 (Bad Request) status code (unless specified otherwise) and includes the following parameters with the response: error REQUIRED."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("pings after the user denies and then answers access_denied", func(ctx context.Context, f *Fixture) {
		c := f.Client(ciba.ModePing, AnyAuth)
		u := f.UserFor(device.ActionDeny)
		p := f.Params(c, u)
		ack := f.Start(c, p)
		f.Decide(c, ack, u, p, device.ActionDeny)
		if _, err := f.WaitForPing(c, ack); err != nil {
			f.Failf(nil, "expected a ping after the denial too (CIBA 10.2): %v", err)
		}
		_, ex, err := c.Token(ctx, ack.AuthReqID)
		f.ExpectOAuthError(ex, err, Status400, ciba.ErrAccessDenied)
	}, Refs("CIBA-10.2", "CIBA-11", "RFC6749-5.2"), Modes(ciba.ModePing), OIDF(ModUserRejects))
}

// pingNoRetryChecks registers the checks that the OP sends one ping: no
// retry after an error answer, no redirect followed (CIBA 10.2).
func pingNoRetryChecks(fw *Framework) {
	// Testname: Ping answered 401 is not retried
	// Spec: CIBA-10.2
	// Description: When the notification endpoint answers 401, the OP
	// MUST NOT send the ping again, at certification level: CIBA 10.2
	// leaves the handling of 4xx answers out of scope; the OIDF suite
	// fails a retry
	// (ping-with-mtls-ciba-notification-endpoint-response-401-and-require-server-does-not-retry).
	// Retries are watched for NoRetryGrace after the ping.
	// Quote: CIBA-10.2: "How the OP handles HTTP error codes in the ranges of 4xx and 5xx is out-of-scope of this specification. Administrative action is likely to be needed in these cases."
	// Duty: OP
	// Level: CERT
	fw.ConformanceIt("does not retry a ping the client answered with 401", func(ctx context.Context, f *Fixture) {
		_, ack, r := pingAnswered(f, client.AnswerStatus(http.StatusUnauthorized, ""))
		wctx, cancel := context.WithTimeout(ctx, requestLifetime(ack))
		defer cancel()
		if _, err := r.Wait(wctx, ack.AuthReqID); err != nil {
			f.Undetermined(nil, "no ping arrived to answer with 401 (the ping-flow checks judge delivery): %v", err)
		}
		got := quiet(ctx, r, func(n client.Notification) bool { return n.AuthReqID == ack.AuthReqID })
		f.Expect(len(got) == 1, nil, "expected exactly one ping after answering 401 (CERT: the OIDF suite fails a retry), got %d", len(got))
	}, Refs("CIBA-10.2"), Modes(ciba.ModePing), Negative, Cert, OIDF(ModPing401NoRetry), Slow)

	// Testname: Redirect from the notification endpoint not followed
	// Spec: CIBA-10.2
	// Description: When the notification endpoint answers 301 with a
	// Location, the OP MUST NOT follow the redirect. Requests to the
	// Location are watched for NoRetryGrace after the ping; without a
	// first ping the check is undetermined.
	// Quote: CIBA-10.2: "The Client MUST NOT return an HTTP 3xx code. The OP MUST NOT follow redirects."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("does not follow a redirect from the notification endpoint", func(ctx context.Context, f *Fixture) {
		c := f.Client(ciba.ModePing, AnyAuth)
		n := f.TargetClient(c).Notification
		if n == nil {
			f.Skipf("client %s has no notification endpoint", c.ClientID())
		}
		elsewhere := strings.TrimRight(n.URL, "/") + "-redirected"
		_, ack, r := pingAnswered(f, client.AnswerRedirect(elsewhere))
		wctx, cancel := context.WithTimeout(ctx, requestLifetime(ack))
		defer cancel()
		if _, err := r.Wait(wctx, ack.AuthReqID); err != nil {
			f.Undetermined(nil, "no ping arrived to answer with a redirect (the ping-flow checks judge delivery): %v", err)
		}
		got := quiet(ctx, r, func(n client.Notification) bool { return strings.HasSuffix(n.Path, "-redirected") })
		f.Expect(len(got) == 0, nil, "expected the redirect not to be followed, %d request(s) reached %s", len(got), elsewhere)
	}, Refs("CIBA-10.2"), Modes(ciba.ModePing), Negative, OIDF(ModPingRedirect), Slow)
}

// pingAnswerChecks registers the checks that the client's answer to the
// ping does not change what the token endpoint gives (CIBA 10.2).
func pingAnswerChecks(fw *Framework) {
	// Testname: Tokens issued after the ping was answered 200 with a body
	// Spec: CIBA-10.2
	// Description: A notification endpoint answering 200 with a body
	// SHOULD NOT stop the client from getting its tokens: the OP
	// SHOULD accept 200 and ignore the body (the OIDF suite warns
	// too).
	// Quote: CIBA-10.2: "For valid requests, the Client Notification Endpoint SHOULD respond with an HTTP 204 No Content. The OP SHOULD also accept HTTP 200 OK and any body in the response SHOULD be ignored."
	// Duty: OP
	// Level: SHOULD
	fw.ConformanceIt("issues tokens after the ping was answered 200 with a body", func(ctx context.Context, f *Fixture) {
		c, ack, _ := pingAnswered(f, client.AnswerStatus(http.StatusOK, `{"ok":true}`))
		f.Tokens(c, ack)
	}, Refs("CIBA-10.2"), Modes(ciba.ModePing), Should, OIDF(ModPingResponseHasBody))

	// Testname: Tokens issued after the ping was answered 401
	// Spec: CIBA-10.2
	// Description: A notification endpoint answering 401 MUST NOT stop
	// the client from getting its tokens, at certification level: CIBA
	// 10.2 leaves 4xx handling out of scope; the OIDF suite fails it.
	// Quote: CIBA-10.2: "How the OP handles HTTP error codes in the ranges of 4xx and 5xx is out-of-scope of this specification. Administrative action is likely to be needed in these cases."
	// Duty: OP
	// Level: CERT
	fw.ConformanceIt("issues tokens after the ping was answered 401", func(ctx context.Context, f *Fixture) {
		c, ack, _ := pingAnswered(f, client.AnswerStatus(http.StatusUnauthorized, ""))
		f.Tokens(c, ack)
	}, Refs("CIBA-10.2"), Modes(ciba.ModePing), Cert, OIDF(ModPingResponse401))

	// Testname: Tokens issued after the ping was answered 403
	// Spec: CIBA-10.2
	// Description: A notification endpoint answering 403 MUST NOT stop
	// the client from getting its tokens, at certification level: CIBA
	// 10.2 leaves 4xx handling out of scope; the OIDF suite fails it.
	// Quote: CIBA-10.2: "How the OP handles HTTP error codes in the ranges of 4xx and 5xx is out-of-scope of this specification. Administrative action is likely to be needed in these cases."
	// Duty: OP
	// Level: CERT
	fw.ConformanceIt("issues tokens after the ping was answered 403", func(ctx context.Context, f *Fixture) {
		c, ack, _ := pingAnswered(f, client.AnswerStatus(http.StatusForbidden, ""))
		f.Tokens(c, ack)
	}, Refs("CIBA-10.2"), Modes(ciba.ModePing), Cert, OIDF(ModPingResponse403))
}
