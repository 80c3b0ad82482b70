package refop

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
)

// authenticatedClient is the outcome of client authentication.
type authenticatedClient struct {
	*Client
	// cert is the TLS client certificate the request came with, if any.
	cert *x509.Certificate
}

func invalidClient(desc string) error { return ciba.ErrInvalidClient.WithDescription(desc) }

// peerCert returns the leaf TLS client certificate, if any.
func peerCert(r *http.Request) *x509.Certificate {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil
	}
	return r.TLS.PeerCertificates[0]
}

// certThumbprint is x5t#S256 (RFC 8705 3.1).
func certThumbprint(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	sum := sha256.Sum256(c.Raw)
	return b64(sum[:])
}

// authenticateClient authenticates the caller with its registered method
// (CIBA 7.1 and 10.1, FAPI-RW 5.2.2-14, RFC 7523, RFC 8705 2). audiences
// lists the acceptable client assertion aud values for this endpoint.
func (op *OP) authenticateClient(ctx context.Context, r *http.Request, form url.Values, audiences []string) (*authenticatedClient, error) {
	cert := peerCert(r)
	formClientID := form.Get(ciba.ParamClientID)
	assertion := form.Get(ciba.ParamClientAssertion)
	assertionType := form.Get(ciba.ParamClientAssertionType)
	if !op.fapi() {
		if c, handled, err := op.authenticateSecret(ctx, r, form, audiences); handled {
			if err != nil {
				return nil, err
			}
			return &authenticatedClient{Client: c, cert: cert}, nil
		}
	}
	if form.Has(ciba.ParamClientSecret) || r.Header.Get("Authorization") != "" {
		return nil, invalidClient("client secrets are not accepted; use private_key_jwt or mutual TLS (FAPI-RW 5.2.2-14)")
	}
	if assertion != "" || assertionType != "" {
		c, err := op.authenticatePrivateKeyJWT(ctx, assertion, assertionType, formClientID, op.hooks.assertionAudiences(op, r, audiences))
		if err != nil {
			return nil, err
		}
		return &authenticatedClient{Client: c, cert: cert}, nil
	}
	if c := op.hooks.certificateClient(op, r, formClientID); c != nil {
		return &authenticatedClient{Client: c, cert: cert}, nil
	}
	c, err := op.authenticateMTLS(r, formClientID)
	if err != nil {
		return nil, err
	}
	return &authenticatedClient{Client: c, cert: cert}, nil
}

// authenticateMTLS authenticates the client formClientID by the TLS
// client certificate it registered (RFC 8705 2); a private_key_jwt client
// needs its client assertion instead.
func (op *OP) authenticateMTLS(r *http.Request, formClientID string) (*Client, error) {
	if formClientID == "" {
		return nil, invalidClient("no client authentication: send client_assertion or client_id with a TLS client certificate")
	}
	c, ok := op.clients[formClientID]
	if !ok {
		return nil, invalidClient("unknown client")
	}
	switch c.AuthMethod {
	case ciba.AuthPrivateKeyJWT:
		if err := op.hooks.refusal(ruleAssertionRequired, invalidClient("client is registered for private_key_jwt: client_assertion is required")); err != nil {
			return nil, err
		}
	case ciba.AuthTLSClient:
		if err := op.verifyTLSClientAuth(c, r); err != nil {
			return nil, err
		}
	case ciba.AuthSelfSignedTLSClient:
		if err := verifySelfSigned(c, peerCert(r)); err != nil {
			return nil, err
		}
	default:
		return nil, invalidClient("client authentication method not allowed")
	}
	return c, nil
}

