package client

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
)

// Lifetimes of what the client signs by default.
const (
	// RequestObjectLifetime matches the OIDF suite's valid request
	// (exp = now+300 s), well inside FAPI-CIBA 5.2.2-9's 60 minutes.
	RequestObjectLifetime = 5 * time.Minute
	// AssertionLifetime is the exp of a private_key_jwt assertion (RFC 7523 3).
	AssertionLifetime = 60 * time.Second
	// MaxAssertionLifetime bounds Config.AssertionLifetime: an OP may
	// refuse an assertion whose exp is far off (RFC 7523 3 leaves the
	// limit to it), and an hour is the longest FAPI allows a request
	// object.
	MaxAssertionLifetime = time.Hour
	// jtiBytes of randomness give a jti of 192 bits (≥ 128 asked for).
	jtiBytes = 24
)

// ErrNoSigningKey is returned when a JWT is asked of a client that has
// no signing key: one that sends unsigned backchannel requests (CIBA 7.1)
// and authenticates without private_key_jwt.
var ErrNoSigningKey = errors.New("no signing key: the client sends unsigned backchannel requests (CIBA 7.1) and signs nothing")

// JWTOption changes a request object or client assertion before or after
// signing. Options apply in order; the attack probes of CIBA.md §7.1 and
// §7.3 are built from them.
type JWTOption func(*jwtSpec)

type jwtSpec struct {
	claims      map[string]any
	headers     map[string]any
	dropClaims  []string
	noKid       bool
	alg         string // overrides the key's algorithm
	none        bool
	hsSecret    []byte
	key         *jose.JSONWebKey
	tamper      bool
	lifetimeSet bool
	nbfOffset   time.Duration
	expOffset   time.Duration
	jti         *string
}

// WithClaim sets claim name to value (any JSON value: a string exp, an
// array aud, ...), replacing the default.
func WithClaim(name string, value any) JWTOption {
	return func(s *jwtSpec) { s.claims[name] = value }
}

// WithoutClaim removes claim name, including a default one (iss, aud, exp,
// nbf, iat, jti, ...).
func WithoutClaim(name string) JWTOption {
	return func(s *jwtSpec) { s.dropClaims = append(s.dropClaims, name) }
}

// WithHeader sets JOSE header name to value. It overrides alg and kid too,
// so a header can claim one algorithm while another signs (RFC 7515 4.1).
func WithHeader(name string, value any) JWTOption {
	return func(s *jwtSpec) { s.headers[name] = value }
}

// WithoutKid leaves the kid header out.
func WithoutKid() JWTOption { return func(s *jwtSpec) { s.noKid = true } }

// WithAlg signs with alg using the client's key, e.g. "RS256" with its RSA
// key (a non-FAPI algorithm, FAPI-RW 8.6).
func WithAlg(alg string) JWTOption { return func(s *jwtSpec) { s.alg = alg } }

// WithNoneAlg produces an unsigned JWT: header alg "none" and an empty
// signature segment (RFC 7519 6.1).
func WithNoneAlg() JWTOption { return func(s *jwtSpec) { s.none = true } }

// WithHS256Secret signs with HMAC-SHA256 under secret, e.g. the client's
// public key bytes (algorithm confusion).
func WithHS256Secret(secret []byte) JWTOption {
	return func(s *jwtSpec) { s.hsSecret = append([]byte(nil), secret...) }
}

// WithSigningKey signs with other (its algorithm and kid), e.g. another
// client's private key.
func WithSigningKey(other jose.JSONWebKey) JWTOption {
	return func(s *jwtSpec) { k := other; s.key = &k }
}

// WithTamperedSignature flips bits in the middle of the signature after
// signing, so the JWT no longer verifies.
func WithTamperedSignature() JWTOption { return func(s *jwtSpec) { s.tamper = true } }

// WithTyp sets the typ header, e.g. "oauth-authz-req+jwt" (JAR 4).
func WithTyp(typ string) JWTOption { return WithHeader("typ", typ) }

// WithLifetime sets nbf = now+nbfOffset and exp = now+expOffset (iat stays
// now), e.g. (-70m, 5m) for a lifetime over FAPI-CIBA 5.2.2-9's limit.
func WithLifetime(nbfOffset, expOffset time.Duration) JWTOption {
	return func(s *jwtSpec) { s.lifetimeSet, s.nbfOffset, s.expOffset = true, nbfOffset, expOffset }
}

