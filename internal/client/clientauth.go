package client

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/ciba-check/ciba-check/ciba"
)

// ApplyClientAuth adds the client authentication fields to form for a
// request to endpoint (see ClientAuthentication); a method that needs a
// request header (client_secret_basic) is an error here.
func (c *Client) ApplyClientAuth(form url.Values, endpoint string, opts ...AuthOption) error {
	h := http.Header{}
	if err := c.ClientAuthentication(form, h, endpoint, opts...); err != nil {
		return err
	}
	if len(h) > 0 {
		return errors.New("client: ApplyClientAuth: the method sends an Authorization header; use ClientAuthentication")
	}
	return nil
}

// ClientAuthentication adds the client authentication to form and header
// for a request to endpoint: under private_key_jwt client_assertion_type
// and a fresh client_assertion with aud = endpoint (RFC 7523 2.2); under
// client_secret_jwt the same with an HS256 assertion keyed with the
// secret (OIDC Core 9); under client_secret_basic an Authorization: Basic
// header of the form-urlencoded id and secret (RFC 6749 2.3.1); under
// client_secret_post client_id and client_secret in the body; under
// tls_client_auth and self_signed_tls_client_auth client_id, the
// certificate travelling on the TLS connection (RFC 8705 2).
func (c *Client) ClientAuthentication(form url.Values, header http.Header, endpoint string, opts ...AuthOption) error {
	s := &authSpec{method: c.cfg.AuthMethod}
	for _, o := range opts {
		o(s)
	}
	clientID := c.cfg.ClientID
	if s.clientID != nil {
		clientID = *s.clientID
	}
	if s.clientIDOnly {
		form.Set(ciba.ParamClientID, clientID)
		return nil
	}
	secret := c.cfg.Secret
	if s.secret != nil {
		secret = *s.secret
	}
	if usesSecret(s.method) && secret == "" {
		return fmt.Errorf("client: cannot authenticate with %s: no client secret configured", s.method)
	}
	sendID := s.method.UsesMTLS() || s.sendClientID || s.clientID != nil
	switch {
	case s.method == ciba.AuthPrivateKeyJWT || s.method == ciba.AuthClientSecretJWT:
		if err := c.setAssertion(form, s, endpoint, secret); err != nil {
			return err
		}
	case s.method == ciba.AuthClientSecretBasic:
		header.Set("Authorization", BasicAuthorization(clientID, secret))
		if s.bothWays {
			form.Set(ciba.ParamClientID, clientID)
			form.Set(ciba.ParamClientSecret, secret)
		}
	case s.method == ciba.AuthClientSecretPost:
		form.Set(ciba.ParamClientID, clientID)
		form.Set(ciba.ParamClientSecret, secret)
		if s.bothWays {
			header.Set("Authorization", BasicAuthorization(clientID, secret))
		}
	case !s.method.UsesMTLS():
		return fmt.Errorf("client: cannot authenticate with method %q", s.method)
	}
	if sendID && !s.noClientID {
		form.Set(ciba.ParamClientID, clientID)
	}
	if s.noClientID && (s.method == ciba.AuthClientSecretPost || s.bothWays) {
		form.Del(ciba.ParamClientID)
	}
	return nil
}

// setAssertion sets client_assertion_type and client_assertion in form
// for the JWT methods: the assertion s gives, or a fresh one with aud =
// endpoint unless s names another, HS256-keyed with secret under
// client_secret_jwt.
func (c *Client) setAssertion(form url.Values, s *authSpec, endpoint, secret string) error {
	assertion := ""
	if s.assertion != nil {
		assertion = *s.assertion
	} else {
		aud := endpoint
		if s.aud != nil {
			aud = *s.aud
		}
		aopts := s.assertionOpts
		if s.method == ciba.AuthClientSecretJWT {
			if len(secret) < MinHS256Secret {
				return fmt.Errorf("client: client_secret_jwt needs a secret of at least %d bytes for HS256 (RFC 7518 3.2)", MinHS256Secret)
			}
			aopts = append([]JWTOption{WithHS256Secret([]byte(secret)), WithoutKid()}, aopts...)
		}
		a, err := c.ClientAssertion(aud, aopts...)
		if err != nil {
			return err
		}
		assertion = a
	}
	at := ciba.ClientAssertionTypeJWTBearer
	if s.assertionType != nil {
		at = *s.assertionType
	}
	form.Set(ciba.ParamClientAssertionType, at)
	form.Set(ciba.ParamClientAssertion, assertion)
	return nil
}

// MinHS256Secret is the shortest HS256 key RFC 7518 3.2 allows: "A key of
// the same size as the hash output ... or larger MUST be used".
const MinHS256Secret = 32

// BasicAuthorization is the Authorization header value of
// client_secret_basic: "Basic " and the base64 of id ":" secret, each
// encoded with application/x-www-form-urlencoded first (RFC 6749 2.3.1).
func BasicAuthorization(clientID, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(formEncode(clientID)+":"+formEncode(secret)))
}

// formEncode is the application/x-www-form-urlencoded encoding of RFC 6749
// Appendix B (space as "+").
func formEncode(s string) string { return url.QueryEscape(s) }

func usesSecret(m ciba.AuthMethod) bool {
	return m == ciba.AuthClientSecretBasic || m == ciba.AuthClientSecretPost || m == ciba.AuthClientSecretJWT
}
