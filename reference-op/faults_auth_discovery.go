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
		{Name: FaultAssertionAudStringOnly, Breaks: "a client assertion whose aud is a JSON array (RFC 7519 4.1.3) is refused", Trips: []string{"accepts a backchannel client assertion with aud = [backchannel endpoint] as an array"}},
		{Name: FaultAssertionAudEndpointOnly, Breaks: "a client assertion's aud must be the URL of the endpoint it is sent to; the issuer and token endpoint are refused elsewhere",
			Trips: []string{
				"accepts a backchannel client assertion with aud = issuer",
				"accepts a backchannel client assertion with aud = token endpoint",
				"accepts a token client assertion with aud = issuer",
			}},
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
			}},
		{Name: FaultAcceptNoneAssertion, Breaks: "unsigned (alg none) client assertions are accepted", Trips: []string{"refuses a client assertion with alg none"}},
		{Name: FaultAcceptHS256Assertion, Breaks: "HS256 client assertions keyed with the client's public JWK are accepted (algorithm confusion)", Trips: []string{"refuses an HS256 client assertion keyed with the client's public key"}},
		{Name: FaultIgnoreAssertionExp, Breaks: "the exp of a client assertion is not checked", Trips: []string{"refuses an expired client assertion"}, bend: waive(ruleAssertionExp)},
		{Name: FaultIgnoreAssertionReplay, Breaks: "a client assertion jti may be used again", Trips: []string{"refuses a replayed client assertion"}, bend: waive(ruleAssertionOnce)},
		{Name: FaultIgnoreAssertionAud, Breaks: "the aud of a client assertion is not checked", Trips: []string{"refuses a client assertion whose aud is another server"}, bend: waive(ruleAssertionAud)},
		{Name: FaultIgnoreAssertionSub, Breaks: "the sub of a client assertion need not equal its iss", Trips: []string{"refuses a client assertion whose sub is not its iss"}, bend: waive(ruleAssertionSub)},
		{Name: FaultAssertionAnyClientKey, Breaks: "client assertions verify with any registered client's key", Trips: []string{"refuses a client assertion signed with another client's key"}},
		{Name: FaultIgnoreAssertionType, Breaks: "client_assertion_type is not checked", Trips: []string{"refuses a wrong client_assertion_type"}, bend: waive(ruleAssertionType)},
		{Name: FaultMTLSWithoutCertificate, Breaks: "a mutual-TLS client naming its client_id without a certificate is accepted", Trips: []string{"refuses a mutual-TLS client that presents no certificate"}},
		// Identified by its certificate, the caller redeems another client's
		// auth_req_id: invalid_grant instead of invalid_client.
		{Name: FaultMTLSClientFromCertificate, Breaks: "mutual-TLS clients are identified by their certificate; the form client_id is ignored",
			Trips: []string{
				"refuses a backchannel request whose client_id differs from the request object's iss",
				"refuses a token request naming another client over the caller's certificate",
			}},
		{Name: FaultMTLSActsForClientID, Breaks: "a certificate of any registered mutual-TLS client authenticates the request (verifying with that client's keys), but the OP acts for the form client_id",
			Trips: []string{
				"refuses a backchannel request naming another client over the caller's certificate",
				"refuses a backchannel request whose client_id differs from the request object's iss",
				"refuses a token request naming another client over the caller's certificate",
			}},
		{Name: FaultDiscoveryTextPlain, Breaks: "the discovery document is served as text/plain", Trips: []string{"serves the discovery document with HTTP 200 as application/json"}},
		// The suite takes the published issuer as the assertion aud and the
		// expected ID token iss.
		{Name: FaultIssuerTrailingSlash, Breaks: "the published issuer has a trailing slash the OP itself does not use",
			Trips: []string{
				"accepts a backchannel client assertion with aud = issuer",
				"accepts a token client assertion with aud = issuer",
				"issues an ID token with iss, aud, sub, iat and a future exp",
				"publishes an issuer identical to the discovery URL prefix",
			}},
		{Name: FaultNoPollMode, Breaks: "poll is missing from backchannel_token_delivery_modes_supported", Trips: []string{"lists poll in backchannel_token_delivery_modes_supported"}},
		{Name: FaultNoPingMode, Breaks: "ping is missing from backchannel_token_delivery_modes_supported although ping clients are served", Trips: []string{"lists ping when the target registers ping clients"}},
		{Name: FaultNoCIBAGrantType, Breaks: "grant_types_supported omits the CIBA grant type", Trips: []string{"lists the CIBA grant type in grant_types_supported"}},
		{Name: FaultAdvertiseClientSecret, Breaks: "client_secret_basic is advertised among the client authentication methods", Trips: []string{"offers only private_key_jwt and mutual-TLS client authentication"}},
		{Name: FaultAdvertiseRS256, Breaks: "RS256 is advertised for request objects, client assertions and signed userinfo",
			Trips: []string{
				"publishes only PS256/ES256 as backchannel request signing algorithms",
				"publishes only PS256/ES256 for client assertions",
				"publishes only PS256/ES256 for signed userinfo if at all",
			}},
		{Name: FaultIDTokenAlgNone, Breaks: "none is advertised among the ID token signing algorithms", Trips: []string{"publishes PS256 or ES256 and never none for ID tokens"}},
		{Name: FaultDiscoveryNullMembers, Breaks: "optional metadata without a value is published as null instead of omitted",
			Trips: []string{
				"publishes mtls_endpoint_aliases as an object of https URLs if at all",
				"publishes only PS256/ES256 for signed userinfo if at all",
			}},
		{Name: FaultNoCertBoundAccessTokenFlag, Breaks: "tls_client_certificate_bound_access_tokens is published false", Trips: []string{"advertises tls_client_certificate_bound_access_tokens true"}},
		{Name: FaultJWKSDuplicateKid, Breaks: "the JWKS lists each signing key twice under the same kid (replicas merged without dedup)", Trips: []string{"publishes a JWKS whose keys all have distinct kids"}},
		{Name: FaultHTTPEndpointURLs, Breaks: "behind a TLS-terminating proxy, token and backchannel endpoint URLs are published (and accepted as aud) as http://; only the mTLS aliases are https", Trips: []string{"publishes backchannel_authentication_endpoint as an https URL", "publishes token_endpoint as an https URL"}},
		// A null flag reads as false: the user_code checks then skip.
		{Name: FaultUserCodeFlagNull, Breaks: "backchannel_user_code_parameter_supported is published as null (a nullable boolean left unset)",
			Trips: []string{
				"accepts a request with the user's user_code",
				"publishes backchannel_user_code_parameter_supported as a boolean if at all",
				"refuses a request with a wrong user_code with invalid_user_code",
				"refuses a request without the user's user_code with missing_user_code",
			}},
		{Name: FaultJWKSLegacyRSA1024, Breaks: "the JWKS also publishes a legacy 1024-bit RSA key", Trips: []string{"publishes RSA keys of at least 2048 bits and EC keys of at least 160 bits"}},
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

