package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/ciba-check/ciba-check/ciba"
)

// ResponseError is an answer the protocol does not define at that point:
// an error status without an OAuth error body, or a success body that does
// not parse. The Exchange returned beside it has the whole response.
type ResponseError struct {
	Status      int
	ContentType string
	Reason      string
}

func (e *ResponseError) Error() string {
	return fmt.Sprintf("unexpected response (HTTP %d, %q): %s", e.Status, e.ContentType, e.Reason)
}

// call is one HTTP request to endpoint with form (client auth added unless
// auth is false or skipped), returning the redacted Exchange and the raw
// body for parsing.
func (c *Client) call(ctx context.Context, endpoint, audience string, form url.Values, auth bool, s *callSpec) (*Exchange, []byte, error) {
	if s.endpoint != "" {
		endpoint = s.endpoint
		audience = s.endpoint
	}
	if endpoint == "" {
		return nil, nil, errors.New("client: no endpoint to call (missing in the OP metadata?)")
	}
	if form == nil {
		form = url.Values{}
	}
	// A raw body replaces the form, so no assertion is made for it.
	authHeader := http.Header{}
	if auth && !s.skipAuth && s.rawBody == nil {
		if err := c.ClientAuthentication(form, authHeader, audience, s.auth...); err != nil {
			return nil, nil, err
		}
	}
	for k, vs := range s.formSet {
		form[k] = vs
	}
	for _, k := range s.formDrop {
		form.Del(k)
	}
	req, form, bodyText, err := newRequest(ctx, endpoint, form, authHeader, s)
	if err != nil {
		return nil, nil, err
	}
	return c.send(req, form, bodyText, s)
}

