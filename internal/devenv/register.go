package devenv

import (
	"crypto/x509"
	"fmt"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/target"
	refop "github.com/ciba-check/ciba-check/reference-op"
)

// Registration is the reference OP's registration of a client a target
// file describes (serve --register): its id, auth method, delivery mode
// and notification URL as the file says; its JWKS is the public half of
// signing_key plus the TLS certificate's key with x5c (what `ciba-check
// init` writes to -jwks.json); the request signing alg is the key's; for
// tls_client_auth the subject DN is the certificate's.
func Registration(tc *target.Client) (refop.Client, error) {
	key, err := tc.LoadSigningKey()
	if err != nil {
		return refop.Client{}, err
	}
	cert, err := tc.LoadTLSCertificate()
	if err != nil {
		return refop.Client{}, err
	}
	keys := []jose.JSONWebKey{key.Public()}
	reg := refop.Client{
		ID:                tc.ID,
		AuthMethod:        tc.Auth,
		DeliveryMode:      tc.Mode,
		RequestSigningAlg: key.Algorithm,
		Scopes:            []string{"openid", "profile", "email"},
		UserCodeParameter: tc.UserCodeParameter,
	}
	if cert != nil {
		keys = append(keys, jose.JSONWebKey{
			Key: cert.Leaf.PublicKey, KeyID: tc.ID + "-tls", Use: "tls",
			Certificates: []*x509.Certificate{cert.Leaf},
		})
		if tc.Auth == ciba.AuthTLSClient {
			reg.TLSSubjectDN = cert.Leaf.Subject.String()
		}
	} else if tc.Auth.UsesMTLS() {
		return refop.Client{}, fmt.Errorf("client %q: %s needs tls_cert", tc.ID, tc.Auth)
	}
	reg.JWKS = jose.JSONWebKeySet{Keys: keys}
	if tc.Mode != ciba.ModePoll {
		if tc.Notification == nil {
			return refop.Client{}, fmt.Errorf("client %q: mode %s needs a notification url", tc.ID, tc.Mode)
		}
		reg.NotificationEndpoint = tc.Notification.URL
	}
	return reg, nil
}
