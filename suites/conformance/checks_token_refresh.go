package conformance

import (
	"context"
	"slices"
	"strings"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/device"
)

// tokenRefreshOwnerChecks registers the checks that a refresh token works for
// its own client only (RFC 6749 6, 10.4).
func tokenRefreshOwnerChecks(fw *Framework) {
	// Testname: Refresh token grant works for its client
	// Spec: RFC6749-6, RFC6749-5.1, OIDC-12.2
	// Description: When a refresh token is issued, the refresh grant
	// MUST give the owning client a new Bearer access token with
	// Cache-Control no-store (directive compared case-insensitively,
	// others allowed). An OP that issues no refresh token is within
	// its rights (OIDC 11); the check then asks once more with
	// offline_access and is skipped when that gives none either.
	// Quote: RFC6749-6: "If valid and authorized, the authorization server issues an access token as described in Section 5.1." RFC6749-5.1: "token_type REQUIRED. The type of the token issued as described in Section 7.1. Value is case insensitive." RFC6749-5.1: "The authorization server MUST include the HTTP "Cache-Control" response header field [RFC2616] with a value of "no-store" in any response containing tokens, credentials, or other sensitive information" OIDC-12.2: "Upon successful validation of the Refresh Token, the response body is the Token Response of Section 3.1.3.3 except that it might not contain an id_token."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refreshes the access token for the client that owns the refresh token", func(ctx context.Context, f *Fixture) {
		c := f.Client(AnyMode, AnyAuth)
		tr, _ := refreshable(f, c)
		rt, ex, err := c.Refresh(ctx, tr.RefreshToken, "")
		if noResponse(ex, err) {
			f.Undetermined(ex, "the refresh request got no answer: %v", err)
		}
		f.Expect(err == nil, ex, "expected the refresh grant to succeed, got: %v", err)
		f.Expect(rt.AccessToken != "" && strings.EqualFold(rt.TokenType, "Bearer"), ex, "expected a new Bearer access token, got token_type %q", rt.TokenType)
		f.Expect(hasNoStore(ex.ResponseHeader), ex, "expected Cache-Control no-store, got %q", ex.ResponseHeader.Values("Cache-Control"))
	}, Refs("RFC6749-6", "RFC6749-5.1", "OIDC-12.2"), OIDF(ModRefreshToken))

	// Testname: Another client's refresh token refused
	// Spec: RFC6749-6, CIBA-11
	// Description: A refresh token presented by another client MUST be
	// refused with HTTP 400 invalid_grant. Positive control: the
	// other client's own token request is accepted. Skipped when the
	// OP issues no refresh token (see the refresh check).
	// Quote: RFC6749-6: "The authorization server MUST: ... authenticate the client if client authentication is included and ensure that the refresh token was issued to the authenticated client, and validate the refresh token." RFC6749-5.2: "invalid_grant The provided authorization grant (e.g., authorization code, resource owner credentials) or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses another client's refresh token with invalid_grant", func(ctx context.Context, f *Fixture) {
		c := f.Client(AnyMode, AnyAuth)
		other := f.OtherClient(c, false)
		tokenControl(ctx, f, other, f.PendingUserOrAny())
		tr, _ := refreshable(f, c)
		_, ex, err := other.Refresh(ctx, tr.RefreshToken, "")
		f.ExpectOAuthError(ex, err, Status400, ciba.ErrInvalidGrant)
	}, Refs("RFC6749-6", "CIBA-11"), Negative, OIDF(ModRefreshToken))
}

