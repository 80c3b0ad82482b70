package refop_test

import (
	"crypto/rsa"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
	refop "github.com/ciba-check/ciba-check/reference-op"
)

// authDiscoveryFaultProbes observe the faults of faults_assertion.go and
// faults_discovery.go.
var authDiscoveryFaultProbes = map[string]faultProbe{
	refop.FaultAssertionAudStringOnly: func(t *testing.T, h *harness) bool {
		a := signedAssertion(t, h, cPoll, assertionClaims(h, cPoll, map[string]any{"aud": []string{h.issuer + refop.PathBackchannel}}))
		return backchannelWith(h, cPoll, assertionForm(a)).status != 200
	},
	refop.FaultAssertionAudEndpointOnly: func(t *testing.T, h *harness) bool {
		return backchannelWith(h, cPoll, h.authForm(cPoll, h.issuer)).status != 200
	},
	refop.FaultClientIDWithoutAssertion: func(t *testing.T, h *harness) bool {
		return backchannelWith(h, cPoll, url.Values{"client_id": {cPoll}}).status == 200
	},
	refop.FaultAcceptRS256Assertion: func(t *testing.T, h *harness) bool {
		a := signJWT(t, rsaKey(), "RS256", cPoll2+"-rsa", assertionClaims(h, cPoll2, nil), nil)
		return backchannelWith(h, cPoll2, assertionForm(a)).status == 200
	},
	refop.FaultAcceptNoneAssertion: func(t *testing.T, h *harness) bool {
		return backchannelWith(h, cPoll, assertionForm(unsignedJWT(assertionClaims(h, cPoll, nil)))).status == 200
	},
	refop.FaultAcceptHS256Assertion: func(t *testing.T, h *harness) bool {
		ident := h.ids[cPoll]
		secret, _ := json.Marshal(jose.JSONWebKey{Key: ident.key.Public(), KeyID: ident.kid, Algorithm: "ES256", Use: "sig"})
		return backchannelWith(h, cPoll, assertionForm(signHS256(t, secret, ident.kid, assertionClaims(h, cPoll, nil)))).status == 200
	},
	refop.FaultIgnoreAssertionExp: func(t *testing.T, h *harness) bool {
		now := h.clock.Now().Unix()
		a := signedAssertion(t, h, cPoll, assertionClaims(h, cPoll, map[string]any{"iat": now - 700, "exp": now - 600}))
		return backchannelWith(h, cPoll, assertionForm(a)).status == 200
	},
	refop.FaultIgnoreAssertionReplay: func(t *testing.T, h *harness) bool {
		a := signedAssertion(t, h, cPoll, assertionClaims(h, cPoll, nil))
		first := backchannelWith(h, cPoll, assertionForm(a)).status
		return first == 200 && backchannelWith(h, cPoll, assertionForm(a)).status == 200
	},
	refop.FaultIgnoreAssertionAud: func(t *testing.T, h *harness) bool {
		a := signedAssertion(t, h, cPoll, assertionClaims(h, cPoll, map[string]any{"aud": "https://other.example.com/token"}))
		return backchannelWith(h, cPoll, assertionForm(a)).status == 200
	},
	refop.FaultIgnoreAssertionSub: func(t *testing.T, h *harness) bool {
		a := signedAssertion(t, h, cPoll, assertionClaims(h, cPoll, map[string]any{"sub": "someone-else"}))
		return backchannelWith(h, cPoll, assertionForm(a)).status == 200
	},
	refop.FaultAssertionAnyClientKey: func(t *testing.T, h *harness) bool {
		other := h.ids[cPoll2]
		a := signJWT(t, other.key, other.alg, other.kid, assertionClaims(h, cPoll, nil), nil)
		return backchannelWith(h, cPoll, assertionForm(a)).status == 200
	},
	refop.FaultIgnoreAssertionType: func(t *testing.T, h *harness) bool {
		f := h.authForm(cPoll, h.issuer)
		f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
		return backchannelWith(h, cPoll, f).status == 200
	},
	refop.FaultMTLSWithoutCertificate: func(t *testing.T, h *harness) bool {
		f := url.Values{"client_id": {cMTLS}, "request": {h.requestObject(cMTLS, nil)}}
		return h.post("", refop.PathBackchannel, f).status == 200
	},
	refop.FaultMTLSClientFromCertificate: func(t *testing.T, h *harness) bool {
		// cMTLS's certificate and request object, another client's client_id.
		f := url.Values{"client_id": {cSelfSigned}, "request": {h.requestObject(cMTLS, nil)}}
		return h.post(cMTLS, refop.PathBackchannel, f).status == 200
	},
	refop.FaultMTLSActsForClientID: func(t *testing.T, h *harness) bool {
		// cMTLS's certificate and key, cSelfSigned's client_id and iss.
		ident := h.ids[cMTLS]
		req := signJWT(t, ident.key, ident.alg, ident.kid, h.requestClaims(cSelfSigned, nil), nil)
		f := url.Values{"client_id": {cSelfSigned}, "request": {req}}
		return h.post(cMTLS, refop.PathBackchannel, f).status == 200
	},
	refop.FaultHTTPEndpointURLs: func(t *testing.T, h *harness) bool {
		d := discovery(h)
		return strings.HasPrefix(d.str("token_endpoint"), "http://") && strings.HasPrefix(d.str("backchannel_authentication_endpoint"), "http://")
	},
	refop.FaultUserCodeFlagNull: func(t *testing.T, h *harness) bool {
		v, present := discovery(h).body["backchannel_user_code_parameter_supported"]
		return present && v == nil
	},
	refop.FaultDiscoveryTextPlain: func(t *testing.T, h *harness) bool {
		return !strings.HasPrefix(discovery(h).header.Get("Content-Type"), "application/json")
	},
	refop.FaultIssuerTrailingSlash: func(t *testing.T, h *harness) bool {
		return discovery(h).str("issuer") != h.issuer
	},
	refop.FaultNoPollMode: func(t *testing.T, h *harness) bool {
		return !slices.Contains(discoveryStrings(h, "backchannel_token_delivery_modes_supported"), "poll")
	},
	refop.FaultNoPingMode: func(t *testing.T, h *harness) bool {
		return !slices.Contains(discoveryStrings(h, "backchannel_token_delivery_modes_supported"), "ping")
	},
	refop.FaultNoCIBAGrantType: func(t *testing.T, h *harness) bool {
		return !slices.Contains(discoveryStrings(h, "grant_types_supported"), ciba.GrantTypeCIBA)
	},
	refop.FaultAdvertiseClientSecret: func(t *testing.T, h *harness) bool {
		return slices.Contains(discoveryStrings(h, "token_endpoint_auth_methods_supported"), "client_secret_basic")
	},
	refop.FaultAdvertiseRS256: func(t *testing.T, h *harness) bool {
		for _, m := range []string{"backchannel_authentication_request_signing_alg_values_supported", "token_endpoint_auth_signing_alg_values_supported", "userinfo_signing_alg_values_supported"} {
			if !slices.Contains(discoveryStrings(h, m), "RS256") {
				return false
			}
		}
		return true
	},
	refop.FaultIDTokenAlgNone: func(t *testing.T, h *harness) bool {
		return slices.Contains(discoveryStrings(h, "id_token_signing_alg_values_supported"), "none")
	},
	refop.FaultDiscoveryNullMembers: func(t *testing.T, h *harness) bool {
		v, present := discovery(h).body["mtls_endpoint_aliases"]
		return present && v == nil
	},
	refop.FaultNoCertBoundAccessTokenFlag: func(t *testing.T, h *harness) bool {
		return discovery(h).body["tls_client_certificate_bound_access_tokens"] != true
	},
	refop.FaultJWKSDuplicateKid: func(t *testing.T, h *harness) bool {
		seen := map[string]bool{}
		for _, k := range jwks(t, h).Keys {
			if seen[k.KeyID] {
				return true
			}
			seen[k.KeyID] = true
		}
		return false
	},
	refop.FaultJWKSLegacyRSA1024: func(t *testing.T, h *harness) bool {
		for _, k := range jwks(t, h).Keys {
			if pk, ok := k.Key.(*rsa.PublicKey); ok && pk.N.BitLen() < 2048 {
				return true
			}
		}
		return false
	},
}