// assertionVerification returns the keys and algorithms a client
// assertion of c verifies with: c's keys and PS256/ES256 (FAPI-RW 8.6),
// widened by faults.
func (op *OP) assertionVerification(c *Client) ([]jose.JSONWebKey, []string) {
	keys := slices.Clone(c.JWKS.Keys)
	algs := []string{ciba.AlgPS256, ciba.AlgES256}
	if op.faults.on(FaultAssertionAnyClientKey) {
		keys = nil
		for _, id := range op.sortedClientIDs() {
			keys = append(keys, op.clients[id].JWKS.Keys...)
		}
	}
	if op.faults.on(FaultAcceptRS256Assertion) {
		algs = append(algs, ciba.AlgRS256)
		for i, k := range keys {
			if _, isRSA := k.Key.(*rsa.PublicKey); isRSA {
				keys[i].Algorithm = ""
			}
		}
	}
	if op.faults.on(FaultAcceptHS256Assertion) {
		algs = append(algs, "HS256")
		for _, k := range c.JWKS.Keys {
			// The classic confusion: the public JWK's bytes as HMAC secret.
			if secret, err := json.Marshal(k.Public()); err == nil {
				keys = append(keys, jose.JSONWebKey{Key: secret, KeyID: k.KeyID, Algorithm: "HS256"})
			}
		}
	}
	return keys, algs
}

