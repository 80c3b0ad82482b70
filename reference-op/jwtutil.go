package refop

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// claims is a decoded JWT claims set; numbers stay json.Number.
type claims map[string]any

func decodeClaims(payload []byte) (claims, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var c claims
	if err := dec.Decode(&c); err != nil || c == nil {
		return nil, errors.New("claims are not a JSON object")
	}
	if dec.More() {
		return nil, errors.New("trailing data after claims")
	}
	return c, nil
}

func (c claims) str(name string) (string, bool, error) {
	v, ok := c[name]
	if !ok {
		return "", false, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return "", true, fmt.Errorf("claim %s must be a string", name)
	}
	return s, true, nil
}

// date reads a NumericDate claim (RFC 7519 2): a JSON number of seconds.
func (c claims) date(name string) (time.Time, bool, error) {
	v, ok := c[name]
	if !ok {
		return time.Time{}, false, nil
	}
	n, isNum := v.(json.Number)
	if !isNum {
		return time.Time{}, true, fmt.Errorf("claim %s must be a number", name)
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
		return time.Time{}, true, fmt.Errorf("claim %s is not a valid date", name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

// audContains reports whether the aud claim (string or array of strings)
// holds one of want.
func (c claims) audContains(want ...string) bool {
	switch a := c["aud"].(type) {
	case string:
		return slices.Contains(want, a)
	case []any:
		for _, v := range a {
			if s, ok := v.(string); ok && slices.Contains(want, s) {
				return true
			}
		}
	}
	return false
}

// jwsHeader is the protected header read before verification, to learn
// alg, kid, typ and crit.
type jwsHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
}

// peekHeader decodes a compact JWS header without trusting it.
func peekHeader(compact string) (jwsHeader, error) {
	var h jwsHeader
	parts := strings.Split(compact, ".")
	if len(parts) != 3 {
		return h, errors.New("not a compact JWS (need three parts)")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return h, errors.New("header is not base64url")
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return h, errors.New("header is not JSON")
	}
	if h.Alg == "" {
		return h, errors.New("header has no alg")
	}
	return h, nil
}

// unsignedPayload returns the payload of an alg-none JWS. Only the
// accept-alg-none fault ever calls it.
func unsignedPayload(compact string) ([]byte, error) {
	parts := strings.Split(compact, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact JWS")
	}
	return base64.RawURLEncoding.DecodeString(parts[1])
}

// verifyJWS checks a compact JWS against keys (only the registered ones,
// never header-supplied jwk/jku/x5u) with alg restricted to algs, and
// returns the header and claims.
func verifyJWS(compact string, keys []jose.JSONWebKey, algs []string) (jwsHeader, claims, error) {
	h, err := peekHeader(compact)
	if err != nil {
		return h, nil, err
	}
	if !slices.Contains(algs, h.Alg) {
		return h, nil, fmt.Errorf("alg %q not allowed; use %s", h.Alg, strings.Join(algs, " or "))
	}
	if len(h.Crit) > 0 {
		return h, nil, errors.New("crit header not supported (RFC 7515 4.1.11)")
	}
	sigAlgs := make([]jose.SignatureAlgorithm, len(algs))
	for i, a := range algs {
		sigAlgs[i] = jose.SignatureAlgorithm(a)
	}
	jws, err := jose.ParseSignedCompact(compact, sigAlgs)
	if err != nil {
		return h, nil, errors.New("malformed JWS")
	}
	candidates := 0
	for _, k := range keys {
		if h.Kid != "" && k.KeyID != h.Kid {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != h.Alg {
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		candidates++
		payload, err := jws.Verify(k.Key)
		if err != nil {
			continue
		}
		c, err := decodeClaims(payload)
		if err != nil {
			return h, nil, err
		}
		return h, c, nil
	}
	if candidates == 0 {
		return h, nil, errors.New("no registered key matches kid/alg")
	}
	return h, nil, errors.New("signature verification failed")
}

// sign serialises claims as a compact JWS with the OP's signing key (its
// kid in the header).
func (op *OP) sign(c map[string]any, typ string) (string, error) {
	return op.signWith(op.signer, c, typ)
}

// signWith signs with key: a jose.JSONWebKey puts its kid in the header,
// a bare crypto key does not.
func (op *OP) signWith(key any, c map[string]any, typ string) (string, error) {
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ))
	alg := op.signer.Algorithm
	if k, ok := key.(jose.JSONWebKey); ok && k.Algorithm != "" {
		alg = k.Algorithm
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: key}, opts)
	if err != nil {
		return "", fmt.Errorf("creating signer: %w", err)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encoding claims: %w", err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("signing: %w", err)
	}
	return jws.CompactSerialize()
}

// Token types the OP signs; the typ header keeps one kind from being
// replayed as another (RFC 8725 3.11).
const (
	typIDToken      = "JWT"
	typChannelToken = "ciba-channel+jwt"
)

// verifyOwn verifies a JWS the OP itself signed with header typ.
func (op *OP) verifyOwn(compact, typ string) (claims, error) {
	h, c, err := verifyJWS(compact, op.publics.Keys, []string{"PS256", "ES256"})
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(h.Typ, typ) {
		return nil, errors.New("wrong token type")
	}
	if iss, _, _ := c.str("iss"); iss != op.Issuer() {
		return nil, errors.New("not issued by this OP")
	}
	return c, nil
}
