package refop

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"

	"github.com/ciba-check/ciba-check/ciba"
)

// Metadata returns the discovery document (OIDC Discovery 3, CIBA 4,
// RFC 8705 3.3; checklist CIBA.md section 1).
func (op *OP) Metadata() ciba.ProviderMetadata {
	modes := []ciba.DeliveryMode{ciba.ModePoll, ciba.ModePing}
	if op.pushAllowed() {
		modes = append(modes, ciba.ModePush)
	}
	algs := slices.Clone(ciba.FAPIAlgs)
	scopes := []string{"openid"}
	for _, c := range op.clients {
		for _, s := range c.Scopes {
			if !slices.Contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
	}
	sort.Strings(scopes[1:])
	claims := []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "at_hash"}
	for _, u := range op.users {
		for k := range u.Claims {
			if !slices.Contains(claims, k) {
				claims = append(claims, k)
			}
		}
	}
	sort.Strings(claims)
	return op.allowedMetadata(ciba.ProviderMetadata{
		Issuer:                                 op.Issuer(),
		TokenEndpoint:                          op.endpoint(PathToken),
		UserinfoEndpoint:                       op.endpoint(PathUserinfo),
		JWKSURI:                                op.endpoint(PathJWKS),
		IntrospectionEndpoint:                  op.endpoint(PathIntrospect),
		RevocationEndpoint:                     op.endpoint(PathRevoke),
		BackchannelAuthenticationEndpoint:      op.endpoint(PathBackchannel),
		BackchannelTokenDeliveryModesSupported: modes,
		BackchannelAuthenticationRequestSigningAlgs: algs,
		BackchannelUserCodeParameterSupported:       true,
		ScopesSupported:                             scopes,
		// No authorization endpoint exists; "none" is the registered
		// response type (OAuth 2.0 Multiple Response Types 4) that
		// satisfies OIDC Discovery's REQUIRED member without claiming one.
		ResponseTypesSupported:                     []string{"none"},
		GrantTypesSupported:                        []string{ciba.GrantTypeCIBA, ciba.GrantTypeRefreshToken},
		SubjectTypesSupported:                      []string{"public"},
		IDTokenSigningAlgValuesSupported:           algs,
		TokenEndpointAuthMethodsSupported:          op.authMethodsSupported(),
		TokenEndpointAuthSigningAlgValuesSupported: algs,
		ClaimsSupported:                            claims,
		ACRValuesSupported:                         []string{ACRMultiFactor, ACRSingleFactor},
		TLSClientCertificateBoundAccessTokens:      true,
	})
}

func (op *OP) handleDiscovery(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-cache")
	doc, err := op.discoveryDocument()
	if err != nil {
		writeError(w, err)
		return
	}
	if !op.faults.on(FaultDiscoveryTextPlain) {
		writeJSON(w, doc)
		return
	}
	body, err := json.Marshal(doc)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(body)
}

// discoveryDocument is the published discovery document: the metadata
// with this OP's discovery faults (metadataFaults, then documentFaults)
// and allowances applied.
func (op *OP) discoveryDocument() (any, error) {
	md := op.Metadata()
	for _, f := range metadataFaults() {
		if op.faults.on(f.fault) {
			f.apply(&md)
		}
	}
	var doc any = md
	for _, f := range documentFaults() {
		if !op.faults.on(f.fault) {
			continue
		}
		m, isObject := doc.(map[string]any)
		if !isObject {
			var err error
			if m, err = toJSONObject(md); err != nil {
				return nil, err
			}
		}
		f.apply(m)
		doc = m
	}
	return op.discoveryExtras(doc)
}

// handleJWKS publishes the public signing keys, each with kid, alg and use.
func (op *OP) handleJWKS(w http.ResponseWriter, _ *http.Request) {
	set, err := op.jwksWithFaults()
	if err != nil {
		writeError(w, err)
		return
	}
	doc, err := op.allowedJWKS(set)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, doc)
}
