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
	if err != nil {
		if op.faults.on(FaultPendingAs401) && errors.Is(err, ciba.ErrAuthorizationPending) {
			writeJSONStatus(w, http.StatusUnauthorized, ciba.ErrorResponse{Error: ciba.ErrAuthorizationPending.Code, ErrorDescription: "the user has not decided yet"})
			return
		}
		op.fail(w, r, err)
		return
	}
	if op.faults.on(FaultTokenResponseCacheable) {
		writeJSON(w, resp) // token-response-cacheable: no no-store headers
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
	if err != nil {
		ac, err = op.certlessClient(r, form, err)
	}
	if err != nil {
		return ciba.TokenResponse{}, err
	}
	if err := op.waivedBy(FaultTokenWithoutCertificate, op.requireCertificate(ac)); err != nil {
		return ciba.TokenResponse{}, err
	}
	if err := op.refusesSelfSigned(ac); err != nil {
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
		return ciba.TokenResponse{}, op.faultyRefusal(FaultUnknownGrantTypeInvalidRequest,
			ciba.ErrUnsupportedGrantType.WithDescription("grant_type is not supported"), ciba.ErrInvalidRequest.WithDescription("grant_type is invalid"))
	}
}

// cibaGrant redeems an auth_req_id (CIBA 10.1, 11). The whole decision is
// one atomic store update, so tokens are issued exactly once.
func (op *OP) cibaGrant(ctx context.Context, ac *authenticatedClient, id string) (ciba.TokenResponse, error) {
	if ciba.DeliveryMode(ac.DeliveryMode) == ciba.ModePush {
		err := ciba.ErrUnauthorizedClient.WithDescription("push clients receive tokens at their notification endpoint (CIBA 10.3)")
		if err := op.waivedBy(FaultPollAcceptedForPushClient, err); err != nil {
			return ciba.TokenResponse{}, err
		}
	}
	if id == "" {
		return ciba.TokenResponse{}, op.faultyRefusal(FaultMissingAuthReqIDInvalidGrant,
			ciba.ErrInvalidRequest.WithDescription("auth_req_id is missing"), ciba.ErrInvalidGrant.WithDescription("auth_req_id is invalid"))
	}
	op.awaitPingOutcome(ctx, id)
	ar, err := op.redeemAuthRequest(ctx, ac.ID, id)
	if err != nil {
		return ciba.TokenResponse{}, err
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
	op.recordGrant(ar.ID, tr)
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
		return ar, op.faultyRefusal(FaultUnknownAuthReqIDExpired,
			ciba.ErrInvalidGrant.WithDescription("auth_req_id is unknown"), ciba.ErrExpiredToken.WithDescription("auth_req_id has expired"))
	case err == errRedeemed:
		op.revokeGrant(ctx, id)
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
		if err := op.waivedBy(FaultCrossClientAuthReqID, ciba.ErrInvalidGrant.WithDescription("auth_req_id is unknown")); err != nil {
			return nil, err
		}
	}
	if ar.Status == StatusRedeemed && ar.Redemptions >= op.faultyMaxRedemptions(1) {
		return nil, errRedeemed
	}
	if !now.Before(ar.ExpiresAt) {
		if err := op.waivedBy(FaultAcceptExpiredToken, ciba.ErrExpiredToken.WithDescription("auth_req_id has expired")); err != nil {
			return nil, err
		}
	}
	switch ar.Status {
	case StatusPending:
		return op.pendingPoll(ar, now), nil
	case StatusDenied:
		return nil, op.faultyRefusal(FaultDeniedAsInvalidGrant,
			ciba.ErrAccessDenied.WithDescription("the user denied the request"), ciba.ErrInvalidGrant.WithDescription("auth_req_id is no longer valid"))
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

// errRedeemed answers an auth_req_id presented after its redemption.
var errRedeemed = ciba.ErrInvalidGrant.WithDescription("auth_req_id was already redeemed")

// pendingPoll is the answer to a poll of a pending request:
// authorization_pending, or slow_down when it came sooner than the
// interval, which then grows by 5 s for good (CIBA 11).
func (op *OP) pendingPoll(ar *AuthRequest, now time.Time) error {
	if ar.Interval > 0 && !ar.LastPoll.IsZero() && !op.allow.on(AllowNeverSlowDown) &&
		now.Sub(ar.LastPoll) < time.Duration(ar.Interval)*time.Second {
		ar.Interval += ciba.SlowDownIncrement
		ar.LastPoll = now
		if op.throttled(ar) {
			return ciba.ErrSlowDown.WithStatus(http.StatusTooManyRequests).WithDescription("too many requests")
		}
		return ciba.ErrSlowDown.WithDescription("poll no faster than the interval")
	}
	ar.LastPoll = now
	return ciba.ErrAuthorizationPending.WithDescription("the user has not decided yet")
}

// refreshGrant is RFC 6749 6 with FAPI certificate binding for the new
// access token; the refresh token itself is not rotated.
func (op *OP) refreshGrant(ctx context.Context, ac *authenticatedClient, refresh, scope string, hasScope bool) (ciba.TokenResponse, error) {
	if refresh == "" {
		return ciba.TokenResponse{}, ciba.ErrInvalidRequest.WithDescription("refresh_token is missing")
	}
	t, err := op.store.GetToken(ctx, tokenKey(refresh))
	now := op.clock.Now()
	if err != nil || t.Kind != KindRefresh || t.Revoked || !now.Before(t.ExpiresAt) ||
		(t.ClientID != ac.ID && !op.faults.on(FaultRefreshCrossClient)) {
		return ciba.TokenResponse{}, ciba.ErrInvalidGrant.WithDescription("refresh_token is invalid")
	}
	granted := strings.Fields(t.Scope)
	newScope, requested := t.Scope, t.Scope
	if hasScope {
		req := strings.Fields(scope)
		if len(req) == 0 {
			return ciba.TokenResponse{}, ciba.ErrInvalidScope.WithDescription("scope is empty")
		}
		requested = strings.Join(req, " ")
		for _, s := range req {
			if !slices.Contains(granted, s) && !op.faults.on(FaultRefreshScopeWidening) {
				if op.allow.on(AllowRefreshWiderScopeIgnored) {
					req = granted // RFC 6749 3.3: the request is ignored
					break
				}
				return ciba.TokenResponse{}, ciba.ErrInvalidScope.WithDescription("scope " + s + " exceeds the original grant (RFC 6749 6)")
			}
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
	if rotated, err := op.rotateRefresh(ctx, t, now); err != nil {
		return ciba.TokenResponse{}, err
	} else if rotated != "" {
		tr.RefreshToken = rotated
	}
	return tr, nil
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
	accessBytes := 32
	if op.faults.on(FaultShortAccessToken) {
		accessBytes = 8
	}
	access, err := op.random(accessBytes)
	if err != nil {
		return ciba.TokenResponse{}, err
	}
	tr := ciba.TokenResponse{
		AccessToken: b64(access),
		TokenType:   "Bearer",
		ExpiresIn:   int(op.cfg.AccessTokenLifetime / time.Second),
		Scope:       g.scope,
	}
	thumb := certThumbprint(cert)
	if op.faults.on(FaultUnboundAccessToken) {
		thumb = ""
	}
	if jwt, err := op.jwtAccessToken(g, thumb, now); err != nil {
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
	if withRefresh && op.issuesRefreshToken(g.scope) {
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
	if !op.faults.on(FaultOmitIDToken) && !(op.faults.on(FaultPingOmitIDToken) && op.clientMode(g.clientID) == ciba.ModePing) {
		tr.IDToken = idt
	}
	op.shapeTokenResponse(&tr, g)
	return tr, nil
}

// idToken signs the ID token (CIBA 10.1.1, 10.3.1; FAPI-CIBA 5.2.2-8).
func (op *OP) idToken(g tokenGrant, tr ciba.TokenResponse, now time.Time) (string, error) {
	aud := g.clientID
	if op.faults.on(FaultWrongIDTokenAud) {
		aud = op.Issuer()
	}
	c := map[string]any{
		"iss":              op.Issuer(),
		"sub":              g.subject,
		"aud":              aud,
		"exp":              now.Add(idTokenLifetime).Unix(),
		"iat":              now.Unix(),
		ciba.ClaimAuthTime: g.authTime.Unix(),
	}
	if !op.faults.on(FaultMissingAtHash) {
		c[ciba.ClaimATHash] = halfHash(tr.AccessToken)
	}
	if op.faults.on(FaultFullAtHash) {
		c[ciba.ClaimATHash] = fullHash(tr.AccessToken)
	}
	op.shapeIDTokenClaims(c, g)
	if op.faults.on(FaultWrongAuthReqIDClaim) && g.authReqID != "" {
		c[ciba.ClaimAuthReqID] = tokenKey(g.authReqID)
	}
	if g.acr != "" {
		c[ciba.ClaimACR] = g.acr
	}
	if g.push {
		c[ciba.ClaimAuthReqID] = g.authReqID
		if tr.RefreshToken != "" && !op.faults.on(FaultPushMissingRTHash) {
			c[ciba.ClaimRTHash] = halfHash(tr.RefreshToken)
		}
	}
	if s, signed, err := op.signIDToken(c); signed {
		return s, err
	}
	if op.faults.on(FaultIDTokenWithoutKid) {
		return op.signWithoutKid(c, typIDToken)
	}
	return op.sign(c, typIDToken)
}
