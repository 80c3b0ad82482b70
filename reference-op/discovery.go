package refop

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"

	"github.com/go-jose/go-jose/v4"

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
	clientAlgs := slices.Clone(algs) // with FAPI off also what clients registered
	scopes := []string{"openid"}
	for _, c := range op.clients {
		for _, s := range c.Scopes {
			if !slices.Contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
		if a := c.RequestSigningAlg; !op.fapi() && a != "" && !slices.Contains(clientAlgs, a) {
			clientAlgs = append(clientAlgs, a)
		}
	}
	sort.Strings(scopes[1:])
	sort.Strings(clientAlgs[len(algs):])
	claims := []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "at_hash"}
	for _, u := range op.users {
		for k := range u.Claims {
			if !slices.Contains(claims, k) {
				claims = append(claims, k)
			}
		}
	}
	sort.Strings(claims)
	md := ciba.ProviderMetadata{
		Issuer:                                 op.Issuer(),
		TokenEndpoint:                          op.endpoint(PathToken),
		UserinfoEndpoint:                       op.endpoint(PathUserinfo),
		JWKSURI:                                op.endpoint(PathJWKS),
		IntrospectionEndpoint:                  op.endpoint(PathIntrospect),
		RevocationEndpoint:                     op.endpoint(PathRevoke),
		BackchannelAuthenticationEndpoint:      op.endpoint(PathBackchannel),
		BackchannelTokenDeliveryModesSupported: modes,
		BackchannelAuthenticationRequestSigningAlgs: clientAlgs,
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
		TokenEndpointAuthSigningAlgValuesSupported: clientAlgs,
		ClaimsSupported:                            claims,
		ACRValuesSupported:                         []string{ACRMultiFactor, ACRSingleFactor},
		TLSClientCertificateBoundAccessTokens:      true,
	}
	op.hooks.metadata(op, &md)
	return md
}

func (op *OP) handleDiscovery(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-cache")
	doc, err := op.discoveryDocument()
	if err != nil {
		writeError(w, err)
		return
	}
	if op.hooks.enforced(ruleDiscoveryJSON) {
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
// as published (hooks.published), as a JSON object when a bend reshapes
// that (hooks.document).
func (op *OP) discoveryDocument() (any, error) {
	md := op.Metadata()
	op.hooks.published(op, &md)
	return reshapedObject(op, md, op.hooks.document)
}

// reshapedObject is v, or v as a JSON object reshaped by bend when one is
// set.
func reshapedObject(op *OP, v any, bend func(op *OP, doc map[string]any) error) (any, error) {
	if bend == nil {
		return v, nil
	}
	m, err := toJSONObject(v)
	if err != nil {
		return nil, err
	}
	if err := bend(op, m); err != nil {
		return nil, err
	}
	return m, nil
}

// handleJWKS publishes the public signing keys, each with kid, alg and use.
func (op *OP) handleJWKS(w http.ResponseWriter, _ *http.Request) {
	set := jose.JSONWebKeySet{Keys: slices.Clone(op.publics.Keys)}
	if err := op.hooks.keySet(op, &set); err != nil {
		writeError(w, err)
		return
	}
	doc, err := reshapedObject(op, set, op.hooks.jwksDocument)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, doc)
}
