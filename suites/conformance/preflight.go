package conformance

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/internal/targetclient"
)

// A setup mistake is not the OP's fault. Before the suite, the preflight
// makes one real backchannel request per configured client, the way every
// check makes it (Params), and for a poll client one token request with
// the auth_req_id. A refusal that says target.yaml is wrong stops the run
// before any check, as a target error naming the entry and its line:
//
//   - invalid_client or unauthorized_client at the backchannel endpoint
//     (the client id, auth method, key or certificate is not what the OP
//     registered; CIBA 13: invalid_client "Client authentication failed",
//     unauthorized_client "The Client is not authorized to use this
//     authentication flow");
//   - unauthorized_client at the token endpoint (the client is not
//     registered for the CIBA grant); invalid_client there is not: the
//     backchannel endpoint has just accepted the same client
//     authentication (CIBA 7.1: "the authentication method registered for
//     its client_id"), so the registration is right and the refusal is the
//     suite's to judge;
//   - unknown_user_id for the configured user (its hint is wrong);
//   - a TLS alert from the server or an untrusted server certificate on
//     the connection that presents the client's certificate.
//
// Every other answer is left to the suite. The user is one whose request
// stays pending (outcome: never) when the target has one, so the probe
// starts no flow; its requests simply expire.

// preflightTimeout bounds each request of the preflight.
const preflightTimeout = 30 * time.Second

// PreflightError is a refusal that says target.yaml is wrong: one line,
// "FILE:LINE: client ID: what" (or "user NAME").
type PreflightError struct {
	// Where is "FILE:LINE" of the entry, or "" when unknown.
	Where string
	// Entry is "client ID" or "user NAME".
	Entry string
	// Reason says what the OP answered and what to check.
	Reason string
	Err    error
}

func (e *PreflightError) Error() string {
	msg := e.Entry + ": " + e.Reason
	if e.Where != "" {
		msg = e.Where + ": " + msg
	}
	return strings.Join(strings.Fields(msg), " ")
}

func (e *PreflightError) Unwrap() error { return e.Err }

// ProbeResult is what the preflight found for one client.
type ProbeResult struct {
	Client *target.Client
	User   *target.User
	// Detail says what the OP answered when the target is fine.
	Detail string
	// Err is set when the answer says the target is wrong.
	Err *PreflightError
}

// Preflight probes every client of env's target (ProbeClient) and returns
// the first *PreflightError, or nil when no answer says the target is
// wrong. The caller maps it to a target error (exit 2).
func Preflight(ctx context.Context, env *Env) error {
	for i := range env.Target.Clients {
		pctx, cancel := context.WithTimeout(ctx, preflightTimeout)
		r := ProbeClient(pctx, env, &env.Target.Clients[i])
		cancel()
		if r.Err != nil {
			return r.Err
		}
		if ctx.Err() != nil {
			// The run's deadline passed (--timeout): say what the OP
			// did not answer rather than start checks with no time.
			return fmt.Errorf("the run's deadline passed during the preflight: client %s: %s", r.Client.ID, strings.TrimSuffix(r.Detail, " (left to the suite)"))
		}
	}
	return nil
}

// PreflightUser is the user the preflight sends: the first whose request
// stays pending (outcome: never), else the first user.
func PreflightUser(t *target.Target) *target.User {
	if u := targetclient.PendingUser(t); u != nil {
		return u
	}
	if len(t.Users) == 0 {
		return nil
	}
	return &t.Users[0]
}

// ProbeClient sends tc's backchannel request for PreflightUser and, for a
// poll client, one token request, and classifies the answers; ctx bounds
// both. It needs
// env's Target, Metadata and Clock only (target check builds such an Env
// without receivers or device).
func ProbeClient(ctx context.Context, env *Env, tc *target.Client) ProbeResult {
	t := env.Target
	u := PreflightUser(t)
	res := ProbeResult{Client: tc, User: u}
	if u == nil {
		res.Detail = "not probed: target.yaml has no user"
		return res
	}
	c, err := newTargetClient(env, tc)
	if err != nil {
		return res.clientErr(t, err.Error(), err)
	}
	defer c.CloseIdleConnections()
	p, err := validParams(c, tc, u)
	if err != nil {
		return res.clientErr(t, err.Error(), err)
	}

	ack, _, err := c.Authenticate(ctx, p)
	if err != nil {
		return res.backchannelRefused(t, err)
	}
	if tc.Mode != ciba.ModePoll {
		res.Detail = "backchannel request acknowledged"
		return res
	}
	_, _, err = c.Token(ctx, ack.AuthReqID)
	return res.tokenAnswered(t, err)
}

