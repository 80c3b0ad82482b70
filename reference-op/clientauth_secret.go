package refop

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/ciba-check/ciba-check/ciba"
)

// minHS256Secret is the shortest HS256 key RFC 7518 3.2 allows.
const minHS256Secret = 32

func usesSecret(m ciba.AuthMethod) bool {
	return m == ciba.AuthClientSecretBasic || m == ciba.AuthClientSecretPost || m == ciba.AuthClientSecretJWT
}

// authMethodsSupported is token_endpoint_auth_methods_supported: FAPI's
// three methods, and with FAPI off the secret methods of its clients.
func (op *OP) authMethodsSupported() []ciba.AuthMethod {
	out := []ciba.AuthMethod{ciba.AuthPrivateKeyJWT, ciba.AuthTLSClient, ciba.AuthSelfSignedTLSClient}
	if op.fapi() {
		return out
	}
	return append(out, ciba.AuthClientSecretBasic, ciba.AuthClientSecretPost, ciba.AuthClientSecretJWT)
}

// challengeError is an invalid_client answer to a client that tried the
// Authorization header: RFC 6749 5.2 "the authorization server MUST
// respond with an HTTP 401 (Unauthorized) status code and include the
// "WWW-Authenticate" response header field matching the authentication
// scheme used by the client".
type challengeError struct {
	err       error
	challenge string
}

func (e *challengeError) Error() string { return e.err.Error() }
func (e *challengeError) Unwrap() error { return e.err }

// authenticateSecret authenticates a client_secret_basic or
// client_secret_post client (RFC 6749 2.3.1) with FAPI off. handled is
// false when the request carries neither a Basic header nor a
// client_secret (private_key_jwt, client_secret_jwt and mutual TLS are
// authenticated by authenticateClient). A request using more than one
// method is refused (RFC 6749 2.3).
func (op *OP) authenticateSecret(ctx context.Context, r *http.Request, form url.Values, audiences []string) (c *Client, handled bool, err error) {
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	basic := strings.EqualFold(scheme, "Basic")
	post := form.Has(ciba.ParamClientSecret)
	assertion := form.Has(ciba.ParamClientAssertion)
	if !basic && !post {
		return nil, false, nil
	}
	refuse := func(desc string) (*Client, bool, error) {
		e := ciba.ErrInvalidClient.WithDescription(desc)
		if basic {
			// RFC 6749 5.2: 401 with a challenge for the scheme tried.
			err := op.hooks.refusal(ruleBasicFailure401, e.WithStatus(http.StatusUnauthorized))
			return nil, true, &challengeError{err: err, challenge: `Basic realm="` + op.Issuer() + `"`}
		}
		return nil, true, e
	}
	methods := 0
	for _, used := range []bool{basic, post, assertion} {
		if used {
			methods++
		}
	}
	if methods > 1 && op.hooks.enforced(ruleOneAuthMethod) {
		// RFC 6749 5.2: invalid_request "utilizes more than one mechanism
		// for authenticating the client".
		return nil, true, ciba.ErrInvalidRequest.WithDescription("more than one client authentication method in the request (RFC 6749 2.3)")
	}
	id, secret, method, bad := secretCredentials(r, form, basic)
	if bad != "" {
		return refuse(bad)
	}
	cl, ok := op.clients[id]
	if !ok {
		return refuse("unknown client")
	}
	if cl.AuthMethod != method && (!basicOrPost(cl.AuthMethod) || op.hooks.enforced(ruleRegisteredSecretWay)) {
		return refuse("client is registered for " + string(cl.AuthMethod) + ", not " + string(method))
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(cl.Secret)) != 1 && op.hooks.enforced(ruleSecretMatches) {
		return refuse("client authentication failed")
	}
	return cl, true, nil
}

// secretCredentials reads the client_id and client_secret of a
// client_secret_basic request (basic) or a client_secret_post one; bad
// says why they cannot be read.
func secretCredentials(r *http.Request, form url.Values, basic bool) (id, secret string, method ciba.AuthMethod, bad string) {
	if !basic {
		if len(form[ciba.ParamClientSecret]) > 1 {
			return "", "", "", "client_secret is repeated"
		}
		return form.Get(ciba.ParamClientID), form.Get(ciba.ParamClientSecret), ciba.AuthClientSecretPost, ""
	}
	_, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return "", "", "", "the Basic credentials are not base64"
	}
	encID, encSecret, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", "", "the Basic credentials are not client_id:client_secret"
	}
	// RFC 6749 2.3.1: both are form-urlencoded before Basic encoding.
	id, err1 := url.QueryUnescape(encID)
	secret, err2 := url.QueryUnescape(encSecret)
	if err1 != nil || err2 != nil {
		return "", "", "", "the Basic credentials are not form-urlencoded (RFC 6749 2.3.1)"
	}
	if form.Has(ciba.ParamClientID) && form.Get(ciba.ParamClientID) != id {
		return "", "", "", "client_id does not match the Basic credentials"
	}
	return id, secret, ciba.AuthClientSecretBasic, ""
}

// basicOrPost reports whether m sends the client secret itself.
func basicOrPost(m ciba.AuthMethod) bool {
	return m == ciba.AuthClientSecretBasic || m == ciba.AuthClientSecretPost
}
