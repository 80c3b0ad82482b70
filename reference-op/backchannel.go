package refop

import (
	"context"
	"crypto/subtle"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ciba-check/ciba-check/ciba"
)

// MaxBindingMessageRunes is the longest binding_message the device can
// display; longer ones get invalid_binding_message (CIBA 7.1, 13).
const MaxBindingMessageRunes = 200

// handleBackchannel is the backchannel authentication endpoint (CIBA 7).
func (op *OP) handleBackchannel(w http.ResponseWriter, r *http.Request) {
	ack, err := op.backchannel(r)
	if err != nil {
		op.log.Info("backchannel request refused", "err", err.Error())
		op.fail(w, r, err)
		return
	}
	writeJSONStatus(w, http.StatusOK, op.hooks.ack(ack))
}

func (op *OP) backchannel(r *http.Request) (backchannelAck, error) {
	ctx := r.Context()
	form, err := parseForm(r)
	if form, err = op.hooks.form(r, form, err); err != nil {
		return backchannelAck{}, err
	}
	// CIBA 7.2 step 1: authenticate the client first.
	ac, err := op.authenticateClient(ctx, r, form, []string{op.Issuer(), op.endpoint(PathToken), op.endpoint(PathBackchannel)})
	if err != nil {
		return backchannelAck{}, err
	}
	c := ac.Client
	if c.DeliveryMode == ciba.ModePush && !op.pushAllowed() {
		return backchannelAck{}, ciba.ErrUnauthorizedClient.WithDescription("push mode is not allowed (FAPI-CIBA 5.2.2-3)")
	}
	if form.Has(ciba.ParamRequestURI) {
		return backchannelAck{}, op.requestURIRefusal()
	}
	p, err := op.authRequestParams(ctx, c, form)
	if err != nil {
		return backchannelAck{}, err
	}
	return op.acceptAuthRequest(ctx, c, p)
}

// requestURIRefusal answers a request with request_uri, which this OP
// does not support: send a signed request by value (CIBA 7.1.1).
func (op *OP) requestURIRefusal() error {
	return op.hooks.refusal(ruleRequestURIRefused, ciba.ErrInvalidRequest.WithDescription("request_uri is not supported; send a signed request (CIBA 7.1.1)"))
}

// authRequestParams are the authentication request's parameters: those of
// the signed request object (CIBA 7.1.1), or, under CIBA Core alone, the
// form's from a client that registered no request signing alg (CIBA 7.1).
func (op *OP) authRequestParams(ctx context.Context, c *Client, form url.Values) (authParams, error) {
	if req := form.Get(ciba.ParamRequest); req != "" {
		return op.signedRequestParams(ctx, c, form, req)
	}
	switch {
	case !op.hooks.enforced(ruleSignedRequestRequired) || !op.fapi() && c.RequestSigningAlg == "":
		// CIBA 7.1: plain form parameters; a client that registered
		// backchannel_authentication_request_signing_alg signs (CIBA 4).
		return formParams(form.Get, form.Has), nil
	case !op.fapi():
		return authParams{}, ciba.ErrInvalidRequest.WithDescription("this client registered backchannel_authentication_request_signing_alg " + c.RequestSigningAlg + ": a signed request object is required (CIBA 4, 7.1.1)")
	}
	return authParams{}, ciba.ErrInvalidRequest.WithDescription("a signed request object is required (FAPI-CIBA 5.2.2-6)")
}

// signedRequestParams are the parameters of request object req; none may
// also travel as a form field (CIBA 7.1.1).
func (op *OP) signedRequestParams(ctx context.Context, c *Client, form url.Values, req string) (authParams, error) {
	for _, name := range ciba.AuthenticationRequestParams {
		if form.Has(name) {
			if err := op.hooks.refusal(ruleOnlySignedParams, ciba.ErrInvalidRequest.WithDescription(name+" must be inside the signed request, not a form field (CIBA 7.1.1)")); err != nil {
				return authParams{}, err
			}
		}
	}
	// Suite module 30 (form client_id of another client, certificate and
	// iss of this one) already failed authentication with 401
	// invalid_client; an iss differing from the authenticated client is a
	// bad request object (module 15, 400 invalid_request).
	p, err := op.parseRequestObject(ctx, c, req)
	if err != nil {
		return authParams{}, err
	}
	return op.hooks.signedParams(p, form), nil
}

