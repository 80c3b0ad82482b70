package refop

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
)

// handleToken is the token endpoint (CIBA 10.1, 11; RFC 6749 6).
func (op *OP) handleToken(w http.ResponseWriter, r *http.Request) {
	resp, err := op.token(r)
	if op.hooks.tokenAnswer(w, resp, err) {
		return // a fault wrote its own answer
	}
	if err != nil {
		op.fail(w, r, err)
		return
	}
	writeJSONStatus(w, http.StatusOK, resp)
}

func (op *OP) token(r *http.Request) (ciba.TokenResponse, error) {
	ctx := r.Context()
	form, err := parseForm(r)
	if err != nil {
		return ciba.TokenResponse{}, err
	}
	// RFC 7523 3 / CIBA 7.1: the token endpoint URL is the natural aud;
	// the issuer is accepted too (suite module 37).
	ac, err := op.authenticateClient(ctx, r, form, []string{op.endpoint(PathToken), op.Issuer()})
	if err == nil {
		err = op.requireCertificate(ac)
	}
	if ac, err = op.hooks.tokenClient(op, r, form, ac, err); err != nil {
		return ciba.TokenResponse{}, err
	}
	switch gt := form.Get(ciba.ParamGrantType); gt {
	case ciba.GrantTypeCIBA:
		return op.cibaGrant(ctx, ac, form.Get(ciba.ParamAuthReqID))
	case ciba.GrantTypeRefreshToken:
		return op.refreshGrant(ctx, ac, form.Get(ciba.ParamRefreshToken), form.Get(ciba.ParamScope), form.Has(ciba.ParamScope))
	case "":
		return ciba.TokenResponse{}, ciba.ErrInvalidRequest.WithDescription("grant_type is missing")
	default:
		return ciba.TokenResponse{}, op.hooks.refusal(ruleUnsupportedGrantType, ciba.ErrUnsupportedGrantType.WithDescription("grant_type is not supported"))
	}
}

// cibaGrant redeems an auth_req_id (CIBA 10.1, 11). The whole decision is
// one atomic store update, so tokens are issued exactly once.
func (op *OP) cibaGrant(ctx context.Context, ac *authenticatedClient, id string) (ciba.TokenResponse, error) {
	if ciba.DeliveryMode(ac.DeliveryMode) == ciba.ModePush {
		err := ciba.ErrUnauthorizedClient.WithDescription("push clients receive tokens at their notification endpoint (CIBA 10.3)")
		if err := op.hooks.refusal(rulePushClientsDoNotPoll, err); err != nil {
			return ciba.TokenResponse{}, err
		}
	}
	if id == "" {
		return ciba.TokenResponse{}, op.hooks.refusal(ruleAuthReqIDRequired, ciba.ErrInvalidRequest.WithDescription("auth_req_id is missing"))
	}
	op.hooks.beforeRedeem(ctx, op, id)
	ar, err := op.redeemAuthRequest(ctx, ac.ID, id)
	if err != nil {
		return ciba.TokenResponse{}, err
	}
	if r, ok := op.store.(Retirer); ok && ar.Redemptions >= op.hooks.maxRedemptions {
		// Redeemed for good: ar has what the tokens need, and a later
		// request for id is answered from the tombstone.
		if err := r.RetireRedeemed(ctx, id); err != nil {
			op.log.Warn("retiring a redeemed request failed", "err", err)
		}
	}
	if op.log.Enabled(ctx, slog.LevelInfo) { // spare the arguments when off
		op.log.Info("tokens issued", "client_id", ac.ID, "auth_req_id", redact(id))
	}
	tr, err := op.issueTokens(ctx, tokenGrant{
		clientID: ac.ID, subject: ar.Subject, scope: ar.Scope, requested: ar.Scope, acr: ar.ACR, authTime: ar.AuthTime, authReqID: ar.ID,
	}, ac.cert, true)
	if err != nil {
		return ciba.TokenResponse{}, err
	}
	op.hooks.redeemed(op, ar.ID, tr)
	return tr, nil
}

