package refop

import (
	"crypto/rsa"
	"net/http"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
)

// Discovery and JWKS fault names.
const (
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

// discoveryFaults deviate in the discovery document and the JWKS.
func discoveryFaults() []Fault {
	return []Fault{
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
		{Name: FaultAdvertiseClientSecret, Breaks: "client_secret_basic is advertised among the client authentication methods", Trips: []string{"offers private_key_jwt or mutual-TLS client authentication"}, bend: onPublished(func(md *ciba.ProviderMetadata) {
			md.TokenEndpointAuthMethodsSupported = append(md.TokenEndpointAuthMethodsSupported, "client_secret_basic")
		})},
		{Name: FaultAdvertiseRS256, Breaks: "RS256 is advertised for request objects, client assertions and signed userinfo",
			Trips: []string{
				"publishes PS256 or ES256 among backchannel request signing algorithms",
				"publishes PS256 or ES256 and no none for client assertions if at all",
				"publishes PS256 or ES256 for signed userinfo if at all",
			}, bend: onPublished(advertiseRS256)},
		{Name: FaultIDTokenAlgNone, Breaks: "none is advertised among the ID token signing algorithms", Trips: []string{"publishes PS256 or ES256 for ID tokens"}, bend: onPublished(idTokenAlgNone)},
		{Name: FaultDiscoveryNullMembers, Breaks: "optional metadata without a value is published as null instead of omitted",
			Trips: []string{
				"publishes mtls_endpoint_aliases as an object of https URLs if at all",
				"publishes PS256 or ES256 for signed userinfo if at all",
			}, bend: onDocument(discoveryNullMembers)},
		{Name: FaultNoCertBoundAccessTokenFlag, Breaks: "tls_client_certificate_bound_access_tokens is published false", Trips: []string{"advertises tls_client_certificate_bound_access_tokens true"}, bend: onPublished(func(md *ciba.ProviderMetadata) { md.TLSClientCertificateBoundAccessTokens = false })},
		{Name: FaultJWKSDuplicateKid, Breaks: "the JWKS lists each signing key twice under the same kid (replicas merged without dedup)", Trips: []string{"publishes a JWKS with a kid on every signing key when it holds several"}, bend: onKeySet(func(op *OP, set *jose.JSONWebKeySet) error {
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
