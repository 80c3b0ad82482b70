package refop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/ciba-check/ciba-check/ciba"
)

// The authentication channel (Keycloak's CIBA HTTP authentication channel
// shape, see ciba.DeviceAuthRequest): the OP POSTs the request to
// Config.DeviceEndpoint with a channel token and expects 2xx (201 by
// contract); the device answers at PathDeviceCallback with the same token.

// channelToken is the bearer token of one device interaction: a JWT the
// OP signs (with Config.ChannelKeyID's key) with iss=aud=issuer,
// jti=auth_req_id, azp=client_id, sub.
func (op *OP) channelToken(ar AuthRequest) (string, error) {
	return op.signWith(op.channelSigner, map[string]any{
		"iss": op.Issuer(),
		"aud": op.Issuer(),
		"jti": ar.ID,
		"azp": ar.ClientID,
		"sub": ar.Subject,
		"exp": ar.ExpiresAt.Unix(),
		"iat": op.clock.Now().Unix(),
	}, typChannelToken)
}

// startDeviceInteraction asks the authentication device, asynchronously,
// to authenticate the user. Without a DeviceEndpoint the request waits for
// Decide.
func (op *OP) startDeviceInteraction(ar AuthRequest, user User) {
	if d := op.hooks.deviceDelay(ar); d > 0 {
		op.after(d, func(context.Context) { op.offerToDevice(ar, user, false) })
		return
	}
	op.offerToDevice(ar, user, false)
}

// offerToDevice calls the device in the background and records the
// acknowledgement. A redelivery (after a restart) treats 409 Conflict as
// acknowledged: the device already holds the request.
func (op *OP) offerToDevice(ar AuthRequest, user User, redelivery bool) {
	if op.cfg.DeviceEndpoint == "" {
		return
	}
	op.goBackground(func(ctx context.Context) {
		err := op.callDevice(ctx, ar, user)
		var st deviceStatusError
		if redelivery && errors.As(err, &st) && st.status == http.StatusConflict {
			err = nil
		}
		switch {
		case err == nil:
			now := op.clock.Now()
			// Recorded even when Close is under way: the call did succeed.
			if _, uerr := op.store.UpdateAuthRequest(context.WithoutCancel(ctx), ar.ID, func(r *AuthRequest) error {
				if r.DeviceCalledAt.IsZero() {
					r.DeviceCalledAt = now
				}
				return nil
			}); uerr != nil && !errors.Is(uerr, ErrNotFound) {
				op.log.Warn("recording the device acknowledgement failed", "auth_req_id", redact(ar.ID), "err", uerr)
			}
			op.log.Info("authentication device acknowledged", "auth_req_id", redact(ar.ID), "redelivery", redelivery)
		case ctx.Err() != nil:
			// Shutting down: the request stays pending, and Resume
			// offers it again after a restart.
		default:
			op.log.Warn("authentication device call failed", "auth_req_id", redact(ar.ID), "err", err)
			if _, derr := op.decide(ctx, ar.ID, StatusFailed, "authentication device: "+err.Error()); derr != nil {
				op.log.Info("could not mark request failed", "auth_req_id", redact(ar.ID), "err", derr)
			}
		}
	})
}