// newRequest builds the request of call: form as the body (or the query
// of a GET), unless s gives a raw body; the content type, the client
// authentication header and s's header edits. It returns the form and
// body text the exchange records (no form for a raw body).
func newRequest(ctx context.Context, endpoint string, form url.Values, authHeader http.Header, s *callSpec) (*http.Request, url.Values, string, error) {
	target := endpoint
	var body io.Reader
	bodyText := ""
	contentType := "application/x-www-form-urlencoded"
	switch {
	case s.rawBody != nil:
		bodyText = *s.rawBody
		form = nil
	case s.method == http.MethodGet || s.method == http.MethodHead:
		u, err := url.Parse(endpoint)
		if err != nil {
			return nil, nil, "", fmt.Errorf("client: endpoint %q: %w", endpoint, err)
		}
		u.RawQuery = form.Encode()
		target = u.String()
		contentType = ""
	default:
		bodyText = form.Encode()
	}
	if bodyText != "" || s.method == http.MethodPost {
		body = strings.NewReader(bodyText)
	}
	req, err := http.NewRequestWithContext(ctx, s.method, target, body)
	if err != nil {
		return nil, nil, "", fmt.Errorf("client: building request to %q: %w", endpoint, err)
	}
	if s.contentType != nil {
		contentType = *s.contentType
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	for k, vs := range authHeader {
		req.Header[k] = vs
	}
	for k, vs := range s.headers {
		req.Header[k] = vs
	}
	for _, k := range s.dropHeaders {
		req.Header.Del(k)
	}
	return req, form, bodyText, nil
}

func (c *Client) send(req *http.Request, form url.Values, bodyText string, s *callSpec) (*Exchange, []byte, error) {
	var red redactor
	red.hide(c.cfg.Secret)
	red.addForm(form)
	red.addHeader(req.Header)
	if form == nil {
		if q, err := url.ParseQuery(bodyText); err == nil {
			red.addForm(q)
		}
	}
	hc := c.hc
	if s.certSet {
		other := c.WithTLSCertificate(s.cert)
		defer other.CloseIdleConnections()
		hc = other.hc
	}
	ex := &Exchange{
		Method:      req.Method,
		URL:         red.apply(req.URL.String()),
		RequestForm: red.values(form),
		RequestBody: red.apply(bodyText),
		Started:     c.cfg.Clock.Now(),
	}
	if req.Method == http.MethodGet {
		ex.RequestForm = red.values(req.URL.Query())
	}
	ex.RequestHeader = red.header(req.Header)
	defer func() {
		for _, f := range s.onExchange {
			f(ex)
		}
	}()
	resp, err := hc.Do(req)
	if err != nil {
		ex.Duration = c.cfg.Clock.Now().Sub(ex.Started)
		var na *NoAnswerError
		if err = NoAnswer(req.Method, ex.URL, ex.Duration, err); errors.As(err, &na) {
			return ex, nil, fmt.Errorf("client: %w", err)
		}
		return ex, nil, fmt.Errorf("client: %s %s: %w", req.Method, ex.URL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody+1))
	ex.Duration = c.cfg.Clock.Now().Sub(ex.Started)
	err = NoAnswer(req.Method, ex.URL, ex.Duration, err)
	ex.Status = resp.StatusCode
	ex.ResponseHeader = resp.Header.Clone()
	if len(raw) > MaxResponseBody {
		raw = raw[:MaxResponseBody]
		ex.Truncated = true
	}
	red.addResponse(raw)
	ex.ResponseBody = []byte(red.apply(string(raw)))
	if err != nil {
		return ex, raw, fmt.Errorf("client: reading response of %s %s: %w", req.Method, ex.URL, err)
	}
	return ex, raw, nil
}

// endpoint picks the mutual-TLS alias of an endpoint when the OP publishes
// one (RFC 8705 5): FAPI binds tokens to the certificate, so the client
// always talks to the mTLS variant. The canonical URL stays the default
// assertion audience, the value every OP accepts.
func (c *Client) endpoint(canonical string, alias func(*ciba.MTLSEndpointAliases) string) string {
	if a := c.cfg.Metadata.MTLSEndpointAliases; a != nil {
		if u := alias(a); u != "" {
			return u
		}
	}
	return canonical
}

// BackchannelEndpoint is the URL Authenticate posts to: the mTLS alias
// when published, else backchannel_authentication_endpoint.
func (c *Client) BackchannelEndpoint() string {
	return c.endpoint(c.cfg.Metadata.BackchannelAuthenticationEndpoint, func(a *ciba.MTLSEndpointAliases) string { return a.BackchannelAuthenticationEndpoint })
}

// TokenEndpoint is the URL Token, Refresh and Poll post to: the mTLS
// alias when published, else token_endpoint.
func (c *Client) TokenEndpoint() string {
	return c.endpoint(c.cfg.Metadata.TokenEndpoint, func(a *ciba.MTLSEndpointAliases) string { return a.TokenEndpoint })
}

// PostForm sends form to endpoint with the client's authentication added
// (aud = endpoint) unless the options say otherwise, and reports the
// exchange. An HTTP error status is not an error here; only a request that
// could not be made or a response that could not be read is.
func (c *Client) PostForm(ctx context.Context, endpoint string, form url.Values, opts ...CallOption) (*Exchange, error) {
	ex, _, err := c.call(ctx, endpoint, endpoint, cloneValues(form), true, newCallSpec(opts))
	return ex, err
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// Authenticate sends a backchannel authentication request (CIBA 7.1) with
// p inside a signed request object (CIBA 7.1.1) and returns the
// acknowledgement (CIBA 7.3). An OAuth error answer (CIBA 13) is returned
// as a *ciba.Error with the HTTP status.
func (c *Client) Authenticate(ctx context.Context, p AuthParams, opts ...CallOption) (*ciba.AuthenticationResponse, *Exchange, error) {
	s := newCallSpec(opts)
	form := url.Values{}
	switch {
	case s.unsigned || (c.cfg.Unsigned && s.requestObjectJWT == nil && len(s.requestObjectOpts) == 0 && !s.signed):
		fields, err := p.form()
		if err != nil {
			return nil, nil, err
		}
		for k, v := range fields {
			form.Set(k, v)
		}
	case s.requestObjectJWT != nil:
		form.Set(ciba.ParamRequest, *s.requestObjectJWT)
	default:
		jwt, err := c.RequestObject(p, s.requestObjectOpts...)
		if err != nil {
			return nil, nil, err
		}
		form.Set(ciba.ParamRequest, jwt)
	}
	ex, raw, err := c.call(ctx, c.BackchannelEndpoint(), c.cfg.Metadata.BackchannelAuthenticationEndpoint, form, true, s)
	if err != nil {
		return nil, ex, err
	}
	var ack ciba.AuthenticationResponse
	if err := decodeSuccess(ex, raw, &ack); err != nil {
		return nil, ex, err
	}
	return &ack, ex, nil
}

// tooLarge is the error of an answer longer than MaxResponseBody.
func tooLarge(ex *Exchange) *ResponseError {
	return &ResponseError{Status: ex.Status, ContentType: ex.ContentType(), Reason: TooLargeReason}
}

// decodeSuccess turns a 200 JSON answer into out and anything else into a
// *ciba.Error or *ResponseError.
func decodeSuccess(ex *Exchange, raw []byte, out any) error {
	// An oversized answer is unexpected whatever its status: what was
	// read of it is not the OP's whole answer.
	if ex.Truncated {
		return tooLarge(ex)
	}
	if ex.Status != http.StatusOK {
		// The redacted body: an error description echoing a secret must
		// not carry it into a report.
		if oe := parseOAuthError(ex.Status, ex.ResponseBody); oe != nil {
			return oe
		}
		return &ResponseError{Status: ex.Status, ContentType: ex.ContentType(), Reason: "error status without an OAuth error body"}
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return &ResponseError{Status: ex.Status, ContentType: ex.ContentType(), Reason: "body does not parse: " + err.Error()}
	}
	return nil
}

// Token makes one CIBA grant token request (CIBA 10.1). authorization_pending,
// slow_down and the other errors of CIBA 11 come back as *ciba.Error.
func (c *Client) Token(ctx context.Context, authReqID string, opts ...CallOption) (*ciba.TokenResponse, *Exchange, error) {
	form := url.Values{ciba.ParamGrantType: {ciba.GrantTypeCIBA}, ciba.ParamAuthReqID: {authReqID}}
	return c.tokenCall(ctx, form, opts)
}

// Refresh redeems a refresh token (RFC 6749 6); scope "" asks for the
// original scope.
func (c *Client) Refresh(ctx context.Context, refreshToken, scope string, opts ...CallOption) (*ciba.TokenResponse, *Exchange, error) {
	form := url.Values{ciba.ParamGrantType: {ciba.GrantTypeRefreshToken}, ciba.ParamRefreshToken: {refreshToken}}
	if scope != "" {
		form.Set(ciba.ParamScope, scope)
	}
	return c.tokenCall(ctx, form, opts)
}

func (c *Client) tokenCall(ctx context.Context, form url.Values, opts []CallOption) (*ciba.TokenResponse, *Exchange, error) {
	ex, raw, err := c.call(ctx, c.TokenEndpoint(), c.cfg.Metadata.TokenEndpoint, form, true, newCallSpec(opts))
	if err != nil {
		return nil, ex, err
	}
	var tr ciba.TokenResponse
	if err := decodeSuccess(ex, raw, &tr); err != nil {
		return nil, ex, err
	}
	return &tr, ex, nil
}
