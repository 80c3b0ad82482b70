// Package rptest is a minimal CIBA poll-mode client (RP), written the way
// an RP developer would write one with go-jose and net/http. Its tests run
// it against ciba-check's reference OP with refoptest.
package rptest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Client is one registered client of an OP.
type Client struct {
	ID            string
	Key           jose.JSONWebKey // private
	Alg           string
	Issuer        string
	Backchannel   string // backchannel_authentication_endpoint
	TokenEndpoint string
	HTTP          *http.Client // trusts the OP, presents the mTLS certificate
}

// Tokens is the token endpoint's successful answer (CIBA 11).
type Tokens struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
}

// OAuthError is an error answer (RFC 6749 5.2).
type OAuthError struct {
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *OAuthError) Error() string { return e.Code + ": " + e.Description }

// Authenticate starts a flow for loginHint (CIBA 7.1, a signed request
// object as FAPI-CIBA 5.2.2 requires) and polls until the user decides
// (CIBA 7.3, 10.1). sleep waits between polls.
func (c *Client) Authenticate(ctx context.Context, loginHint, bindingMessage string) (*Tokens, error) {
	now := time.Now()
	request, err := c.sign(map[string]any{
		"iss": c.ID, "aud": c.Issuer, "iat": now.Unix(), "nbf": now.Unix(),
		"exp": now.Add(5 * time.Minute).Unix(), "jti": nonce(),
		"scope": "openid", "login_hint": loginHint, "binding_message": bindingMessage,
	})
	if err != nil {
		return nil, err
	}
	var ack struct {
		AuthReqID string `json:"auth_req_id"`
		ExpiresIn int    `json:"expires_in"`
		Interval  int    `json:"interval"`
	}
	if err := c.post(ctx, c.Backchannel, url.Values{"request": {request}}, &ack); err != nil {
		return nil, err
	}
	interval := time.Duration(ack.Interval) * time.Second
	if interval == 0 {
		interval = 5 * time.Second // CIBA 7.3: the default
	}
	for {
		// The OP's interval is the protocol's pacing, not a test's guess.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(interval):
		}
		var tokens Tokens
		err := c.post(ctx, c.TokenEndpoint, url.Values{
			"grant_type":  {"urn:openid:params:grant-type:ciba"},
			"auth_req_id": {ack.AuthReqID},
		}, &tokens)
		var oe *OAuthError
		switch {
		case errors.As(err, &oe) && oe.Code == "authorization_pending":
		case errors.As(err, &oe) && oe.Code == "slow_down":
			interval += 5 * time.Second
		case err != nil:
			return nil, err
		default:
			return &tokens, nil
		}
	}
}

// post sends form with a private_key_jwt client assertion (RFC 7523) and
// decodes the JSON answer into out, or returns the OAuth error.
func (c *Client) post(ctx context.Context, endpoint string, form url.Values, out any) error {
	now := time.Now()
	assertion, err := c.sign(map[string]any{
		"iss": c.ID, "sub": c.ID, "aud": c.Issuer, "jti": nonce(),
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
	})
	if err != nil {
		return err
	}
	form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	form.Set("client_assertion", assertion)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		oe := &OAuthError{}
		if err := json.NewDecoder(resp.Body).Decode(oe); err != nil || oe.Code == "" {
			return fmt.Errorf("%s answered %s", endpoint, resp.Status)
		}
		return oe
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (c *Client) sign(claims map[string]any) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(c.Alg), Key: c.Key},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

func nonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
