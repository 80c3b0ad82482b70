package refop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/clock"
)

// withDefaults is cfg validated, with a default for each setting left
// zero: the clock, randomness, interval, lifetimes, store and logger.
func withDefaults(cfg Config) (Config, error) {
	if err := validateIssuer(cfg.Issuer); err != nil {
		return cfg, err
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Interval < 0 {
		return cfg, fmt.Errorf("interval %d: must not be negative", cfg.Interval)
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"default expiry", &cfg.DefaultExpiry, DefaultExpiry},
		{"max expiry", &cfg.MaxExpiry, DefaultMaxExpiry},
		{"access token lifetime", &cfg.AccessTokenLifetime, DefaultAccessTokenLifetime},
		{"refresh token lifetime", &cfg.RefreshTokenLifetime, DefaultRefreshTokenLifetime},
	} {
		if *d.v < 0 {
			return cfg, fmt.Errorf("%s %v: must not be negative", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
		if *d.v < time.Second {
			return cfg, fmt.Errorf("%s %v: must be at least one second", d.name, *d.v)
		}
	}
	if cfg.DefaultExpiry > cfg.MaxExpiry {
		return cfg, fmt.Errorf("default expiry %v exceeds max expiry %v", cfg.DefaultExpiry, cfg.MaxExpiry)
	}
	if cfg.Store == nil {
		cfg.Store = NewMemoryStore()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.DeviceEndpoint != "" {
		u, err := url.Parse(cfg.DeviceEndpoint)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return cfg, fmt.Errorf("device endpoint %q: must be an absolute http(s) URL", cfg.DeviceEndpoint)
		}
	}
	return cfg, nil
}

func validateIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil {
		return fmt.Errorf("issuer %q: %v", issuer, err)
	}
	if u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("issuer %q: must be https://host[:port] without path, query or fragment", issuer)
	}
	return nil
}

func validateSigningKeys(keys []jose.JSONWebKey) (jose.JSONWebKey, jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	if len(keys) == 0 {
		return jose.JSONWebKey{}, set, errors.New("signing keys: at least one is required")
	}
	kids := map[string]bool{}
	for i, k := range keys {
		if k.KeyID == "" {
			return jose.JSONWebKey{}, set, fmt.Errorf("signing key %d: kid is required (OIDC 10.1)", i)
		}
		if kids[k.KeyID] {
			return jose.JSONWebKey{}, set, fmt.Errorf("signing key %q: duplicate kid", k.KeyID)
		}
		kids[k.KeyID] = true
		if k.IsPublic() || !k.Valid() {
			return jose.JSONWebKey{}, set, fmt.Errorf("signing key %q: must be a valid private key", k.KeyID)
		}
		switch key := k.Key.(type) {
		case *rsa.PrivateKey:
			if k.Algorithm != ciba.AlgPS256 {
				return jose.JSONWebKey{}, set, fmt.Errorf("signing key %q: RSA keys must have alg PS256, got %q", k.KeyID, k.Algorithm)
			}
			if key.N.BitLen() < 2048 {
				return jose.JSONWebKey{}, set, fmt.Errorf("signing key %q: RSA key of %d bits, need at least 2048 (FAPI-R 5.2.2-5)", k.KeyID, key.N.BitLen())
			}
		case *ecdsa.PrivateKey:
			if k.Algorithm != ciba.AlgES256 || key.Curve != elliptic.P256() {
				return jose.JSONWebKey{}, set, fmt.Errorf("signing key %q: EC keys must be P-256 with alg ES256", k.KeyID)
			}
		default:
			return jose.JSONWebKey{}, set, fmt.Errorf("signing key %q: unsupported key type %T (need RSA or EC P-256)", k.KeyID, k.Key)
		}
		pub := k.Public()
		pub.Use = "sig"
		set.Keys = append(set.Keys, pub)
	}
	return keys[0], set, nil
}

// channelKey is the signing key named kid (Config.ChannelKeyID), the
// first when kid is empty; keys are valid (validateSigningKeys).
func channelKey(keys []jose.JSONWebKey, kid string) (jose.JSONWebKey, error) {
	if kid == "" {
		return keys[0], nil
	}
	i := slices.IndexFunc(keys, func(k jose.JSONWebKey) bool { return k.KeyID == kid })
	if i < 0 {
		return jose.JSONWebKey{}, fmt.Errorf("channel key %q: not among the signing keys", kid)
	}
	return keys[i], nil
}

// validateClients checks each registered client and indexes them by id.
func validateClients(cfg Config) (map[string]*Client, error) {
	clients := map[string]*Client{}
	for i := range cfg.Clients {
		c := cfg.Clients[i]
		if c.ID == "" {
			return nil, fmt.Errorf("client %d: id is required", i)
		}
		if _, dup := clients[c.ID]; dup {
			return nil, fmt.Errorf("client %q: duplicate id", c.ID)
		}
		if err := validateClient(cfg, c); err != nil {
			return nil, err
		}
		clients[c.ID] = &c
	}
	return clients, nil
}

