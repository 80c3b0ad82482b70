package ciba

// ErrorResponse is the JSON body of every OAuth error (CIBA 13, RFC 6749
// 5.2). It has exactly these members and no others.
type ErrorResponse struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
	ErrorURI         string `json:"error_uri,omitempty"`
}

// AuthenticationResponse is the backchannel endpoint's acknowledgement (CIBA 7.3).
type AuthenticationResponse struct {
	AuthReqID string `json:"auth_req_id"`
	ExpiresIn int    `json:"expires_in"`
	// Interval is omitted when zero; CIBA 7.3 makes it optional and
	// clients then wait DefaultPollInterval seconds.
	Interval int `json:"interval,omitempty"`
}

// TokenResponse is a successful token response (CIBA 10.1.1, OIDC 3.1.3.3).
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token,omitempty"`
	ExpiresIn    int    `json:"expires_in,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// PingNotification is the body the OP POSTs to a ping client (CIBA 10.2).
type PingNotification struct {
	AuthReqID string `json:"auth_req_id"`
}

// PushTokenPayload is the token delivery a push client receives (CIBA 10.3).
type PushTokenPayload struct {
	AuthReqID string `json:"auth_req_id"`
	TokenResponse
}

// PushErrorPayload is the error delivery a push client receives (CIBA 12).
type PushErrorPayload struct {
	AuthReqID        string `json:"auth_req_id"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// MTLSEndpointAliases lists endpoints reachable with mutual TLS (RFC 8705 5).
type MTLSEndpointAliases struct {
	TokenEndpoint                     string `json:"token_endpoint,omitempty"`
	BackchannelAuthenticationEndpoint string `json:"backchannel_authentication_endpoint,omitempty"`
	UserinfoEndpoint                  string `json:"userinfo_endpoint,omitempty"`
	IntrospectionEndpoint             string `json:"introspection_endpoint,omitempty"`
	RevocationEndpoint                string `json:"revocation_endpoint,omitempty"`
}

// ProviderMetadata is the discovery document (OIDC Discovery 3, RFC 8414 2,
// CIBA 4, RFC 8705 3.3 and 5).
type ProviderMetadata struct {
	Issuer                                      string               `json:"issuer"`
	AuthorizationEndpoint                       string               `json:"authorization_endpoint,omitempty"`
	TokenEndpoint                               string               `json:"token_endpoint"`
	UserinfoEndpoint                            string               `json:"userinfo_endpoint,omitempty"`
	JWKSURI                                     string               `json:"jwks_uri"`
	RegistrationEndpoint                        string               `json:"registration_endpoint,omitempty"`
	IntrospectionEndpoint                       string               `json:"introspection_endpoint,omitempty"`
	RevocationEndpoint                          string               `json:"revocation_endpoint,omitempty"`
	BackchannelAuthenticationEndpoint           string               `json:"backchannel_authentication_endpoint"`
	BackchannelTokenDeliveryModesSupported      []DeliveryMode       `json:"backchannel_token_delivery_modes_supported"`
	BackchannelAuthenticationRequestSigningAlgs []string             `json:"backchannel_authentication_request_signing_alg_values_supported,omitempty"`
	BackchannelUserCodeParameterSupported       bool                 `json:"backchannel_user_code_parameter_supported"`
	ScopesSupported                             []string             `json:"scopes_supported,omitempty"`
	ResponseTypesSupported                      []string             `json:"response_types_supported"`
	GrantTypesSupported                         []string             `json:"grant_types_supported"`
	SubjectTypesSupported                       []string             `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported            []string             `json:"id_token_signing_alg_values_supported"`
	UserinfoSigningAlgValuesSupported           []string             `json:"userinfo_signing_alg_values_supported,omitempty"`
	TokenEndpointAuthMethodsSupported           []AuthMethod         `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValuesSupported  []string             `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	ClaimsSupported                             []string             `json:"claims_supported,omitempty"`
	ACRValuesSupported                          []string             `json:"acr_values_supported,omitempty"`
	TLSClientCertificateBoundAccessTokens       bool                 `json:"tls_client_certificate_bound_access_tokens"`
	MTLSEndpointAliases                         *MTLSEndpointAliases `json:"mtls_endpoint_aliases,omitempty"`
}

// IntrospectionResponse is an RFC 7662 2.2 answer.
type IntrospectionResponse struct {
	Active    bool              `json:"active"`
	Scope     string            `json:"scope,omitempty"`
	ClientID  string            `json:"client_id,omitempty"`
	TokenType string            `json:"token_type,omitempty"`
	Exp       int64             `json:"exp,omitempty"`
	Iat       int64             `json:"iat,omitempty"`
	Sub       string            `json:"sub,omitempty"`
	Aud       string            `json:"aud,omitempty"`
	Iss       string            `json:"iss,omitempty"`
	CNF       map[string]string `json:"cnf,omitempty"`
}

// The authentication channel between an OP and the user's authentication
// device. Its shape follows Keycloak's CIBA HTTP authentication channel so
// the mock device can also serve a real Keycloak: the OP POSTs a
// DeviceAuthRequest with "Authorization: Bearer <channel token>" and expects
// 201 Created; once the user decides, the device POSTs a DeviceCallback to
// the OP's callback with the same bearer token.

// DeviceAuthRequest is what the OP asks the authentication device to show.
type DeviceAuthRequest struct {
	Scope             string `json:"scope"`
	BindingMessage    string `json:"binding_message,omitempty"`
	LoginHint         string `json:"login_hint"`
	IsConsentRequired bool   `json:"is_consent_required"`
	ACRValues         string `json:"acr_values,omitempty"`
	// UserCode is our extension: the user_code the client sent (CIBA 7.1.2),
	// so a device can check it against what the user knows.
	UserCode string `json:"user_code,omitempty"`
}

// DeviceStatus is the user's decision on the authentication device.
type DeviceStatus string

// The decisions of Keycloak's authentication channel callback.
const (
	DeviceSucceed      DeviceStatus = "SUCCEED"
	DeviceUnauthorized DeviceStatus = "UNAUTHORIZED"
	DeviceCancelled    DeviceStatus = "CANCELLED"
)

// Valid reports whether s is one of the three decisions.
func (s DeviceStatus) Valid() bool {
	return s == DeviceSucceed || s == DeviceUnauthorized || s == DeviceCancelled
}

// DeviceCallback is what the device POSTs back to the OP.
type DeviceCallback struct {
	Status DeviceStatus `json:"status"`
}
