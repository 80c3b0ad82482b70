package ciba

import "crypto/tls"

// Grant types (CIBA 10.1; RFC 6749 6).
const (
	GrantTypeCIBA         = "urn:openid:params:grant-type:ciba"
	GrantTypeRefreshToken = "refresh_token"
)

// ClientAssertionTypeJWTBearer is the client_assertion_type of
// private_key_jwt client authentication (RFC 7523 2.2).
const ClientAssertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// DeliveryMode is a backchannel token delivery mode (CIBA 5).
type DeliveryMode string

// The three token delivery modes. FAPI-CIBA 5.2.2-3 forbids push.
const (
	ModePoll DeliveryMode = "poll"
	ModePing DeliveryMode = "ping"
	ModePush DeliveryMode = "push"
)

// Valid reports whether m is one of the three CIBA delivery modes.
func (m DeliveryMode) Valid() bool {
	return m == ModePoll || m == ModePing || m == ModePush
}

// AuthMethod is a token_endpoint_auth_method (OIDC Registration 2, RFC 8705 2).
type AuthMethod string

// The client authentication methods FAPI allows (FAPI-RW 5.2.2-14).
const (
	AuthPrivateKeyJWT       AuthMethod = "private_key_jwt"
	AuthTLSClient           AuthMethod = "tls_client_auth"
	AuthSelfSignedTLSClient AuthMethod = "self_signed_tls_client_auth"
	AuthNone                AuthMethod = "none"
	AuthClientSecretBasic   AuthMethod = "client_secret_basic"
	AuthClientSecretPost    AuthMethod = "client_secret_post"
	AuthClientSecretJWT     AuthMethod = "client_secret_jwt"
)

// Valid reports whether a is one of the three methods FAPI-CIBA permits.
func (a AuthMethod) Valid() bool {
	return a == AuthPrivateKeyJWT || a == AuthTLSClient || a == AuthSelfSignedTLSClient
}

// Known reports whether a is one of the six client authentication methods
// ciba-check can use: FAPI's three and the client secret methods of OIDC
// Core 9 (client_secret_basic, client_secret_post, client_secret_jwt).
func (a AuthMethod) Known() bool {
	return a.Valid() || a.UsesSecret()
}

// UsesSecret reports whether the method authenticates with a client secret.
func (a AuthMethod) UsesSecret() bool {
	return a == AuthClientSecretBasic || a == AuthClientSecretPost || a == AuthClientSecretJWT
}

// UsesMTLS reports whether the method authenticates with a TLS client certificate.
func (a AuthMethod) UsesMTLS() bool {
	return a == AuthTLSClient || a == AuthSelfSignedTLSClient
}

// Signing algorithms. FAPI-RW 8.6 allows only PS256 and ES256.
const (
	AlgPS256 = "PS256"
	AlgES256 = "ES256"
	AlgRS256 = "RS256"
	AlgHS256 = "HS256"
	AlgNone  = "none"
)

// FAPIAlgs are the JWS algorithms FAPI permits, in preference order.
var FAPIAlgs = []string{AlgPS256, AlgES256}

// AlgEdDSA is the JWS algorithm of Ed25519 keys (RFC 8037 3.1).
const AlgEdDSA = "EdDSA"

// PlainAlgs are the asymmetric JWS algorithms a client may sign with
// outside FAPI (CIBA Core 1.0 names none): FAPI's two, then the other RSA
// ones, ECDSA on P-384 and P-521, and EdDSA; a fresh slice each call.
func PlainAlgs() []string {
	return []string{AlgPS256, AlgES256, AlgRS256, "RS384", "RS512", "PS384", "PS512", "ES384", "ES512", AlgEdDSA}
}

// Form parameters of the backchannel authentication request (CIBA 7.1) and
// the token request (CIBA 10.1).
const (
	ParamScope                   = "scope"
	ParamClientNotificationToken = "client_notification_token"
	ParamACRValues               = "acr_values"
	ParamLoginHintToken          = "login_hint_token"
	ParamIDTokenHint             = "id_token_hint"
	ParamLoginHint               = "login_hint"
	ParamBindingMessage          = "binding_message"
	ParamUserCode                = "user_code"
	ParamRequestedExpiry         = "requested_expiry"
	ParamRequestContext          = "request_context"
	ParamRequest                 = "request"
	ParamRequestURI              = "request_uri"
	ParamClientID                = "client_id"
	ParamClientAssertion         = "client_assertion"
	ParamClientAssertionType     = "client_assertion_type"
	ParamClientSecret            = "client_secret"
	ParamGrantType               = "grant_type"
	ParamAuthReqID               = "auth_req_id"
	ParamRefreshToken            = "refresh_token"
	ParamToken                   = "token"
	ParamTokenTypeHint           = "token_type_hint"
)

// AuthenticationRequestParams are the parameters that belong inside a
// signed authentication request and never beside it as form fields
// (CIBA 7.1.1).
var AuthenticationRequestParams = []string{
	ParamScope, ParamClientNotificationToken, ParamACRValues, ParamLoginHintToken,
	ParamIDTokenHint, ParamLoginHint, ParamBindingMessage, ParamUserCode,
	ParamRequestedExpiry, ParamRequestContext,
}

// JWT claim names used by CIBA beyond RFC 7519's registered ones.
const (
	ClaimAuthReqID = "urn:openid:params:jwt:claim:auth_req_id" // CIBA 10.3.1, push ID tokens
	ClaimRTHash    = "urn:openid:params:jwt:claim:rt_hash"     // CIBA 10.3.1
	ClaimATHash    = "at_hash"                                 // OIDC 3.3.2.11
	ClaimAuthTime  = "auth_time"
	ClaimACR       = "acr"
	ClaimAZP       = "azp"
	ClaimCNF       = "cnf"
	ClaimX5TS256   = "x5t#S256" // RFC 8705 3.1, inside cnf
)

// Limits and defaults from the specifications.
const (
	// DefaultPollInterval is what a client assumes when the acknowledgement
	// carries no interval (CIBA 7.3).
	DefaultPollInterval = 5
	// SlowDownIncrement is how many seconds a client adds to its interval
	// after slow_down (CIBA 11, RFC 8628 3.5).
	SlowDownIncrement = 5
	// MaxRequestObjectLifetimeSeconds is the longest exp-nbf a FAPI-CIBA
	// signed authentication request may have (FAPI-CIBA 5.2.2-9).
	MaxRequestObjectLifetimeSeconds = 60 * 60
	// MaxClientNotificationTokenLength caps client_notification_token (CIBA 7.1).
	MaxClientNotificationTokenLength = 1024
)

// FAPITLS12CipherSuites are the TLS 1.2 suites FAPI-RW 8.5-2 permits that
// Go's crypto/tls implements (it has no DHE suites). Both need an RSA
// server certificate.
var FAPITLS12CipherSuites = []uint16{
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
}

// Well-known paths.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
)

// AuthReqIDCharsetQuote is CIBA 7.3's rule on the characters of an
// auth_req_id, for messages that cite it.
const AuthReqIDCharsetQuote = `CIBA 7.3: "The OpenID Provider MUST restrict the characters used to 'A'-'Z', 'a'-'z', '0'-'9', '.', '-' and '_'"`

// ValidAuthReqID reports whether id is non-empty and made only of the
// characters CIBA 7.3 allows in an auth_req_id: A-Z a-z 0-9 . - _.
func ValidAuthReqID(id string) bool {
	if id == "" {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}
