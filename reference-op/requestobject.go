package refop

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
)

// authParams are the authentication request parameters (CIBA 7.1), taken
// from the signed request object.
type authParams struct {
	Scope                   string
	ClientNotificationToken string
	ACRValues               string
	LoginHintToken          string
	IDTokenHint             string
	LoginHint               string
	BindingMessage          string
	UserCode                string
	// RequestedExpiry is the raw value: json.Number, string or absent.
	RequestedExpiry any
	HasExpiry       bool
	RequestContext  any
}

// badRequestObject is the error for any request object flaw. CIBA-13 and
// the certification suite want invalid_request, never
// invalid_request_object (hooks.badRequestObject, unless a fault says
// otherwise).
func (op *OP) badRequestObject(desc string) error {
	return op.hooks.badRequestObject.WithDescription("request object: " + desc)
}

// errInvalidRequestObject is the code of invalid-request-object-code.
var errInvalidRequestObject = &ciba.Error{Code: "invalid_request_object", Status: 400}

// allowedRequestTyp lists the typ headers a request object may carry
// (JAR 4 recommends oauth-authz-req+jwt; JWT and none are common).
func allowedRequestTyp(typ string) bool {
	t := strings.ToLower(strings.TrimPrefix(strings.ToLower(typ), "application/"))
	return t == "" || t == "jwt" || t == "oauth-authz-req+jwt"
}

// parseRequestObject verifies the signed authentication request (CIBA
// 7.1.1, CIBA 7.2 step 2, FAPI-CIBA 5.2.2-6/-9, FAPI-RW 8.6) and returns
// its parameters.
func (op *OP) parseRequestObject(ctx context.Context, c *Client, compact string) (authParams, error) {
	h, err := peekHeader(compact)
	if err != nil {
		return authParams{}, op.badRequestObject(err.Error())
	}
	if !op.hooks.requestObjectTyp(h.Typ, allowedRequestTyp(h.Typ)) {
		return authParams{}, op.badRequestObject("typ " + h.Typ + " not allowed")
	}
	algs := []string{ciba.AlgPS256, ciba.AlgES256}
	if c.RequestSigningAlg != "" {
		// CIBA 4: the registered alg is the only one accepted.
		algs = []string{c.RequestSigningAlg}
	}
	v := op.hooks.requestObjectKeys(op, h, verification{keys: c.JWKS.Keys, algs: algs})
	cl, err := v.claims(compact)
	if err != nil {
		return authParams{}, op.badRequestObject(err.Error())
	}
	if err := op.checkRequestObjectClaims(ctx, c, cl); err != nil {
		return authParams{}, err
	}
	return op.requestParams(cl)
}

// claims are the verified claims of compact, or its unverified ones when
// v is unsigned.
func (v verification) claims(compact string) (claims, error) {
	if !v.unsigned {
		_, cl, err := verifyJWS(compact, v.keys, v.algs)
		return cl, err
	}
	payload, err := unsignedPayload(compact)
	if err != nil {
		return nil, errors.New("malformed payload")
	}
	return decodeClaims(payload)
}

// checkRequestObjectClaims checks the claims of client c's request object
// (CIBA 7.1.1, FAPI-CIBA 5.2.2-9, JAR 10.8).
func (op *OP) checkRequestObjectClaims(ctx context.Context, c *Client, cl claims) error {
	if !cl.audContains(op.Issuer(), op.Issuer()+"/") {
		return op.badRequestObject("aud must contain the issuer")
	}
	if iss, _, _ := cl.str("iss"); iss != c.ID {
		return op.badRequestObject("iss must be the authenticated client's client_id")
	}
	if sub, ok, _ := cl.str("sub"); ok && sub == c.ID {
		// JAR 10.8: a request object must not double as a client assertion.
		return op.badRequestObject("sub must not be the client_id")
	}
	for _, forbidden := range []string{ciba.ParamRequest, ciba.ParamRequestURI} {
		if _, ok := cl[forbidden]; ok {
			return op.badRequestObject(forbidden + " must not appear inside a request object")
		}
	}
	now := op.clock.Now()
	until, err := op.checkRequestObjectTimes(cl, now)
	if err != nil {
		return err
	}
	jti, _, err := cl.str("jti")
	if err != nil || jti == "" {
		return op.badRequestObject("jti is required (CIBA 7.1.1)")
	}
	if !op.hooks.enforced(ruleRequestObjectOnce) {
		return nil
	}
	fresh, err := op.store.UseJTI(ctx, "request\x00"+c.ID+"\x00"+jti, until.Add(clockSkew), now)
	if err != nil {
		return err
	}
	if !fresh {
		return op.badRequestObject("jti was already used")
	}
	return nil
}