// WithJTI sets the jti, e.g. one already used (replay).
func WithJTI(jti string) JWTOption { return func(s *jwtSpec) { s.jti = &jti } }

// RequestObject builds and signs the signed authentication request of
// CIBA 7.1.1 / FAPI-CIBA 5.2.2-6 and -9: iss = client_id, aud = issuer,
// iat = nbf = now, exp = now+Config.RequestObjectLifetime (5m by
// default), a random jti, and p's non-empty members.
func (c *Client) RequestObject(p AuthParams, opts ...JWTOption) (string, error) {
	claims := p.claims()
	claims["iss"] = c.cfg.ClientID
	claims["aud"] = c.cfg.Metadata.Issuer
	return c.signJWT(claims, true, c.cfg.RequestObjectLifetime, opts)
}

// ClientAssertion builds and signs a private_key_jwt client assertion
// (RFC 7523 2.2 and 3, OIDC Core 9): iss = sub = client_id, aud, iat,
// exp = now+Config.AssertionLifetime (60 s by default) and a random jti.
func (c *Client) ClientAssertion(aud string, opts ...JWTOption) (string, error) {
	claims := map[string]any{
		"iss": c.cfg.ClientID,
		"sub": c.cfg.ClientID,
		"aud": aud,
	}
	return c.signJWT(claims, false, c.cfg.AssertionLifetime, opts)
}

// NewJTI returns a fresh random identifier of 192 bits from Config.Rand,
// base64url encoded; also suitable as a client_notification_token (CIBA
// 7.1 asks for at least 128 bits of entropy).
func (c *Client) NewJTI() (string, error) { return randomString(c.cfg.Rand) }

func randomString(r io.Reader) (string, error) {
	b := make([]byte, jtiBytes)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("client: reading randomness: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func (c *Client) signJWT(claims map[string]any, withNBF bool, lifetime time.Duration, opts []JWTOption) (string, error) {
	spec := &jwtSpec{claims: map[string]any{}, headers: map[string]any{}}
	for _, o := range opts {
		o(spec)
	}
	payload, err := c.jwtPayload(claims, withNBF, lifetime, spec)
	if err != nil {
		return "", err
	}
	key := c.cfg.SigningKey
	if spec.key != nil {
		key = *spec.key
	}
	if key.Key == nil && !spec.none && spec.hsSecret == nil {
		return "", fmt.Errorf("client %s: %w", c.cfg.ClientID, ErrNoSigningKey)
	}
	compact, err := spec.sign(key, payload)
	if err != nil {
		return "", err
	}
	if spec.tamper {
		return tamperSignature(compact)
	}
	return compact, nil
}

// jwtPayload completes claims with iat, nbf (withNBF), exp after
// lifetime and a fresh jti, applies spec's claim edits and lifetime, and
// encodes them.
func (c *Client) jwtPayload(claims map[string]any, withNBF bool, lifetime time.Duration, spec *jwtSpec) ([]byte, error) {
	now := c.cfg.Clock.Now()
	claims["iat"] = now.Unix()
	if withNBF {
		claims["nbf"] = now.Unix()
	}
	claims["exp"] = now.Add(lifetime).Unix()
	if spec.lifetimeSet {
		claims["nbf"] = now.Add(spec.nbfOffset).Unix()
		claims["exp"] = now.Add(spec.expOffset).Unix()
	}
	if spec.jti != nil {
		claims["jti"] = *spec.jti
	} else {
		jti, err := randomString(c.cfg.Rand)
		if err != nil {
			return nil, err
		}
		claims["jti"] = jti
	}
	for k, v := range spec.claims {
		claims[k] = v
	}
	for _, k := range spec.dropClaims {
		delete(claims, k)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return nil, fmt.Errorf("client: encoding JWT claims: %w", err)
	}
	return payload, nil
}

// sign makes the compact JWS of payload under key (kid from the key
// unless spec drops it, spec's header edits), or the unsigned JWT of alg
// none, or an HS256 JWS keyed with spec's secret.
func (spec *jwtSpec) sign(key jose.JSONWebKey, payload []byte) (string, error) {
	headers := map[string]any{}
	if !spec.noKid && key.KeyID != "" {
		headers["kid"] = key.KeyID
	}
	for k, v := range spec.headers {
		headers[k] = v
	}
	if spec.noKid {
		delete(headers, "kid")
	}
	switch {
	case spec.none:
		return unsignedJWT(headers, payload)
	case spec.hsSecret != nil:
		return signCompact(jose.SigningKey{Algorithm: jose.HS256, Key: spec.hsSecret}, headers, payload)
	}
	alg := key.Algorithm
	if spec.alg != "" {
		alg = spec.alg
	}
	if alg == "" {
		return "", errors.New("client: signing key has no algorithm")
	}
	return signCompact(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: key.Key}, headers, payload)
}