// metadataFault is a discovery fault that only reshapes the typed
// discovery document.
type metadataFault struct {
	fault string
	apply func(md *ciba.ProviderMetadata)
}

// metadataFaults are the discovery faults of the typed document, applied
// in this order when on.
func metadataFaults() []metadataFault {
	drop := func(modes []ciba.DeliveryMode, mode ciba.DeliveryMode) []ciba.DeliveryMode {
		return slices.DeleteFunc(modes, func(m ciba.DeliveryMode) bool { return m == mode })
	}
	return []metadataFault{
		{FaultIssuerTrailingSlash, func(md *ciba.ProviderMetadata) { md.Issuer += "/" }},
		{FaultNoPollMode, func(md *ciba.ProviderMetadata) {
			md.BackchannelTokenDeliveryModesSupported = drop(md.BackchannelTokenDeliveryModesSupported, ciba.ModePoll)
		}},
		{FaultNoPingMode, func(md *ciba.ProviderMetadata) {
			md.BackchannelTokenDeliveryModesSupported = drop(md.BackchannelTokenDeliveryModesSupported, ciba.ModePing)
		}},
		{FaultNoCIBAGrantType, func(md *ciba.ProviderMetadata) {
			md.GrantTypesSupported = slices.DeleteFunc(md.GrantTypesSupported, func(g string) bool { return g == ciba.GrantTypeCIBA })
		}},
		{FaultAdvertiseClientSecret, func(md *ciba.ProviderMetadata) {
			md.TokenEndpointAuthMethodsSupported = append(md.TokenEndpointAuthMethodsSupported, "client_secret_basic")
		}},
		{FaultAdvertiseRS256, func(md *ciba.ProviderMetadata) {
			withRS256 := append(slices.Clone(ciba.FAPIAlgs), ciba.AlgRS256)
			md.BackchannelAuthenticationRequestSigningAlgs = withRS256
			md.TokenEndpointAuthSigningAlgValuesSupported = withRS256
			md.UserinfoSigningAlgValuesSupported = withRS256
		}},
		{FaultIDTokenAlgNone, func(md *ciba.ProviderMetadata) {
			md.IDTokenSigningAlgValuesSupported = append(slices.Clone(md.IDTokenSigningAlgValuesSupported), ciba.AlgNone)
		}},
		{FaultNoCertBoundAccessTokenFlag, func(md *ciba.ProviderMetadata) { md.TLSClientCertificateBoundAccessTokens = false }},
		{FaultHTTPEndpointURLs, func(md *ciba.ProviderMetadata) {
			md.MTLSEndpointAliases = &ciba.MTLSEndpointAliases{TokenEndpoint: md.TokenEndpoint, BackchannelAuthenticationEndpoint: md.BackchannelAuthenticationEndpoint}
			md.TokenEndpoint = plainHTTP(md.TokenEndpoint)
			md.BackchannelAuthenticationEndpoint = plainHTTP(md.BackchannelAuthenticationEndpoint)
		}},
	}
}

// documentFault is a discovery fault the typed document cannot express
// (a member published as null): it reshapes the document as a JSON
// object.
type documentFault struct {
	fault string
	apply func(doc map[string]any)
}