// checkRequestObjectTimes checks exp, iat and nbf at now (CIBA 7.1.1,
// FAPI-CIBA 5.2.2-9) and returns until when the request object's jti is kept: its
// exp, or an hour when it has none.
func (op *OP) checkRequestObjectTimes(cl claims, now time.Time) (until time.Time, err error) {
	exp, hasExp, err := cl.date("exp")
	if err != nil {
		return until, op.badRequestObject(err.Error())
	}
	if op.hooks.enforced(ruleRequestObjectExp) {
		if !hasExp {
			return until, op.badRequestObject("exp is required (CIBA 7.1.1)")
		}
		if !now.Before(exp.Add(clockSkew)) {
			return until, op.badRequestObject("request object has expired")
		}
	}
	if _, ok, err := cl.date("iat"); err != nil || !ok {
		return until, op.badRequestObject("iat is required and must be a number (CIBA 7.1.1)")
	}
	nbf, ok, err := cl.date("nbf")
	if err != nil || !ok {
		return until, op.badRequestObject("nbf is required and must be a number (FAPI-CIBA 5.2.2-9)")
	}
	if nbf.After(now.Add(clockSkew)) {
		return until, op.badRequestObject("nbf is in the future")
	}
	if hasExp && exp.Sub(nbf) > time.Duration(ciba.MaxRequestObjectLifetimeSeconds)*time.Second {
		return until, op.badRequestObject("exp - nbf exceeds 60 minutes (FAPI-CIBA 5.2.2-9)")
	}
	if !hasExp {
		return now.Add(time.Hour), nil
	}
	return exp, nil
}

// requestParams extracts and type-checks the CIBA parameters.
func (op *OP) requestParams(cl claims) (authParams, error) {
	var p authParams
	fields := []struct {
		name string
		dst  *string
	}{
		{ciba.ParamScope, &p.Scope},
		{ciba.ParamClientNotificationToken, &p.ClientNotificationToken},
		{ciba.ParamACRValues, &p.ACRValues},
		{ciba.ParamLoginHintToken, &p.LoginHintToken},
		{ciba.ParamIDTokenHint, &p.IDTokenHint},
		{ciba.ParamLoginHint, &p.LoginHint},
		{ciba.ParamBindingMessage, &p.BindingMessage},
		{ciba.ParamUserCode, &p.UserCode},
	}
	for _, f := range fields {
		s, _, err := cl.str(f.name)
		if err != nil {
			return p, ciba.ErrInvalidRequest.WithDescription(err.Error())
		}
		*f.dst = s
	}
	if v, ok := cl[ciba.ParamRequestedExpiry]; ok {
		p.RequestedExpiry, p.HasExpiry = v, true
	}
	if v, ok := cl[ciba.ParamRequestContext]; ok {
		if _, isObj := v.(map[string]any); !isObj {
			return p, ciba.ErrInvalidRequest.WithDescription("request_context must be a JSON object (FAPI-CIBA 5.3)")
		}
		p.RequestContext = v
	}
	return p, nil
}

// formParams reads the parameters from plain form fields. Only the
// allow-unsigned-request fault uses it; FAPI-CIBA 5.2.2-6 forbids it.
func formParams(get func(string) string, has func(string) bool) authParams {
	p := authParams{
		Scope:                   get(ciba.ParamScope),
		ClientNotificationToken: get(ciba.ParamClientNotificationToken),
		ACRValues:               get(ciba.ParamACRValues),
		LoginHintToken:          get(ciba.ParamLoginHintToken),
		IDTokenHint:             get(ciba.ParamIDTokenHint),
		LoginHint:               get(ciba.ParamLoginHint),
		BindingMessage:          get(ciba.ParamBindingMessage),
		UserCode:                get(ciba.ParamUserCode),
	}
	if has(ciba.ParamRequestedExpiry) {
		p.RequestedExpiry, p.HasExpiry = get(ciba.ParamRequestedExpiry), true
	}
	return p
}

// requestedExpiry interprets requested_expiry: a positive integer given as
// a JSON number or a string of digits (CIBA 7.1.1).
func requestedExpiry(v any) (time.Duration, error) {
	bad := ciba.ErrInvalidRequest.WithDescription("requested_expiry must be a positive integer number of seconds")
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = x
	default:
		return 0, bad
	}
	if s == "" || len(s) > 9 {
		if len(s) > 9 && strings.Trim(s, "0123456789") == "" {
			// Absurdly large but well-formed: clamp later.
			return 1 << 62, nil
		}
		return 0, bad
	}
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, bad
		}
		n = n*10 + int(r-'0')
	}
	if n <= 0 {
		return 0, bad
	}
	return time.Duration(n) * time.Second, nil
}