// tokenRefreshResultChecks registers the checks of what a refresh gives: a bound
// access token and an ID token of the same iss and sub (RFC 8705, OIDC Core
// 12.2).
func tokenRefreshResultChecks(fw *Framework) {
	// Testname: Refreshed access token stays certificate-bound
	// Spec: RFC8705-3, RFC6749-6
	// Description: An access token from the refresh grant MUST be bound
	// to the client certificate like the first one: refused at
	// userinfo over another client's certificate with HTTP 401
	// invalid_token (or a TLS alert). Positive control: it works over
	// the client's own certificate. Skipped when the refresh grant
	// gives nothing to test (no refresh token, or the grant fails:
	// the refresh check judges that) or binding is not required.
	// Quote: RFC8705-3: "The protected resource MUST obtain, from its TLS implementation layer, the client certificate used for mutual TLS and MUST verify that the certificate matches the certificate associated with the access token. If they do not match, the resource access attempt MUST be rejected with an error, per [RFC6750], using an HTTP 401 status code and the "invalid_token" error code." FAPI-RW-5.2.2-5: "shall only issue sender-constrained access tokens;"
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("binds the refreshed access token to the client certificate", func(ctx context.Context, f *Fixture) {
		c, otherCert, otherID := holderOfKeyProbe(f)
		tr, _ := refreshable(f, c)
		rt, ex, err := c.Refresh(ctx, tr.RefreshToken, "")
		if err != nil {
			f.Skipf("the refresh grant gave no new access token to test (the refresh check judges that): %v%s", err, quoteIf(ex))
		}
		expectBoundAtUserinfo(ctx, f, c, rt.AccessToken, otherCert, otherID)
	}, Refs("RFC8705-3", "RFC6749-6"), Negative, OIDF(ModRefreshToken))

	// Testname: ID token of the refresh grant consistent with the first
	// Spec: OIDC-12.2
	// Description: An ID token returned by the refresh grant MUST have
	// the same iss and sub as the original and an aud containing the
	// client_id. Skipped when there is no refresh token, the refresh
	// grant fails (the refresh check judges that) or it returns no ID
	// token (allowed).
	// Quote: OIDC-12.2: "If an ID Token is returned as a result of a token refresh request, the following requirements apply: its iss Claim Value MUST be the same as in the ID Token issued when the original authentication occurred, its sub Claim Value MUST be the same as in the ID Token issued when the original authentication occurred, its iat Claim MUST represent the time that the new ID Token is issued, its aud Claim Value MUST be the same as in the ID Token issued when the original authentication occurred,"
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("issues refresh-grant ID tokens with the original iss and sub", func(ctx context.Context, f *Fixture) {
		c := f.Client(AnyMode, AnyAuth)
		tr, ex := refreshable(f, c)
		first := f.ParseIDToken(tr.IDToken, ex)
		rt, ex, err := c.Refresh(ctx, tr.RefreshToken, "")
		if err != nil {
			f.Skipf("the refresh grant failed (the refresh check judges that): %v%s", err, quoteIf(ex))
		}
		if rt.IDToken == "" {
			f.Skipf("the refresh grant returned no ID token (allowed, OIDC 12.2)")
		}
		second := f.ParseIDToken(rt.IDToken, ex)
		f.Expect(second.Claims["iss"] == first.Claims["iss"], ex, "expected iss %v, got %v", first.Claims["iss"], second.Claims["iss"])
		f.Expect(second.Claims["sub"] == first.Claims["sub"], ex, "expected sub %v, got %v", first.Claims["sub"], second.Claims["sub"])
		f.Expect(audContains(second.Claims["aud"], c.ClientID()), ex, "expected aud to contain %q, got %v", c.ClientID(), second.Claims["aud"])
	}, Refs("OIDC-12.2"), OIDF(ModRefreshToken))
}

