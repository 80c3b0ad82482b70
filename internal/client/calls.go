package client

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/ciba-check/ciba-check/ciba"
)

// CallOption changes one HTTP call: headers, body, method, endpoint, TLS
// identity, client authentication, the request object.
type CallOption func(*callSpec)

type callSpec struct {
	method      string
	endpoint    string
	headers     http.Header
	dropHeaders []string
	contentType *string
	rawBody     *string
	formSet     url.Values
	formDrop    []string
	auth        []AuthOption
	skipAuth    bool
	certSet     bool
	cert        *tls.Certificate
	onExchange  []func(*Exchange)

	// Authenticate only.
	requestObjectOpts []JWTOption
	requestObjectJWT  *string
	unsigned          bool
	signed            bool
}

// CallHeader sets request header name to value (replacing any default).
func CallHeader(name, value string) CallOption {
	return func(s *callSpec) { s.headers.Set(name, value) }
}

// CallWithoutHeader removes request header name (e.g. Authorization).
func CallWithoutHeader(name string) CallOption {
	return func(s *callSpec) { s.dropHeaders = append(s.dropHeaders, name) }
}

// CallContentType sets the Content-Type sent (e.g. application/json).
func CallContentType(ct string) CallOption {
	return func(s *callSpec) { s.contentType = &ct }
}

// CallRawBody sends body verbatim instead of the encoded form; the form,
// client authentication included, is then not sent.
func CallRawBody(body string) CallOption {
	return func(s *callSpec) { s.rawBody = &body }
}

// CallMethod sends the request with method (e.g. GET or PUT) instead of
// POST; a GET carries the form in the query string.
func CallMethod(method string) CallOption {
	return func(s *callSpec) { s.method = method }
}

// CallEndpoint sends the request to endpoint instead of the one from
// the metadata; the default assertion aud follows it.
func CallEndpoint(endpoint string) CallOption {
	return func(s *callSpec) { s.endpoint = endpoint }
}

// CallForm sets form field name to values (several values send the field
// repeatedly, RFC 6749 3.1 duplicates), after client authentication.
func CallForm(name string, values ...string) CallOption {
	return func(s *callSpec) { s.formSet[name] = values }
}

// CallWithoutForm removes form field name, after client authentication.
func CallWithoutForm(name string) CallOption {
	return func(s *callSpec) { s.formDrop = append(s.formDrop, name) }
}

// WithAuth changes how the client authenticates on this call.
func WithAuth(opts ...AuthOption) CallOption {
	return func(s *callSpec) { s.auth = append(s.auth, opts...) }
}

// SkipClientAuth sends no client authentication fields at all.
func SkipClientAuth() CallOption { return func(s *callSpec) { s.skipAuth = true } }

// CallTLSCertificate presents cert (nil: none) on this call's connection,
// which is then a fresh one.
func CallTLSCertificate(cert *tls.Certificate) CallOption {
	return func(s *callSpec) { s.certSet, s.cert = true, cert }
}

// OnExchange calls f with every Exchange the call makes (Poll makes many).
func OnExchange(f func(*Exchange)) CallOption {
	return func(s *callSpec) { s.onExchange = append(s.onExchange, f) }
}

// CallRequestObject passes opts to RequestObject when Authenticate builds
// the request object.
func CallRequestObject(opts ...JWTOption) CallOption {
	return func(s *callSpec) { s.requestObjectOpts = append(s.requestObjectOpts, opts...) }
}

// CallRequestObjectJWT makes Authenticate send jwt as the request object
// (e.g. one already sent: replay).
func CallRequestObjectJWT(jwt string) CallOption {
	return func(s *callSpec) { s.requestObjectJWT = &jwt }
}

// CallSigned makes Authenticate send a signed request object even when
// the client sends plain parameters by default (Config.Unsigned).
func CallSigned() CallOption { return func(s *callSpec) { s.signed = true } }

// CallUnsigned makes Authenticate send the parameters as plain form fields
// without a request object (refused under FAPI-CIBA 5.2.2-6).
func CallUnsigned() CallOption { return func(s *callSpec) { s.unsigned = true } }