// fapi reports whether the OP runs the FAPI-CIBA profile (the default);
// PushAllowed turns it off: CIBA Core alone.
func (op *OP) fapi() bool { return !op.cfg.PushAllowed }

func (op *OP) pushAllowed() bool {
	return op.cfg.PushAllowed || !op.hooks.enforced(ruleNoPushUnderFAPI)
}

// backchannelAck is the acknowledgement of an accepted request (CIBA 7.3)
// and what the acknowledgement's bends reshape it by (hooks.ack).
type backchannelAck struct {
	ciba.AuthenticationResponse
	// heldInterval is the interval the request is held to (the
	// acknowledgement may announce none).
	heldInterval int
	// expiryRequested: the request carried requested_expiry.
	expiryRequested bool
}

// acceptAuthRequest validates the parameters (CIBA 7.2 steps 3-6),
// stores the request, starts the device interaction and builds the
// acknowledgement (CIBA 7.3). Faults and allowances bend it at the seams
// of op.hooks (hooks.go): the parameters read, the new request, the
// device's view and the acknowledgement.
func (op *OP) acceptAuthRequest(ctx context.Context, c *Client, p authParams) (backchannelAck, error) {
	p = op.hooks.params(p)
	scope, err := op.checkScope(c, p.Scope)
	if err != nil {
		return backchannelAck{}, err
	}
	user, err := op.resolveHint(ctx, c, p)
	if err != nil {
		return backchannelAck{}, err
	}
	if err := op.checkAuthParams(c, user, p); err != nil {
		return backchannelAck{}, err
	}
	expiry, err := op.requestLifetime(p)
	if err != nil {
		return backchannelAck{}, err
	}
	authReqID, err := op.newAuthReqID()
	if err != nil {
		return backchannelAck{}, err
	}
	now := op.clock.Now()
	ar := op.hooks.newRequest(op, AuthRequest{
		ID:                      authReqID,
		ClientID:                c.ID,
		Subject:                 user.Subject,
		Scope:                   scope,
		ACR:                     satisfiedACR(p.ACRValues),
		ACRValues:               p.ACRValues,
		BindingMessage:          p.BindingMessage,
		UserCode:                p.UserCode,
		ClientNotificationToken: p.ClientNotificationToken,
		DeliveryMode:            string(c.DeliveryMode),
		CreatedAt:               now,
		ExpiresAt:               now.Add(expiry),
		Interval:                op.cfg.Interval,
		Status:                  StatusPending,
	})
	expiry = ar.ExpiresAt.Sub(now)
	op.maybePurge(ctx)
	if err := op.store.CreateAuthRequest(ctx, ar); err != nil {
		return backchannelAck{}, err
	}
	op.log.Info("backchannel request accepted", "client_id", c.ID, "auth_req_id", redact(ar.ID), "sub", user.Subject, "expires_in", int(expiry/time.Second))
	op.startDeviceInteraction(op.hooks.deviceView(ar), user)
	if c.DeliveryMode == ciba.ModePush {
		op.armPushExpiry(ar)
	}
	return backchannelAck{
		AuthenticationResponse: ciba.AuthenticationResponse{AuthReqID: ar.ID, ExpiresIn: int(expiry / time.Second), Interval: ar.Interval},
		heldInterval:           ar.Interval,
		expiryRequested:        p.HasExpiry,
	}, nil
}

// checkAuthParams checks what the device shows and how the client is
// notified: binding_message (CIBA 7.1, 13), user_code (CIBA 7.1.2) and
// client_notification_token (CIBA 7.1).
func (op *OP) checkAuthParams(c *Client, user User, p authParams) error {
	if err := op.hooks.bindingMessage(p.BindingMessage, checkBindingMessage(p.BindingMessage)); err != nil {
		return err
	}
	if err := op.checkUserCode(c, user, p.UserCode); err != nil {
		return err
	}
	return op.checkClientNotificationToken(c, p.ClientNotificationToken)
}

