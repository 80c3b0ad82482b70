package refop

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/url"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
)

// Faults and allowances bend the strict OP at named, typed seams. A
// catalogue entry (Fault or Allowance) carries its bend, a func(*hooks)
// that New runs once when the entry is switched on; the strict handlers
// call op.hooks at the seam and read as the specifications' rules,
// without naming any fault or allowance. A fault or allowance so lives in
// one place: its catalogue entry, which names its bend.
//
// There are two forms:
//   - a rule switch (rules): a named strict rule whose refusal a bend
//     waives or answers differently (refusal), or skips as a whole
//     (enforced) where the rule is a block of checks or one condition of
//     a larger test (the jti replay check, the certificate binding), which
//     a verdict seam would have to take apart;
//   - a typed seam: a transform of a value on its way (the parameters
//     read, the new request, the acknowledgement, the token response, the
//     ID token claims, a notification) or of a step's verdict given its
//     subject. Each bend wraps what is installed, so the strict value
//     passes through unchanged when nothing is on.
//
// Allowances are installed first, then faults, so a fault's answer wins
// where both bend one rule.

// rule names one requirement of the strict OP that a fault or an
// allowance may waive or answer differently.
type rule int

// The switchable rules, by where they are enforced.
const (
	// backchannel.go
	ruleRequestURIRefused     rule = iota + 1 // request_uri: invalid_request (CIBA 7.1.1)
	ruleSignedRequestRequired                 // a signed request object (FAPI-CIBA 5.2.2-6, CIBA 4)
	ruleOnlySignedParams                      // no parameter beside the request object (CIBA 7.1.1)
	ruleNoPushUnderFAPI                       // push is not offered under FAPI (FAPI-CIBA 5.2.2-3)
	ruleUserCodeRequired                      // missing_user_code (CIBA 7.1.2)
	ruleUserCodeMatches                       // invalid_user_code (CIBA 7.1.2)
	ruleExactlyOneHint                        // exactly one hint (CIBA 7.1)
	// requestobject.go
	ruleRequestObjectExp  // exp present and not passed (CIBA 7.1.1)
	ruleRequestObjectOnce // a request object jti is used once
	// token.go
	ruleCertificateRequired  // token requests present a certificate (RFC 8705 3)
	ruleUnsupportedGrantType // unsupported_grant_type (RFC 6749 5.2)
	rulePushClientsDoNotPoll // unauthorized_client for a push client (CIBA 10.3)
	ruleAuthReqIDRequired    // a missing auth_req_id is invalid_request
	ruleAuthReqIDKnown       // an unknown auth_req_id is invalid_grant (CIBA 11)
	ruleAuthReqIDOwner       // another client's auth_req_id is invalid_grant (CIBA 11)
	ruleAuthReqIDExpires     // an expired auth_req_id is expired_token (CIBA 11)
	ruleDeniedAccessDenied   // a denied request is access_denied (CIBA 11)
	ruleSlowDown             // polls faster than the interval get slow_down (CIBA 11)
	ruleRefreshTokenOwner    // another client's refresh token is invalid_grant (RFC 6749 6)
	ruleAccessTokenBound     // access tokens are certificate-bound (RFC 8705 3)
	// notify.go
	rulePingOnEveryDecision // ping clients are pinged whatever the decision (CIBA 10.2)
	rulePushBearer          // pushes carry the client_notification_token (CIBA 10.3)
	ruleNoRetryAfter4xx     // a notification answered 4xx is not retried
	// clientauth_secret.go
	ruleOneAuthMethod       // one client authentication method (RFC 6749 2.3)
	ruleRegisteredSecretWay // the secret travels the registered way
	ruleSecretMatches       // the client secret matches
	ruleBasicFailure401     // a failed Basic authentication is 401 (RFC 6749 5.2)
	// discovery.go, introspect.go, op.go
	ruleDiscoveryJSON       // discovery is served as application/json (OIDC Discovery 4.2)
	ruleIntrospectionCNF    // introspection reports cnf (RFC 8705 3.2)
	ruleNoRedirectsFollowed // notifications never follow redirects (CIBA 10.2)
	// userinfo.go
	ruleBearerHeaderOnly // the access token only in the header (FAPI-R 6.2.1-3)
	// clientauth.go
	ruleAssertionRequired   // a private_key_jwt client sends an assertion
	ruleAssertionType       // client_assertion_type is jwt-bearer (RFC 7523 2.2)
	ruleAssertionSub        // sub equals iss (RFC 7523 3)
	ruleAssertionExp        // exp has not passed (RFC 7523 3)
	ruleAssertionOnce       // a private_key_jwt assertion jti is used once (OIDC 9)
	ruleSecretAssertionOnce // a client_secret_jwt assertion jti is used once (OIDC 9)
)

