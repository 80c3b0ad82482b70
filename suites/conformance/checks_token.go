package conformance

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
)

// happyFlow runs the approved flow for a client of mode and auth and
// checks the basics of the token response.
func happyFlow(f *Fixture, mode ciba.DeliveryMode, auth ciba.AuthMethod) {
	ginkgo.GinkgoHelper()
	f.ClaimFlow()
	c := f.Client(mode, auth)
	tr, ex, _ := f.SharedApproved(c)
	f.Expect(tr.AccessToken != "", ex, "expected an access_token, got none")
	f.Expect(tr.IDToken != "", ex, "expected an id_token (scope openid), got none")
}

// pollInterval is how long a client waits between token requests: the
// acknowledgement's interval, or 5 s when it has none (CIBA 7.3: "If no
// value is provided, clients MUST use 5 as the default value").
func pollInterval(ack *ciba.AuthenticationResponse) time.Duration {
	if ack.Interval > 0 {
		return time.Duration(ack.Interval) * time.Second
	}
	return ciba.DefaultPollInterval * time.Second
}

// sleepCtx waits d or until ctx ends; false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// undecided reports whether a token answer leaves the request open:
// authorization_pending or slow_down (CIBA 11), or HTTP 503 (the OP is
// busy). Such an answer is neither tokens nor a refusal.
func undecided(ex *client.Exchange, err error) bool {
	if errors.Is(err, ciba.ErrAuthorizationPending) || errors.Is(err, ciba.ErrSlowDown) {
		return true
	}
	return err != nil && ex != nil && ex.Status == http.StatusServiceUnavailable
}

// noResponse reports whether a call got no HTTP response at all (a reset,
// a timeout, a refused connection): nothing the OP said can be judged.
func noResponse(ex *client.Exchange, err error) bool {
	return err != nil && !hadResponse(ex)
}

// decidedAnswer asks the token endpoint about ack's request (with opts)
// until the answer is no longer authorization_pending, slow_down or 503:
// pending is not a refusal (CIBA 11). It obeys the interval (CIBA 7.3),
// adds 5 s after slow_down and gives up with the last answer when the
// request's lifetime is over.
func decidedAnswer(ctx context.Context, c *client.Client, ack *ciba.AuthenticationResponse, opts ...client.CallOption) (*ciba.TokenResponse, *client.Exchange, error) {
	deadline := time.Now().Add(requestLifetime(ack))
	interval := pollInterval(ack)
	for {
		tr, ex, err := c.Token(ctx, ack.AuthReqID, opts...)
		if !undecided(ex, err) || time.Now().Add(interval).After(deadline) {
			return tr, ex, err
		}
		if errors.Is(err, ciba.ErrSlowDown) {
			interval += ciba.SlowDownIncrement * time.Second
		}
		if !sleepCtx(ctx, interval) {
			return tr, ex, err
		}
	}
}

// hasNoStore reports whether the Cache-Control header fields of h hold the
// no-store directive. Directive names compare case-insensitively (RFC
// 9111 5.2, formerly RFC 7234 5.2) and other directives may stand beside
// it ("no-store, no-cache, max-age=0").
func hasNoStore(h http.Header) bool {
	for _, v := range h.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			name, _, _ := strings.Cut(strings.TrimSpace(d), "=")
			if strings.EqualFold(strings.TrimSpace(name), "no-store") {
				return true
			}
		}
	}
	return false
}

// tokenIssuanceChecks registers the checks that an approved poll client
// gets tokens under each authentication method (CIBA 10.1, RFC 6749 5.1).
func tokenIssuanceChecks(fw *Framework) {
	// Testname: Poll flow with private_key_jwt
	// Spec: CIBA-10.1, CIBA-10.1.1, OIDC-3.1.3.3, RFC6749-5.1
	// Description: A poll client authenticating with private_key_jwt
	// MUST receive an access token and an ID token for an approved
	// request.
	// Quote: OIDC-3.1.3.3: "In addition to the response parameters specified by OAuth 2.0, the following parameters MUST be included in the response: id_token ID Token value associated with the authenticated session." RFC6749-5.1: "access_token REQUIRED. The access token issued by the authorization server."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("issues tokens to an approved poll client using private_key_jwt", func(ctx context.Context, f *Fixture) {
		happyFlow(f, ciba.ModePoll, ciba.AuthPrivateKeyJWT)
	}, Refs("CIBA-10.1", "CIBA-10.1.1", "OIDC-3.1.3.3", "RFC6749-5.1"), Modes(ciba.ModePoll), Auth(ciba.AuthPrivateKeyJWT), OIDF(ModHappy), SharesFlow)

	// Testname: Poll flow with tls_client_auth
	// Spec: CIBA-10.1, RFC8705-2.1, OIDC-3.1.3.3, RFC6749-5.1
	// Description: A poll client authenticating with tls_client_auth
	// MUST receive an access token and an ID token for an approved
	// request.
	// Quote: RFC8705-2.1: "The client is successfully authenticated if the subject information in the certificate matches the single expected subject configured or registered for that particular client" OIDC-3.1.3.3: "In addition to the response parameters specified by OAuth 2.0, the following parameters MUST be included in the response: id_token ID Token value associated with the authenticated session." RFC6749-5.1: "access_token REQUIRED. The access token issued by the authorization server."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("issues tokens to an approved poll client using tls_client_auth", func(ctx context.Context, f *Fixture) {
		happyFlow(f, ciba.ModePoll, ciba.AuthTLSClient)
	}, Refs("CIBA-10.1", "RFC8705-2.1", "OIDC-3.1.3.3", "RFC6749-5.1"), Modes(ciba.ModePoll), Auth(ciba.AuthTLSClient), OIDF(ModHappy), SharesFlow)

	// Testname: Poll flow with self_signed_tls_client_auth
	// Spec: CIBA-10.1, RFC8705-2.2, OIDC-3.1.3.3, RFC6749-5.1
	// Description: A poll client authenticating with
	// self_signed_tls_client_auth MUST receive an access token and an
	// ID token for an approved request.
	// Quote: RFC8705-2.2: "The client is successfully authenticated if the certificate that it presented during the handshake matches one of the certificates configured or registered for that particular client." OIDC-3.1.3.3: "In addition to the response parameters specified by OAuth 2.0, the following parameters MUST be included in the response: id_token ID Token value associated with the authenticated session." RFC6749-5.1: "access_token REQUIRED. The access token issued by the authorization server."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("issues tokens to an approved poll client using self_signed_tls_client_auth", func(ctx context.Context, f *Fixture) {
		happyFlow(f, ciba.ModePoll, ciba.AuthSelfSignedTLSClient)
	}, Refs("CIBA-10.1", "RFC8705-2.2", "OIDC-3.1.3.3", "RFC6749-5.1"), Modes(ciba.ModePoll), Auth(ciba.AuthSelfSignedTLSClient), OIDF(ModHappy), SharesFlow)
}

