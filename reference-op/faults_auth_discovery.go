package refop

import (
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
)

// Client authentication and discovery fault names.
const (
	FaultAssertionAudEndpointOnly   = "client-assertion-aud-endpoint-only"
	FaultAssertionAudStringOnly     = "client-assertion-aud-string-only"
	FaultClientIDWithoutAssertion   = "accept-client-id-without-assertion"
	FaultAcceptRS256Assertion       = "accept-rs256-client-assertion"
	FaultAcceptNoneAssertion        = "accept-alg-none-client-assertion"
	FaultAcceptHS256Assertion       = "accept-hs256-client-assertion"
	FaultIgnoreAssertionExp         = "ignore-client-assertion-exp"
	FaultIgnoreAssertionReplay      = "ignore-client-assertion-replay"
	FaultIgnoreAssertionAud         = "ignore-client-assertion-aud"
	FaultIgnoreAssertionSub         = "ignore-client-assertion-sub"
	FaultAssertionAnyClientKey      = "client-assertion-any-client-key"
	FaultIgnoreAssertionType        = "ignore-client-assertion-type"
	FaultMTLSWithoutCertificate     = "mtls-client-without-certificate"
	FaultMTLSClientFromCertificate  = "mtls-client-from-certificate"
	FaultMTLSActsForClientID        = "mtls-acts-for-client-id"
	FaultDiscoveryTextPlain         = "discovery-text-plain"
	FaultIssuerTrailingSlash        = "issuer-trailing-slash"
	FaultNoPollMode                 = "no-poll-mode"
	FaultNoPingMode                 = "no-ping-mode"
	FaultNoCIBAGrantType            = "no-ciba-grant-type"
	FaultAdvertiseClientSecret      = "advertise-client-secret"
	FaultAdvertiseRS256             = "advertise-rs256"
	FaultIDTokenAlgNone             = "id-token-alg-none"
	FaultDiscoveryNullMembers       = "discovery-null-members"
	FaultNoCertBoundAccessTokenFlag = "no-cert-bound-access-token-flag"
	FaultJWKSDuplicateKid           = "jwks-duplicate-kid"
	FaultJWKSLegacyRSA1024          = "jwks-legacy-rsa-1024"
	FaultHTTPEndpointURLs           = "http-endpoint-urls"
	FaultUserCodeFlagNull           = "user-code-flag-null"
)

