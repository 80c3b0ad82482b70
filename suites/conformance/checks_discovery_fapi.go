package conformance

import (
	"context"
	"slices"
	"strings"

	"github.com/ciba-check/ciba-check/ciba"
)

// discoveryClientAuthChecks registers the checks of the client authentication
// methods and assertion algorithms FAPI allows (FAPI-RW 5.2.2-14, 8.6).
func discoveryClientAuthChecks(fw *Framework) {
	// Testname: FAPI client authentication methods offered
	// Spec: FAPI-RW-5.2.2-14, FAPI-CIBA-5.2.2-1
	// Description: token_endpoint_auth_methods_supported MUST contain
	// private_key_jwt, tls_client_auth or self_signed_tls_client_auth
	// (absent, it means client_secret_basic only). The list covers
	// every client of the OP, not only FAPI ones, so other methods
	// (client secrets, none) are a warning: they must not be offered
	// to FAPI clients.
	// Quote: FAPI-RW-5.2.2-14: "shall authenticate the confidential client using one of the following methods ...: tls_client_auth or self_signed_tls_client_auth as specified in section 2 of [RFC8705], or private_key_jwt as specified in section 9 of [OIDC];" FAPI-CIBA-5.2.2-1: "shall only support Confidential Clients for Client Initiated Backchannel Authentication flows;" OIDC-DISCOVERY-3: "If omitted, the default is client_secret_basic"
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("offers private_key_jwt or mutual-TLS client authentication", func(ctx context.Context, f *Fixture) {
		r := f.Discovery()
		methods, present, ok := r.Strings("token_endpoint_auth_methods_supported")
		f.Expect(!present || ok, r.Exchange, "expected token_endpoint_auth_methods_supported as an array of strings, got %v", r.Object["token_endpoint_auth_methods_supported"])
		if !present {
			methods = []string{"client_secret_basic"} // OIDC Discovery 3
		}
		var fapi, weak []string
		for _, m := range methods {
			if ciba.AuthMethod(m).Valid() {
				fapi = append(fapi, m)
			} else {
				weak = append(weak, m)
			}
		}
		f.Expect(len(fapi) > 0, r.Exchange, "expected private_key_jwt, tls_client_auth or self_signed_tls_client_auth among %v (absent means client_secret_basic)", methods)
		f.ExpectShould(len(weak) == 0, r.Exchange, "expected no methods weaker than FAPI allows, got %v: they must not be offered to FAPI or CIBA clients (FAPI-RW 5.2.2-14, FAPI-CIBA 5.2.2-1)", weak)
	}, Refs("FAPI-RW-5.2.2-14", "FAPI-CIBA-5.2.2-1"), OIDF(ModDiscovery))

	// Testname: Client assertion algorithms include a FAPI algorithm
	// Spec: FAPI-RW-8.6
	// Description: token_endpoint_auth_signing_alg_values_supported is
	// OPTIONAL; when published it MUST NOT contain none, and MUST
	// contain PS256 or ES256 (the OP verifies private_key_jwt
	// assertions with them; the OIDF suite fails an OP without one).
	// Other algorithms are a warning. Skipped when the OP does not
	// offer private_key_jwt.
	// Quote: OIDC-DISCOVERY-3: "token_endpoint_auth_signing_alg_values_supported OPTIONAL. JSON array containing a list of the JWS signing algorithms (alg values) supported by the Token Endpoint for the signature on the JWT [JWT] used to authenticate the Client at the Token Endpoint for the private_key_jwt and client_secret_jwt authentication methods. Servers SHOULD support RS256. The value none MUST NOT be used." FAPI-RW-8.6: "For JWS, both clients and authorization servers: 1. shall use PS256 or ES256 algorithms; 2. should not use algorithms that use RSASSA-PKCS1-v1_5 (e.g. RS256); 3. shall not use none;"
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("publishes PS256 or ES256 and no none for client assertions if at all", func(ctx context.Context, f *Fixture) {
		r := f.Discovery()
		methods, _, _ := r.Strings("token_endpoint_auth_methods_supported")
		if !slices.Contains(methods, string(ciba.AuthPrivateKeyJWT)) {
			f.Skipf("the OP does not offer private_key_jwt")
		}
		const member = "token_endpoint_auth_signing_alg_values_supported"
		algs, present, ok := r.Strings(member)
		if !present {
			return // OPTIONAL (OIDC Discovery 3)
		}
		f.Expect(ok, r.Exchange, "expected %s as an array of strings, got %v", member, r.Object[member])
		l := readAlgList(algs)
		f.Expect(!l.none, r.Exchange, "expected no none among %v (OIDC Discovery 3: the value none MUST NOT be used)", algs)
		f.Expect(l.fapi, r.Exchange, "expected PS256 or ES256 among %v (FAPI-RW 8.6: shall use PS256 or ES256)", algs)
		f.ExpectShould(len(l.others) == 0, r.Exchange, "expected only PS256/ES256, also listed: %v (FAPI-RW 8.6: should not use RSASSA-PKCS1-v1_5 algorithms such as RS256)", l.others)
	}, Refs("FAPI-RW-8.6"), Auth(ciba.AuthPrivateKeyJWT), OIDF(ModDiscovery))
}