// documentFaults are the discovery faults of the JSON object, applied in
// this order when on.
func documentFaults() []documentFault {
	return []documentFault{
		{FaultDiscoveryNullMembers, func(doc map[string]any) {
			for _, name := range []string{"authorization_endpoint", "registration_endpoint", "userinfo_signing_alg_values_supported", "mtls_endpoint_aliases"} {
				if _, set := doc[name]; !set {
					doc[name] = nil
				}
			}
		}},
		{FaultUserCodeFlagNull, func(doc map[string]any) { doc["backchannel_user_code_parameter_supported"] = nil }},
	}
}

// plainHTTP is u with its https scheme replaced by http.
func plainHTTP(u string) string { return "http://" + strings.TrimPrefix(u, "https://") }

// assertionAudiences widens the accepted client assertion aud values by
// the plain-http endpoint URLs the http-endpoint-urls fault publishes.
func (op *OP) assertionAudiences(audiences []string) []string {
	if !op.faults.on(FaultHTTPEndpointURLs) {
		return audiences
	}
	out := slices.Clone(audiences)
	for _, a := range audiences {
		if a != op.Issuer() {
			out = append(out, plainHTTP(a))
		}
	}
	return out
}

// jwksWithFaults is the published JWKS with this OP's JWKS faults applied.
func (op *OP) jwksWithFaults() (jose.JSONWebKeySet, error) {
	set := jose.JSONWebKeySet{Keys: slices.Clone(op.publics.Keys)}
	if op.faults.on(FaultJWKSDuplicateKid) {
		set.Keys = append(set.Keys, op.publics.Keys...)
	}
	if op.faults.on(FaultJWKSLegacyRSA1024) {
		op.randMu.Lock()
		legacy, err := rsa.GenerateKey(op.cfg.Rand, 1024)
		op.randMu.Unlock()
		if err != nil {
			return set, err
		}
		kid := "legacy-rs256"
		for slices.ContainsFunc(set.Keys, func(k jose.JSONWebKey) bool { return k.KeyID == kid }) {
			kid = "old-" + kid
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &legacy.PublicKey, KeyID: kid, Algorithm: ciba.AlgRS256, Use: "sig"})
	}
	return set, nil
}

// faultyAcceptsUnsigned reports whether a client assertion with alg none
// is taken unverified (accept-alg-none-client-assertion).
func (op *OP) faultyAcceptsUnsigned(assertion string) bool {
	h, _ := peekHeader(assertion)
	return h.Alg == ciba.AlgNone && op.faults.on(FaultAcceptNoneAssertion)
}

// faultyAssertionAudRefusal refuses a client assertion whose aud is an
// array (client-assertion-aud-string-only).
func (op *OP) faultyAssertionAudRefusal(cl claims) error {
	if _, isArray := cl["aud"].([]any); isArray && op.faults.on(FaultAssertionAudStringOnly) {
		return invalidClient("client_assertion aud must be a string")
	}
	return nil
}

// faultyAudiences are the client assertion aud values accepted at r's
// endpoint: audiences, or only the endpoint's URL under
// client-assertion-aud-endpoint-only; plus the plain-http URLs
// http-endpoint-urls publishes.
func (op *OP) faultyAudiences(r *http.Request, audiences []string) []string {
	if op.faults.on(FaultAssertionAudEndpointOnly) {
		audiences = []string{op.endpoint(r.URL.Path)}
	}
	return op.assertionAudiences(audiences)
}

// faultyCertificateClient is the client a TLS client certificate alone
// authenticates under mtls-acts-for-client-id or
// mtls-client-from-certificate, or nil.
func (op *OP) faultyCertificateClient(r *http.Request, formClientID string) *Client {
	if peerCert(r) == nil {
		return nil
	}
	if op.faults.on(FaultMTLSActsForClientID) {
		if c := op.actingForClientID(r, formClientID); c != nil {
			return c
		}
	}
	if op.faults.on(FaultMTLSClientFromCertificate) {
		return op.mtlsClientForCertificate(r)
	}
	return nil
}
