package client

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/ciba-check/ciba-check/ciba"
)

// The calls of the endpoints around CIBA: introspection (RFC 7662),
// revocation (RFC 7009) and userinfo (OIDC Core 5.3).

// Introspect asks the introspection endpoint about token (RFC 7662 2);
// hint "" sends no token_type_hint.
func (c *Client) Introspect(ctx context.Context, token, hint string, opts ...CallOption) (*ciba.IntrospectionResponse, *Exchange, error) {
	form := url.Values{ciba.ParamToken: {token}}
	if hint != "" {
		form.Set(ciba.ParamTokenTypeHint, hint)
	}
	md := c.cfg.Metadata
	ex, raw, err := c.call(ctx, c.endpoint(md.IntrospectionEndpoint, func(a *ciba.MTLSEndpointAliases) string { return a.IntrospectionEndpoint }), md.IntrospectionEndpoint, form, true, newCallSpec(opts))
	if err != nil {
		return nil, ex, err
	}
	var ir ciba.IntrospectionResponse
	if err := decodeSuccess(ex, raw, &ir); err != nil {
		return nil, ex, err
	}
	return &ir, ex, nil
}

// Revoke revokes token (RFC 7009 2); a 200 answer is success.
func (c *Client) Revoke(ctx context.Context, token, hint string, opts ...CallOption) (*Exchange, error) {
	form := url.Values{ciba.ParamToken: {token}}
	if hint != "" {
		form.Set(ciba.ParamTokenTypeHint, hint)
	}
	md := c.cfg.Metadata
	ex, _, err := c.call(ctx, c.endpoint(md.RevocationEndpoint, func(a *ciba.MTLSEndpointAliases) string { return a.RevocationEndpoint }), md.RevocationEndpoint, form, true, newCallSpec(opts))
	if err != nil {
		return ex, err
	}
	if ex.Truncated {
		return ex, tooLarge(ex)
	}
	if ex.Status != http.StatusOK {
		if oe := parseOAuthError(ex.Status, ex.ResponseBody); oe != nil {
			return ex, oe
		}
		return ex, &ResponseError{Status: ex.Status, ContentType: ex.ContentType(), Reason: "error status without an OAuth error body"}
	}
	return ex, nil
}

// UserInfo calls the userinfo endpoint with accessToken as a Bearer
// credential (RFC 6750 2.1) over the client's TLS connection, so a
// certificate-bound token (RFC 8705 3) can be honoured. It returns the
// claims of a JSON answer; a signed answer (application/jwt) returns nil
// claims and is in the Exchange. A 401 with a WWW-Authenticate error
// (RFC 6750 3) is returned as a *ciba.Error.
func (c *Client) UserInfo(ctx context.Context, accessToken string, opts ...CallOption) (map[string]any, *Exchange, error) {
	md := c.cfg.Metadata
	s := newCallSpec(append([]CallOption{CallMethod(http.MethodGet), CallHeader("Authorization", "Bearer "+accessToken)}, opts...))
	ex, raw, err := c.call(ctx, c.endpoint(md.UserinfoEndpoint, func(a *ciba.MTLSEndpointAliases) string { return a.UserinfoEndpoint }), md.UserinfoEndpoint, nil, false, s)
	if err != nil {
		return nil, ex, err
	}
	if ex.Truncated {
		return nil, ex, tooLarge(ex)
	}
	if ex.Status != http.StatusOK {
		if be := parseBearerError(ex.Status, ex.ResponseHeader.Get("WWW-Authenticate")); be != nil {
			return nil, ex, be
		}
		if oe := parseOAuthError(ex.Status, ex.ResponseBody); oe != nil {
			return nil, ex, oe
		}
		return nil, ex, &ResponseError{Status: ex.Status, ContentType: ex.ContentType(), Reason: "error status without an OAuth error"}
	}
	if ex.ContentType() == "application/jwt" {
		return nil, ex, nil
	}
	var claims map[string]any
	if err := decodeSuccess(ex, raw, &claims); err != nil {
		return nil, ex, err
	}
	return claims, ex, nil
}

// parseBearerError reads the error of a WWW-Authenticate Bearer challenge
// (RFC 6750 3), e.g. `Bearer error="invalid_token", error_description="..."`.
func parseBearerError(status int, challenge string) *ciba.Error {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(challenge), " ")
	if !strings.EqualFold(scheme, "bearer") {
		return nil
	}
	params := map[string]string{}
	for rest = strings.TrimSpace(rest); rest != ""; rest = strings.TrimLeft(strings.TrimSpace(rest), ",") {
		rest = strings.TrimSpace(rest)
		name, after, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		name = strings.ToLower(strings.TrimSpace(name))
		after = strings.TrimSpace(after)
		var value string
		if strings.HasPrefix(after, `"`) {
			end := strings.IndexByte(after[1:], '"')
			if end < 0 {
				value, rest = after[1:], ""
			} else {
				value, rest = after[1:end+1], after[end+2:]
			}
		} else {
			value, rest, _ = strings.Cut(after, ",")
			value = strings.TrimSpace(value)
		}
		params[name] = value
	}
	if params["error"] == "" {
		return nil
	}
	return &ciba.Error{Code: params["error"], Description: params["error_description"], Status: status}
}