// authDiscoveryFaults deviate at client authentication (private_key_jwt, mTLS) at every endpoint, and discovery/JWKS.
func authDiscoveryFaults() []Fault {
	return []Fault{
		// Client authentication. The default assertion aud is the endpoint's
		// own URL, so only the other aud values can be refused in isolation.
		{Name: FaultAssertionAudStringOnly, Breaks: "a client assertion whose aud is a JSON array (RFC 7519 4.1.3) is refused", Trips: []string{"accepts a backchannel client assertion with aud = [backchannel endpoint] as an array"}, bend: assertionAudStringOnly},
		{Name: FaultAssertionAudEndpointOnly, Breaks: "a client assertion's aud must be the URL of the endpoint it is sent to; the issuer and token endpoint are refused elsewhere",
			Trips: []string{
				"accepts a backchannel client assertion with aud = issuer",
				"accepts a backchannel client assertion with aud = token endpoint",
				"accepts a token client assertion with aud = issuer",
			}, bend: assertionAudEndpointOnly},
		// The mTLS probes name a private_key_jwt client as "another client",
		// so accepting client_id alone also lets those requests through.
		{Name: FaultClientIDWithoutAssertion, Breaks: "a private_key_jwt client sending only client_id is accepted without a client assertion",
			Trips: []string{
				"refuses a backchannel request whose client_id differs from the request object's iss",
				"refuses a backchannel request with client_id but no client assertion",
				"refuses a token request naming another client over the caller's certificate",
				"refuses a token request with client_id but no client assertion",
			}, bend: waive(ruleAssertionRequired)},
		{Name: FaultAcceptRS256Assertion, Breaks: "RS256 client assertions are accepted (RSA keys usable with any RSA alg)",
			Trips: []string{
				"refuses a backchannel client assertion signed with RS256",
				"refuses a token client assertion signed with RS256",
			}, bend: acceptRS256Assertions},
		{Name: FaultAcceptNoneAssertion, Breaks: "unsigned (alg none) client assertions are accepted", Trips: []string{"refuses a client assertion with alg none"}, bend: acceptUnsignedAssertions},
		{Name: FaultAcceptHS256Assertion, Breaks: "HS256 client assertions keyed with the client's public JWK are accepted (algorithm confusion)", Trips: []string{"refuses an HS256 client assertion keyed with the client's public key"}, bend: acceptHS256Assertions},
		{Name: FaultIgnoreAssertionExp, Breaks: "the exp of a client assertion is not checked", Trips: []string{"refuses an expired client assertion"}, bend: waive(ruleAssertionExp)},
		{Name: FaultIgnoreAssertionReplay, Breaks: "a client assertion jti may be used again", Trips: []string{"refuses a replayed client assertion"}, bend: waive(ruleAssertionOnce)},
		{Name: FaultIgnoreAssertionAud, Breaks: "the aud of a client assertion is not checked", Trips: []string{"refuses a client assertion whose aud is another server"}, bend: func(h *hooks) { h.assertionAud = func(any, error) error { return nil } }},
		{Name: FaultIgnoreAssertionSub, Breaks: "the sub of a client assertion need not equal its iss", Trips: []string{"refuses a client assertion whose sub is not its iss"}, bend: waive(ruleAssertionSub)},
		{Name: FaultAssertionAnyClientKey, Breaks: "client assertions verify with any registered client's key", Trips: []string{"refuses a client assertion signed with another client's key"}, bend: assertionAnyClientKey},
		{Name: FaultIgnoreAssertionType, Breaks: "client_assertion_type is not checked", Trips: []string{"refuses a wrong client_assertion_type"}, bend: waive(ruleAssertionType)},
		{Name: FaultMTLSWithoutCertificate, Breaks: "a mutual-TLS client naming its client_id without a certificate is accepted", Trips: []string{"refuses a mutual-TLS client that presents no certificate"}, bend: mtlsWithoutCertificate},
		// Identified by its certificate, the caller redeems another client's
		// auth_req_id: invalid_grant instead of invalid_client.
		{Name: FaultMTLSClientFromCertificate, Breaks: "mutual-TLS clients are identified by their certificate; the form client_id is ignored",
			Trips: []string{
				"refuses a backchannel request whose client_id differs from the request object's iss",
				"refuses a token request naming another client over the caller's certificate",
			}, bend: mtlsClientFromCertificate},
		{Name: FaultMTLSActsForClientID, Breaks: "a certificate of any registered mutual-TLS client authenticates the request (verifying with that client's keys), but the OP acts for the form client_id",
			Trips: []string{
				"refuses a backchannel request naming another client over the caller's certificate",
				"refuses a backchannel request whose client_id differs from the request object's iss",
				"refuses a token request naming another client over the caller's certificate",
			}, bend: mtlsActsForClientID},
		{Name: FaultDiscoveryTextPlain, Breaks: "the discovery document is served as text/plain", Trips: []string{"serves the discovery document with HTTP 200 as application/json"}, bend: waive(ruleDiscoveryJSON)},
		// The suite takes the published issuer as the assertion aud and the
		// expected ID token iss.
		{Name: FaultIssuerTrailingSlash, Breaks: "the published issuer has a trailing slash the OP itself does not use",
			Trips: []string{
				"accepts a backchannel client assertion with aud = issuer",
				"accepts a token client assertion with aud = issuer",
				"issues an ID token with iss, aud, sub, iat and a future exp",
				"publishes an issuer identical to the discovery URL prefix",
			}, bend: onPublished(func(md *ciba.ProviderMetadata) { md.Issuer += "/" })},
		{Name: FaultNoPollMode, Breaks: "poll is missing from backchannel_token_delivery_modes_supported", Trips: []string{"lists poll in backchannel_token_delivery_modes_supported"}, bend: onPublished(dropDeliveryMode(ciba.ModePoll))},
		{Name: FaultNoPingMode, Breaks: "ping is missing from backchannel_token_delivery_modes_supported although ping clients are served", Trips: []string{"lists ping when the target registers ping clients"}, bend: onPublished(dropDeliveryMode(ciba.ModePing))},
		{Name: FaultNoCIBAGrantType, Breaks: "grant_types_supported omits the CIBA grant type", Trips: []string{"lists the CIBA grant type in grant_types_supported"}, bend: onPublished(noCIBAGrantType)},
		{Name: FaultAdvertiseClientSecret, Breaks: "client_secret_basic is advertised among the client authentication methods", Trips: []string{"offers only private_key_jwt and mutual-TLS client authentication"}, bend: onPublished(func(md *ciba.ProviderMetadata) {
			md.TokenEndpointAuthMethodsSupported = append(md.TokenEndpointAuthMethodsSupported, "client_secret_basic")
		})},
		{Name: FaultAdvertiseRS256, Breaks: "RS256 is advertised for request objects, client assertions and signed userinfo",
			Trips: []string{
				"publishes only PS256/ES256 as backchannel request signing algorithms",
				"publishes only PS256/ES256 for client assertions",
				"publishes only PS256/ES256 for signed userinfo if at all",
			}, bend: onPublished(advertiseRS256)},
		{Name: FaultIDTokenAlgNone, Breaks: "none is advertised among the ID token signing algorithms", Trips: []string{"publishes PS256 or ES256 and never none for ID tokens"}, bend: onPublished(idTokenAlgNone)},
		{Name: FaultDiscoveryNullMembers, Breaks: "optional metadata without a value is published as null instead of omitted",
			Trips: []string{
				"publishes mtls_endpoint_aliases as an object of https URLs if at all",
				"publishes only PS256/ES256 for signed userinfo if at all",
			}, bend: onDocument(discoveryNullMembers)},
		{Name: FaultNoCertBoundAccessTokenFlag, Breaks: "tls_client_certificate_bound_access_tokens is published false", Trips: []string{"advertises tls_client_certificate_bound_access_tokens true"}, bend: onPublished(func(md *ciba.ProviderMetadata) { md.TLSClientCertificateBoundAccessTokens = false })},
		{Name: FaultJWKSDuplicateKid, Breaks: "the JWKS lists each signing key twice under the same kid (replicas merged without dedup)", Trips: []string{"publishes a JWKS whose keys all have distinct kids"}, bend: onKeySet(func(op *OP, set *jose.JSONWebKeySet) error {
			set.Keys = append(set.Keys, op.publics.Keys...)
			return nil
		})},
		{Name: FaultHTTPEndpointURLs, Breaks: "behind a TLS-terminating proxy, token and backchannel endpoint URLs are published (and accepted as aud) as http://; only the mTLS aliases are https", Trips: []string{"publishes backchannel_authentication_endpoint as an https URL", "publishes token_endpoint as an https URL"}, bend: bends(onPublished(httpEndpointURLs), plainHTTPAudiences)},
		// A null flag reads as false: the user_code checks then skip.
		{Name: FaultUserCodeFlagNull, Breaks: "backchannel_user_code_parameter_supported is published as null (a nullable boolean left unset)",
			Trips: []string{
				"accepts a request with the user's user_code",
				"publishes backchannel_user_code_parameter_supported as a boolean if at all",
				"refuses a request with a wrong user_code with invalid_user_code",
				"refuses a request without the user's user_code with missing_user_code",
			}, bend: onDocument(func(_ *OP, doc map[string]any) error {
				doc["backchannel_user_code_parameter_supported"] = nil
				return nil
			})},
		{Name: FaultJWKSLegacyRSA1024, Breaks: "the JWKS also publishes a legacy 1024-bit RSA key", Trips: []string{"publishes RSA keys of at least 2048 bits and EC keys of at least 160 bits"}, bend: onKeySet(legacyRSA1024)},
	}
}