// checkUserCode requires the user's user_code from a client that
// registered backchannel_user_code_parameter (CIBA 7.1.2).
func (op *OP) checkUserCode(c *Client, user User, code string) error {
	switch {
	case !c.UserCodeParameter || user.UserCode == "":
		return nil
	case code == "":
		return op.hooks.refusal(ruleUserCodeRequired, ciba.ErrMissingUserCode.WithDescription("user_code is required for this user (CIBA 7.1.2)"))
	case subtle.ConstantTimeCompare([]byte(code), []byte(user.UserCode)) != 1:
		return op.hooks.refusal(ruleUserCodeMatches, ciba.ErrInvalidUserCode.WithDescription("user_code is wrong"))
	}
	return nil
}

// checkClientNotificationToken requires a valid client_notification_token
// from ping and push clients (CIBA 7.1).
func (op *OP) checkClientNotificationToken(c *Client, t string) error {
	if c.DeliveryMode == ciba.ModePoll {
		return nil
	}
	return op.hooks.notificationToken(t, checkNotificationToken(t))
}

// requestLifetime is how long the request lives: requested_expiry if
// sent (CIBA 7.1), at most MaxExpiry, else DefaultExpiry.
func (op *OP) requestLifetime(p authParams) (time.Duration, error) {
	if !p.HasExpiry {
		return op.cfg.DefaultExpiry, nil
	}
	requested, err := requestedExpiry(p.RequestedExpiry)
	if err := op.hooks.requestedExpiry(p.RequestedExpiry, err); err != nil {
		return 0, err
	}
	if requested <= 0 { // invalid, but a bend let it through
		return op.cfg.DefaultExpiry, nil
	}
	return min(requested, op.cfg.MaxExpiry), nil
}

// satisfiedACR is the first of acrValues the device satisfies, or "".
func satisfiedACR(acrValues string) string {
	for _, v := range strings.Fields(acrValues) {
		if v == ACRMultiFactor || v == ACRSingleFactor {
			// The device performs MFA, which satisfies either value; the
			// client's first supported preference is reported.
			return v
		}
	}
	return ""
}

// authReqIDBytes is the randomness of an auth_req_id: 160 bits, which
// CIBA 7.3 recommends (it requires at least 128).
const authReqIDBytes = 20

// newAuthReqID is a fresh auth_req_id of authReqIDBytes random bytes,
// base64url (CIBA 7.3: A-Z a-z 0-9 . - _).
func (op *OP) newAuthReqID() (string, error) {
	raw, err := op.random(op.hooks.authReqIDBytes)
	if err != nil {
		return "", err
	}
	return op.hooks.encodeAuthReqID(raw), nil
}