// clientErr is res failed for its client entry of t.
func (res ProbeResult) clientErr(t *target.Target, reason string, err error) ProbeResult {
	res.Err = &PreflightError{Where: t.Where(res.Client.Line), Entry: "client " + res.Client.ID, Reason: reason, Err: err}
	return res
}

// backchannelRefused judges the error of the probe's backchannel request:
// a refusal that names a setup mistake of the client or the user fails
// the entry; any other answer is left to the suite.
func (res ProbeResult) backchannelRefused(t *target.Target, err error) ProbeResult {
	tc, u := res.Client, res.User
	var ce *ciba.Error
	var insecure *client.InsecureURLError
	switch {
	case errors.As(err, &insecure):
		return res.clientErr(t, fmt.Sprintf("the backchannel endpoint %q is not an https URL; ciba-check refused to send credentials there", insecure.URL), err)
	case errors.As(err, &ce) && (errors.Is(err, ciba.ErrInvalidClient) || errors.Is(err, ciba.ErrUnauthorizedClient)):
		return res.clientErr(t, fmt.Sprintf("the OP refused its backchannel request with %s%s: check that the OP registered this client id with auth %s, mode %s and this client's signing key and certificate",
			ce.Code, answerDetail(ce), tc.Auth, tc.Mode), err)
	case errors.As(err, &ce) && errors.Is(err, ciba.ErrUnknownUserID):
		param, value := u.Hint()
		res.Err = &PreflightError{Where: t.Where(u.Line), Entry: "user " + u.Name, Err: err,
			Reason: fmt.Sprintf("the OP does not know %s %q: it answered client %s with unknown_user_id%s; check the user's hint", param, value, tc.ID, answerDetail(ce))}
		return res
	case tlsFailure(err):
		return res.clientErr(t, fmt.Sprintf("the TLS handshake presenting the client's certificate failed at the backchannel endpoint: %v: check that tls_cert is the certificate the OP registered for this client and ca the OP's CA", rootCause(err)), err)
	}
	res.Detail = fmt.Sprintf("backchannel request answered %v (left to the suite)", oneLineErr(err))
	return res
}

// tokenAnswered judges the answer to the probe's token request for a
// poll client: tokens or pending pass, a refusal naming a setup mistake
// fails the entry, anything else is left to the suite.
func (res ProbeResult) tokenAnswered(t *target.Target, err error) ProbeResult {
	var ce *ciba.Error
	var insecure *client.InsecureURLError
	switch {
	case errors.As(err, &insecure):
		return res.clientErr(t, fmt.Sprintf("the token endpoint %q is not an https URL; ciba-check refused to send credentials there", insecure.URL), err)
	case err == nil:
		res.Detail = "backchannel request acknowledged; tokens issued"
	case errors.Is(err, ciba.ErrAuthorizationPending) || errors.Is(err, ciba.ErrSlowDown):
		res.Detail = "backchannel request acknowledged; token request answered " + ce2code(err)
	case errors.As(err, &ce) && errors.Is(err, ciba.ErrUnauthorizedClient):
		return res.clientErr(t, fmt.Sprintf("the OP refused its token request with unauthorized_client%s: check that the OP registered this client for the grant type %s",
			answerDetail(ce), ciba.GrantTypeCIBA), err)
	case tlsFailure(err):
		return res.clientErr(t, fmt.Sprintf("the TLS handshake presenting the client's certificate failed at the token endpoint: %v: check that tls_cert is the certificate the OP registered for this client", rootCause(err)), err)
	default:
		res.Detail = fmt.Sprintf("backchannel request acknowledged; token request answered %v (left to the suite)", oneLineErr(err))
	}
	return res
}

// tlsFailure reports a TLS failure on the connection that presents the
// client's certificate: an alert the server sent (tlsRefusal) or a server
// certificate the tool could not verify.
func tlsFailure(err error) bool {
	var verr *tls.CertificateVerificationError
	return tlsRefusal(err) || errors.As(err, &verr)
}

// rootCause is the innermost error of a chain, for a short message.
func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// answerDetail is ` (HTTP 401, "description")` for an OAuth error.
func answerDetail(ce *ciba.Error) string {
	var parts []string
	if ce.Status != 0 {
		parts = append(parts, fmt.Sprintf("HTTP %d", ce.Status))
	}
	if ce.Description != "" {
		parts = append(parts, fmt.Sprintf("%q", ce.Description))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func ce2code(err error) string {
	var ce *ciba.Error
	if errors.As(err, &ce) {
		return ce.Code
	}
	return err.Error()
}

func oneLineErr(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }
