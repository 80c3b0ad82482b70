package client

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/ciba-check/ciba-check/ciba"
)

// InsecureURLError is a request the client refused to send because its
// URL is not https: whatever the client sends carries a credential
// (a client assertion, a signed request object, a token, the client's
// certificate), and none of it may travel in cleartext.
type InsecureURLError struct {
	URL string
}

func (e *InsecureURLError) Error() string {
	return fmt.Sprintf("client: refused to send credentials to %q: not an https URL", e.URL)
}

// RequireHTTPS returns an *InsecureURLError unless raw is an absolute
// https URL with a host.
func RequireHTTPS(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return &InsecureURLError{URL: raw}
	}
	return nil
}

// httpsOnly is the transport of every Client: it refuses, before a byte
// is written, any request whose URL is not https. It sits under every
// path that sends with the client's HTTP client (the calls, Poll, load
// generators using HTTPClient), so no credential can leave over plain
// HTTP whatever URL a caller or an OP's metadata supplies.
type httpsOnly struct{ next http.RoundTripper }

func requireHTTPSTransport(rt http.RoundTripper) http.RoundTripper {
	if _, ok := rt.(httpsOnly); ok || rt == nil {
		return rt
	}
	return httpsOnly{next: rt}
}

func (h httpsOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := RefuseInsecureRequest(req); err != nil {
		return nil, err
	}
	return h.next.RoundTrip(req)
}

// RefuseInsecureRequest is the check of every credentialed transport (the
// client's and the load generator's): unless req goes to an absolute https
// URL, it closes req's body, as a RoundTripper must, and returns an
// *InsecureURLError before a byte is written.
func RefuseInsecureRequest(req *http.Request) error {
	if req.URL != nil && req.URL.Scheme == "https" && req.URL.Host != "" {
		return nil
	}
	if req.Body != nil {
		_ = req.Body.Close()
	}
	u := ""
	if req.URL != nil {
		u = req.URL.Redacted()
	}
	return &InsecureURLError{URL: u}
}

// CloseIdleConnections passes through, so http.Client.CloseIdleConnections
// still reaches the transport.
func (h httpsOnly) CloseIdleConnections() {
	if c, ok := h.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// CredentialEndpoint is an endpoint of the OP's metadata the client sends
// credentials to, as the client picks it.
type CredentialEndpoint struct {
	// Member is the discovery member the URL is read from, e.g.
	// token_endpoint or mtls_endpoint_aliases.token_endpoint.
	Member string
	URL    string
}

// CredentialEndpoints lists the endpoints of md the client sends
// credentials to, in the form it uses them (the mutual-TLS alias when
// published, RFC 8705 5); absent endpoints are left out.
func CredentialEndpoints(md *ciba.ProviderMetadata) []CredentialEndpoint {
	if md == nil {
		return nil
	}
	var out []CredentialEndpoint
	for _, e := range endpointTable {
		member, u := e.name, e.canonical(md)
		if a := md.MTLSEndpointAliases; a != nil && e.alias(a) != "" {
			member, u = "mtls_endpoint_aliases."+e.name, e.alias(a)
		}
		if u != "" {
			out = append(out, CredentialEndpoint{Member: member, URL: u})
		}
	}
	return out
}

// endpointTable names the endpoints the client calls with credentials.
var endpointTable = []struct {
	name      string
	canonical func(*ciba.ProviderMetadata) string
	alias     func(*ciba.MTLSEndpointAliases) string
}{
	{"backchannel_authentication_endpoint", func(m *ciba.ProviderMetadata) string { return m.BackchannelAuthenticationEndpoint },
		func(a *ciba.MTLSEndpointAliases) string { return a.BackchannelAuthenticationEndpoint }},
	{"token_endpoint", func(m *ciba.ProviderMetadata) string { return m.TokenEndpoint },
		func(a *ciba.MTLSEndpointAliases) string { return a.TokenEndpoint }},
	{"userinfo_endpoint", func(m *ciba.ProviderMetadata) string { return m.UserinfoEndpoint },
		func(a *ciba.MTLSEndpointAliases) string { return a.UserinfoEndpoint }},
	{"introspection_endpoint", func(m *ciba.ProviderMetadata) string { return m.IntrospectionEndpoint },
		func(a *ciba.MTLSEndpointAliases) string { return a.IntrospectionEndpoint }},
	{"revocation_endpoint", func(m *ciba.ProviderMetadata) string { return m.RevocationEndpoint },
		func(a *ciba.MTLSEndpointAliases) string { return a.RevocationEndpoint }},
}
