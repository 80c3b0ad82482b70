package conformance

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
)

// clientAuthSecretChecks registers the checks of client_secret_basic and
// client_secret_post, outside FAPI: a wrong secret, and a secret sent two
// ways at once (RFC 6749 2.3.1).
func clientAuthSecretChecks(fw *Framework) {
	// Testname: Wrong client secret refused
	// Spec: CIBA-7.2, RFC6749-2.3.1, RFC6749-5.2
	// Description: A client_secret_basic or client_secret_post client
	// (client_secret_basic first) sending a wrong client_secret MUST be
	// refused with invalid_client at the backchannel endpoint; after a
	// wrong secret in the Authorization header (client_secret_basic)
	// with HTTP 401 and a WWW-Authenticate header. The same request
	// with the right secret must be acknowledged first.
	// Quote: CIBA-7.2: "The OpenID Provider MUST validate the request received as follows: 1. Authenticate the Client per the authentication method registered or configured for its client_id." RFC6749-2.3.1: "The authorization server MUST support the HTTP Basic authentication scheme for authenticating clients that were issued a client password." RFC6749-5.2: "invalid_client Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method). The authorization server MAY return an HTTP 401 (Unauthorized) status code to indicate which HTTP authentication schemes are supported. If the client attempted to authenticate via the "Authorization" request header field, the authorization server MUST respond with an HTTP 401 (Unauthorized) status code and include the "WWW-Authenticate" response header field matching the authentication scheme used by the client."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses a wrong client secret with invalid_client", func(ctx context.Context, f *Fixture) {
		c := secretClient(f)
		u := f.PendingUserOrAny()
		f.ControlAck(c, f.Params(c, u))
		_, ex, err := c.Authenticate(ctx, f.Params(c, u), client.WithAuth(client.AuthSecret(wrongSecret)))
		if c.AuthMethod() != ciba.AuthClientSecretBasic {
			f.ExpectOAuthError(ex, err, StatusInvalidClient, ciba.ErrInvalidClient)
			return
		}
		f.ExpectOAuthError(ex, err, []int{http.StatusUnauthorized}, ciba.ErrInvalidClient)
		scheme, _, _ := strings.Cut(ex.ResponseHeader.Get("WWW-Authenticate"), " ")
		f.Expect(strings.EqualFold(scheme, "Basic"), ex, "expected a WWW-Authenticate header with the Basic scheme beside the 401 (RFC 6749 5.2: the client used the Authorization header), got %q", ex.ResponseHeader.Get("WWW-Authenticate"))
	}, Refs("CIBA-7.2", "RFC6749-2.3.1", "RFC6749-5.2"), Auth(ciba.AuthClientSecretBasic, ciba.AuthClientSecretPost), Negative)

	// Testname: Client secret sent both ways refused
	// Spec: RFC6749-2.3, RFC6749-5.2
	// Description: A request carrying the client secret both in the
	// Authorization header (client_secret_basic) and in the body
	// (client_secret_post) SHOULD be refused, with invalid_request (or
	// invalid_client). A warning only: the MUST NOT of RFC 6749 2.3
	// binds the client, and RFC 6749 5.2 names invalid_request for such
	// a request without obliging the server to refuse it. The same
	// request with one method must be acknowledged first.
	// Quote: RFC6749-2.3: "The client MUST NOT use more than one authentication method in each request." RFC6749-5.2: "invalid_request The request is missing a required parameter, includes an unsupported parameter value (other than grant type), repeats a parameter, includes multiple credentials, utilizes more than one mechanism for authenticating the client, or is otherwise malformed."
	// Duty: client
	// Level: SHOULD
	fw.ConformanceIt("refuses a client secret sent both in the Authorization header and the body", func(ctx context.Context, f *Fixture) {
		c := secretClient(f)
		u := f.PendingUserOrAny()
		f.ControlAck(c, f.Params(c, u))
		_, ex, err := c.Authenticate(ctx, f.Params(c, u), client.WithAuth(client.AuthSecretBothWays()))
		f.ExpectOAuthError(ex, err, []int{http.StatusBadRequest, http.StatusUnauthorized}, ciba.ErrInvalidRequest, ciba.ErrInvalidClient)
	}, Refs("RFC6749-2.3", "RFC6749-5.2"), Auth(ciba.AuthClientSecretBasic, ciba.AuthClientSecretPost), Negative, Should)
}

// clientAuthSecretJWTChecks registers the check that a client_secret_jwt
// assertion cannot be replayed (OIDC Core 9, RFC 7523 3).
func clientAuthSecretJWTChecks(fw *Framework) {
	// Testname: Replayed client_secret_jwt assertion refused
	// Spec: OIDC-9, RFC7523-3
	// Description: A client_secret_jwt (HS256) client assertion whose
	// jti was already used SHOULD be refused with invalid_client. A
	// warning only, as for private_key_jwt: "only used once" binds the
	// client that makes the assertion, and RFC 7523 leaves replay
	// detection to the server as a MAY. The first use must
	// authenticate (positive control).
	// Quote: OIDC-9: "jti REQUIRED. JWT ID. A unique identifier for the token, which can be used to prevent reuse of the token. These tokens MUST only be used once, unless conditions for reuse were negotiated between the parties; any such negotiation is beyond the scope of this specification." RFC7523-3: "The authorization server MAY ensure that JWTs are not replayed by maintaining the set of used "jti" values for the length of time for which the JWT would be considered valid based on the applicable "exp" instant."
	// Duty: client
	// Level: SHOULD
	fw.ConformanceIt("refuses a replayed client_secret_jwt assertion", func(ctx context.Context, f *Fixture) {
		c := f.Client(AnyMode, ciba.AuthClientSecretJWT)
		u := f.PendingUser()
		form := url.Values{}
		if err := c.ApplyClientAuth(form, c.Metadata().TokenEndpoint); err != nil {
			f.fail(fmt.Sprintf("making the client_secret_jwt assertion of %s: %v", c.ClientID(), err))
		}
		assertion := form.Get(ciba.ParamClientAssertion)
		ack := tokenControl(ctx, f, c, u, client.WithAuth(client.AuthAssertion(assertion)))
		_, ex, err := c.Token(ctx, ack.AuthReqID, client.WithAuth(client.AuthAssertion(assertion)))
		f.ExpectOAuthError(ex, err, StatusInvalidClient, ciba.ErrInvalidClient)
	}, Refs("OIDC-9", "RFC7523-3"), Auth(ciba.AuthClientSecretJWT), Negative, Should)
}

// wrongSecret is the client secret of the wrong-secret check: long enough
// for any secret rule, and no client's.
const wrongSecret = "ciba-check-wrong-client-secret-0123456789"

// secretClient is the target's client_secret_basic client, else its
// client_secret_post client, else the check is skipped.
func secretClient(f *Fixture) *client.Client {
	ginkgo.GinkgoHelper()
	if cs := f.Clients(AnyMode, ciba.AuthClientSecretBasic); len(cs) > 0 {
		return f.Client(AnyMode, ciba.AuthClientSecretBasic)
	}
	return f.Client(AnyMode, ciba.AuthClientSecretPost)
}
