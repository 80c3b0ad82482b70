package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
)

// isHTTPSURL reports whether s is an absolute https URL.
func isHTTPSURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != ""
}

// plainEndpointNote says, for a published endpoint that is not https,
// that ciba-check sent no credentials there: the run only gets this far
// when it calls the endpoint's https mutual-TLS alias instead (an http
// URL it would call stops the run as a target error).
func plainEndpointNote(f *Fixture, member, ep string) string {
	if ep == "" || isHTTPSURL(ep) {
		return ""
	}
	for _, e := range client.CredentialEndpoints(f.Env().Metadata) {
		if strings.TrimPrefix(e.Member, "mtls_endpoint_aliases.") == member && e.URL != ep {
			return fmt.Sprintf("; ciba-check sent no credentials there: it called %s instead", e.URL)
		}
	}
	return "; ciba-check sends no credentials to an http URL"
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

// algList is a published list of JWS algorithms sorted for the FAPI
// checks (FAPI-RW 8.6): whether it names a FAPI algorithm, whether it
// names none, and the other algorithms it names.
type algList struct {
	fapi   bool
	none   bool
	others []string
}

func readAlgList(algs []string) algList {
	var l algList
	for _, a := range algs {
		switch {
		case slices.Contains(ciba.FAPIAlgs, a):
			l.fapi = true
		case a == ciba.AlgNone:
			l.none = true
		default:
			l.others = append(l.others, a)
		}
	}
	return l
}

// signingKeysWithoutKid counts the keys of set that can verify signatures
// (use "sig" or no use) and carry no kid.
func signingKeysWithoutKid(set jose.JSONWebKeySet) int {
	n := 0
	for _, k := range set.Keys {
		if k.Use != "enc" && k.KeyID == "" {
			n++
		}
	}
	return n
}

// duplicateKids lists the kids more than one key of set carries.
func duplicateKids(set jose.JSONWebKeySet) []string {
	seen := map[string]int{}
	var dup []string
	for _, k := range set.Keys {
		if k.KeyID == "" {
			continue
		}
		seen[k.KeyID]++
		if seen[k.KeyID] == 2 {
			dup = append(dup, k.KeyID)
		}
	}
	return dup
}

// rawKeyCount is the number of entries of a JWK Set document's "keys"
// array, readable or not (-1 when the body is no JWK Set).
func rawKeyCount(body []byte) int {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if json.Unmarshal(body, &raw) != nil {
		return -1
	}
	return len(raw.Keys)
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

func describeDiscovery(fw *Framework) {
	fw.Describe("Discovery", func() {
		// Testname: Discovery document served as JSON
		// Spec: OIDC-DISCOVERY-4
		// Description: The OP MUST serve its discovery document at
		// issuer + /.well-known/openid-configuration with HTTP 200 and
		// Content-Type application/json.
		// Quote: OIDC-DISCOVERY-4.2: "A successful response MUST use the 200 OK HTTP status code and return a JSON object using the application/json content type that contains a set of Claims as its members that are a subset of the Metadata values defined in Section 3."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("serves the discovery document with HTTP 200 as application/json", func(ctx context.Context, f *Fixture) {
			r := f.Discovery()
			f.Expect(r.Exchange.ContentType() == "application/json", r.Exchange, "expected Content-Type application/json, got %q", r.Exchange.ContentType())
		}, Refs("OIDC-DISCOVERY-4"), OIDF(ModDiscovery))

		// Testname: Issuer matches the discovery URL
		// Spec: OIDC-DISCOVERY-4.3
		// Description: The issuer in the discovery document MUST be an
		// https URL identical to the issuer the document was fetched from.
		// Quote: OIDC-DISCOVERY-4.3: "The issuer value returned MUST be identical to the Issuer URL that was used as the prefix to /.well-known/openid-configuration to retrieve the configuration information." OIDC-DISCOVERY-3: "issuer REQUIRED. URL using the https scheme with no query or fragment components that the OP asserts as its Issuer Identifier."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("publishes an issuer identical to the discovery URL prefix", func(ctx context.Context, f *Fixture) {
			r := f.Discovery()
			iss, _ := r.Object["issuer"].(string)
			f.Expect(iss == f.Env().Target.Issuer, r.Exchange, "expected issuer %q, got %q", f.Env().Target.Issuer, iss)
			f.Expect(isHTTPSURL(iss), r.Exchange, "expected issuer to be an https URL, got %q", iss)
		}, Refs("OIDC-DISCOVERY-4.3"), OIDF(ModDiscovery))

		// Testname: Backchannel authentication endpoint published
		// Spec: CIBA-4
		// Description: A CIBA OP MUST publish
		// backchannel_authentication_endpoint, an https URL.
		// Quote: CIBA-4: "backchannel_authentication_endpoint: REQUIRED. URL of the OP's Backchannel Authentication Endpoint as defined in Section 7." CIBA-7: "Communication with the Backchannel Authentication Endpoint MUST utilize TLS."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("publishes backchannel_authentication_endpoint as an https URL", func(ctx context.Context, f *Fixture) {
			r := f.Discovery()
			ep, _ := r.Object["backchannel_authentication_endpoint"].(string)
			f.Expect(isHTTPSURL(ep), r.Exchange, "expected backchannel_authentication_endpoint to be an https URL, got %q%s", ep, plainEndpointNote(f, "backchannel_authentication_endpoint", ep))
		}, Refs("CIBA-4"), OIDF(ModDiscovery))

		// Testname: Token endpoint published
		// Spec: OIDC-DISCOVERY-3
		// Description: The OP MUST publish token_endpoint, an https URL.
		// Quote: OIDC-DISCOVERY-3: "token_endpoint URL of the OP's OAuth 2.0 Token Endpoint [OpenID.Core]. This is REQUIRED unless only the Implicit Flow is used. This URL MUST use the https scheme and MAY contain port, path, and query parameter components." RFC6749-3.2: "the authorization server MUST require the use of TLS as described in Section 1.6 when sending requests to the token endpoint."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("publishes token_endpoint as an https URL", func(ctx context.Context, f *Fixture) {
			r := f.Discovery()
			ep, _ := r.Object["token_endpoint"].(string)
			f.Expect(isHTTPSURL(ep), r.Exchange, "expected token_endpoint to be an https URL, got %q%s", ep, plainEndpointNote(f, "token_endpoint", ep))
		}, Refs("OIDC-DISCOVERY-3"), OIDF(ModDiscovery))

		// Testname: Poll mode supported
		// Spec: FAPI-CIBA-5.2.2-4, CIBA-4
		// Description: backchannel_token_delivery_modes_supported MUST be
		// published as an array of strings; under FAPI, or when the target
		// registers poll clients, it MUST contain poll. A plain-CIBA OP
		// without poll clients may offer only ping or push.
		// Quote: CIBA-4: "backchannel_token_delivery_modes_supported: REQUIRED. JSON array containing one or more of the following values: poll, ping, and push." FAPI-CIBA-5.2.2-4: "shall support CIBA poll mode;"
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("lists poll in backchannel_token_delivery_modes_supported", func(ctx context.Context, f *Fixture) {
			r := f.Discovery()
			modes, present, ok := r.Strings("backchannel_token_delivery_modes_supported")
			f.Expect(present && ok && len(modes) > 0, r.Exchange, "expected backchannel_token_delivery_modes_supported as a non-empty array of strings (CIBA 4), got %v", r.Object["backchannel_token_delivery_modes_supported"])
			if !f.Env().Target.FAPI && len(f.Clients(ciba.ModePoll, AnyAuth)) == 0 {
				f.Skipf("target.yaml says fapi: false and registers no poll client: plain CIBA does not require poll (the modes %v are well-formed)", modes)
			}
			f.Expect(slices.Contains(modes, string(ciba.ModePoll)), r.Exchange, "expected poll among the delivery modes, got %v", modes)
		}, Refs("FAPI-CIBA-5.2.2-4", "CIBA-4"), Modes(ciba.ModePoll), OIDF(ModDiscovery))

		// Testname: Push mode not supported under FAPI
		// Spec: FAPI-CIBA-5.2.2-3
		// Description: A FAPI-CIBA OP MUST NOT support push mode, so push
		// MUST NOT be listed in backchannel_token_delivery_modes_supported.
		// (Skipped with fapi: false: plain CIBA allows push. The OIDF
		// discovery module has no such condition, so no OIDF label.)
		// Quote: FAPI-CIBA-5.2.2-3: "shall not support CIBA push mode;"
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("does not list push in backchannel_token_delivery_modes_supported", func(ctx context.Context, f *Fixture) {
			r := f.Discovery()
			modes, _, _ := r.Strings("backchannel_token_delivery_modes_supported")
			f.Expect(!slices.Contains(modes, string(ciba.ModePush)), r.Exchange, "expected no push among the delivery modes, got %v", modes)
		}, Refs("FAPI-CIBA-5.2.2-3"), Modes(ciba.ModePush))

		// Testname: Ping mode listed when ping clients are registered
		// Spec: FAPI-CIBA-5.2.2-5, CIBA-4
		// Description: An OP that serves ping clients supports ping, so it
		// MUST list ping in backchannel_token_delivery_modes_supported, the
		// REQUIRED list of its modes (ping itself is optional: FAPI-CIBA
		// 5.2.2-5 "may support"; without ping clients the check is skipped).
		// Quote: CIBA-4: "backchannel_token_delivery_modes_supported: REQUIRED. JSON array containing one or more of the following values: poll, ping, and push." FAPI-CIBA-5.2.2-5: "may support CIBA ping mode;"
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("lists ping when the target registers ping clients", func(ctx context.Context, f *Fixture) {
			if len(f.Clients(ciba.ModePing, AnyAuth)) == 0 {
				f.Skipf("target.yaml has no ping client")
			}
			r := f.Discovery()
			modes, _, _ := r.Strings("backchannel_token_delivery_modes_supported")
			f.Expect(slices.Contains(modes, string(ciba.ModePing)), r.Exchange, "expected ping among the delivery modes, got %v", modes)
		}, Refs("FAPI-CIBA-5.2.2-5", "CIBA-4"), Modes(ciba.ModePing), OIDF(ModDiscovery))

		// Testname: Request signing algorithms include a FAPI algorithm
		// Spec: CIBA-4, FAPI-CIBA-5.2.2-6, FAPI-RW-8.6
		// Description: Under FAPI, where signed authentication requests are
		// required, backchannel_authentication_request_signing_alg_values_supported
		// MUST be published (absent, it says signed requests are not
		// supported) and MUST contain PS256 or ES256. FAPI-RW 8.6 binds the
		// use of algorithms, not their listing, so other algorithms (RS256,
		// none) are a warning only; so is none without FAPI. The OIDF suite
		// only warns on a missing FAPI algorithm: failing there is the
		// spec's "shall use PS256 or ES256" read against the OP's own
		// statement of what it supports.
		// Quote: CIBA-4: "backchannel_authentication_request_signing_alg_values_supported: OPTIONAL. JSON array containing a list of the JWS signing algorithms (alg values) supported by the OP for signed authentication requests, which are described in Section 7.1.1. If omitted, signed authentication requests are not supported by the OP." FAPI-CIBA-5.2.2: "the FAPI CIBA profile requires the use of Signed Authentication Requests." FAPI-RW-8.6: "For JWS, both clients and authorization servers shall use PS256 or ES256 algorithms; should not use algorithms that use RSASSA-PKCS1-v1_5 (e.g. RS256); and shall not use none."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("publishes only PS256/ES256 as backchannel request signing algorithms", func(ctx context.Context, f *Fixture) {
			r := f.Discovery()
			const member = "backchannel_authentication_request_signing_alg_values_supported"
			algs, present, ok := r.Strings(member)
			fapi := f.Env().Target.FAPI
			if !present && !fapi {
				f.Skipf("%s is absent: the OP does not support signed authentication requests, which plain CIBA (fapi: false) allows", member)
			}
			f.Expect(present, r.Exchange, "expected %s: without it the OP does not support signed authentication requests (CIBA 4), which FAPI-CIBA requires", member)
			f.Expect(ok, r.Exchange, "expected %s as an array of strings, got %v", member, r.Object[member])
			l := readAlgList(algs)
			if fapi {
				f.Expect(l.fapi, r.Exchange, "expected PS256 or ES256 among %v (FAPI-RW 8.6: shall use PS256 or ES256)", algs)
				f.ExpectShould(len(l.others) == 0, r.Exchange, "expected only PS256/ES256 for FAPI clients, also listed: %v (FAPI-RW 8.6: should not use RSASSA-PKCS1-v1_5 algorithms such as RS256)", l.others)
			}
			f.ExpectShould(!l.none, r.Exchange, "expected no none among %v: a signed authentication request is secured with an asymmetric signature (CIBA 7.1.1)", algs)
		}, Refs("CIBA-4", "FAPI-CIBA-5.2.2-6", "FAPI-RW-8.6"), OIDF(ModDiscovery))

		// Testname: user_code support flag is a boolean
		// Spec: CIBA-4
		// Description: backchannel_user_code_parameter_supported, when
		// present, MUST be a JSON boolean: the discovery document's members
		// MUST be the metadata values as defined, and CIBA 4 defines this
		// one as a Boolean value (null or a string is not one).
		// Quote: OIDC-DISCOVERY-4.2: "A successful response MUST use the 200 OK HTTP status code and return a JSON object using the application/json content type that contains a set of Claims as its members that are a subset of the Metadata values defined in Section 3." CIBA-4: "backchannel_user_code_parameter_supported: OPTIONAL. Boolean value specifying whether the OP supports the use of the user_code parameter, with true indicating support. If omitted, the default value is false."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("publishes backchannel_user_code_parameter_supported as a boolean if at all", func(ctx context.Context, f *Fixture) {
			r := f.Discovery()
			v, present := r.Object["backchannel_user_code_parameter_supported"]
			if !present {
				return
			}
			_, isBool := v.(bool)
			f.Expect(isBool, r.Exchange, "expected a JSON boolean, got %v (%T)", v, v)
		}, Refs("CIBA-4"), OIDF(ModDiscovery))

		// Testname: CIBA grant type advertised
		// Spec: CIBA-4
		// Description: grant_types_supported SHOULD contain
		// urn:openid:params:grant-type:ciba. CIBA 4 states it without a
		// requirement keyword ("is used"); the OIDF suite fails an OP
		// without it (FAPICIBACheckDiscEndpointGrantTypesSupported):
		// certification level, a warning unless --profile oidf-cert.
		// Quote: CIBA-4: "The CIBA grant type is used in the grant_types_supported field of discovery metadata for OPs that support the ping or poll delivery modes."
		// Duty: OP
		// Level: CERT
		fw.ConformanceIt("lists the CIBA grant type in grant_types_supported", func(ctx context.Context, f *Fixture) {
			r := f.Discovery()
			gts, _, ok := r.Strings("grant_types_supported")
			f.Expect(ok && slices.Contains(gts, ciba.GrantTypeCIBA), r.Exchange, "expected %s in grant_types_supported, got %v", ciba.GrantTypeCIBA, r.Object["grant_types_supported"])
		}, Refs("CIBA-4"), OIDF(ModDiscovery), Cert)

		// Testname: Server keys carry key ids
		// Spec: OIDC-10.1
		// Description: The JWKS MUST hold a key. When it holds several keys,
		// signatures MUST name their key with a kid, so every key that can
		// verify signatures (use sig or no use) MUST carry one. Distinct
		// kids are a SHOULD (RFC 7517 4.5; FAPI-RW 8.9 recommends them):
		// duplicates are a warning. (The OIDF suite checks kids in its
		// flow modules, not in discovery.)
		// Quote: OIDC-10.1: "If there are multiple keys in the referenced JWK Set document, a kid value MUST be provided in the JOSE Header." OIDC-DISCOVERY-3: "jwks_uri REQUIRED. URL of the OP's JWK Set [JWK] document, which MUST use the https scheme. This contains the signing key(s) the RP uses to validate signatures from the OP." RFC7517-4.5: "When 'kid' values are used within a JWK Set, different keys within the JWK Set SHOULD use distinct 'kid' values."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("publishes a JWKS whose keys all have distinct kids", func(ctx context.Context, f *Fixture) {
			set, ex := f.JWKS()
			if len(set.Keys) == 0 {
				if rawKeyCount(ex.ResponseBody) > 0 {
					f.Skipf("no key of the JWKS could be read (RFC 7517 5 lets unknown key types be ignored): nothing to judge")
				}
				f.Failf(ex, "expected at least one key in the JWKS (OIDC Discovery 3: it contains the OP's signing keys)")
			}
			if len(set.Keys) > 1 {
				f.Expect(signingKeysWithoutKid(set) == 0, ex, "expected a kid on every signing key of a JWKS with %d keys (OIDC 10.1: the JOSE header must then name its key), %d have none", len(set.Keys), signingKeysWithoutKid(set))
			}
			dup := duplicateKids(set)
			f.ExpectShould(len(dup) == 0, ex, "expected distinct kids (RFC 7517 4.5), these appear more than once: %v", dup)
		}, Refs("OIDC-10.1"), OIDF(ModHappy))

		// Testname: Server keys are long enough
		// Spec: FAPI-R-5.2.2-5, FAPI-R-5.2.2-6
		// Description: RSA keys of the OP MUST be at least 2048 bits and
		// EC keys at least 160 bits. (The OIDF suite checks key length in
		// its flow modules, not in discovery.)
		// Quote: FAPI-R-5.2.2-5: "shall require and use a key of size 2048 bits or larger for RSA algorithms;" FAPI-R-5.2.2-6: "shall require and use a key of size 160 bits or larger for elliptic curve algorithms;"
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("publishes RSA keys of at least 2048 bits and EC keys of at least 160 bits", func(ctx context.Context, f *Fixture) {
			set, ex := f.JWKS()
			for _, k := range set.Keys {
				kind, bits := keyBits(k)
				switch kind {
				case "RSA":
					f.Expect(bits >= 2048, ex, "expected RSA key %q of >= 2048 bits, got %d", k.KeyID, bits)
				case "EC":
					f.Expect(bits >= 160, ex, "expected EC key %q of >= 160 bits, got %d", k.KeyID, bits)
				}
			}
		}, Refs("FAPI-R-5.2.2-5", "FAPI-R-5.2.2-6"), OIDF(ModHappy))

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
		fw.ConformanceIt("offers only private_key_jwt and mutual-TLS client authentication", func(ctx context.Context, f *Fixture) {
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
		// Quote: OIDC-DISCOVERY-3: "token_endpoint_auth_signing_alg_values_supported OPTIONAL. JSON array containing a list of the JWS signing algorithms (alg values) supported by the Token Endpoint for the signature on the JWT [JWT] used to authenticate the Client at the Token Endpoint for the private_key_jwt and client_secret_jwt authentication methods. Servers SHOULD support RS256. The value none MUST NOT be used." FAPI-RW-8.6: "For JWS, both clients and authorization servers shall use PS256 or ES256 algorithms; should not use algorithms that use RSASSA-PKCS1-v1_5 (e.g. RS256); and shall not use none."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("publishes only PS256/ES256 for client assertions", func(ctx context.Context, f *Fixture) {
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

		// Testname: ID token algorithms include a FAPI algorithm
		// Spec: FAPI-RW-8.6
		// Description: id_token_signing_alg_values_supported is REQUIRED and
		// MUST contain PS256 or ES256. none MAY be listed (OIDC Discovery
		// 3); FAPI forbids using it, so listing it is a warning. Other
		// algorithms are not judged: OIDC Discovery even requires RS256.
		// Quote: OIDC-DISCOVERY-3: "id_token_signing_alg_values_supported REQUIRED. JSON array containing a list of the JWS signing algorithms (alg values) supported by the OP for the ID Token to encode the Claims in a JWT [JWT]." FAPI-RW-8.6: "For JWS, both clients and authorization servers shall use PS256 or ES256 algorithms; should not use algorithms that use RSASSA-PKCS1-v1_5 (e.g. RS256); and shall not use none."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("publishes PS256 or ES256 and never none for ID tokens", func(ctx context.Context, f *Fixture) {
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
		// Quote: OIDC-DISCOVERY-3: "userinfo_signing_alg_values_supported OPTIONAL. JSON array containing a list of the JWS [JWS] signing algorithms (alg values) [JWA] supported by the UserInfo Endpoint to encode the Claims in a JWT [JWT]. The value none MAY be included." OIDC-DISCOVERY-4.2: "Claims with zero elements MUST be omitted from the response." FAPI-RW-8.6: "For JWS, both clients and authorization servers shall use PS256 or ES256 algorithms; should not use algorithms that use RSASSA-PKCS1-v1_5 (e.g. RS256); and shall not use none."
		// Duty: OP
		// Level: MUST
		fw.ConformanceIt("publishes only PS256/ES256 for signed userinfo if at all", func(ctx context.Context, f *Fixture) {
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
	})
}
