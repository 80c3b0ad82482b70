package conformance

import (
	"context"
	"net/url"
	"slices"
	"strings"

	"github.com/ciba-check/ciba-check/internal/ciba"
)

// isHTTPSURL reports whether s is an absolute https URL.
func isHTTPSURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != ""
}

// fapiOnly reports the members of algs that FAPI does not allow.
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

func describeDiscovery(fw *Framework) {
	fw.Describe("Discovery", func() {
		// Testname: Discovery document served as JSON
		// Spec: OIDC-DISCOVERY-4
		// Description: The OP MUST serve its discovery document at
		// issuer + /.well-known/openid-configuration with HTTP 200 and
		// Content-Type application/json.
		fw.ConformanceIt("serves the discovery document with HTTP 200 as application/json", func(ctx context.Context, f *Fixture) {
			r := f.Discovery()
			f.Expect(r.Exchange.ContentType() == "application/json", r.Exchange, "expected Content-Type application/json, got %q", r.Exchange.ContentType())
		}, Refs("OIDC-DISCOVERY-4"), OIDF(ModDiscovery))

		// Testname: Issuer matches the discovery URL
		// Spec: OIDC-DISCOVERY-4.3
		// Description: The issuer in the discovery document MUST be an
		// https URL identical to the issuer the document was fetched from.
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
		fw.ConformanceIt("publishes backchannel_authentication_endpoint as an https URL", func(ctx context.Context, f *Fixture) {
			r := f.Discovery()
			ep, _ := r.Object["backchannel_authentication_endpoint"].(string)
			f.Expect(isHTTPSURL(ep), r.Exchange, "expected backchannel_authentication_endpoint to be an https URL, got %q", ep)
		}, Refs("CIBA-4"), OIDF(ModDiscovery))

		// Testname: Token endpoint published
		// Spec: OIDC-DISCOVERY-3
		// Description: The OP MUST publish token_endpoint, an https URL.
		fw.ConformanceIt("publishes token_endpoint as an https URL", func(ctx context.Context, f *Fixture) {
			r := f.Discovery()
			ep, _ := r.Object["token_endpoint"].(string)
			f.Expect(isHTTPSURL(ep), r.Exchange, "expected token_endpoint to be an https URL, got %q", ep)
		}, Refs("OIDC-DISCOVERY-3"), OIDF(ModDiscovery))

		// Testname: Poll mode supported
		// Spec: FAPI-CIBA-5.2.2-4, CIBA-4
		// Description: backchannel_token_delivery_modes_supported MUST be
		// published and MUST contain poll.
		fw.ConformanceIt("lists poll in backchannel_token_delivery_modes_supported", func(ctx context.Context, f *Fixture) {
			r := f.Discovery()
			modes, present, ok := r.Strings("backchannel_token_delivery_modes_supported")
			f.Expect(present && ok, r.Exchange, "expected backchannel_token_delivery_modes_supported as an array of strings (CIBA 4), got %v", r.Object["backchannel_token_delivery_modes_supported"])
			f.Expect(slices.Contains(modes, string(ciba.ModePoll)), r.Exchange, "expected poll among the delivery modes, got %v", modes)
		}, Refs("FAPI-CIBA-5.2.2-4", "CIBA-4"), Modes(ciba.ModePoll), OIDF(ModDiscovery))

		// Testname: Push mode not supported under FAPI
		// Spec: FAPI-CIBA-5.2.2-3
		// Description: A FAPI-CIBA OP MUST NOT support push mode, so push
		// MUST NOT be listed in backchannel_token_delivery_modes_supported.
		fw.ConformanceIt("does not list push in backchannel_token_delivery_modes_supported", func(ctx context.Context, f *Fixture) {
			if !f.Env().Target.FAPI {
				f.Skipf("target.yaml says fapi: false; plain CIBA allows push")
			}
			r := f.Discovery()
			modes, _, _ := r.Strings("backchannel_token_delivery_modes_supported")
			f.Expect(!slices.Contains(modes, string(ciba.ModePush)), r.Exchange, "expected no push among the delivery modes, got %v", modes)
		}, Refs("FAPI-CIBA-5.2.2-3"), Modes(ciba.ModePush), OIDF(ModDiscovery))

		// Testname: Ping mode listed when ping clients are registered
		// Spec: FAPI-CIBA-5.2.2-5, CIBA-4
		// Description: An OP that serves ping clients MUST list ping in
		// backchannel_token_delivery_modes_supported.
		fw.ConformanceIt("lists ping when the target registers ping clients", func(ctx context.Context, f *Fixture) {
			if len(f.Clients(ciba.ModePing, AnyAuth)) == 0 {
				f.Skipf("target.yaml has no ping client")
			}
			r := f.Discovery()
			modes, _, _ := r.Strings("backchannel_token_delivery_modes_supported")
			f.Expect(slices.Contains(modes, string(ciba.ModePing)), r.Exchange, "expected ping among the delivery modes, got %v", modes)
		}, Refs("FAPI-CIBA-5.2.2-5", "CIBA-4"), Modes(ciba.ModePing), OIDF(ModDiscovery))

		// Testname: Request signing algorithms are FAPI algorithms
		// Spec: CIBA-4, FAPI-CIBA-5.2.2-6, FAPI-RW-8.6
		// Description: backchannel_authentication_request_signing_alg_values_supported
		// MUST be published (signed requests are mandatory), contain PS256
		// or ES256 and nothing else (never none).
		fw.ConformanceIt("publishes only PS256/ES256 as backchannel request signing algorithms", func(ctx context.Context, f *Fixture) {
			r := f.Discovery()
			algs, present, ok := r.Strings("backchannel_authentication_request_signing_alg_values_supported")
			f.Expect(present && ok, r.Exchange, "expected backchannel_authentication_request_signing_alg_values_supported as an array of strings, got %v", r.Object["backchannel_authentication_request_signing_alg_values_supported"])
			f.Expect(hasFAPIAlg(algs), r.Exchange, "expected PS256 or ES256 among %v", algs)
			f.Expect(len(nonFAPIAlgs(algs)) == 0, r.Exchange, "expected only PS256/ES256, got also %v", nonFAPIAlgs(algs))
		}, Refs("CIBA-4", "FAPI-CIBA-5.2.2-6", "FAPI-RW-8.6"), OIDF(ModDiscovery))

		// Testname: user_code support flag is a boolean
		// Spec: CIBA-4
		// Description: backchannel_user_code_parameter_supported, when
		// present, MUST be a JSON boolean.
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
		// Description: grant_types_supported MUST contain
		// urn:openid:params:grant-type:ciba.
		fw.ConformanceIt("lists the CIBA grant type in grant_types_supported", func(ctx context.Context, f *Fixture) {
			r := f.Discovery()
			gts, _, ok := r.Strings("grant_types_supported")
			f.Expect(ok && slices.Contains(gts, ciba.GrantTypeCIBA), r.Exchange, "expected %s in grant_types_supported, got %v", ciba.GrantTypeCIBA, r.Object["grant_types_supported"])
		}, Refs("CIBA-4"), OIDF(ModDiscovery))

		// Testname: Server keys carry distinct key ids
		// Spec: OIDC-10.1
		// Description: Every key of the OP's jwks_uri MUST have a kid, and
		// the kids MUST be distinct, so signatures name their key.
		fw.ConformanceIt("publishes a JWKS whose keys all have distinct kids", func(ctx context.Context, f *Fixture) {
			set, ex := f.JWKS()
			f.Expect(len(set.Keys) > 0, ex, "expected at least one key in the JWKS")
			seen := map[string]bool{}
			for i, k := range set.Keys {
				f.Expect(k.KeyID != "", ex, "expected a kid on key %d", i)
				f.Expect(!seen[k.KeyID], ex, "expected distinct kids, %q appears twice", k.KeyID)
				seen[k.KeyID] = true
			}
		}, Refs("OIDC-10.1"), OIDF(ModDiscovery))

		// Testname: Server keys are long enough
		// Spec: FAPI-R-5.2.2-5
		// Description: RSA keys of the OP MUST be at least 2048 bits and
		// EC keys at least 160 bits.
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
		}, Refs("FAPI-R-5.2.2-5"), OIDF(ModDiscovery))

		// Testname: Only FAPI client authentication methods
		// Spec: FAPI-RW-5.2.2-14, FAPI-CIBA-5.2.2-1
		// Description: token_endpoint_auth_methods_supported MUST contain
		// private_key_jwt, tls_client_auth or self_signed_tls_client_auth,
		// and MUST NOT offer none or client secrets to FAPI clients.
		fw.ConformanceIt("offers only private_key_jwt and mutual-TLS client authentication", func(ctx context.Context, f *Fixture) {
			r := f.Discovery()
			methods, _, ok := r.Strings("token_endpoint_auth_methods_supported")
			f.Expect(ok, r.Exchange, "expected token_endpoint_auth_methods_supported as an array of strings, got %v", r.Object["token_endpoint_auth_methods_supported"])
			var fapi, weak []string
			for _, m := range methods {
				if ciba.AuthMethod(m).Valid() {
					fapi = append(fapi, m)
				} else {
					weak = append(weak, m)
				}
			}
			f.Expect(len(fapi) > 0, r.Exchange, "expected a FAPI method among %v", methods)
			f.Expect(len(weak) == 0, r.Exchange, "expected no methods weaker than FAPI allows, got %v", weak)
		}, Refs("FAPI-RW-5.2.2-14", "FAPI-CIBA-5.2.2-1"), OIDF(ModDiscovery))

		// Testname: Client assertion algorithms are FAPI algorithms
		// Spec: FAPI-RW-8.6
		// Description: When private_key_jwt is offered,
		// token_endpoint_auth_signing_alg_values_supported MUST contain
		// PS256 or ES256 and no other algorithm.
		fw.ConformanceIt("publishes only PS256/ES256 for client assertions", func(ctx context.Context, f *Fixture) {
			r := f.Discovery()
			methods, _, _ := r.Strings("token_endpoint_auth_methods_supported")
			if !slices.Contains(methods, string(ciba.AuthPrivateKeyJWT)) {
				f.Skipf("the OP does not offer private_key_jwt")
			}
			algs, _, ok := r.Strings("token_endpoint_auth_signing_alg_values_supported")
			f.Expect(ok && hasFAPIAlg(algs), r.Exchange, "expected PS256 or ES256 in token_endpoint_auth_signing_alg_values_supported, got %v", r.Object["token_endpoint_auth_signing_alg_values_supported"])
			f.Expect(len(nonFAPIAlgs(algs)) == 0, r.Exchange, "expected only PS256/ES256, got also %v", nonFAPIAlgs(algs))
		}, Refs("FAPI-RW-8.6"), Auth(ciba.AuthPrivateKeyJWT), OIDF(ModDiscovery))

		// Testname: ID token algorithms include a FAPI algorithm
		// Spec: FAPI-RW-8.6
		// Description: id_token_signing_alg_values_supported MUST contain
		// PS256 or ES256 and MUST NOT contain none.
		fw.ConformanceIt("publishes PS256 or ES256 and never none for ID tokens", func(ctx context.Context, f *Fixture) {
			r := f.Discovery()
			algs, _, ok := r.Strings("id_token_signing_alg_values_supported")
			f.Expect(ok && hasFAPIAlg(algs), r.Exchange, "expected PS256 or ES256 in id_token_signing_alg_values_supported, got %v", r.Object["id_token_signing_alg_values_supported"])
			f.Expect(!slices.Contains(algs, ciba.AlgNone), r.Exchange, "expected no none in %v", algs)
		}, Refs("FAPI-RW-8.6"), OIDF(ModDiscovery))

		// Testname: Userinfo algorithms are FAPI algorithms
		// Spec: FAPI-RW-8.6
		// Description: userinfo_signing_alg_values_supported, when
		// present, MUST contain only PS256 or ES256.
		fw.ConformanceIt("publishes only PS256/ES256 for signed userinfo if at all", func(ctx context.Context, f *Fixture) {
			r := f.Discovery()
			algs, present, ok := r.Strings("userinfo_signing_alg_values_supported")
			if !present {
				return
			}
			f.Expect(ok, r.Exchange, "expected an array of strings, got %v", r.Object["userinfo_signing_alg_values_supported"])
			f.Expect(len(nonFAPIAlgs(algs)) == 0, r.Exchange, "expected only PS256/ES256, got also %v", nonFAPIAlgs(algs))
		}, Refs("FAPI-RW-8.6"), OIDF(ModDiscovery))

		// Testname: Certificate-bound access tokens advertised
		// Spec: RFC8705-3.3, FAPI-RW-5.2.2-5
		// Description: tls_client_certificate_bound_access_tokens MUST be
		// present and true: FAPI access tokens are sender-constrained.
		fw.ConformanceIt("advertises tls_client_certificate_bound_access_tokens true", func(ctx context.Context, f *Fixture) {
			r := f.Discovery()
			v := r.Object["tls_client_certificate_bound_access_tokens"]
			f.Expect(v == true, r.Exchange, "expected tls_client_certificate_bound_access_tokens: true, got %v", v)
		}, Refs("RFC8705-3.3", "FAPI-RW-5.2.2-5"), OIDF(ModDiscovery))

		// Testname: Mutual-TLS endpoint aliases well-formed
		// Spec: RFC8705-5
		// Description: mtls_endpoint_aliases, when present, MUST be a JSON
		// object whose members are https URLs.
		fw.ConformanceIt("publishes mtls_endpoint_aliases as an object of https URLs if at all", func(ctx context.Context, f *Fixture) {
			r := f.Discovery()
			v, present := r.Object["mtls_endpoint_aliases"]
			if !present {
				return
			}
			obj, ok := v.(map[string]any)
			f.Expect(ok, r.Exchange, "expected mtls_endpoint_aliases to be a JSON object, got %T", v)
			for k, u := range obj {
				s, _ := u.(string)
				f.Expect(isHTTPSURL(s) && !strings.ContainsAny(s, " "), r.Exchange, "expected mtls_endpoint_aliases.%s to be an https URL, got %v", k, u)
			}
		}, Refs("RFC8705-5"), OIDF(ModDiscovery))
	})
}