// signCompact signs with the raw key so go-jose adds no kid of its own;
// headers (kid included) are ours and may override alg.
func signCompact(sk jose.SigningKey, headers map[string]any, payload []byte) (string, error) {
	so := &jose.SignerOptions{ExtraHeaders: map[jose.HeaderKey]any{}}
	for k, v := range headers {
		so.ExtraHeaders[jose.HeaderKey(k)] = v
	}
	signer, err := jose.NewSigner(sk, so)
	if err != nil {
		return "", fmt.Errorf("client: signing with %s: %w", sk.Algorithm, err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("client: signing with %s: %w", sk.Algorithm, err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("client: serialising JWS: %w", err)
	}
	return out, nil
}

// unsignedJWT builds "header.payload." by hand: go-jose refuses alg none.
func unsignedJWT(headers map[string]any, payload []byte) (string, error) {
	h := map[string]any{"alg": ciba.AlgNone}
	for k, v := range headers {
		h[k] = v
	}
	hb, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("client: encoding JOSE header: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(payload) + ".", nil
}

func tamperSignature(compact string) (string, error) {
	i := strings.LastIndexByte(compact, '.')
	sig, err := base64.RawURLEncoding.DecodeString(compact[i+1:])
	if err != nil {
		return "", fmt.Errorf("client: decoding signature to tamper with: %w", err)
	}
	if len(sig) == 0 {
		return "", errors.New("client: WithTamperedSignature: the JWT has no signature to tamper with")
	}
	sig[len(sig)/2] ^= 0xff
	return compact[:i+1] + base64.RawURLEncoding.EncodeToString(sig), nil
}

// AuthParams are the authentication request parameters of CIBA 7.1 and
// FAPI-CIBA 5.3. Empty strings and nil values are left out.
type AuthParams struct {
	Scope, LoginHint, LoginHintToken, IDTokenHint, BindingMessage, UserCode, ACRValues, ClientNotificationToken string
	// RequestedExpiry is sent as given: an int, a string such as "30"
	// (CIBA 7.1.1 allows both), or anything else a probe needs; nil omits it.
	RequestedExpiry any
	RequestContext  map[string]any
	// Extra members are added last and override the parameters above;
	// iss, aud, iat, nbf, exp and jti are the client's (change those with
	// WithClaim).
	Extra map[string]any
}

func (p AuthParams) claims() map[string]any {
	m := map[string]any{}
	for name, v := range map[string]string{
		ciba.ParamScope:                   p.Scope,
		ciba.ParamLoginHint:               p.LoginHint,
		ciba.ParamLoginHintToken:          p.LoginHintToken,
		ciba.ParamIDTokenHint:             p.IDTokenHint,
		ciba.ParamBindingMessage:          p.BindingMessage,
		ciba.ParamUserCode:                p.UserCode,
		ciba.ParamACRValues:               p.ACRValues,
		ciba.ParamClientNotificationToken: p.ClientNotificationToken,
	} {
		if v != "" {
			m[name] = v
		}
	}
	if p.RequestedExpiry != nil {
		m[ciba.ParamRequestedExpiry] = p.RequestedExpiry
	}
	if p.RequestContext != nil {
		m[ciba.ParamRequestContext] = p.RequestContext
	}
	for k, v := range p.Extra {
		m[k] = v
	}
	return m
}

// form renders p as plain form fields, for the unsigned-request probe
// (CIBA 7.1 without 7.1.1).
func (p AuthParams) form() (map[string]string, error) {
	out := map[string]string{}
	for k, v := range p.claims() {
		switch x := v.(type) {
		case string:
			out[k] = x
		default:
			b, err := json.Marshal(x)
			if err != nil {
				return nil, fmt.Errorf("client: encoding parameter %s: %w", k, err)
			}
			out[k] = string(b)
		}
	}
	return out, nil
}
