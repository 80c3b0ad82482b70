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

	"github.com/ciba-check/ciba-check/internal/ciba"
)

// MaxBindingMessageRunes is the longest binding_message the device can
// display; longer ones get invalid_binding_message (CIBA 7.1, 13).
const MaxBindingMessageRunes = 200

// handleBackchannel is the backchannel authentication endpoint (CIBA 7).
func (op *OP) handleBackchannel(w http.ResponseWriter, r *http.Request) {
	resp, err := op.backchannel(r)
	if err != nil {
		op.log.Info("backchannel request refused", "err", err.Error())
		op.fail(w, r, err)
		return
	}
	writeJSONStatus(w, http.StatusOK, resp)
}

func (op *OP) backchannel(r *http.Request) (any, error) {
	ctx := r.Context()
	form, err := parseForm(r)
	if err != nil && op.faults.on(FaultFirstRequestParamWins) && onlyRequestRepeated(r.PostForm) {
		form, err = r.PostForm, nil
	}
	if err != nil && op.faults.on(FaultOversizedRequestServerError) && isBodyTooLarge(err) {
		err = ciba.ErrServerError.WithDescription("internal error")
	}
	if err != nil {
		return nil, err
	}
	// CIBA 7.2 step 1: authenticate the client first.
	ac, err := op.authenticateClient(ctx, r, form, []string{op.Issuer(), op.endpoint(PathToken), op.endpoint(PathBackchannel)})
	if err != nil {
		return nil, err
	}
	c := ac.Client
	if c.DeliveryMode == ciba.ModePush && !op.pushAllowed() {
		return nil, ciba.ErrUnauthorizedClient.WithDescription("push mode is not allowed (FAPI-CIBA 5.2.2-3)")
	}
	if form.Has(ciba.ParamRequestURI) && op.faults.on(FaultRequestURIServerError) {
		return nil, ciba.ErrServerError.WithDescription("cannot load request_uri")
	}
	if form.Has(ciba.ParamRequestURI) && op.allow.on(AllowRequestURINotSupported) {
		return nil, errRequestURINotSupported.WithDescription("request_uri is not supported")
	}
	if form.Has(ciba.ParamRequestURI) {
		return nil, ciba.ErrInvalidRequest.WithDescription("request_uri is not supported; send a signed request (CIBA 7.1.1)")
	}
	var p authParams
	if req := form.Get(ciba.ParamRequest); req != "" {
		for _, name := range ciba.AuthenticationRequestParams {
			if form.Has(name) && !op.faults.on(FaultFormOverridesSigned) {
				return nil, ciba.ErrInvalidRequest.WithDescription(name + " must be inside the signed request, not a form field (CIBA 7.1.1)")
			}
		}
		if p, err = op.parseRequestObject(ctx, c, req); err != nil {
			return nil, err
		}
		if op.faults.on(FaultFormOverridesSigned) {
			p = overlayFormParams(p, form)
		}
		// Suite module 30 (form client_id of another client, certificate
		// and iss of this one) already failed authentication with 401
		// invalid_client; an iss differing from the authenticated client
		// is a bad request object (module 15, 400 invalid_request).
	} else if op.faults.on(FaultAllowUnsignedRequest) {
		p = formParams(form.Get, form.Has)
	} else if !op.fapi() && c.RequestSigningAlg == "" {
		// CIBA 7.1: plain form parameters; a client that registered
		// backchannel_authentication_request_signing_alg signs (CIBA 4).
		p = formParams(form.Get, form.Has)
	} else if !op.fapi() {
		return nil, ciba.ErrInvalidRequest.WithDescription("this client registered backchannel_authentication_request_signing_alg " + c.RequestSigningAlg + ": a signed request object is required (CIBA 4, 7.1.1)")
	} else {
		return nil, ciba.ErrInvalidRequest.WithDescription("a signed request object is required (FAPI-CIBA 5.2.2-6)")
	}
	return op.acceptAuthRequest(ctx, c, p)
}

// fapi reports whether the OP runs the FAPI-CIBA profile (the default);
// PushAllowed turns it off: CIBA Core alone.
func (op *OP) fapi() bool { return !op.cfg.PushAllowed }

func (op *OP) pushAllowed() bool {
	return op.cfg.PushAllowed || op.faults.on(FaultPushUnderFAPI)
}