// assertionClaims are valid client assertion claims for id with aud =
// the issuer; overrides replace claims.
func assertionClaims(h *harness, id string, overrides map[string]any) map[string]any {
	now := h.clock.Now().Unix()
	c := map[string]any{"iss": id, "sub": id, "aud": h.issuer, "iat": now, "exp": now + 60, "jti": newJTI()}
	for k, v := range overrides {
		c[k] = v
	}
	return c
}

func signedAssertion(t *testing.T, h *harness, id string, claims map[string]any) string {
	ident := h.ids[id]
	return signJWT(t, ident.key, ident.alg, ident.kid, claims, nil)
}

func signHS256(t *testing.T, secret []byte, kid string, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret}, (&jose.SignerOptions{}).WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func assertionForm(assertion string) url.Values {
	return url.Values{"client_assertion_type": {ciba.ClientAssertionTypeJWTBearer}, "client_assertion": {assertion}}
}

// backchannelWith sends a valid signed request of id with the given
// client authentication, over id's certificate.
func backchannelWith(h *harness, id string, auth url.Values) response {
	auth.Set("request", h.requestObject(id, nil))
	return h.post(id, refop.PathBackchannel, auth)
}

func discovery(h *harness) response {
	r := h.get("", refop.PathDiscovery)
	if r.status != 200 {
		h.t.Fatalf("discovery: %d %s", r.status, r.raw)
	}
	return r
}

func discoveryStrings(h *harness, member string) []string {
	var out []string
	arr, _ := discovery(h).body[member].([]any)
	for _, v := range arr {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

func jwks(t *testing.T, h *harness) jose.JSONWebKeySet {
	r := h.get("", refop.PathJWKS)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(r.raw), &set); err != nil {
		t.Fatalf("JWKS: %v (%s)", err, r.raw)
	}
	return set
}