// hooks are the seams of one OP, built by New from the strict defaults
// and the bends of its faults and allowances.
type hooks struct {
	// rules maps a bent rule to its verdict given the strict refusal.
	rules map[rule]func(strict error) error

	// Backchannel endpoint (backchannel.go).
	form              func(r *http.Request, form url.Values, err error) (url.Values, error)
	signedParams      func(p authParams, form url.Values) authParams
	params            func(p authParams) authParams
	scope             func(values []string, strict error) error
	everyClientScopes []string
	hintCount         func(n int, strict error) error
	loginHintUser     func(op *OP, hint string) (User, bool)
	bindingMessage    func(m string, strict error) error
	notificationToken func(t string, strict error) error
	requestedExpiry   func(v any, strict error) error
	newRequest        func(op *OP, ar AuthRequest) AuthRequest
	deviceView        func(ar AuthRequest) AuthRequest
	ack               func(ack backchannelAck) any
	authReqIDBytes    int
	encodeAuthReqID   func(raw []byte) string

	// Request objects (requestobject.go).
	badRequestObject  *ciba.Error
	requestObjectTyp  func(typ string, strict bool) bool
	requestObjectKeys func(op *OP, hdr jwsHeader, v verification) verification

	// Token endpoint (token.go).
	tokenClient      func(op *OP, r *http.Request, form url.Values, ac *authenticatedClient, err error) (*authenticatedClient, error)
	tokenAnswer      func(w http.ResponseWriter, resp ciba.TokenResponse, err error) bool
	beforeRedeem     func(ctx context.Context, op *OP, authReqID string)
	maxRedemptions   int
	slowDown         func(op *OP, ar *AuthRequest, strict error) error
	refreshScope     func(req, granted []string, strict error) ([]string, error)
	accessTokenBytes int
	tokenResponse    func(op *OP, tr *ciba.TokenResponse, g tokenGrant)
	idTokenClaims    func(op *OP, c map[string]any, g tokenGrant, tr ciba.TokenResponse)
	idTokenKey       func(op *OP) any
	// accessToken is a self-contained access token ("": the strict random
	// one); refreshToken whether a grant of scope gets a refresh token;
	// redeemed, replayed and refreshed follow a grant's tokens (refreshed:
	// the rotated refresh token, "" when not rotated).
	accessToken  func(op *OP, g tokenGrant, thumb string, now time.Time) (string, error)
	refreshToken func(scope string) bool
	redeemed     func(op *OP, authReqID string, tr ciba.TokenResponse)
	replayed     func(ctx context.Context, op *OP, authReqID string)
	refreshed    func(ctx context.Context, op *OP, t Token, now time.Time) (string, error)

	// Notifications (notify.go).
	notifyMode   func(ar AuthRequest) ciba.DeliveryMode
	pingBody     func(ar AuthRequest, strict []byte) []byte
	pushed       func(ctx context.Context, op *OP, c *Client, ar AuthRequest, body []byte)
	pingAnswered func(ar *AuthRequest, status int, err error)
	pushError    func(p ciba.PushErrorPayload) ciba.PushErrorPayload

	// Userinfo (userinfo.go).
	freshInteractionID bool

	// Discovery and JWKS (discovery.go): metadata is what the OP
	// supports (Metadata), published what it publishes of it; document
	// and jwksDocument reshape the JSON objects, nil when none does.
	metadata     func(op *OP, md *ciba.ProviderMetadata)
	published    func(op *OP, md *ciba.ProviderMetadata)
	document     func(op *OP, doc map[string]any) error
	keySet       func(op *OP, set *jose.JSONWebKeySet) error
	jwksDocument func(op *OP, doc map[string]any) error

	// Client authentication (clientauth.go).
	assertionAudiences func(op *OP, r *http.Request, audiences []string) []string
	assertionAud       func(aud any, strict error) error
	assertionKeys      func(op *OP, c *Client, hdr jwsHeader, v verification) verification
	certificateClient  func(op *OP, r *http.Request, formClientID string) *Client

	// TLS (tls.go) and introspection (introspect.go).
	tls                  func(c *tls.Config)
	introspection        func(ac *authenticatedClient) error
	withoutIntrospection bool

	// Responses (httputil.go): the no-store Cache-Control value, an error
	// answer's status and body, and its members beyond RFC 6749 5.2; all
	// nil when no bend reshapes responses.
	cacheControl  func(cc string) string
	errorResponse func(r *http.Request, status *int, body *ciba.ErrorResponse)
	errorDocument func(op *OP, status int, doc map[string]any) error

	// The authentication device (device.go): how long after accepting a
	// request the OP reaches it.
	deviceDelay func(ar AuthRequest) time.Duration
}

// verification is how a request object's signature is verified: with
// keys and algs, or not at all (unsigned).
type verification struct {
	keys     []jose.JSONWebKey
	algs     []string
	unsigned bool
}

