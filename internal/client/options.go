package client

import (
	"crypto/tls"
	"net/http"
	"net/url"

	"github.com/ciba-check/ciba-check/ciba"
)

// CallOption changes one HTTP call: headers, body, method, endpoint, TLS
// identity, client authentication, the request object.
type CallOption func(*callSpec)

type callSpec struct {
	method      string
	endpoint    string
	headers     http.Header
	dropHeaders []string
	contentType *string
	rawBody     *string
	formSet     url.Values
	formDrop    []string
	auth        []AuthOption
	skipAuth    bool
	certSet     bool
	cert        *tls.Certificate
	onExchange  []func(*Exchange)

	// Authenticate only.
	requestObjectOpts []JWTOption
	requestObjectJWT  *string
	unsigned          bool
	signed            bool
}

// CallHeader sets request header name to value (replacing any default).
func CallHeader(name, value string) CallOption {
	return func(s *callSpec) { s.headers.Set(name, value) }
}

// CallWithoutHeader removes request header name (e.g. Authorization).
func CallWithoutHeader(name string) CallOption {
	return func(s *callSpec) { s.dropHeaders = append(s.dropHeaders, name) }
}

// CallContentType sets the Content-Type sent (e.g. application/json).
func CallContentType(ct string) CallOption {
	return func(s *callSpec) { s.contentType = &ct }
}

// CallRawBody sends body verbatim instead of the encoded form; the form,
// client authentication included, is then not sent.
func CallRawBody(body string) CallOption {
	return func(s *callSpec) { s.rawBody = &body }
}

// CallMethod sends the request with method (e.g. GET or PUT) instead of
// POST; a GET carries the form in the query string.
func CallMethod(method string) CallOption {
	return func(s *callSpec) { s.method = method }
}

// CallEndpoint sends the request to endpoint instead of the one from
// the metadata; the default assertion aud follows it.
func CallEndpoint(endpoint string) CallOption {
	return func(s *callSpec) { s.endpoint = endpoint }
}

// CallForm sets form field name to values (several values send the field
// repeatedly, RFC 6749 3.1 duplicates), after client authentication.
func CallForm(name string, values ...string) CallOption {
	return func(s *callSpec) { s.formSet[name] = values }
}

// CallWithoutForm removes form field name, after client authentication.
func CallWithoutForm(name string) CallOption {
	return func(s *callSpec) { s.formDrop = append(s.formDrop, name) }
}

// WithAuth changes how the client authenticates on this call.
func WithAuth(opts ...AuthOption) CallOption {
	return func(s *callSpec) { s.auth = append(s.auth, opts...) }
}

// SkipClientAuth sends no client authentication fields at all.
func SkipClientAuth() CallOption { return func(s *callSpec) { s.skipAuth = true } }

// CallTLSCertificate presents cert (nil: none) on this call's connection,
// which is then a fresh one.
func CallTLSCertificate(cert *tls.Certificate) CallOption {
	return func(s *callSpec) { s.certSet, s.cert = true, cert }
}

// OnExchange calls f with every Exchange the call makes (Poll makes many).
func OnExchange(f func(*Exchange)) CallOption {
	return func(s *callSpec) { s.onExchange = append(s.onExchange, f) }
}

// CallRequestObject passes opts to RequestObject when Authenticate builds
// the request object.
func CallRequestObject(opts ...JWTOption) CallOption {
	return func(s *callSpec) { s.requestObjectOpts = append(s.requestObjectOpts, opts...) }
}

// CallRequestObjectJWT makes Authenticate send jwt as the request object
// (e.g. one already sent: replay).
func CallRequestObjectJWT(jwt string) CallOption {
	return func(s *callSpec) { s.requestObjectJWT = &jwt }
}

// CallSigned makes Authenticate send a signed request object even when
// the client sends plain parameters by default (Config.Unsigned).
func CallSigned() CallOption { return func(s *callSpec) { s.signed = true } }

// CallUnsigned makes Authenticate send the parameters as plain form fields
// without a request object (refused under FAPI-CIBA 5.2.2-6).
func CallUnsigned() CallOption { return func(s *callSpec) { s.unsigned = true } }

func newCallSpec(opts []CallOption) *callSpec {
	s := &callSpec{method: http.MethodPost, headers: http.Header{}, formSet: url.Values{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// AuthOption changes the client authentication fields of a form.
type AuthOption func(*authSpec)

type authSpec struct {
	method        ciba.AuthMethod
	aud           *string
	assertion     *string
	assertionType *string
	assertionOpts []JWTOption
	clientID      *string
	sendClientID  bool
	noClientID    bool
	clientIDOnly  bool
	none          bool
	secret        *string
	bothWays      bool
}

// AuthAudience sets the aud of the default assertion (CIBA 7.1 lets it be
// the issuer, the token endpoint or the backchannel endpoint).
func AuthAudience(aud string) AuthOption { return func(s *authSpec) { s.aud = &aud } }

// AuthAssertion sends jwt as client_assertion instead of a fresh one
// (pre-signed pools, replayed or foreign assertions).
func AuthAssertion(jwt string) AuthOption { return func(s *authSpec) { s.assertion = &jwt } }

// AuthAssertionOptions passes opts to ClientAssertion for the default
// assertion (alg none, RS256, wrong claims, ...).
func AuthAssertionOptions(opts ...JWTOption) AuthOption {
	return func(s *authSpec) { s.assertionOpts = append(s.assertionOpts, opts...) }
}

// AuthAssertionType sends t as client_assertion_type.
func AuthAssertionType(t string) AuthOption { return func(s *authSpec) { s.assertionType = &t } }

// AuthClientID sends client_id=id (another client's, say) with any
// method; under private_key_jwt it is added beside the assertion.
func AuthClientID(id string) AuthOption { return func(s *authSpec) { s.clientID = &id } }

// AuthIncludeClientID adds the client's own client_id beside a
// private_key_jwt assertion (RFC 7523 3 makes it optional).
func AuthIncludeClientID() AuthOption { return func(s *authSpec) { s.sendClientID = true } }

// AuthNoClientID leaves client_id out.
func AuthNoClientID() AuthOption { return func(s *authSpec) { s.noClientID = true } }

// AuthClientIDOnly sends client_id and nothing else (no assertion).
func AuthClientIDOnly() AuthOption { return func(s *authSpec) { s.clientIDOnly = true } }

// AuthAs authenticates as if registered with method m.
func AuthAs(m ciba.AuthMethod) AuthOption { return func(s *authSpec) { s.method = m } }

// AuthSecret authenticates with secret instead of the registered client
// secret (a wrong secret), under any client_secret_* method.
func AuthSecret(secret string) AuthOption { return func(s *authSpec) { s.secret = &secret } }

// AuthSecretBothWays sends the client secret in the Authorization header
// (client_secret_basic) and in the body (client_secret_post) at once,
// which RFC 6749 2.3 forbids the client.
func AuthSecretBothWays() AuthOption { return func(s *authSpec) { s.bothWays = true } }
