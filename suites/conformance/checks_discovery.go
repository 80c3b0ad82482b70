package conformance

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

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

// discoveryEndpointChecks registers the checks of the document itself, its
// issuer and the https endpoints CIBA needs (OIDC Discovery 3 and 4, CIBA
// 4).
func discoveryEndpointChecks(fw *Framework) {
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
}

// discoveryDeliveryModeChecks registers the checks of
// backchannel_token_delivery_modes_supported (CIBA 4, FAPI-CIBA 5.2.2).
func discoveryDeliveryModeChecks(fw *Framework) {
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
}

// discoveryRequestSigningChecks registers the check of
// backchannel_authentication_request_signing_alg_values_supported (CIBA 4,
// FAPI-RW 8.6).
func discoveryRequestSigningChecks(fw *Framework) {
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
	// Quote: CIBA-4: "backchannel_authentication_request_signing_alg_values_supported: OPTIONAL. JSON array containing a list of the JWS signing algorithms (alg values) supported by the OP for signed authentication requests, which are described in Section 7.1.1. If omitted, signed authentication requests are not supported by the OP." FAPI-CIBA-5.2.2: "the FAPI CIBA profile requires the use of Signed Authentication Requests." FAPI-RW-8.6: "For JWS, both clients and authorization servers: 1. shall use PS256 or ES256 algorithms; 2. should not use algorithms that use RSASSA-PKCS1-v1_5 (e.g. RS256); 3. shall not use none;"
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("publishes PS256 or ES256 among backchannel request signing algorithms", func(ctx context.Context, f *Fixture) {
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
}

// discoveryCIBASupportChecks registers the checks of the user_code flag and the
// CIBA grant type in the metadata (CIBA 4).
func discoveryCIBASupportChecks(fw *Framework) {
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
}