// acceptAuthRequest validates the parameters (CIBA 7.2 steps 3-6),
// stores the request, starts the device interaction and builds the
// acknowledgement (CIBA 7.3).
func (op *OP) acceptAuthRequest(ctx context.Context, c *Client, p authParams) (any, error) {
	scope, err := op.checkScope(c, p.Scope)
	if err != nil {
		return nil, err
	}
	user, err := op.resolveHint(ctx, c, p)
	if err != nil {
		return nil, err
	}
	if op.faults.on(FaultBindingMessageTruncated) {
		p.BindingMessage = truncateRunes(p.BindingMessage, MaxBindingMessageRunes)
	}
	if err := checkBindingMessage(p.BindingMessage); err != nil {
		return nil, err
	}
	if err := op.checkRestrictedBindingMessage(p.BindingMessage); err != nil {
		return nil, err
	}
	if op.faults.on(FaultIgnoreSignedUserCode) {
		p.UserCode = ""
	}
	if c.UserCodeParameter && user.UserCode != "" {
		if p.UserCode == "" && !op.faults.on(FaultUserCodeOptional) {
			return nil, ciba.ErrMissingUserCode.WithDescription("user_code is required for this user (CIBA 7.1.2)")
		}
		if p.UserCode != "" && subtle.ConstantTimeCompare([]byte(p.UserCode), []byte(user.UserCode)) != 1 && !op.faults.on(FaultUserCodeUnchecked) {
			return nil, ciba.ErrInvalidUserCode.WithDescription("user_code is wrong")
		}
	}
	if c.DeliveryMode != ciba.ModePoll && !(p.ClientNotificationToken == "" && op.faults.on(FaultNotificationTokenOptional)) {
		t := p.ClientNotificationToken
		if op.faults.on(FaultNotificationTokenUnlimited) {
			t = t[:min(len(t), ciba.MaxClientNotificationTokenLength)]
		}
		if err := checkNotificationToken(t); err != nil {
			return nil, err
		}
		if op.faults.on(FaultNotificationTokenBase64URL) && !isBase64URLToken(t) {
			return nil, ciba.ErrInvalidRequest.WithDescription("client_notification_token must be base64url")
		}
	}
	expiry := op.cfg.DefaultExpiry
	if _, isString := p.RequestedExpiry.(string); isString && op.faults.on(FaultRequestedExpiryNumberOnly) {
		return nil, ciba.ErrInvalidRequest.WithDescription("requested_expiry must be a JSON number")
	}
	if p.HasExpiry {
		if expiry, err = requestedExpiry(p.RequestedExpiry); err != nil && op.faults.on(FaultLenientRequestedExpiry) {
			expiry, err = op.cfg.DefaultExpiry, nil
		}
		if err != nil {
			return nil, err
		}
		expiry = min(expiry, op.cfg.MaxExpiry)
	}
	expiry = op.allowedExpiry(expiry)
	acr := ""
	if op.faults.on(FaultIgnoreACRValues) {
		p.ACRValues = ""
	}
	for _, v := range strings.Fields(p.ACRValues) {
		if v == ACRMultiFactor || v == ACRSingleFactor {
			// The device performs MFA, which satisfies either value; the
			// client's first supported preference is reported.
			acr = v
			break
		}
	}
	acr = op.allowedACR(acr)

	idBytes := op.authReqIDBytes(20) // 160 bits (CIBA 7.3 recommends >= 160)
	if op.faults.on(FaultShortAuthReqID) {
		idBytes = 8
	}
	raw, err := op.random(idBytes)
	if err != nil {
		return nil, err
	}
	now := op.clock.Now()
	authReqID := op.encodeAuthReqID(raw)
	if op.faults.on(FaultPaddedAuthReqID) {
		authReqID = paddedAuthReqID(raw)
	}
	ar := AuthRequest{
		ID:                      authReqID,
		ClientID:                c.ID,
		Subject:                 user.Subject,
		Scope:                   scope,
		ACR:                     acr,
		ACRValues:               p.ACRValues,
		BindingMessage:          p.BindingMessage,
		UserCode:                p.UserCode,
		ClientNotificationToken: p.ClientNotificationToken,
		DeliveryMode:            string(c.DeliveryMode),
		CreatedAt:               now,
		ExpiresAt:               now.Add(expiry),
		Interval:                op.allowedInterval(op.cfg.Interval),
		Status:                  StatusPending,
	}
	op.maybePurge(ctx)
	if err := op.store.CreateAuthRequest(ctx, ar); err != nil {
		return nil, err
	}
	op.log.Info("backchannel request accepted", "client_id", c.ID, "auth_req_id", redact(ar.ID), "sub", user.Subject, "expires_in", int(expiry/time.Second))
	if op.faults.on(FaultBindingMessageFormEncoded) {
		ar.BindingMessage = url.QueryEscape(ar.BindingMessage)
	}
	if op.faults.on(FaultBindingMessageDropped) {
		ar.BindingMessage = ""
	}
	op.startDeviceInteraction(ar, user)
	if c.DeliveryMode == ciba.ModePush {
		op.armPushExpiry(ar)
	}
	if op.faults.on(FaultOmitExpiresIn) && !p.HasExpiry {
		return map[string]any{"auth_req_id": ar.ID, "interval": ar.Interval}, nil
	}
	if op.faults.on(FaultNullInterval) {
		return map[string]any{"auth_req_id": ar.ID, "expires_in": int(expiry / time.Second), "interval": nil}, nil
	}
	return ciba.AuthenticationResponse{AuthReqID: ar.ID, ExpiresIn: int(expiry / time.Second), Interval: op.announcedInterval(ar.Interval)}, nil
}

// checkScope requires openid and only scopes the client may use (CIBA
// 7.1, RFC 6749 3.3); it returns the normalised scope string.
func (op *OP) checkScope(c *Client, scope string) (string, error) {
	values := strings.Fields(scope)
	if op.faults.on(FaultScopeOrderSensitive) && (len(values) == 0 || values[0] != "openid") {
		return "", ciba.ErrInvalidScope.WithDescription("scope must start with openid")
	}
	if !slices.Contains(values, "openid") && !op.faults.on(FaultScopeOpenIDOptional) {
		return "", ciba.ErrInvalidScope.WithDescription("scope must include openid")
	}
	var out []string
	for _, v := range values {
		if v != "openid" && !slices.Contains(c.Scopes, v) && !op.allowsScope(v) {
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
	if n == 0 && op.faults.on(FaultHintsNotCounted) {
		return User{}, ciba.ErrUnknownUserID.WithDescription("no user for an empty login_hint")
	}
	if n != 1 && !op.faults.on(FaultHintsNotCounted) {
		return User{}, ciba.ErrInvalidRequest.WithDescription("exactly one of login_hint, login_hint_token and id_token_hint is required (CIBA 7.1)")
	}
	switch {
	case p.LoginHint != "":
		u, ok := op.userByLoginHint(p.LoginHint)
		if !ok && op.faults.on(FaultUnknownUserAccepted) && len(op.users) > 0 {
			return op.users[0], nil
		}
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