func (op *OP) callDevice(ctx context.Context, ar AuthRequest, user User) error {
	token, err := op.channelToken(ar)
	if err != nil {
		return err
	}
	loginHint := user.LoginHint
	if loginHint == "" {
		// Users found by sub (id_token_hint, login_hint_token) may have no
		// login hint; the device then identifies them by subject.
		loginHint = user.Subject
	}
	body, err := json.Marshal(ciba.DeviceAuthRequest{
		Scope:          ar.Scope,
		BindingMessage: ar.BindingMessage,
		LoginHint:      loginHint,
		ACRValues:      ar.ACRValues,
		UserCode:       ar.UserCode,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, outboundTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, op.cfg.DeviceEndpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := op.outbound.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return deviceStatusError{resp.StatusCode}
	}
	return nil
}

// deviceStatusError is a non-2xx answer from the authentication device.
type deviceStatusError struct{ status int }

func (e deviceStatusError) Error() string { return fmt.Sprintf("status %d, want 201", e.status) }

// handleDeviceCallback receives the user's decision from the device.
func (op *OP) handleDeviceCallback(w http.ResponseWriter, r *http.Request) {
	if err := op.deviceCallback(r); err != nil {
		op.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

func (op *OP) deviceCallback(r *http.Request) error {
	auth := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return ciba.ErrInvalidToken.WithDescription("a Bearer channel token is required")
	}
	cl, err := op.verifyOwn(token, typChannelToken)
	if err != nil {
		return ciba.ErrInvalidToken.WithDescription("channel token: " + err.Error())
	}
	if !cl.audContains(op.Issuer()) {
		return ciba.ErrInvalidToken.WithDescription("channel token has the wrong audience")
	}
	exp, ok, err := cl.date("exp")
	if err != nil || !ok || !op.clock.Now().Before(exp) {
		return ciba.ErrInvalidToken.WithDescription("channel token has expired")
	}
	id, _, _ := cl.str("jti")
	azp, _, _ := cl.str("azp")
	if ar, err := op.store.GetAuthRequest(r.Context(), id); err != nil || ar.ClientID != azp {
		return ciba.ErrInvalidToken.WithDescription("channel token does not name a known request")
	}
	var cb ciba.DeviceCallback
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cb); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return ciba.ErrInvalidRequest.WithStatus(http.StatusRequestEntityTooLarge).WithDescription("body too large")
		}
		return ciba.ErrInvalidRequest.WithDescription("body must be JSON {\"status\": ...}")
	}
	// One JSON object and nothing after it: trailing data means the
	// body is not what the device meant to send.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return ciba.ErrInvalidRequest.WithDescription("body must be a single JSON object")
	}
	var status AuthStatus
	switch cb.Status {
	case ciba.DeviceSucceed:
		status = StatusApproved
	case ciba.DeviceUnauthorized, ciba.DeviceCancelled:
		status = StatusDenied
	default:
		return ciba.ErrInvalidRequest.WithDescription("status must be SUCCEED, UNAUTHORIZED or CANCELLED")
	}
	_, err = op.decide(r.Context(), id, status, string(cb.Status))
	return err
}

// Decide records the user's decision for authReqID as the device callback
// would: ciba.DeviceSucceed approves, the others deny. It is for embedding
// the OP with an in-process device; a request is decided once only.
func (op *OP) Decide(ctx context.Context, authReqID string, status ciba.DeviceStatus) error {
	var s AuthStatus
	switch status {
	case ciba.DeviceSucceed:
		s = StatusApproved
	case ciba.DeviceUnauthorized, ciba.DeviceCancelled:
		s = StatusDenied
	default:
		return ciba.ErrInvalidRequest.WithDescription("unknown device status")
	}
	_, err := op.decide(ctx, authReqID, s, string(status))
	return err
}

// decide moves a pending request to its final state once, then notifies
// ping and push clients (CIBA 10.2, 10.3).
func (op *OP) decide(ctx context.Context, id string, status AuthStatus, reason string) (AuthRequest, error) {
	now := op.clock.Now()
	ar, err := op.store.UpdateAuthRequest(ctx, id, func(ar *AuthRequest) error {
		if ar.Status != StatusPending {
			return ciba.ErrInvalidRequest.WithDescription("the request was already decided")
		}
		if !now.Before(ar.ExpiresAt) && op.hooks.enforced(ruleAuthReqIDExpires) {
			return ciba.ErrInvalidRequest.WithDescription("the request has expired")
		}
		ar.Status = status
		ar.AuthTime = now
		if status == StatusFailed {
			ar.FailureReason = reason
		}
		return nil
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return ar, ciba.ErrInvalidRequest.WithDescription("unknown authentication request")
	case errors.Is(err, ErrExpiredUndecided):
		// Decided as it expired: the store retired it meanwhile.
		return ar, ciba.ErrInvalidRequest.WithDescription("the request has expired")
	case err != nil:
		return ar, err
	}
	notified := op.notify(ar)
	op.log.Info("authentication decided", "auth_req_id", redact(id), "status", string(status), "notify", notified)
	return ar, nil
}