// mtlsClientForCertificate is the mutual-TLS client whose registration
// the certificate satisfies, or nil (fault mtls-client-from-certificate).
func (op *OP) mtlsClientForCertificate(r *http.Request) *Client {
	cert := peerCert(r)
	for _, id := range op.sortedClientIDs() {
		c := op.clients[id]
		switch c.AuthMethod {
		case ciba.AuthTLSClient:
			if op.verifyTLSClientAuth(c, r) == nil {
				return c
			}
		case ciba.AuthSelfSignedTLSClient:
			if verifySelfSigned(c, cert) == nil {
				return c
			}
		}
	}
	return nil
}

// actingForClientID is the confused deputy of fault
// mtls-acts-for-client-id: the client named by clientID, but with the keys
// of the mutual-TLS client the certificate belongs to. It is nil when the
// certificate belongs to no mutual-TLS client or names that same client.
func (op *OP) actingForClientID(r *http.Request, clientID string) *Client {
	holder := op.mtlsClientForCertificate(r)
	named, ok := op.clients[clientID]
	if holder == nil || !ok || named.ID == holder.ID {
		return nil
	}
	acting := *named
	acting.JWKS = holder.JWKS
	acting.RequestSigningAlg = holder.RequestSigningAlg
	return &acting
}

func (op *OP) sortedClientIDs() []string {
	ids := make([]string, 0, len(op.clients))
	for id := range op.clients {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// assertionKeysBend is the bend widening how a private_key_jwt client
// assertion verifies (client_secret_jwt ones keep their secret).
func assertionKeysBend(f func(op *OP, c *Client, v verification) verification) func(*hooks) {
	return func(h *hooks) {
		prev := h.assertionKeys
		h.assertionKeys = func(op *OP, c *Client, hdr jwsHeader, v verification) verification {
			v = prev(op, c, hdr, v)
			if c.AuthMethod == ciba.AuthClientSecretJWT {
				return v
			}
			return f(op, c, v)
		}
	}
}

// assertionAnyClientKey (client-assertion-any-client-key): assertions
// verify with any registered client's keys.
func assertionAnyClientKey(h *hooks) {
	assertionKeysBend(func(op *OP, _ *Client, v verification) verification {
		v.keys = nil
		for _, id := range op.sortedClientIDs() {
			v.keys = append(v.keys, op.clients[id].JWKS.Keys...)
		}
		return v
	})(h)
}

// acceptRS256Assertions (accept-rs256-client-assertion): RS256 verifies
// too, with RSA keys usable with any RSA alg.
func acceptRS256Assertions(h *hooks) {
	assertionKeysBend(func(_ *OP, _ *Client, v verification) verification {
		v.algs = append(v.algs, ciba.AlgRS256)
		v.keys = slices.Clone(v.keys)
		for i, k := range v.keys {
			if _, isRSA := k.Key.(*rsa.PublicKey); isRSA {
				v.keys[i].Algorithm = ""
			}
		}
		return v
	})(h)
}

// acceptHS256Assertions (accept-hs256-client-assertion): HS256 verifies
// with the public JWK's bytes as HMAC secret, the classic confusion.
func acceptHS256Assertions(h *hooks) {
	assertionKeysBend(func(_ *OP, c *Client, v verification) verification {
		v.algs = append(v.algs, "HS256")
		v.keys = slices.Clone(v.keys)
		for _, k := range c.JWKS.Keys {
			if secret, err := json.Marshal(k.Public()); err == nil {
				v.keys = append(v.keys, jose.JSONWebKey{Key: secret, KeyID: k.KeyID, Algorithm: "HS256"})
			}
		}
		return v
	})(h)
}

// acceptUnsignedAssertions (accept-alg-none-client-assertion): an
// assertion with alg none is taken unverified.
func acceptUnsignedAssertions(h *hooks) {
	prev := h.assertionKeys
	h.assertionKeys = func(op *OP, c *Client, hdr jwsHeader, v verification) verification {
		v = prev(op, c, hdr, v)
		v.unsigned = hdr.Alg == ciba.AlgNone
		return v
	}
}

// assertionAudStringOnly (client-assertion-aud-string-only): an assertion
// whose aud is an array is refused.
func assertionAudStringOnly(h *hooks) {
	prev := h.assertionAud
	h.assertionAud = func(aud any, strict error) error {
		if _, isArray := aud.([]any); isArray {
			return invalidClient("client_assertion aud must be a string")
		}
		return prev(aud, strict)
	}
}

// assertionAudEndpointOnly (client-assertion-aud-endpoint-only): only
// the URL of the endpoint an assertion is sent to is its aud.
func assertionAudEndpointOnly(h *hooks) {
	h.assertionAudiences = func(op *OP, r *http.Request, _ []string) []string {
		return []string{op.endpoint(r.URL.Path)}
	}
}

// certificateClientBend is the bend naming the client a request's TLS
// connection alone authenticates, when the strict OP names none.
func certificateClientBend(f func(op *OP, r *http.Request, formClientID string) *Client) func(*hooks) {
	return func(h *hooks) {
		prev := h.certificateClient
		h.certificateClient = func(op *OP, r *http.Request, formClientID string) *Client {
			if c := prev(op, r, formClientID); c != nil {
				return c
			}
			return f(op, r, formClientID)
		}
	}
}

// mtlsWithoutCertificate (mtls-client-without-certificate): a mutual-TLS
// client naming its client_id without a certificate is accepted.
func mtlsWithoutCertificate(h *hooks) {
	certificateClientBend(func(op *OP, r *http.Request, formClientID string) *Client {
		if c, ok := op.clients[formClientID]; ok && peerCert(r) == nil && c.AuthMethod.UsesMTLS() {
			return c
		}
		return nil
	})(h)
}

// mtlsClientFromCertificate (mtls-client-from-certificate): the client is
// the one whose registration the certificate satisfies.
func mtlsClientFromCertificate(h *hooks) {
	certificateClientBend(func(op *OP, r *http.Request, _ string) *Client {
		if peerCert(r) == nil {
			return nil
		}
		return op.mtlsClientForCertificate(r)
	})(h)
}

// mtlsActsForClientID (mtls-acts-for-client-id): any mutual-TLS client's
// certificate authenticates, and the OP acts for the form client_id.
func mtlsActsForClientID(h *hooks) {
	certificateClientBend(func(op *OP, r *http.Request, formClientID string) *Client {
		if peerCert(r) == nil {
			return nil
		}
		return op.actingForClientID(r, formClientID)
	})(h)
}

// dropDeliveryMode is the published-metadata bend leaving out mode
// (no-poll-mode, no-ping-mode).
func dropDeliveryMode(mode ciba.DeliveryMode) func(md *ciba.ProviderMetadata) {
	return func(md *ciba.ProviderMetadata) {
		md.BackchannelTokenDeliveryModesSupported = slices.DeleteFunc(md.BackchannelTokenDeliveryModesSupported, func(m ciba.DeliveryMode) bool { return m == mode })
	}
}

// noCIBAGrantType (no-ciba-grant-type) leaves the CIBA grant type out.
func noCIBAGrantType(md *ciba.ProviderMetadata) {
	md.GrantTypesSupported = slices.DeleteFunc(md.GrantTypesSupported, func(g string) bool { return g == ciba.GrantTypeCIBA })
}

// advertiseRS256 (advertise-rs256) adds RS256 to the request object,
// client assertion and userinfo algorithms.
func advertiseRS256(md *ciba.ProviderMetadata) {
	withRS256 := append(slices.Clone(ciba.FAPIAlgs), ciba.AlgRS256)
	md.BackchannelAuthenticationRequestSigningAlgs = withRS256
	md.TokenEndpointAuthSigningAlgValuesSupported = withRS256
	md.UserinfoSigningAlgValuesSupported = withRS256
}

// idTokenAlgNone (id-token-alg-none) adds none to the ID token algorithms.
func idTokenAlgNone(md *ciba.ProviderMetadata) {
	md.IDTokenSigningAlgValuesSupported = append(slices.Clone(md.IDTokenSigningAlgValuesSupported), ciba.AlgNone)
}

// httpEndpointURLs (http-endpoint-urls) publishes the token and
// backchannel endpoints as http://, the https ones as mTLS aliases.
func httpEndpointURLs(md *ciba.ProviderMetadata) {
	md.MTLSEndpointAliases = &ciba.MTLSEndpointAliases{TokenEndpoint: md.TokenEndpoint, BackchannelAuthenticationEndpoint: md.BackchannelAuthenticationEndpoint}
	md.TokenEndpoint = plainHTTP(md.TokenEndpoint)
	md.BackchannelAuthenticationEndpoint = plainHTTP(md.BackchannelAuthenticationEndpoint)
}

// plainHTTPAudiences (http-endpoint-urls) also accepts the plain-http
// endpoint URLs it publishes as client assertion aud values.
func plainHTTPAudiences(h *hooks) {
	prev := h.assertionAudiences
	h.assertionAudiences = func(op *OP, r *http.Request, audiences []string) []string {
		audiences = prev(op, r, audiences)
		out := slices.Clone(audiences)
		for _, a := range audiences {
			if a != op.Issuer() {
				out = append(out, plainHTTP(a))
			}
		}
		return out
	}
}

// discoveryNullMembers (discovery-null-members) publishes optional members
// without a value as null.
func discoveryNullMembers(_ *OP, doc map[string]any) error {
	for _, name := range []string{"authorization_endpoint", "registration_endpoint", "userinfo_signing_alg_values_supported", "mtls_endpoint_aliases"} {
		if _, set := doc[name]; !set {
			doc[name] = nil
		}
	}
	return nil
}

// plainHTTP is u with its https scheme replaced by http.
func plainHTTP(u string) string { return "http://" + strings.TrimPrefix(u, "https://") }

// legacyRSA1024 (jwks-legacy-rsa-1024) also publishes a fresh 1024-bit RSA
// key under a kid no other key has.
func legacyRSA1024(op *OP, set *jose.JSONWebKeySet) error {
	op.randMu.Lock()
	legacy, err := rsa.GenerateKey(op.cfg.Rand, 1024)
	op.randMu.Unlock()
	if err != nil {
		return err
	}
	kid := "legacy-rs256"
	for slices.ContainsFunc(set.Keys, func(k jose.JSONWebKey) bool { return k.KeyID == kid }) {
		kid = "old-" + kid
	}
	set.Keys = append(set.Keys, jose.JSONWebKey{Key: &legacy.PublicKey, KeyID: kid, Algorithm: ciba.AlgRS256, Use: "sig"})
	return nil
}