// authenticatePrivateKeyJWT checks a client assertion (RFC 7523 3, OIDC 9).
func (op *OP) authenticatePrivateKeyJWT(ctx context.Context, assertion, assertionType, formClientID string, audiences []string) (*Client, error) {
	if assertionType != ciba.ClientAssertionTypeJWTBearer {
		if err := op.hooks.refusal(ruleAssertionType, invalidClient("client_assertion_type must be "+ciba.ClientAssertionTypeJWTBearer)); err != nil {
			return nil, err
		}
	}
	if assertion == "" {
		return nil, invalidClient("client_assertion is missing")
	}
	c, unverified, err := op.assertionIssuer(assertion, formClientID)
	if err != nil {
		return nil, err
	}
	secretJWT := c.AuthMethod == ciba.AuthClientSecretJWT
	cl, err := op.verifiedAssertion(assertion, c, unverified)
	if err != nil {
		return nil, err
	}
	now := op.clock.Now()
	exp, jti, err := op.checkAssertionClaims(cl, c, audiences, now)
	if err != nil {
		return nil, err
	}
	fresh, err := op.store.UseJTI(ctx, "assertion\x00"+c.ID+"\x00"+jti, exp.Add(clockSkew), now)
	if err != nil {
		return nil, err
	}
	if !fresh {
		once := ruleAssertionOnce
		if secretJWT {
			once = ruleSecretAssertionOnce
		}
		if err := op.hooks.refusal(once, invalidClient("client_assertion jti was already used (OIDC 9)")); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// assertionIssuer is the client a client assertion names as iss, which
// must use private_key_jwt (or client_secret_jwt without FAPI) and be the
// form's client_id if one is sent, with the assertion's claims read
// unverified only to pick that client's keys.
func (op *OP) assertionIssuer(assertion, formClientID string) (*Client, claims, error) {
	payload, err := unsignedPayload(assertion)
	if err != nil {
		return nil, nil, invalidClient("client_assertion is not a compact JWS")
	}
	unverified, err := decodeClaims(payload)
	if err != nil {
		return nil, nil, invalidClient("client_assertion claims are not a JSON object")
	}
	iss, _, _ := unverified.str("iss")
	c, ok := op.clients[iss]
	if !ok {
		return nil, nil, invalidClient("client_assertion iss is not a registered client")
	}
	secretJWT := c.AuthMethod == ciba.AuthClientSecretJWT && !op.fapi()
	if c.AuthMethod != ciba.AuthPrivateKeyJWT && !secretJWT {
		return nil, nil, invalidClient("client is not registered for private_key_jwt")
	}
	if formClientID != "" && formClientID != c.ID {
		return nil, nil, invalidClient("client_id does not match the client_assertion issuer")
	}
	return c, unverified, nil
}

// verifiedAssertion is the claims of c's client assertion once its
// signature verifies: PS256 or ES256 with c's keys (FAPI-RW 8.6; none,
// HS256 and RS256 are refused), with FAPI off also the alg c registered,
// or HS256 keyed with c's client_secret for client_secret_jwt (OIDC Core 9).
func (op *OP) verifiedAssertion(assertion string, c *Client, unverified claims) (claims, error) {
	algs := []string{ciba.AlgPS256, ciba.AlgES256}
	if !op.fapi() && c.RequestSigningAlg != "" && !slices.Contains(algs, c.RequestSigningAlg) {
		algs = append(algs, c.RequestSigningAlg)
	}
	v := verification{keys: c.JWKS.Keys, algs: algs}
	if c.AuthMethod == ciba.AuthClientSecretJWT {
		v = verification{keys: []jose.JSONWebKey{{Key: []byte(c.Secret), Algorithm: ciba.AlgHS256}}, algs: []string{ciba.AlgHS256}}
	}
	hdr, _ := peekHeader(assertion)
	if v = op.hooks.assertionKeys(op, c, hdr, v); v.unsigned {
		return unverified, nil
	}
	_, cl, err := verifyJWS(assertion, v.keys, v.algs)
	if err != nil {
		return nil, invalidClient("client_assertion: " + err.Error())
	}
	return cl, nil
}

// checkAssertionClaims checks a verified client assertion of c (RFC 7523
// 3): sub, aud, exp, nbf, iat and jti; it returns exp and jti.
func (op *OP) checkAssertionClaims(cl claims, c *Client, audiences []string, now time.Time) (time.Time, string, error) {
	if sub, _, _ := cl.str("sub"); sub != c.ID {
		if err := op.hooks.refusal(ruleAssertionSub, invalidClient("client_assertion sub must equal iss (RFC 7523 3)")); err != nil {
			return time.Time{}, "", err
		}
	}
	var aud error
	if !cl.audContains(audiences...) {
		aud = invalidClient("client_assertion aud must be the issuer or this endpoint's URL")
	}
	if err := op.hooks.assertionAud(cl["aud"], aud); err != nil {
		return time.Time{}, "", err
	}
	exp, ok, err := cl.date("exp")
	if err != nil || !ok {
		return time.Time{}, "", invalidClient("client_assertion exp is missing or invalid")
	}
	if !now.Before(exp.Add(clockSkew)) {
		if err := op.hooks.refusal(ruleAssertionExp, invalidClient("client_assertion has expired")); err != nil {
			return time.Time{}, "", err
		}
	}
	if nbf, ok, err := cl.date("nbf"); err != nil || (ok && nbf.After(now.Add(clockSkew))) {
		return time.Time{}, "", invalidClient("client_assertion nbf is invalid or in the future")
	}
	if iat, ok, err := cl.date("iat"); err != nil || (ok && iat.After(now.Add(clockSkew))) {
		return time.Time{}, "", invalidClient("client_assertion iat is invalid or in the future")
	}
	jti, _, err := cl.str("jti")
	if err != nil || jti == "" {
		return time.Time{}, "", invalidClient("client_assertion jti is missing")
	}
	return exp, jti, nil
}

// verifyTLSClientAuth checks a CA-issued certificate (RFC 8705 2.1): chain
// to Config.ClientCAs and the registered subject DN. A successful chain
// verification is cached per presented certificate chain until the chain
// leaves its validity window; the subject DN is matched every time.
func (op *OP) verifyTLSClientAuth(c *Client, r *http.Request) error {
	cert := peerCert(r)
	if cert == nil {
		return invalidClient("tls_client_auth needs a TLS client certificate")
	}
	now := op.clock.Now()
	key := chainKeyOf(r.TLS.PeerCertificates)
	v, ok := op.chains.lookup(key, now)
	if !ok {
		inter := x509.NewCertPool()
		for _, ic := range r.TLS.PeerCertificates[1:] {
			inter.AddCert(ic)
		}
		chains, err := cert.Verify(x509.VerifyOptions{
			Roots:         op.cfg.ClientCAs,
			Intermediates: inter,
			CurrentTime:   now,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		if err != nil || len(chains) == 0 {
			return invalidClient("client certificate does not chain to a trusted CA")
		}
		v = op.chains.add(key, chains[0], now)
	}
	if v.subject != c.TLSSubjectDN {
		return invalidClient("client certificate subject does not match the registered tls_client_auth_subject_dn")
	}
	return nil
}

// verifySelfSigned checks a self-signed certificate against the client's
// registered keys (RFC 8705 2.2): its public key must equal one of them.
func verifySelfSigned(c *Client, cert *x509.Certificate) error {
	if cert == nil {
		return invalidClient("self_signed_tls_client_auth needs a TLS client certificate")
	}
	type equaler interface{ Equal(x any) bool }
	for _, k := range c.JWKS.Keys {
		for _, xc := range k.Certificates {
			if xc.Equal(cert) {
				return nil
			}
		}
		if pk, ok := k.Key.(equaler); ok && pk.Equal(cert.PublicKey) {
			return nil
		}
	}
	return invalidClient("client certificate matches none of the client's registered keys")
}

// requireCertificate enforces FAPI's certificate-bound tokens: the token
// endpoint only issues tokens over mutual TLS (FAPI-RW 5.2.2-5, RFC 8705 3).
// With FAPI off a client authenticating with a secret, which registers no
// certificate, gets unbound tokens; the others stay sender-constrained.
func (op *OP) requireCertificate(ac *authenticatedClient) error {
	if ac.cert == nil && (op.fapi() || !usesSecret(ac.AuthMethod)) {
		return ciba.ErrInvalidRequest.WithDescription("a TLS client certificate is required: access tokens are certificate-bound (RFC 8705 3)")
	}
	return nil
}