// tokenResponseChecks registers the checks of the token response's form:
// media type, caching, token type and entropy (OIDC Core 3.1.3.3, RFC 6749
// 5.1, 10.10).
func tokenResponseChecks(fw *Framework) {
	// Testname: Token response not cacheable
	// Spec: CIBA-10.1.1, OIDC-3.1.3.3, RFC6749-5.1
	// Description: The token response MUST be application/json and
	// MUST carry Cache-Control no-store (the directive compared
	// case-insensitively, other directives allowed beside it).
	// Quote: OIDC-3.1.3.3: "The response uses the application/json media type." OIDC-3.1.3.3: "All Token Responses that contain tokens, secrets, or other sensitive information MUST include the following HTTP response header fields and values: Cache-Control no-store" RFC6749-5.1: "The authorization server MUST include the HTTP "Cache-Control" response header field [RFC2616] with a value of "no-store" in any response containing tokens, credentials, or other sensitive information"
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("answers the token request as application/json with Cache-Control no-store", func(ctx context.Context, f *Fixture) {
		_, ex, _ := f.SharedApproved(f.Client(AnyMode, AnyAuth))
		f.Expect(ex.ContentType() == "application/json", ex, "expected Content-Type application/json, got %q", ex.ContentType())
		f.Expect(hasNoStore(ex.ResponseHeader), ex, "expected Cache-Control no-store, got %q", ex.ResponseHeader.Values("Cache-Control"))
	}, Refs("CIBA-10.1.1", "OIDC-3.1.3.3", "RFC6749-5.1"), OIDF(ModHappy), SharesFlow)

	// Testname: Bearer access token of at least 128 bits with expires_in
	// Spec: OIDC-3.1.3.3, FAPI-R-5.2.2-16, RFC6749-10.10, RFC6749-5.1
	// Description: token_type MUST be Bearer, the access token MUST
	// carry at least 128 bits of entropy, and expires_in SHOULD be
	// present as a positive number (RECOMMENDED: a warning). The
	// Bearer rule is OIDC 3.1.3.3's (FAPI-R 6.2.2-1, cited before,
	// binds the client).
	// Quote: OIDC-3.1.3.3: "The OAuth 2.0 token_type response parameter value MUST be Bearer, as specified in OAuth 2.0 Bearer Token Usage [RFC6750], unless another Token Type has been negotiated with the Client." RFC6749-10.10: "The probability of an attacker guessing generated tokens (and other credentials not intended for handling by end-users) MUST be less than or equal to 2^(-128) and SHOULD be less than or equal to 2^(-160)." FAPI-R-5.2.2-16: "shall provide non-guessable access tokens, authorization codes, and refresh token (where applicable), with sufficient entropy such that the probability of an attacker guessing the generated token is computationally infeasible as per [RFC6749] Section 10.10;" RFC6749-5.1: "expires_in RECOMMENDED. The lifetime in seconds of the access token."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("issues a Bearer access token of at least 128 bits with expires_in", func(ctx context.Context, f *Fixture) {
		tr, ex, _ := f.SharedApproved(f.Client(AnyMode, AnyAuth))
		f.Expect(strings.EqualFold(tr.TokenType, "Bearer"), ex, "expected token_type Bearer (OIDC 3.1.3.3), got %q", tr.TokenType)
		// expires_in is RECOMMENDED (RFC 6749 5.1): a warning only.
		f.ExpectShould(tr.ExpiresIn > 0, ex, "expected a positive expires_in (RECOMMENDED, RFC 6749 5.1), got %d", tr.ExpiresIn)
		f.Expect(entropyBits(tr.AccessToken) >= 128, ex, "expected an access token of >= 128 bits (RFC 6749 10.10), one of %d characters can hold at most %.0f", len(tr.AccessToken), entropyBits(tr.AccessToken))
	}, Refs("OIDC-3.1.3.3", "FAPI-R-5.2.2-16", "RFC6749-10.10", "RFC6749-5.1"), OIDF(ModHappy), SharesFlow)
}

func statusOf(ex *client.Exchange) int {
	if ex == nil {
		return 0
	}
	return ex.Status
}
