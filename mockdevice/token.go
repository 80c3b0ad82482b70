package mockdevice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// KeySource yields the OP's public keys for verifying the channel token.
// It is called once per channel request, with that request's context.
type KeySource func(ctx context.Context) (*jose.JSONWebKeySet, error)

// StaticKeys is a KeySource that always yields set.
func StaticKeys(set *jose.JSONWebKeySet) KeySource {
	return func(context.Context) (*jose.JSONWebKeySet, error) { return set, nil }
}

// RemoteKeys is a KeySource that fetches the OP's JWKS from jwksURL with
// client and keeps it until a token names a kid it lacks, so a rotated OP
// key is picked up without fetching on every request.
func RemoteKeys(client *http.Client, jwksURL string) KeySource {
	if client == nil {
		client = http.DefaultClient
	}
	r := &remoteKeys{client: client, url: jwksURL}
	return r.keys
}

type remoteKeys struct {
	client *http.Client
	url    string
	mu     sync.Mutex
	cached *jose.JSONWebKeySet
}

// keys returns the cached set, or fetches it when there is none or when
// the token's kid (carried in ctx) is missing from it.
func (r *remoteKeys) keys(ctx context.Context) (*jose.JSONWebKeySet, error) {
	kid, _ := ctx.Value(kidKey{}).(string)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cached != nil && (kid == "" || len(r.cached.Key(kid)) > 0) {
		return r.cached, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks %s: %w", r.url, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks %s: %w", r.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks %s: status %d", r.url, resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return nil, fmt.Errorf("jwks %s: %w", r.url, err)
	}
	r.cached = &set
	return r.cached, nil
}

// kidKey carries the token's kid to a KeySource through the context.
type kidKey struct{}

// channelAlgs are the JWS algorithms accepted on a channel token when it is
// verified: asymmetric only (a shared secret would let the device forge the
// OP's token), RS256 included because Keycloak signs with the realm default.
func channelAlgs() []jose.SignatureAlgorithm {
	return []jose.SignatureAlgorithm{
		jose.RS256, jose.RS384, jose.RS512,
		jose.PS256, jose.PS384, jose.PS512,
		jose.ES256, jose.ES384, jose.ES512,
		jose.EdDSA,
	}
}

// anyAlgs additionally lets HMAC tokens through when nothing is verified:
// the device then only reads the claims.
func anyAlgs() []jose.SignatureAlgorithm {
	return append(channelAlgs(), jose.HS256, jose.HS384, jose.HS512)
}

// channelClaims are the claims of the OP's channel token the device uses.
type channelClaims struct {
	jwt.Claims
	AZP string `json:"azp,omitempty"`
}

// tokenLeeway tolerates clock skew between OP and device on exp/iat/nbf.
const tokenLeeway = 30 * time.Second

// bearerToken extracts the token of an "Authorization: Bearer" header
// (RFC 6750 2.1; the scheme is case-insensitive per RFC 9110 11.1).
func bearerToken(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", errors.New("missing Authorization: Bearer header")
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", errors.New("Authorization header is not a Bearer credential")
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", errors.New("empty bearer token")
	}
	return token, nil
}

// readToken parses the OP's channel token. When keys is nil only the claims
// are read; otherwise the signature, iss, aud and exp are verified.
func readToken(ctx context.Context, token string, keys KeySource, issuer string, now time.Time) (channelClaims, error) {
	var claims channelClaims
	algs := anyAlgs()
	if keys != nil {
		algs = channelAlgs()
	}
	parsed, err := jwt.ParseSigned(token, algs)
	if err != nil {
		return claims, fmt.Errorf("bearer token is not a signed JWT: %v", err)
	}
	if keys == nil {
		if err := parsed.UnsafeClaimsWithoutVerification(&claims); err != nil {
			return claims, fmt.Errorf("bearer token claims: %v", err)
		}
		return claims, nil
	}
	kid := parsed.Headers[0].KeyID
	set, err := keys(context.WithValue(ctx, kidKey{}, kid))
	if err != nil {
		return claims, fmt.Errorf("cannot get the OP's keys: %v", err)
	}
	if set == nil {
		return claims, errors.New("no OP keys to verify the bearer token")
	}
	candidates := set.Keys
	if kid != "" {
		candidates = set.Key(kid)
		if len(candidates) == 0 {
			return claims, fmt.Errorf("bearer token kid %q is not among the OP's keys", kid)
		}
	}
	verified := false
	for _, k := range candidates {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if err := parsed.Claims(k.Public().Key, &claims); err == nil {
			verified = true
			break
		}
	}
	if !verified {
		return claims, errors.New("bearer token signature does not verify with the OP's keys")
	}
	if claims.Expiry == nil {
		return claims, errors.New("bearer token has no exp")
	}
	if claims.Issuer == "" {
		return claims, errors.New("bearer token has no iss")
	}
	// The OP's channel token is addressed to the OP itself: aud = issuer.
	want := jwt.Expected{Issuer: issuer, AnyAudience: jwt.Audience{claims.Issuer}, Time: now}
	if err := claims.ValidateWithLeeway(want, tokenLeeway); err != nil {
		return claims, fmt.Errorf("bearer token claims: %v", err)
	}
	return claims, nil
}