// strictHooks are the seams with nothing bent: every transform is the
// identity and every verdict the strict one.
func strictHooks() *hooks {
	return &hooks{
		rules:             map[rule]func(error) error{},
		form:              func(_ *http.Request, form url.Values, err error) (url.Values, error) { return form, err },
		signedParams:      func(p authParams, _ url.Values) authParams { return p },
		params:            func(p authParams) authParams { return p },
		scope:             func(_ []string, strict error) error { return strict },
		hintCount:         func(_ int, strict error) error { return strict },
		loginHintUser:     (*OP).userByLoginHint,
		bindingMessage:    func(_ string, strict error) error { return strict },
		notificationToken: func(_ string, strict error) error { return strict },
		requestedExpiry:   func(_ any, strict error) error { return strict },
		newRequest:        func(_ *OP, ar AuthRequest) AuthRequest { return ar },
		deviceView:        func(ar AuthRequest) AuthRequest { return ar },
		ack:               func(ack backchannelAck) any { return ack.AuthenticationResponse },
		authReqIDBytes:    authReqIDBytes,
		encodeAuthReqID:   b64,

		badRequestObject:  ciba.ErrInvalidRequest,
		requestObjectTyp:  func(_ string, strict bool) bool { return strict },
		requestObjectKeys: func(_ *OP, _ jwsHeader, v verification) verification { return v },

		tokenClient: func(_ *OP, _ *http.Request, _ url.Values, ac *authenticatedClient, err error) (*authenticatedClient, error) {
			return ac, err
		},
		tokenAnswer:      func(http.ResponseWriter, ciba.TokenResponse, error) bool { return false },
		beforeRedeem:     func(context.Context, *OP, string) {},
		maxRedemptions:   maxRedemptions,
		slowDown:         func(_ *OP, _ *AuthRequest, strict error) error { return strict },
		refreshScope:     func(req, _ []string, strict error) ([]string, error) { return req, strict },
		accessTokenBytes: accessTokenBytes,
		tokenResponse:    func(*OP, *ciba.TokenResponse, tokenGrant) {},
		idTokenClaims:    func(*OP, map[string]any, tokenGrant, ciba.TokenResponse) {},
		accessToken:      func(*OP, tokenGrant, string, time.Time) (string, error) { return "", nil },
		refreshToken:     func(string) bool { return true },
		redeemed:         func(*OP, string, ciba.TokenResponse) {},
		replayed:         func(context.Context, *OP, string) {},
		refreshed:        func(context.Context, *OP, Token, time.Time) (string, error) { return "", nil },

		notifyMode:   func(ar AuthRequest) ciba.DeliveryMode { return ciba.DeliveryMode(ar.DeliveryMode) },
		pingBody:     func(_ AuthRequest, strict []byte) []byte { return strict },
		pushed:       func(context.Context, *OP, *Client, AuthRequest, []byte) {},
		pingAnswered: func(*AuthRequest, int, error) {},
		pushError:    func(p ciba.PushErrorPayload) ciba.PushErrorPayload { return p },

		assertionAudiences: func(_ *OP, _ *http.Request, audiences []string) []string { return audiences },
		assertionAud:       func(_ any, strict error) error { return strict },
		assertionKeys:      func(_ *OP, _ *Client, _ jwsHeader, v verification) verification { return v },
		certificateClient:  func(*OP, *http.Request, string) *Client { return nil },

		metadata:      func(*OP, *ciba.ProviderMetadata) {},
		published:     func(*OP, *ciba.ProviderMetadata) {},
		keySet:        func(*OP, *jose.JSONWebKeySet) error { return nil },
		tls:           func(*tls.Config) {},
		introspection: func(*authenticatedClient) error { return nil },
		deviceDelay:   func(AuthRequest) time.Duration { return 0 },
	}
}

// newHooks installs the bends of the enabled allowances, then faults.
func newHooks(faults faultSet, allow allowanceSet) *hooks {
	h := strictHooks()
	for _, a := range Allowances() {
		if allow.on(a.Name) && a.bend != nil {
			a.bend(h)
		}
	}
	for _, f := range Faults() {
		if faults.on(f.Name) && f.bend != nil {
			f.bend(h)
		}
	}
	return h
}

// refusal is the OP's refusal under rule r: strict (nil: the request
// passes), unless a bend waives it (nil) or answers otherwise.
func (h *hooks) refusal(r rule, strict error) error {
	if bend, bent := h.rules[r]; bent && strict != nil {
		return bend(strict)
	}
	return strict
}

// enforced reports whether rule r holds unbent: false when a fault or
// allowance waives it, so the checks it guards are skipped.
func (h *hooks) enforced(r rule) bool {
	_, bent := h.rules[r]
	return !bent
}