// validateClient checks one client's registration: its authentication
// method, delivery mode, request signing alg and keys.
func validateClient(cfg Config, c Client) error {
	if err := validateAuthMethod(cfg, c); err != nil {
		return err
	}
	if !c.DeliveryMode.Valid() {
		return fmt.Errorf("client %q: delivery mode %q: must be poll, ping or push", c.ID, c.DeliveryMode)
	}
	if c.DeliveryMode != ciba.ModePoll {
		u, err := url.Parse(c.NotificationEndpoint)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("client %q: %s mode needs an https notification endpoint, got %q (CIBA 4)", c.ID, c.DeliveryMode, c.NotificationEndpoint)
		}
	}
	if c.RequestSigningAlg != "" && !slices.Contains(ciba.FAPIAlgs, c.RequestSigningAlg) && (!cfg.PushAllowed || !slices.Contains(ciba.PlainAlgs(), c.RequestSigningAlg)) {
		return fmt.Errorf("client %q: request signing alg %q: must be PS256 or ES256 (FAPI off: any of %v)", c.ID, c.RequestSigningAlg, ciba.PlainAlgs())
	}
	if err := validateClientKeys(c); err != nil {
		return err
	}
	switch c.AuthMethod {
	case ciba.AuthPrivateKeyJWT, ciba.AuthSelfSignedTLSClient:
		if len(c.JWKS.Keys) == 0 {
			return fmt.Errorf("client %q: %s needs at least one JWKS key", c.ID, c.AuthMethod)
		}
	case ciba.AuthTLSClient:
		if c.TLSSubjectDN == "" || cfg.ClientCAs == nil {
			return fmt.Errorf("client %q: tls_client_auth needs a subject DN and Config.ClientCAs (RFC 8705 2.1)", c.ID)
		}
	}
	return nil
}

// validateAuthMethod allows FAPI's three methods, and the secret ones with
// a secret when FAPI is off.
func validateAuthMethod(cfg Config, c Client) error {
	switch {
	case c.AuthMethod.Valid():
	case usesSecret(c.AuthMethod) && cfg.PushAllowed:
		if c.Secret == "" {
			return fmt.Errorf("client %q: %s needs a secret", c.ID, c.AuthMethod)
		}
		if c.AuthMethod == ciba.AuthClientSecretJWT && len(c.Secret) < minHS256Secret {
			return fmt.Errorf("client %q: client_secret_jwt needs a secret of at least %d bytes (RFC 7518 3.2)", c.ID, minHS256Secret)
		}
	case usesSecret(c.AuthMethod):
		return fmt.Errorf("client %q: auth method %q not allowed under FAPI (it needs FAPI off, PushAllowed); FAPI allows private_key_jwt, tls_client_auth or self_signed_tls_client_auth (FAPI-RW 5.2.2-14)", c.ID, c.AuthMethod)
	default:
		return fmt.Errorf("client %q: auth method %q not allowed; use private_key_jwt, tls_client_auth or self_signed_tls_client_auth (FAPI-CIBA 5.2.2-1)", c.ID, c.AuthMethod)
	}
	if c.Secret != "" && !usesSecret(c.AuthMethod) {
		return fmt.Errorf("client %q: a secret is only for client_secret_* clients", c.ID)
	}
	return nil
}

// validateClientKeys requires valid public keys of FAPI strength: RSA
// keys of at least 2048 bits, EC keys of at least 160 (FAPI-R 5.2.4).
func validateClientKeys(c Client) error {
	for _, k := range c.JWKS.Keys {
		if !k.IsPublic() || !k.Valid() {
			return fmt.Errorf("client %q: JWKS key %q must be a valid public key", c.ID, k.KeyID)
		}
		switch key := k.Key.(type) {
		case *rsa.PublicKey:
			if key.N.BitLen() < 2048 {
				return fmt.Errorf("client %q: RSA key %q has %d bits, need at least 2048 (FAPI-R 5.2.4)", c.ID, k.KeyID, key.N.BitLen())
			}
		case *ecdsa.PublicKey:
			if key.Curve.Params().BitSize < 160 {
				return fmt.Errorf("client %q: EC key %q is too small (FAPI-R 5.2.4)", c.ID, k.KeyID)
			}
		}
	}
	return nil
}

func validateUsers(users []User) error {
	subs, hints := map[string]bool{}, map[string]bool{}
	for i, u := range users {
		if u.Subject == "" {
			return fmt.Errorf("user %d: subject is required", i)
		}
		if subs[u.Subject] {
			return fmt.Errorf("user %q: duplicate subject", u.Subject)
		}
		subs[u.Subject] = true
		if u.LoginHint != "" {
			if hints[u.LoginHint] {
				return fmt.Errorf("user %q: duplicate login hint %q", u.Subject, u.LoginHint)
			}
			hints[u.LoginHint] = true
		}
	}
	return nil
}
