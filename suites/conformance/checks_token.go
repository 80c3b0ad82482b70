package conformance

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/internal/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/device"
)

// happyFlow runs the approved flow for a client of mode and auth and
// checks the basics of the token response.
func happyFlow(f *Fixture, mode ciba.DeliveryMode, auth ciba.AuthMethod) {
	ginkgo.GinkgoHelper()
	c := f.Client(mode, auth)
	tr, ex, _ := f.Approved(c)
	f.Expect(tr.AccessToken != "", ex, "expected an access_token, got none")
	f.Expect(tr.IDToken != "", ex, "expected an id_token (scope openid), got none")
}

// waitExpiry waits until the request's expires_in has passed: the one
// wait the protocol demands (CIBA 7.3). acked is when the acknowledgement
// arrived, after the OP started counting.
func waitExpiry(ctx context.Context, f *Fixture, ack *ciba.AuthenticationResponse, acked time.Time) {
	ginkgo.GinkgoHelper()
	deadline := acked.Add(time.Duration(ack.ExpiresIn)*time.Second + 100*time.Millisecond)
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		f.Failf(nil, "interrupted while waiting %d s for the request to expire", ack.ExpiresIn)
	}
}

func describeToken(fw *Framework) {
	fw.Describe("Token endpoint", func() {
		// Testname: Poll flow with private_key_jwt
		// Spec: CIBA-10.1, CIBA-10.1.1
		// Description: A poll client authenticating with private_key_jwt
		// MUST receive tokens for an approved request.
		fw.ConformanceIt("issues tokens to an approved poll client using private_key_jwt", func(ctx context.Context, f *Fixture) {
			happyFlow(f, ciba.ModePoll, ciba.AuthPrivateKeyJWT)
		}, Refs("CIBA-10.1", "CIBA-10.1.1"), Modes(ciba.ModePoll), Auth(ciba.AuthPrivateKeyJWT), OIDF(ModHappy))

		// Testname: Poll flow with tls_client_auth
		// Spec: CIBA-10.1, RFC8705-2.1
		// Description: A poll client authenticating with tls_client_auth
		// MUST receive tokens for an approved request.
		fw.ConformanceIt("issues tokens to an approved poll client using tls_client_auth", func(ctx context.Context, f *Fixture) {
			happyFlow(f, ciba.ModePoll, ciba.AuthTLSClient)
		}, Refs("CIBA-10.1", "RFC8705-2.1"), Modes(ciba.ModePoll), Auth(ciba.AuthTLSClient), OIDF(ModHappy))

		// Testname: Poll flow with self_signed_tls_client_auth
		// Spec: CIBA-10.1, RFC8705-2.2
		// Description: A poll client authenticating with
		// self_signed_tls_client_auth MUST receive tokens for an approved
		// request.
		fw.ConformanceIt("issues tokens to an approved poll client using self_signed_tls_client_auth", func(ctx context.Context, f *Fixture) {
			happyFlow(f, ciba.ModePoll, ciba.AuthSelfSignedTLSClient)
		}, Refs("CIBA-10.1", "RFC8705-2.2"), Modes(ciba.ModePoll), Auth(ciba.AuthSelfSignedTLSClient), OIDF(ModHappy))

		// Testname: Token response not cacheable
		// Spec: CIBA-10.1.1, OIDC-3.1.3.3
		// Description: The token response MUST be application/json with
		// Cache-Control no-store.
		fw.ConformanceIt("answers the token request as application/json with Cache-Control no-store", func(ctx context.Context, f *Fixture) {
			_, ex, _ := f.Approved(f.Client(AnyMode, AnyAuth))
			f.Expect(ex.ContentType() == "application/json", ex, "expected Content-Type application/json, got %q", ex.ContentType())
			f.Expect(strings.Contains(strings.ToLower(ex.ResponseHeader.Get("Cache-Control")), "no-store"), ex, "expected Cache-Control no-store, got %q", ex.ResponseHeader.Get("Cache-Control"))
		}, Refs("CIBA-10.1.1", "OIDC-3.1.3.3"), OIDF(ModHappy))

		// Testname: Bearer access token of at least 128 bits with expires_in
		// Spec: FAPI-R-5.2.2-16, FAPI-R-6.2.2-1, RFC6749-5.1
		// Description: token_type MUST be Bearer, expires_in SHOULD be
		// present as a positive number, and the access token MUST carry at
		// least 128 bits of entropy.
		fw.ConformanceIt("issues a Bearer access token of at least 128 bits with expires_in", func(ctx context.Context, f *Fixture) {
			tr, ex, _ := f.Approved(f.Client(AnyMode, AnyAuth))
			f.Expect(strings.EqualFold(tr.TokenType, "Bearer"), ex, "expected token_type Bearer, got %q", tr.TokenType)
			// expires_in is RECOMMENDED (RFC 6749 5.1): a warning only.
			f.ExpectShould(tr.ExpiresIn > 0, ex, "expected a positive expires_in (RECOMMENDED, RFC 6749 5.1), got %d", tr.ExpiresIn)
			f.Expect(entropyBits(tr.AccessToken) >= 128, ex, "expected an access token of >= 128 bits, one of %d characters can hold at most %.0f", len(tr.AccessToken), entropyBits(tr.AccessToken))
		}, Refs("FAPI-R-5.2.2-16", "FAPI-R-6.2.2-1", "RFC6749-5.1"), OIDF(ModHappy))

		// Testname: ID token signed with a FAPI algorithm and a kid
		// Spec: FAPI-RW-8.6, OIDC-10.1
		// Description: The ID token MUST be signed with PS256 or ES256,
		// name its key with kid, and verify with that key of the OP's JWKS.
		fw.ConformanceIt("signs the ID token with PS256 or ES256 under a kid of its JWKS", func(ctx context.Context, f *Fixture) {
			tr, ex, _ := f.Approved(f.Client(AnyMode, AnyAuth))
			t := f.ParseIDToken(tr.IDToken, ex)
			alg, _ := t.Header["alg"].(string)
			f.Expect(alg == ciba.AlgPS256 || alg == ciba.AlgES256, ex, "expected ID token alg PS256 or ES256, got %q", alg)
			kid, _ := t.Header["kid"].(string)
			f.Expect(kid != "", ex, "expected a kid in the ID token header, got none")
			f.Expect(t.VerifyErr == nil, ex, "expected the ID token to verify with the OP's JWKS: %v", t.VerifyErr)
		}, Refs("FAPI-RW-8.6", "OIDC-10.1"), OIDF(ModHappy))

		// Testname: ID token claims identify issuer, client and user
		// Spec: OIDC-2, CIBA-10.1.1
		// Description: The ID token MUST carry iss equal to the issuer,
		// an aud containing the client_id, sub, and numeric iat and an exp
		// in the future; it MUST NOT carry a nonce.
		fw.ConformanceIt("issues an ID token with iss, aud, sub, iat and a future exp", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			tr, ex, _ := f.Approved(c)
			t := f.ParseIDToken(tr.IDToken, ex)
			iss, _ := t.Claims["iss"].(string)
			f.Expect(iss == c.Metadata().Issuer, ex, "expected ID token iss %q, got %q", c.Metadata().Issuer, iss)
			f.Expect(audContains(t.Claims["aud"], c.ClientID()), ex, "expected ID token aud to contain %q, got %v", c.ClientID(), t.Claims["aud"])
			sub, _ := t.Claims["sub"].(string)
			f.Expect(sub != "", ex, "expected a sub claim, got %v", t.Claims["sub"])
			_, hasIat := number(t.Claims, "iat")
			f.Expect(hasIat, ex, "expected a numeric iat, got %v", t.Claims["iat"])
			exp, hasExp := number(t.Claims, "exp")
			f.Expect(hasExp && time.Unix(int64(exp), 0).After(time.Now()), ex, "expected a numeric exp in the future, got %v", t.Claims["exp"])
			_, hasNonce := t.Claims["nonce"]
			f.Expect(!hasNonce, ex, "expected no nonce (CIBA has none), got %v", t.Claims["nonce"])
		}, Refs("OIDC-2", "CIBA-10.1.1"), OIDF(ModHappy))

		// Testname: ID token at_hash matches the access token
		// Spec: OIDC-3.3.2.11, CIBA-10.3.1
		// Description: An at_hash in the ID token MUST be the base64url
		// left half of the SHA-256 of the access token.
		fw.ConformanceIt("issues an ID token whose at_hash, if any, matches the access token", func(ctx context.Context, f *Fixture) {
			tr, ex, _ := f.Approved(f.Client(AnyMode, AnyAuth))
			t := f.ParseIDToken(tr.IDToken, ex)
			v, present := t.Claims[ciba.ClaimATHash]
			if !present {
				return
			}
			f.Expect(v == atHash(tr.AccessToken), ex, "expected at_hash %q, got %v", atHash(tr.AccessToken), v)
		}, Refs("OIDC-3.3.2.11", "CIBA-10.3.1"), OIDF(ModHappy))

		// Testname: ID token auth_req_id claim, if any, is the request's
		// Spec: CIBA-10.3.1
		// Description: An urn:openid:params:jwt:claim:auth_req_id claim in
		// the ID token MUST equal the request's auth_req_id.
		fw.ConformanceIt("issues an ID token whose auth_req_id claim, if any, is the request's", func(ctx context.Context, f *Fixture) {
			tr, ex, ack := f.Approved(f.Client(AnyMode, AnyAuth))
			t := f.ParseIDToken(tr.IDToken, ex)
			v, present := t.Claims[ciba.ClaimAuthReqID]
			if !present {
				return
			}
			f.Expect(v == ack.AuthReqID, ex, "expected the auth_req_id claim to be the request's, got %v", v)
		}, Refs("CIBA-10.3.1"), OIDF(ModHappy))

		// Testname: Redeemed auth_req_id refused
		// Spec: CIBA-11, CIBA-10.1
		// Description: After tokens were issued, the same auth_req_id MUST
		// be answered with HTTP 400 invalid_grant.
		fw.ConformanceIt("refuses a redeemed auth_req_id with invalid_grant", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			_, _, ack := f.Approved(c)
			_, ex, err := c.Token(ctx, ack.AuthReqID)
			f.ExpectOAuthError(ex, err, Status400, "invalid_grant")
		}, Refs("CIBA-11", "CIBA-10.1"), Negative, OIDF(ModHappy))

		// Testname: Tokens issued once under concurrent redemption
		// Spec: CIBA-10.1, CIBA-11
		// Description: Two simultaneous token requests for an approved
		// auth_req_id MUST yield tokens exactly once.
		fw.ConformanceIt("issues tokens exactly once to concurrent token requests", func(ctx context.Context, f *Fixture) {
			c := f.Client(ciba.ModePoll, AnyAuth)
			u := f.UserFor(device.ActionAllow)
			p := f.Params(c, u)
			ack := f.Start(c, p)
			f.Decide(c, ack, u, p, device.ActionAllow)
			interval := time.Duration(max(ack.Interval, 1)) * time.Second
			for deadline := time.Now().Add(time.Duration(ack.ExpiresIn) * time.Second); time.Now().Before(deadline); {
				var wg sync.WaitGroup
				errs := make([]error, 2)
				exs := make([]*client.Exchange, 2)
				for i := range errs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						_, exs[i], errs[i] = c.Token(ctx, ack.AuthReqID)
					}()
				}
				wg.Wait()
				won := 0
				for _, err := range errs {
					if err == nil {
						won++
					}
				}
				if won > 0 {
					f.Expect(won == 1, exs[1], "expected tokens exactly once, both concurrent requests got tokens")
					return
				}
				pending := errors.Is(errs[0], ciba.ErrAuthorizationPending) || errors.Is(errs[0], ciba.ErrSlowDown)
				f.Expect(pending, exs[0], "expected tokens or authorization_pending, got: %v", errs[0])
				select {
				case <-time.After(interval + ciba.SlowDownIncrement*time.Second):
				case <-ctx.Done():
					f.Failf(nil, "interrupted")
				}
			}
			f.Failf(nil, "the approved request never yielded tokens before it expired")
		}, Refs("CIBA-10.1", "CIBA-11"), Modes(ciba.ModePoll), Negative)

		// Testname: Another client's auth_req_id refused without harming the owner
		// Spec: CIBA-11
		// Description: A client presenting another client's auth_req_id
		// MUST get HTTP 400 invalid_grant, and the owner's request MUST
		// stay pending.
		fw.ConformanceIt("refuses another client's auth_req_id and leaves the owner's request pending", func(ctx context.Context, f *Fixture) {
			owner := f.Client(ciba.ModePoll, AnyAuth)
			thief := f.OtherClient(owner, false)
			ack := f.Start(owner, f.Params(owner, f.PendingUser()))
			_, ex, err := thief.Token(ctx, ack.AuthReqID)
			f.ExpectOAuthError(ex, err, Status400, "invalid_grant")
			_, ex, err = owner.Token(ctx, ack.AuthReqID)
			f.ExpectOAuthError(ex, err, Status400, "authorization_pending", "slow_down")
		}, Refs("CIBA-11"), Modes(ciba.ModePoll), Negative, OIDF(ModWrongAuthReqID))

		// Testname: Unknown auth_req_id refused
		// Spec: CIBA-11
		// Description: An auth_req_id the OP never issued MUST be answered
		// with HTTP 400 invalid_grant.
		fw.ConformanceIt("refuses an unknown auth_req_id with invalid_grant", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			id, err := c.NewJTI()
			if err != nil {
				f.Failf(nil, "%v", err)
			}
			_, ex, err := c.Token(ctx, id)
			f.ExpectOAuthError(ex, err, Status400, "invalid_grant")
		}, Refs("CIBA-11"), Negative)

		// Testname: Token request without auth_req_id refused
		// Spec: CIBA-10.1, RFC6749-5.2
		// Description: A CIBA grant request without auth_req_id MUST be
		// answered with HTTP 400 invalid_request.
		fw.ConformanceIt("refuses a CIBA grant request without auth_req_id", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			_, ex, err := c.Token(ctx, "x", client.CallWithoutForm(ciba.ParamAuthReqID))
			f.ExpectOAuthError(ex, err, Status400, "invalid_request")
		}, Refs("CIBA-10.1", "RFC6749-5.2"), Negative)

		// Testname: Denied request gives access_denied (poll)
		// Spec: CIBA-11
		// Description: After the user denies on the authentication device,
		// the token endpoint MUST answer HTTP 400 access_denied.
		fw.ConformanceIt("answers access_denied after the user denies (poll)", func(ctx context.Context, f *Fixture) {
			c := f.Client(ciba.ModePoll, AnyAuth)
			u := f.UserFor(device.ActionDeny)
			p := f.Params(c, u)
			ack := f.Start(c, p)
			f.Decide(c, ack, u, p, device.ActionDeny)
			_, ex, err := f.Outcome(c, ack)
			f.ExpectOAuthError(ex, err, Status400, "access_denied")
		}, Refs("CIBA-11"), Modes(ciba.ModePoll), OIDF(ModUserRejects))

		// Testname: Expired request gives expired_token
		// Spec: CIBA-11, CIBA-7.3
		// Description: Once expires_in has passed without a decision, the
		// token endpoint MUST answer HTTP 400 expired_token.
		fw.ConformanceIt("answers expired_token after expires_in has passed", func(ctx context.Context, f *Fixture) {
			c := f.Client(ciba.ModePoll, AnyAuth)
			p := f.Params(c, f.PendingUser())
			p.RequestedExpiry = 1
			ack := f.Start(c, p)
			waitExpiry(ctx, f, ack, time.Now())
			_, ex, err := c.Token(ctx, ack.AuthReqID)
			f.ExpectOAuthError(ex, err, Status400, "expired_token")
		}, Refs("CIBA-11", "CIBA-7.3"), Modes(ciba.ModePoll), OIDF(ModAuthReqIDExpired))

		// Testname: Polling faster than the interval gives slow_down
		// Spec: CIBA-11
		// Description: A second poll sent at once after the first, faster
		// than the interval, SHOULD be answered slow_down. CIBA 7.3 and 11
		// put the MUST on the client (wait interval, add 5 s after
		// slow_down); an OP may enforce the interval but need not, and the
		// OIDF suite accepts authorization_pending here. Hence a warning.
		fw.ConformanceIt("answers slow_down to a poll faster than the interval", func(ctx context.Context, f *Fixture) {
			c := f.Client(ciba.ModePoll, AnyAuth)
			// Two polls prove nothing if the OP took the whole interval
			// to answer them; such attempts are repeated on a fresh request.
			for range 3 {
				ack := f.Start(c, f.Params(c, f.PendingUser()))
				interval := time.Duration(ack.Interval) * time.Second
				if ack.Interval <= 0 {
					interval = ciba.DefaultPollInterval * time.Second
				}
				sent := time.Now()
				_, ex, err := c.Token(ctx, ack.AuthReqID)
				f.ExpectOAuthError(ex, err, Status400, "authorization_pending", "slow_down")
				_, ex, err = c.Token(ctx, ack.AuthReqID)
				if time.Since(sent) >= interval {
					continue
				}
				f.ExpectOAuthError(ex, err, Status400, "slow_down")
				return
			}
			f.Skipf("the OP answered too slowly to poll it twice within its interval")
		}, Refs("CIBA-11"), Modes(ciba.ModePoll), Should)

		// Testname: Twenty back-to-back polls are answered sanely
		// Spec: CIBA-11
		// Description: Twenty token requests without delay for a pending
		// request MUST each get authorization_pending or slow_down (or
		// invalid_request, or 503 with Retry-After): never tokens, never
		// another server error.
		fw.ConformanceIt("answers twenty back-to-back polls with pending, slow_down or 503", func(ctx context.Context, f *Fixture) {
			c := f.Client(ciba.ModePoll, AnyAuth)
			ack := f.Start(c, f.Params(c, f.PendingUser()))
			for i := range 20 {
				_, ex, err := c.Token(ctx, ack.AuthReqID)
				if ex != nil && ex.Status == http.StatusServiceUnavailable {
					f.Expect(ex.ResponseHeader.Get("Retry-After") != "", ex, "poll %d: expected Retry-After with HTTP 503", i+1)
					continue
				}
				f.ExpectOAuthError(ex, err, Status400, "authorization_pending", "slow_down", "invalid_request")
			}
		}, Refs("CIBA-11"), Modes(ciba.ModePoll), Negative, OIDF(ModMultipleCalls))

		// Testname: Token request without a client certificate gets no tokens
		// Spec: RFC8705-3, FAPI-RW-5.2.2-5
		// Description: Access tokens are certificate-bound, so a token
		// request without a client certificate MUST fail (TLS refusal or a
		// 4xx error), even for private_key_jwt clients.
		fw.ConformanceIt("issues no tokens to a token request without a client certificate", func(ctx context.Context, f *Fixture) {
			// A private_key_jwt client is the telling case: it authenticates
			// without its certificate, so only the binding can refuse it.
			// An mTLS client fails authentication anyway; use one only when
			// the target has no private_key_jwt poll client.
			auth := AnyAuth
			if len(f.Clients(ciba.ModePoll, ciba.AuthPrivateKeyJWT)) > 0 {
				auth = ciba.AuthPrivateKeyJWT
			}
			c := f.Client(ciba.ModePoll, auth)
			u := f.UserFor(device.ActionAllow)
			p := f.Params(c, u)
			ack := f.Start(c, p)
			f.Decide(c, ack, u, p, device.ActionAllow)
			_, ex, err := c.Token(ctx, ack.AuthReqID, client.CallTLSCertificate(nil))
			if ex != nil && ex.Status == 0 && err != nil {
				f.EnsureReachable()
				return // refused in the TLS handshake
			}
			f.ExpectOAuthError(ex, err, []int{http.StatusBadRequest, http.StatusUnauthorized}, "invalid_client", "invalid_request", "invalid_grant", "authorization_pending", "slow_down")
		}, Refs("RFC8705-3", "FAPI-RW-5.2.2-5"), Modes(ciba.ModePoll), Negative, OIDF(ModMTLSHolderOfKeyRequired))

		// Testname: Access token refused with another client's certificate
		// Spec: RFC8705-3, FAPI-RW-5.2.2-5
		// Description: The access token MUST work at userinfo over the
		// client's own certificate and MUST be refused (401) over another
		// client's certificate.
		fw.ConformanceIt("refuses the access token at userinfo over another client's certificate", func(ctx context.Context, f *Fixture) {
			if f.Metadata().UserinfoEndpoint == "" {
				f.Skipf("the OP publishes no userinfo_endpoint to present the token at")
			}
			c := f.Client(AnyMode, AnyAuth)
			other := f.OtherClient(c, false)
			otherCert := f.TLSCert(other)
			tr, _, _ := f.Approved(c)
			_, ex, err := c.UserInfo(ctx, tr.AccessToken)
			f.Expect(err == nil, ex, "expected userinfo to accept the token over the client's own certificate, got: %v", err)
			_, ex, err = c.UserInfo(ctx, tr.AccessToken, client.CallTLSCertificate(otherCert))
			f.Expect(err != nil && ex != nil && ex.Status >= 400 && ex.Status < 500, ex, "expected a 4xx refusal of the token over %s's certificate, got HTTP %d (%v)", other.ClientID(), statusOf(ex), err)
		}, Refs("RFC8705-3", "FAPI-RW-5.2.2-5"), Negative, OIDF(ModHappy))

		// Testname: Refresh token grant works for its client
		// Spec: RFC6749-6
		// Description: When a refresh token is issued, the refresh grant
		// MUST give the owning client a new Bearer access token with
		// Cache-Control no-store.
		fw.ConformanceIt("refreshes the access token for the client that owns the refresh token", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			tr, _, _ := f.Approved(c)
			if tr.RefreshToken == "" {
				f.Skipf("the OP issued no refresh token")
			}
			rt, ex, err := c.Refresh(ctx, tr.RefreshToken, "")
			f.Expect(err == nil, ex, "expected the refresh grant to succeed, got: %v", err)
			f.Expect(rt.AccessToken != "" && strings.EqualFold(rt.TokenType, "Bearer"), ex, "expected a new Bearer access token, got token_type %q", rt.TokenType)
			f.Expect(strings.Contains(ex.ResponseHeader.Get("Cache-Control"), "no-store"), ex, "expected Cache-Control no-store, got %q", ex.ResponseHeader.Get("Cache-Control"))
		}, Refs("RFC6749-6"), OIDF(ModRefreshToken))

		// Testname: Another client's refresh token refused
		// Spec: RFC6749-6, CIBA-11
		// Description: A refresh token presented by another client MUST be
		// refused with HTTP 400 invalid_grant.
		fw.ConformanceIt("refuses another client's refresh token with invalid_grant", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			other := f.OtherClient(c, false)
			tr, _, _ := f.Approved(c)
			if tr.RefreshToken == "" {
				f.Skipf("the OP issued no refresh token")
			}
			_, ex, err := other.Refresh(ctx, tr.RefreshToken, "")
			f.ExpectOAuthError(ex, err, Status400, "invalid_grant")
		}, Refs("RFC6749-6", "CIBA-11"), Negative, OIDF(ModRefreshToken))

		// Testname: Refreshed access token stays certificate-bound
		// Spec: RFC8705-3, RFC6749-6
		// Description: An access token from the refresh grant MUST be bound
		// to the client certificate like the first one: refused at
		// userinfo over another client's certificate.
		fw.ConformanceIt("binds the refreshed access token to the client certificate", func(ctx context.Context, f *Fixture) {
			if f.Metadata().UserinfoEndpoint == "" {
				f.Skipf("the OP publishes no userinfo_endpoint to present the token at")
			}
			c := f.Client(AnyMode, AnyAuth)
			otherCert := f.TLSCert(f.OtherClient(c, false))
			tr, _, _ := f.Approved(c)
			if tr.RefreshToken == "" {
				f.Skipf("the OP issued no refresh token")
			}
			rt, ex, err := c.Refresh(ctx, tr.RefreshToken, "")
			f.Expect(err == nil, ex, "expected the refresh grant to succeed, got: %v", err)
			_, ex, err = c.UserInfo(ctx, rt.AccessToken)
			f.Expect(err == nil, ex, "expected userinfo to accept the refreshed token over the client's own certificate, got: %v", err)
			_, ex, err = c.UserInfo(ctx, rt.AccessToken, client.CallTLSCertificate(otherCert))
			f.Expect(err != nil && ex != nil && ex.Status >= 400 && ex.Status < 500, ex, "expected a 4xx refusal of the refreshed token over another certificate, got HTTP %d (%v)", statusOf(ex), err)
		}, Refs("RFC8705-3", "RFC6749-6"), Negative, OIDF(ModRefreshToken))

		// Testname: ID token of the refresh grant consistent with the first
		// Spec: OIDC-12.2
		// Description: An ID token returned by the refresh grant MUST have
		// the same iss and sub as the original and an aud containing the
		// client_id.
		fw.ConformanceIt("issues refresh-grant ID tokens with the original iss and sub", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			tr, ex, _ := f.Approved(c)
			if tr.RefreshToken == "" {
				f.Skipf("the OP issued no refresh token")
			}
			first := f.ParseIDToken(tr.IDToken, ex)
			rt, ex, err := c.Refresh(ctx, tr.RefreshToken, "")
			f.Expect(err == nil, ex, "expected the refresh grant to succeed, got: %v", err)
			if rt.IDToken == "" {
				f.Skipf("the refresh grant returned no ID token")
			}
			second := f.ParseIDToken(rt.IDToken, ex)
			f.Expect(second.Claims["iss"] == first.Claims["iss"], ex, "expected iss %v, got %v", first.Claims["iss"], second.Claims["iss"])
			f.Expect(second.Claims["sub"] == first.Claims["sub"], ex, "expected sub %v, got %v", first.Claims["sub"], second.Claims["sub"])
			f.Expect(audContains(second.Claims["aud"], c.ClientID()), ex, "expected aud to contain %q, got %v", c.ClientID(), second.Claims["aud"])
		}, Refs("OIDC-12.2"), OIDF(ModRefreshToken))

		// Testname: Refresh with a wider scope refused
		// Spec: RFC6749-6
		// Description: A refresh request asking for a scope beyond the
		// original grant MUST be refused with HTTP 400 invalid_scope.
		fw.ConformanceIt("refuses a refresh request for a wider scope with invalid_scope", func(ctx context.Context, f *Fixture) {
			c := f.Client(AnyMode, AnyAuth)
			tr, _, _ := f.Approved(c)
			if tr.RefreshToken == "" {
				f.Skipf("the OP issued no refresh token")
			}
			_, ex, err := c.Refresh(ctx, tr.RefreshToken, "openid ciba-check-never-granted")
			f.ExpectOAuthError(ex, err, Status400, "invalid_scope")
		}, Refs("RFC6749-6"), Negative)
	})
}

func statusOf(ex *client.Exchange) int {
	if ex == nil {
		return 0
	}
	return ex.Status
}