// checkScope requires openid and only scopes the client may use (CIBA
// 7.1, RFC 6749 3.3); it returns the normalised scope string.
func (op *OP) checkScope(c *Client, scope string) (string, error) {
	values := strings.Fields(scope)
	var openID error
	if !slices.Contains(values, "openid") {
		openID = ciba.ErrInvalidScope.WithDescription("scope must include openid")
	}
	if err := op.hooks.scope(values, openID); err != nil {
		return "", err
	}
	var out []string
	for _, v := range values {
		if v != "openid" && !slices.Contains(c.Scopes, v) && !slices.Contains(op.hooks.everyClientScopes, v) {
			return "", ciba.ErrInvalidScope.WithDescription("scope " + v + " is not allowed for this client")
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return strings.Join(out, " "), nil
}

// resolveHint maps exactly one hint to a user (CIBA 7.1, 7.2 steps 3-5).
func (op *OP) resolveHint(ctx context.Context, c *Client, p authParams) (User, error) {
	n := 0
	for _, h := range []string{p.LoginHint, p.LoginHintToken, p.IDTokenHint} {
		if h != "" {
			n++
		}
	}
	var count error
	if n != 1 {
		count = ciba.ErrInvalidRequest.WithDescription("exactly one of login_hint, login_hint_token and id_token_hint is required (CIBA 7.1)")
	}
	if err := op.hooks.hintCount(n, count); err != nil {
		return User{}, err
	}
	switch {
	case p.LoginHint != "":
		u, ok := op.hooks.loginHintUser(op, p.LoginHint)
		if !ok {
			return User{}, ciba.ErrUnknownUserID.WithDescription("login_hint does not identify a user")
		}
		return u, nil
	case p.IDTokenHint != "":
		// An ID token this OP issued; it may have expired (CIBA 7.1).
		cl, err := op.verifyOwn(p.IDTokenHint, typIDToken)
		if err != nil {
			return User{}, ciba.ErrInvalidRequest.WithDescription("id_token_hint: " + err.Error())
		}
		sub, _, _ := cl.str("sub")
		u, ok := op.userBySubject(sub)
		if !ok {
			return User{}, ciba.ErrUnknownUserID.WithDescription("id_token_hint does not identify a user")
		}
		return u, nil
	default:
		return op.resolveLoginHintToken(c, p.LoginHintToken)
	}
}

// resolveLoginHintToken accepts our documented login_hint_token format: a
// JWT signed by the client (PS256/ES256, its registered keys) carrying
// exp and either sub (a subject) or login_hint.
func (op *OP) resolveLoginHintToken(c *Client, token string) (User, error) {
	_, cl, err := verifyJWS(token, c.JWKS.Keys, []string{ciba.AlgPS256, ciba.AlgES256})
	if err != nil {
		return User{}, ciba.ErrInvalidRequest.WithDescription("login_hint_token: " + err.Error())
	}
	exp, ok, err := cl.date("exp")
	if err != nil || !ok {
		return User{}, ciba.ErrInvalidRequest.WithDescription("login_hint_token: exp is required")
	}
	if !op.clock.Now().Before(exp) {
		return User{}, ciba.ErrExpiredLoginHintToken.WithDescription("login_hint_token has expired")
	}
	if sub, _, _ := cl.str("sub"); sub != "" {
		if u, ok := op.userBySubject(sub); ok {
			return u, nil
		}
	} else if hint, _, _ := cl.str("login_hint"); hint != "" {
		if u, ok := op.userByLoginHint(hint); ok {
			return u, nil
		}
	} else {
		return User{}, ciba.ErrInvalidRequest.WithDescription("login_hint_token needs a sub or login_hint claim")
	}
	return User{}, ciba.ErrUnknownUserID.WithDescription("login_hint_token does not identify a user")
}

// checkBindingMessage refuses messages the device cannot display
// faithfully: too long, invalid UTF-8, control or bidi-override characters.
func checkBindingMessage(m string) error {
	bad := ciba.ErrInvalidBindingMessage
	if !utf8.ValidString(m) {
		return bad.WithDescription("binding_message is not valid UTF-8")
	}
	if utf8.RuneCountInString(m) > MaxBindingMessageRunes {
		return bad.WithDescription("binding_message is too long to display")
	}
	for _, r := range m {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return bad.WithDescription("binding_message contains control characters")
		}
	}
	return nil
}

// checkNotificationToken enforces CIBA 7.1 for ping/push clients: present,
// at most 1024 characters of RFC 6750 2.1 b64token syntax.
func checkNotificationToken(t string) error {
	if t == "" {
		return ciba.ErrInvalidRequest.WithDescription("client_notification_token is required for ping and push clients (CIBA 7.1)")
	}
	if len(t) > ciba.MaxClientNotificationTokenLength {
		return ciba.ErrInvalidRequest.WithDescription("client_notification_token is longer than 1024 characters")
	}
	body := strings.TrimRight(t, "=")
	if body == "" {
		return ciba.ErrInvalidRequest.WithDescription("client_notification_token is not a b64token")
	}
	for _, r := range body {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~+/", r)) {
			return ciba.ErrInvalidRequest.WithDescription("client_notification_token is not a b64token (RFC 6750 2.1)")
		}
	}
	return nil
}