// discoverySigningAlgChecks registers the checks of the ID token and userinfo
// signing algorithms (FAPI-RW 8.6).
func discoverySigningAlgChecks(fw *Framework) {
	// Testname: ID token algorithms include a FAPI algorithm
	// Spec: FAPI-RW-8.6
	// Description: id_token_signing_alg_values_supported is REQUIRED and
	// MUST contain PS256 or ES256. none MAY be listed (OIDC Discovery
	// 3); FAPI forbids using it, so listing it is a warning. Other
	// algorithms are not judged: OIDC Discovery even requires RS256.
	// Quote: OIDC-DISCOVERY-3: "id_token_signing_alg_values_supported REQUIRED. JSON array containing a list of the JWS signing algorithms (alg values) supported by the OP for the ID Token to encode the Claims in a JWT [JWT]." FAPI-RW-8.6: "For JWS, both clients and authorization servers: 1. shall use PS256 or ES256 algorithms; 2. should not use algorithms that use RSASSA-PKCS1-v1_5 (e.g. RS256); 3. shall not use none;"
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("publishes PS256 or ES256 for ID tokens", func(ctx context.Context, f *Fixture) {
		r := f.Discovery()
		algs, _, ok := r.Strings("id_token_signing_alg_values_supported")
		f.Expect(ok && hasFAPIAlg(algs), r.Exchange, "expected PS256 or ES256 in id_token_signing_alg_values_supported, got %v", r.Object["id_token_signing_alg_values_supported"])
		f.ExpectShould(!slices.Contains(algs, ciba.AlgNone), r.Exchange, "expected no none in %v: OIDC Discovery 3 lets it be listed, but FAPI-RW 8.6 says shall not use none", algs)
	}, Refs("FAPI-RW-8.6"), OIDF(ModDiscovery))

	// Testname: Userinfo algorithms include a FAPI algorithm
	// Spec: FAPI-RW-8.6
	// Description: userinfo_signing_alg_values_supported is OPTIONAL;
	// when published it MUST contain PS256 or ES256 (and be an array
	// of strings, not null: OIDC Discovery 4.2 omits empty members).
	// none MAY be included (OIDC Discovery 3): it and other algorithms
	// are a warning.
	// Quote: OIDC-DISCOVERY-3: "userinfo_signing_alg_values_supported OPTIONAL. JSON array containing a list of the JWS [JWS] signing algorithms (alg values) [JWA] supported by the UserInfo Endpoint to encode the Claims in a JWT [JWT]. The value none MAY be included." OIDC-DISCOVERY-4.2: "Claims with zero elements MUST be omitted from the response." FAPI-RW-8.6: "For JWS, both clients and authorization servers: 1. shall use PS256 or ES256 algorithms; 2. should not use algorithms that use RSASSA-PKCS1-v1_5 (e.g. RS256); 3. shall not use none;"
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("publishes PS256 or ES256 for signed userinfo if at all", func(ctx context.Context, f *Fixture) {
		r := f.Discovery()
		const member = "userinfo_signing_alg_values_supported"
		algs, present, ok := r.Strings(member)
		if !present {
			return
		}
		f.Expect(ok, r.Exchange, "expected an array of strings, got %v", r.Object[member])
		l := readAlgList(algs)
		f.Expect(l.fapi, r.Exchange, "expected PS256 or ES256 among %v (FAPI-RW 8.6: shall use PS256 or ES256)", algs)
		f.ExpectShould(len(l.others) == 0 && !l.none, r.Exchange, "expected only PS256/ES256, got also %v (FAPI-RW 8.6: should not use RS256, shall not use none)", nonFAPIAlgs(algs))
	}, Refs("FAPI-RW-8.6"), OIDF(ModDiscovery))
}

