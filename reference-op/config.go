// Package refop is the reference FAPI-CIBA OpenID Provider: a strict,
// complete implementation of CIBA Core 1.0 under the FAPI-CIBA profile, and
// a catalogue of named faults that make it deviate on purpose so the
// conformance suite can prove each of its checks able to fail.
package refop

import (
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/clock"
)

// Config describes one OP. Everything with side effects (time, randomness,
// keys, outbound HTTP, storage) is injected.
type Config struct {
	// Issuer is the https URL the OP is reached at; endpoints hang below it.
	Issuer string
	// SigningKeys are the OP's private keys (ID tokens, device channel
	// tokens); each has a kid and an Algorithm of PS256 or ES256. The first
	// one signs unless a client's alg asks for another.
	SigningKeys []jose.JSONWebKey
	// ChannelKeyID is the kid of the signing key that signs device
	// channel tokens; empty means the first. Only the authentication
	// device and the OP itself (on the device's callback) read a channel
	// token, and the device holds each one until its user decides: an
	// ES256 key, where the device verifies ES256, makes it 64 bytes of
	// signature where PS256 makes 256, for a fraction of the signing
	// cost of one per backchannel request.
	ChannelKeyID string
	// ClientCAs verifies tls_client_auth certificates.
	ClientCAs *x509.CertPool
	Clients   []Client
	Users     []User
	// DeviceEndpoint is the authentication device's URL (Keycloak-style
	// authentication channel). The OP POSTs each request there.
	DeviceEndpoint string
	// HTTPClient makes outbound calls: device, ping and push. It must not
	// follow redirects; New wraps it so it does not.
	HTTPClient *http.Client
	Clock      clock.Clock
	Rand       io.Reader
	// Store keeps pending requests, tokens and used jtis; nil means memory.
	Store Store
	// PushAllowed disables FAPI's push ban (FAPI-CIBA 5.2.2-3); for
	// plain-CIBA testing only.
	PushAllowed bool
	// Interval is the poll interval in whole seconds handed to clients (CIBA 7.3).
	Interval int
	// DefaultExpiry is expires_in when the client asks for none; MaxExpiry
	// caps requested_expiry.
	DefaultExpiry time.Duration
	MaxExpiry     time.Duration
	// AccessTokenLifetime and RefreshTokenLifetime bound issued tokens.
	AccessTokenLifetime  time.Duration
	RefreshTokenLifetime time.Duration
	// Faults names deliberate deviations from the catalogue (see Faults()).
	Faults []string
	// Allowances names spec-permitted behaviours from the catalogue (see
	// Allowances()) the OP shows instead of its strict defaults.
	Allowances []string
	Logger     *slog.Logger
}

// Client is one registered client (CIBA 4 registration metadata).
type Client struct {
	ID           string
	AuthMethod   ciba.AuthMethod
	DeliveryMode ciba.DeliveryMode
	// JWKS holds the client's public keys: request-object and
	// private_key_jwt signatures are verified with these only, and for
	// self_signed_tls_client_auth the certificate must match a key's x5c
	// (RFC 8705 2.2).
	JWKS jose.JSONWebKeySet
	// RequestSigningAlg is backchannel_authentication_request_signing_alg
	// when registered.
	RequestSigningAlg string
	// TLSSubjectDN is tls_client_auth_subject_dn (RFC 8705 2.1.2), in
	// RFC 4514 string form as x509's Subject.String() prints it.
	TLSSubjectDN string
	// NotificationEndpoint is backchannel_client_notification_endpoint (ping, push).
	NotificationEndpoint string
	// Scopes the client may request; "openid" is always allowed.
	Scopes []string
	// UserCodeParameter is backchannel_user_code_parameter (CIBA 4).
	UserCodeParameter bool
	// Secret is the client_secret of client_secret_basic,
	// client_secret_post and client_secret_jwt clients (RFC 6749 2.3.1,
	// OIDC Core 9); such clients exist only with FAPI off (PushAllowed).
	Secret string
}

// User is an end-user the OP can identify from a hint.
type User struct {
	Subject   string
	LoginHint string
	// UserCode is the secret the user knows (CIBA 7.1.2); empty means none.
	UserCode string
	Claims   map[string]any
}