// tokenRefreshScopeChecks registers the check that a refresh cannot widen the
// scope (RFC 6749 6).
func tokenRefreshScopeChecks(fw *Framework) {
	// Testname: Refresh with a wider scope refused or ignored
	// Spec: RFC6749-6, RFC6749-3.3, RFC6749-5.2
	// Description: A refresh request asking for a scope beyond the
	// original grant MUST NOT be granted it: the OP MUST answer HTTP
	// 400 invalid_scope, or issue tokens for a scope without the
	// extra value and say so in the scope member (RFC 6749 3.3: the
	// OP MAY ignore requested scope, and MUST then name the scope it
	// granted). Tokens without a scope member grant the scope
	// requested (RFC 6749 5.1), so they fail. Skipped without a
	// refresh token.
	// Quote: RFC6749-3.3: "The authorization server MAY fully or partially ignore the scope requested by the client, based on the authorization server policy or the resource owner's instructions. If the issued access token scope is different from the one requested by the client, the authorization server MUST include the "scope" response parameter to inform the client of the actual scope granted." RFC6749-5.2: "invalid_scope The requested scope is invalid, unknown, malformed, or exceeds the scope granted by the resource owner." RFC6749-6: "The requested scope MUST NOT include any scope not originally granted by the resource owner, and if omitted is treated as equal to the scope originally granted by the resource owner."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses a refresh request for a wider scope or grants it without the extra scope", func(ctx context.Context, f *Fixture) {
		c := f.Client(AnyMode, AnyAuth)
		tr, _ := refreshable(f, c)
		rt, ex, err := c.Refresh(ctx, tr.RefreshToken, "openid "+neverGrantedScope)
		if err == nil {
			f.Expect(rt.Scope != "", ex, "expected invalid_scope, or tokens whose scope member names the scope granted without %q (RFC 6749 3.3); got tokens without a scope member, i.e. for the scope requested (RFC 6749 5.1)", neverGrantedScope)
			f.Expect(!slices.Contains(strings.Fields(rt.Scope), neverGrantedScope), ex, "expected invalid_scope or the extra scope ignored, got tokens for scope %q", rt.Scope)
			return
		}
		f.ExpectOAuthError(ex, err, Status400, ciba.ErrInvalidScope)
	}, Refs("RFC6749-6", "RFC6749-3.3", "RFC6749-5.2"), Negative)
}

// neverGrantedScope is a scope value no OP grants, for the refresh check.
const neverGrantedScope = "ciba-check-never-granted"

// refreshable runs an approved flow for c and returns its token response
// when it carries a refresh token. Refresh tokens are optional, and an OP
// may issue them only when offline_access is requested (OIDC 11: the
// scope value "requests that an OAuth 2.0 Refresh Token be issued"), so
// without one the flow is run once more with
// offline_access added to the client's scope, unless the scope has it
// already or the OP's scopes_supported leaves it out; no refresh token
// then skips the check with the reason, as the OIDF suite does.
func refreshable(f *Fixture, c *client.Client) (*ciba.TokenResponse, *client.Exchange) {
	ginkgo.GinkgoHelper()
	tr, ex, _ := f.Approved(c)
	if tr.RefreshToken != "" {
		return tr, ex
	}
	u := f.UserFor(device.ActionAllow)
	p := f.Params(c, u)
	scopes := strings.Fields(p.Scope)
	supported := f.Metadata().ScopesSupported
	switch {
	case slices.Contains(scopes, offlineAccess):
		f.Skipf("the OP issued no refresh token, although the scope %q asks for offline_access (refresh tokens are optional, OIDC 11)", p.Scope)
	case len(supported) > 0 && !slices.Contains(supported, offlineAccess):
		f.Skipf("the OP issued no refresh token and does not list offline_access in scopes_supported (refresh tokens are optional, OIDC 11)")
	}
	p.Scope = strings.Join(append(scopes, offlineAccess), " ")
	ack, aex, err := c.Authenticate(f.ctx, p)
	if err != nil || ack == nil || ack.AuthReqID == "" {
		f.Skipf("the OP issued no refresh token, and refused the request with scope %q: %v%s", p.Scope, err, quoteIf(aex))
	}
	f.Decide(c, ack, u, p, device.ActionAllow)
	tr, ex, err = f.Outcome(c, ack)
	if err != nil {
		f.Skipf("the OP issued no refresh token, and no tokens for the approved request with scope %q: %v%s", p.Scope, err, quoteIf(ex))
	}
	if tr.RefreshToken == "" {
		f.Skipf("the OP issued no refresh token, not even for scope %q (refresh tokens are optional, OIDC 11)", p.Scope)
	}
	return tr, ex
}

// offlineAccess is the scope value that asks for a refresh token (OIDC 11).
const offlineAccess = "offline_access"