// discoveryMTLSChecks registers the checks of the RFC 8705 metadata:
// certificate-bound tokens and mtls_endpoint_aliases.
func discoveryMTLSChecks(fw *Framework) {
	// Testname: Certificate-bound access tokens advertised
	// Spec: RFC8705-3.3, FAPI-RW-5.2.2-5
	// Description: Under FAPI, tls_client_certificate_bound_access_tokens
	// MUST be present and true: FAPI access tokens are sender-constrained
	// with RFC 8705, and absent or false the OP says it does not support
	// that. Skipped with fapi: false (plain CIBA does not require it:
	// RFC 8705 3.3 only defines the member, so the check is FAPIOnly).
	// Quote: FAPI-RW-5.2.2-5: "shall only issue sender-constrained access tokens;" FAPI-RW-5.2.2-6: "shall support [RFC8705] as mechanism for constraining the legitimate senders of access tokens;" RFC8705-3.3: "tls_client_certificate_bound_access_tokens OPTIONAL. Boolean value indicating server support for mutual-TLS client certificate-bound access tokens. If omitted, the default value is false."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("advertises tls_client_certificate_bound_access_tokens true", func(ctx context.Context, f *Fixture) {
		r := f.Discovery()
		v := r.Object["tls_client_certificate_bound_access_tokens"]
		f.Expect(v == true, r.Exchange, "expected tls_client_certificate_bound_access_tokens: true, got %v", v)
	}, Refs("RFC8705-3.3", "FAPI-RW-5.2.2-5"), FAPIOnly, OIDF(ModDiscovery))

	// Testname: Mutual-TLS endpoint aliases well-formed
	// Spec: RFC8705-5
	// Description: mtls_endpoint_aliases, when present, MUST be a JSON
	// object (not null: OIDC Discovery 4.2), and its endpoint members
	// https URLs: they are where clients do mutual TLS. Members that
	// name no endpoint are ignored, as RFC 8705 5 says.
	// Quote: RFC8705-5: "mtls_endpoint_aliases OPTIONAL. A JSON object containing alternative authorization server endpoints that, when present, an OAuth client intending to do mutual TLS uses in preference to the conventional endpoints." RFC8705-2: "the TLS connection between the client and the authorization server MUST have been established or re-established with mutual-TLS X.509 certificate authentication" OIDC-DISCOVERY-4.2: "A successful response MUST use the 200 OK HTTP status code and return a JSON object using the application/json content type that contains a set of Claims as its members that are a subset of the Metadata values defined in Section 3."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("publishes mtls_endpoint_aliases as an object of https URLs if at all", func(ctx context.Context, f *Fixture) {
		r := f.Discovery()
		v, present := r.Object["mtls_endpoint_aliases"]
		if !present {
			return
		}
		problems := endpointAliasProblems(v)
		f.Expect(len(problems) == 0, r.Exchange, "expected mtls_endpoint_aliases to be a JSON object of https endpoint URLs: %s (got %v)", strings.Join(problems, "; "), v)
	}, Refs("RFC8705-5"), OIDF(ModDiscovery))
}

// nonFAPIAlgs reports the members of algs that FAPI does not allow.
func nonFAPIAlgs(algs []string) []string {
	var bad []string
	for _, a := range algs {
		if !slices.Contains(ciba.FAPIAlgs, a) {
			bad = append(bad, a)
		}
	}
	return bad
}

func hasFAPIAlg(algs []string) bool {
	return slices.Contains(algs, ciba.AlgPS256) || slices.Contains(algs, ciba.AlgES256)
}

// endpointAliasProblems lists what is wrong with an mtls_endpoint_aliases
// value (RFC 8705 5): it must be a JSON object, and its endpoint members
// (names ending in _endpoint) https URLs. Other members "have no meaning
// and SHOULD be ignored".
func endpointAliasProblems(v any) []string {
	obj, ok := v.(map[string]any)
	if !ok {
		return []string{"the value is not a JSON object"}
	}
	var out []string
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !strings.HasSuffix(k, "_endpoint") {
			continue
		}
		s, _ := obj[k].(string)
		if !isHTTPSURL(s) || strings.ContainsAny(s, " ") {
			out = append(out, k+" is not an https URL")
		}
	}
	return out
}