// redeemAuthRequest answers client clientID's token request for id in
// one store update: the request, redeemed, or the OAuth error of the
// poll (authorization_pending, slow_down, access_denied, expired_token,
// invalid_grant).
func (op *OP) redeemAuthRequest(ctx context.Context, clientID, id string) (AuthRequest, error) {
	now := op.clock.Now()
	var outcome error // an OAuth answer that still persists the update
	ar, err := op.store.UpdateAuthRequest(ctx, id, func(ar *AuthRequest) error {
		var err error
		outcome, err = op.pollStep(ar, clientID, now)
		return err
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return ar, op.hooks.refusal(ruleAuthReqIDKnown, ciba.ErrInvalidGrant.WithDescription("auth_req_id is unknown"))
	case err == errRedeemed:
		op.hooks.replayed(ctx, op, id)
	}
	if err != nil {
		return ar, err
	}
	return ar, outcome
}

// pollStep moves ar on by one token request of client clientID at now.
// err refuses the request and leaves ar untouched; outcome is an OAuth
// answer under which ar's update (the poll time, the interval) persists.
func (op *OP) pollStep(ar *AuthRequest, clientID string, now time.Time) (outcome, err error) {
	// CIBA 11: another client's id is invalid_grant and must leave the
	// request untouched, so this check comes first.
	if ar.ClientID != clientID {
		if err := op.hooks.refusal(ruleAuthReqIDOwner, ciba.ErrInvalidGrant.WithDescription("auth_req_id is unknown")); err != nil {
			return nil, err
		}
	}
	if ar.Status == StatusRedeemed && ar.Redemptions >= op.hooks.maxRedemptions {
		return nil, errRedeemed
	}
	if !now.Before(ar.ExpiresAt) {
		if err := op.hooks.refusal(ruleAuthReqIDExpires, ciba.ErrExpiredToken.WithDescription("auth_req_id has expired")); err != nil {
			return nil, err
		}
	}
	switch ar.Status {
	case StatusPending:
		return op.pendingPoll(ar, now), nil
	case StatusDenied:
		return nil, op.hooks.refusal(ruleDeniedAccessDenied, ciba.ErrAccessDenied.WithDescription("the user denied the request"))
	case StatusFailed:
		return nil, ciba.ErrAccessDenied.WithDescription("the authentication device could not complete the request")
	case StatusExpired:
		return nil, ciba.ErrExpiredToken.WithDescription("auth_req_id has expired")
	case StatusApproved, StatusRedeemed:
		ar.Status = StatusRedeemed
		ar.Redemptions++
		return nil, nil
	}
	return nil, ciba.ErrServerError.WithDescription("request in unknown state")
}

// maxRedemptions is how often an approved auth_req_id is redeemed: once
// (CIBA 11, RFC 6749 4.1.2).
const maxRedemptions = 1

// errRedeemed answers an auth_req_id presented after its redemption.
var errRedeemed = ciba.ErrInvalidGrant.WithDescription("auth_req_id was already redeemed")

// pendingPoll is the answer to a poll of a pending request:
// authorization_pending, or slow_down when it came sooner than the
// interval, which then grows by 5 s for good (CIBA 11).
func (op *OP) pendingPoll(ar *AuthRequest, now time.Time) error {
	if ar.Interval > 0 && !ar.LastPoll.IsZero() && now.Sub(ar.LastPoll) < time.Duration(ar.Interval)*time.Second &&
		op.hooks.enforced(ruleSlowDown) {
		ar.Interval += ciba.SlowDownIncrement
		ar.LastPoll = now
		return op.hooks.slowDown(op, ar, ciba.ErrSlowDown.WithDescription("poll no faster than the interval"))
	}
	ar.LastPoll = now
	return ciba.ErrAuthorizationPending.WithDescription("the user has not decided yet")
}

// accessTokenBytes is the randomness of an access token: 256 bits.
const accessTokenBytes = 32

// refreshGrant is RFC 6749 6 with FAPI certificate binding for the new
// access token; the refresh token itself is not rotated.
func (op *OP) refreshGrant(ctx context.Context, ac *authenticatedClient, refresh, scope string, hasScope bool) (ciba.TokenResponse, error) {
	if refresh == "" {
		return ciba.TokenResponse{}, ciba.ErrInvalidRequest.WithDescription("refresh_token is missing")
	}
	t, err := op.store.GetToken(ctx, tokenKey(refresh))
	now := op.clock.Now()
	invalid := ciba.ErrInvalidGrant.WithDescription("refresh_token is invalid")
	if err != nil || t.Kind != KindRefresh || t.Revoked || !now.Before(t.ExpiresAt) {
		return ciba.TokenResponse{}, invalid
	}
	if t.ClientID != ac.ID {
		if err := op.hooks.refusal(ruleRefreshTokenOwner, invalid); err != nil {
			return ciba.TokenResponse{}, err
		}
	}
	granted := strings.Fields(t.Scope)
	newScope, requested := t.Scope, t.Scope
	if hasScope {
		req := strings.Fields(scope)
		if len(req) == 0 {
			return ciba.TokenResponse{}, ciba.ErrInvalidScope.WithDescription("scope is empty")
		}
		requested = strings.Join(req, " ")
		if req, err = op.hooks.refreshScope(req, granted, beyondGrant(req, granted)); err != nil {
			return ciba.TokenResponse{}, err
		}
		newScope = strings.Join(req, " ")
	}
	tr, err := op.issueTokens(ctx, tokenGrant{
		clientID: ac.ID, subject: t.Subject, scope: newScope, requested: requested, acr: t.ACR, authTime: t.AuthTime, refresh: true,
	}, ac.cert, false)
	if err != nil {
		return ciba.TokenResponse{}, err
	}
	tr.RefreshToken = refresh
	if rotated, err := op.hooks.refreshed(ctx, op, t, now); err != nil {
		return ciba.TokenResponse{}, err
	} else if rotated != "" {
		tr.RefreshToken = rotated
	}
	return tr, nil
}

// beyondGrant refuses a refresh request for a scope value the original
// grant did not include (RFC 6749 6).
func beyondGrant(req, granted []string) error {
	for _, s := range req {
		if !slices.Contains(granted, s) {
			return ciba.ErrInvalidScope.WithDescription("scope " + s + " exceeds the original grant (RFC 6749 6)")
		}
	}
	return nil
}

type tokenGrant struct {
	clientID, subject, scope, acr string
	authTime                      time.Time
	// authReqID and push select the push ID token claims (CIBA 10.3.1).
	authReqID string
	push      bool
	// requested is the scope the client asked for; refresh marks the
	// refresh grant (both for the token-response allowances).
	requested string
	refresh   bool
}

// issueTokens creates an access token bound to cert (RFC 8705 3), an
// optional refresh token and an ID token (CIBA 10.1.1, OIDC 3.1.3.3).
func (op *OP) issueTokens(ctx context.Context, g tokenGrant, cert *x509.Certificate, withRefresh bool) (ciba.TokenResponse, error) {
	now := op.clock.Now()
	access, err := op.random(op.hooks.accessTokenBytes)
	if err != nil {
		return ciba.TokenResponse{}, err
	}
	tr := ciba.TokenResponse{
		AccessToken: b64(access),
		TokenType:   "Bearer",
		ExpiresIn:   int(op.cfg.AccessTokenLifetime / time.Second),
		Scope:       g.scope,
	}
	var thumb string
	if op.hooks.enforced(ruleAccessTokenBound) {
		thumb = certThumbprint(cert)
	}
	if jwt, err := op.hooks.accessToken(op, g, thumb, now); err != nil {
		return ciba.TokenResponse{}, err
	} else if jwt != "" {
		tr.AccessToken = jwt
	}
	base := Token{ClientID: g.clientID, Subject: g.subject, Scope: g.scope, ACR: g.acr, AuthTime: g.authTime, IssuedAt: now}
	at := base
	at.Key, at.Kind, at.ExpiresAt, at.CertThumbprint = tokenKey(tr.AccessToken), KindAccess, now.Add(op.cfg.AccessTokenLifetime), thumb
	if err := op.store.PutToken(ctx, at); err != nil {
		return ciba.TokenResponse{}, err
	}
	if withRefresh && op.hooks.refreshToken(g.scope) {
		refresh, err := op.random(32)
		if err != nil {
			return ciba.TokenResponse{}, err
		}
		tr.RefreshToken = b64(refresh)
		rt := base
		rt.Key, rt.Kind, rt.ExpiresAt = tokenKey(tr.RefreshToken), KindRefresh, now.Add(op.cfg.RefreshTokenLifetime)
		if err := op.store.PutToken(ctx, rt); err != nil {
			return ciba.TokenResponse{}, err
		}
	}
	idt, err := op.idToken(g, tr, now)
	if err != nil {
		return ciba.TokenResponse{}, err
	}
	tr.IDToken = idt
	op.hooks.tokenResponse(op, &tr, g)
	return tr, nil
}

// idToken signs the ID token (CIBA 10.1.1, 10.3.1; FAPI-CIBA 5.2.2-8).
func (op *OP) idToken(g tokenGrant, tr ciba.TokenResponse, now time.Time) (string, error) {
	c := map[string]any{
		"iss":              op.Issuer(),
		"sub":              g.subject,
		"aud":              g.clientID,
		"exp":              now.Add(idTokenLifetime).Unix(),
		"iat":              now.Unix(),
		ciba.ClaimAuthTime: g.authTime.Unix(),
		ciba.ClaimATHash:   halfHash(tr.AccessToken),
	}
	if g.acr != "" {
		c[ciba.ClaimACR] = g.acr
	}
	if g.push {
		c[ciba.ClaimAuthReqID] = g.authReqID
		if tr.RefreshToken != "" {
			c[ciba.ClaimRTHash] = halfHash(tr.RefreshToken)
		}
	}
	op.hooks.idTokenClaims(op, c, g, tr)
	if key := op.hooks.idTokenKey; key != nil {
		return op.signWith(key(op), c, typIDToken)
	}
	return op.sign(c, typIDToken)
}