func newCallSpec(opts []CallOption) *callSpec {
	s := &callSpec{method: http.MethodPost, headers: http.Header{}, formSet: url.Values{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// AuthOption changes the client authentication fields of a form.
type AuthOption func(*authSpec)

type authSpec struct {
	method        ciba.AuthMethod
	aud           *string
	assertion     *string
	assertionType *string
	assertionOpts []JWTOption
	clientID      *string
	sendClientID  bool
	noClientID    bool
	clientIDOnly  bool
	none          bool
	secret        *string
	bothWays      bool
}

// AuthAudience sets the aud of the default assertion (CIBA 7.1 lets it be
// the issuer, the token endpoint or the backchannel endpoint).
func AuthAudience(aud string) AuthOption { return func(s *authSpec) { s.aud = &aud } }

// AuthAssertion sends jwt as client_assertion instead of a fresh one
// (pre-signed pools, replayed or foreign assertions).
func AuthAssertion(jwt string) AuthOption { return func(s *authSpec) { s.assertion = &jwt } }

// AuthAssertionOptions passes opts to ClientAssertion for the default
// assertion (alg none, RS256, wrong claims, ...).
func AuthAssertionOptions(opts ...JWTOption) AuthOption {
	return func(s *authSpec) { s.assertionOpts = append(s.assertionOpts, opts...) }
}

// AuthAssertionType sends t as client_assertion_type.
func AuthAssertionType(t string) AuthOption { return func(s *authSpec) { s.assertionType = &t } }

// AuthClientID sends client_id=id (another client's, say) with any
// method; under private_key_jwt it is added beside the assertion.
func AuthClientID(id string) AuthOption { return func(s *authSpec) { s.clientID = &id } }

// AuthIncludeClientID adds the client's own client_id beside a
// private_key_jwt assertion (RFC 7523 3 makes it optional).
func AuthIncludeClientID() AuthOption { return func(s *authSpec) { s.sendClientID = true } }

// AuthNoClientID leaves client_id out.
func AuthNoClientID() AuthOption { return func(s *authSpec) { s.noClientID = true } }

// AuthClientIDOnly sends client_id and nothing else (no assertion).
func AuthClientIDOnly() AuthOption { return func(s *authSpec) { s.clientIDOnly = true } }

// AuthAs authenticates as if registered with method m.
func AuthAs(m ciba.AuthMethod) AuthOption { return func(s *authSpec) { s.method = m } }

// AuthSecret authenticates with secret instead of the registered client
// secret (a wrong secret), under any client_secret_* method.
func AuthSecret(secret string) AuthOption { return func(s *authSpec) { s.secret = &secret } }

// AuthSecretBothWays sends the client secret in the Authorization header
// (client_secret_basic) and in the body (client_secret_post) at once,
// which RFC 6749 2.3 forbids the client.
func AuthSecretBothWays() AuthOption { return func(s *authSpec) { s.bothWays = true } }

// ApplyClientAuth adds the client authentication fields to form for a
// request to endpoint (see ClientAuthentication); a method that needs a
// request header (client_secret_basic) is an error here.
func (c *Client) ApplyClientAuth(form url.Values, endpoint string, opts ...AuthOption) error {
	h := http.Header{}
	if err := c.ClientAuthentication(form, h, endpoint, opts...); err != nil {
		return err
	}
	if len(h) > 0 {
		return errors.New("client: ApplyClientAuth: the method sends an Authorization header; use ClientAuthentication")
	}
	return nil
}

// ClientAuthentication adds the client authentication to form and header
// for a request to endpoint: under private_key_jwt client_assertion_type
// and a fresh client_assertion with aud = endpoint (RFC 7523 2.2); under
// client_secret_jwt the same with an HS256 assertion keyed with the
// secret (OIDC Core 9); under client_secret_basic an Authorization: Basic
// header of the form-urlencoded id and secret (RFC 6749 2.3.1); under
// client_secret_post client_id and client_secret in the body; under
// tls_client_auth and self_signed_tls_client_auth client_id, the
// certificate travelling on the TLS connection (RFC 8705 2).
func (c *Client) ClientAuthentication(form url.Values, header http.Header, endpoint string, opts ...AuthOption) error {
	s := &authSpec{method: c.cfg.AuthMethod}
	for _, o := range opts {
		o(s)
	}
	clientID := c.cfg.ClientID
	if s.clientID != nil {
		clientID = *s.clientID
	}
	if s.clientIDOnly {
		form.Set(ciba.ParamClientID, clientID)
		return nil
	}
	secret := c.cfg.Secret
	if s.secret != nil {
		secret = *s.secret
	}
	if usesSecret(s.method) && secret == "" {
		return fmt.Errorf("client: cannot authenticate with %s: no client secret configured", s.method)
	}
	sendID := s.method.UsesMTLS() || s.sendClientID || s.clientID != nil
	switch {
	case s.method == ciba.AuthPrivateKeyJWT || s.method == ciba.AuthClientSecretJWT:
		assertion := ""
		if s.assertion != nil {
			assertion = *s.assertion
		} else {
			aud := endpoint
			if s.aud != nil {
				aud = *s.aud
			}
			aopts := s.assertionOpts
			if s.method == ciba.AuthClientSecretJWT {
				if len(secret) < MinHS256Secret {
					return fmt.Errorf("client: client_secret_jwt needs a secret of at least %d bytes for HS256 (RFC 7518 3.2)", MinHS256Secret)
				}
				aopts = append([]JWTOption{WithHS256Secret([]byte(secret)), WithoutKid()}, aopts...)
			}
			a, err := c.ClientAssertion(aud, aopts...)
			if err != nil {
				return err
			}
			assertion = a
		}
		at := ciba.ClientAssertionTypeJWTBearer
		if s.assertionType != nil {
			at = *s.assertionType
		}
		form.Set(ciba.ParamClientAssertionType, at)
		form.Set(ciba.ParamClientAssertion, assertion)
	case s.method == ciba.AuthClientSecretBasic:
		header.Set("Authorization", BasicAuthorization(clientID, secret))
		if s.bothWays {
			form.Set(ciba.ParamClientID, clientID)
			form.Set(ciba.ParamClientSecret, secret)
		}
	case s.method == ciba.AuthClientSecretPost:
		form.Set(ciba.ParamClientID, clientID)
		form.Set(ciba.ParamClientSecret, secret)
		if s.bothWays {
			header.Set("Authorization", BasicAuthorization(clientID, secret))
		}
	case !s.method.UsesMTLS():
		return fmt.Errorf("client: cannot authenticate with method %q", s.method)
	}
	if sendID && !s.noClientID {
		form.Set(ciba.ParamClientID, clientID)
	}
	if s.noClientID && (s.method == ciba.AuthClientSecretPost || s.bothWays) {
		form.Del(ciba.ParamClientID)
	}
	return nil
}

// MinHS256Secret is the shortest HS256 key RFC 7518 3.2 allows: "A key of
// the same size as the hash output ... or larger MUST be used".
const MinHS256Secret = 32

// BasicAuthorization is the Authorization header value of
// client_secret_basic: "Basic " and the base64 of id ":" secret, each
// encoded with application/x-www-form-urlencoded first (RFC 6749 2.3.1).
func BasicAuthorization(clientID, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(formEncode(clientID)+":"+formEncode(secret)))
}

// formEncode is the application/x-www-form-urlencoded encoding of RFC 6749
// Appendix B (space as "+").
func formEncode(s string) string { return url.QueryEscape(s) }

func usesSecret(m ciba.AuthMethod) bool {
	return m == ciba.AuthClientSecretBasic || m == ciba.AuthClientSecretPost || m == ciba.AuthClientSecretJWT
}

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
			return nil, nil, fmt.Errorf("client: endpoint %q: %w", endpoint, err)
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
		return nil, nil, fmt.Errorf("client: building request to %q: %w", endpoint, err)
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
	return c.send(req, form, bodyText, s)
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
