package refop

import (
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"slices"
	"sort"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
)

// Client authentication fault names: client assertions (private_key_jwt)
// and mutual TLS.
const (
	FaultAssertionAudEndpointOnly  = "client-assertion-aud-endpoint-only"
	FaultAssertionAudStringOnly    = "client-assertion-aud-string-only"
	FaultClientIDWithoutAssertion  = "accept-client-id-without-assertion"
	FaultAcceptRS256Assertion      = "accept-rs256-client-assertion"
	FaultAcceptNoneAssertion       = "accept-alg-none-client-assertion"
	FaultAcceptHS256Assertion      = "accept-hs256-client-assertion"
	FaultIgnoreAssertionExp        = "ignore-client-assertion-exp"
	FaultIgnoreAssertionReplay     = "ignore-client-assertion-replay"
	FaultIgnoreAssertionAud        = "ignore-client-assertion-aud"
	FaultIgnoreAssertionSub        = "ignore-client-assertion-sub"
	FaultAssertionAnyClientKey     = "client-assertion-any-client-key"
	FaultIgnoreAssertionType       = "ignore-client-assertion-type"
	FaultMTLSWithoutCertificate    = "mtls-client-without-certificate"
	FaultMTLSClientFromCertificate = "mtls-client-from-certificate"
	FaultMTLSActsForClientID       = "mtls-acts-for-client-id"
)

// assertionFaults deviate at client authentication (private_key_jwt,
// mTLS) at every endpoint.
func assertionFaults() []Fault {
	return []Fault{
		// Client authentication. The default assertion aud is the endpoint's
		// own URL, so only the other aud values can be refused in isolation.
		{Name: FaultAssertionAudStringOnly, Breaks: "a client assertion whose aud is a JSON array (RFC 7519 4.1.3) is refused", Trips: []string{"accepts a backchannel client assertion with aud = [backchannel endpoint] as an array"}, bend: assertionAudStringOnly},
		{Name: FaultAssertionAudEndpointOnly, Breaks: "a client assertion's aud must be the URL of the endpoint it is sent to; the issuer and token endpoint are refused elsewhere",
			Trips: []string{
				"accepts a backchannel client assertion with aud = issuer",
				"accepts a backchannel client assertion with aud = token endpoint",
				"accepts a token client assertion with aud = issuer",
			}, bend: assertionAudEndpointOnly},
		// The mTLS probes name a private_key_jwt client as "another client",
		// so accepting client_id alone also lets those requests through.
		{Name: FaultClientIDWithoutAssertion, Breaks: "a private_key_jwt client sending only client_id is accepted without a client assertion",
			Trips: []string{
				"refuses a backchannel request whose client_id differs from the request object's iss",
				"refuses a backchannel request with client_id but no client assertion",
				"refuses a token request naming another client over the caller's certificate",
				"refuses a token request with client_id but no client assertion",
			}, bend: waive(ruleAssertionRequired)},
		{Name: FaultAcceptRS256Assertion, Breaks: "RS256 client assertions are accepted (RSA keys usable with any RSA alg)",
			Trips: []string{
				"refuses a backchannel client assertion signed with RS256",
				"refuses a token client assertion signed with RS256",
			}, bend: acceptRS256Assertions},
		{Name: FaultAcceptNoneAssertion, Breaks: "unsigned (alg none) client assertions are accepted", Trips: []string{"refuses a client assertion with alg none"}, bend: acceptUnsignedAssertions},
		{Name: FaultAcceptHS256Assertion, Breaks: "HS256 client assertions keyed with the client's public JWK are accepted (algorithm confusion)", Trips: []string{"refuses an HS256 client assertion keyed with the client's public key"}, bend: acceptHS256Assertions},
		{Name: FaultIgnoreAssertionExp, Breaks: "the exp of a client assertion is not checked", Trips: []string{"refuses an expired client assertion"}, bend: waive(ruleAssertionExp)},
		{Name: FaultIgnoreAssertionReplay, Breaks: "a client assertion jti may be used again", Trips: []string{"refuses a replayed client assertion"}, bend: waive(ruleAssertionOnce)},
		{Name: FaultIgnoreAssertionAud, Breaks: "the aud of a client assertion is not checked", Trips: []string{"refuses a client assertion whose aud is another server"}, bend: func(h *hooks) { h.assertionAud = func(any, error) error { return nil } }},
		{Name: FaultIgnoreAssertionSub, Breaks: "the sub of a client assertion need not equal its iss", Trips: []string{"refuses a client assertion whose sub is not its iss"}, bend: waive(ruleAssertionSub)},
		{Name: FaultAssertionAnyClientKey, Breaks: "client assertions verify with any registered client's key", Trips: []string{"refuses a client assertion signed with another client's key"}, bend: assertionAnyClientKey},
		{Name: FaultIgnoreAssertionType, Breaks: "client_assertion_type is not checked", Trips: []string{"refuses a wrong client_assertion_type"}, bend: waive(ruleAssertionType)},
		{Name: FaultMTLSWithoutCertificate, Breaks: "a mutual-TLS client naming its client_id without a certificate is accepted", Trips: []string{"refuses a mutual-TLS client that presents no certificate"}, bend: mtlsWithoutCertificate},
		// Identified by its certificate, the caller redeems another client's
		// auth_req_id: invalid_grant instead of invalid_client.
		{Name: FaultMTLSClientFromCertificate, Breaks: "mutual-TLS clients are identified by their certificate; the form client_id is ignored",
			Trips: []string{
				"refuses a backchannel request whose client_id differs from the request object's iss",
				"refuses a token request naming another client over the caller's certificate",
			}, bend: mtlsClientFromCertificate},
		{Name: FaultMTLSActsForClientID, Breaks: "a certificate of any registered mutual-TLS client authenticates the request (verifying with that client's keys), but the OP acts for the form client_id",
			Trips: []string{
				"refuses a backchannel request naming another client over the caller's certificate",
				"refuses a backchannel request whose client_id differs from the request object's iss",
				"refuses a token request naming another client over the caller's certificate",
			}, bend: mtlsActsForClientID},
	}
}

// mtlsClientForCertificate is the mutual-TLS client whose registration
// the certificate satisfies, or nil (fault mtls-client-from-certificate).
func (op *OP) mtlsClientForCertificate(r *http.Request) *Client {
	cert := peerCert(r)
	for _, id := range op.sortedClientIDs() {
		c := op.clients[id]
		switch c.AuthMethod {
		case ciba.AuthTLSClient:
			if op.verifyTLSClientAuth(c, r) == nil {
				return c
			}
		case ciba.AuthSelfSignedTLSClient:
			if verifySelfSigned(c, cert) == nil {
				return c
			}
		}
	}
	return nil
}

// actingForClientID is the confused deputy of fault
// mtls-acts-for-client-id: the client named by clientID, but with the keys
// of the mutual-TLS client the certificate belongs to. It is nil when the
// certificate belongs to no mutual-TLS client or names that same client.
func (op *OP) actingForClientID(r *http.Request, clientID string) *Client {
	holder := op.mtlsClientForCertificate(r)
	named, ok := op.clients[clientID]
	if holder == nil || !ok || named.ID == holder.ID {
		return nil
	}
	acting := *named
	acting.JWKS = holder.JWKS
	acting.RequestSigningAlg = holder.RequestSigningAlg
	return &acting
}

func (op *OP) sortedClientIDs() []string {
	ids := make([]string, 0, len(op.clients))
	for id := range op.clients {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// assertionKeysBend is the bend widening how a private_key_jwt client
// assertion verifies (client_secret_jwt ones keep their secret).
func assertionKeysBend(f func(op *OP, c *Client, v verification) verification) func(*hooks) {
	return func(h *hooks) {
		prev := h.assertionKeys
		h.assertionKeys = func(op *OP, c *Client, hdr jwsHeader, v verification) verification {
			v = prev(op, c, hdr, v)
			if c.AuthMethod == ciba.AuthClientSecretJWT {
				return v
			}
			return f(op, c, v)
		}
	}
}

// assertionAnyClientKey (client-assertion-any-client-key): assertions
// verify with any registered client's keys.
func assertionAnyClientKey(h *hooks) {
	assertionKeysBend(func(op *OP, _ *Client, v verification) verification {
		v.keys = nil
		for _, id := range op.sortedClientIDs() {
			v.keys = append(v.keys, op.clients[id].JWKS.Keys...)
		}
		return v
	})(h)
}

// acceptRS256Assertions (accept-rs256-client-assertion): RS256 verifies
// too, with RSA keys usable with any RSA alg.
func acceptRS256Assertions(h *hooks) {
	assertionKeysBend(func(_ *OP, _ *Client, v verification) verification {
		v.algs = append(v.algs, ciba.AlgRS256)
		v.keys = slices.Clone(v.keys)
		for i, k := range v.keys {
			if _, isRSA := k.Key.(*rsa.PublicKey); isRSA {
				v.keys[i].Algorithm = ""
			}
		}
		return v
	})(h)
}

// acceptHS256Assertions (accept-hs256-client-assertion): HS256 verifies
// with the public JWK's bytes as HMAC secret, the classic confusion.
func acceptHS256Assertions(h *hooks) {
	assertionKeysBend(func(_ *OP, c *Client, v verification) verification {
		v.algs = append(v.algs, "HS256")
		v.keys = slices.Clone(v.keys)
		for _, k := range c.JWKS.Keys {
			if secret, err := json.Marshal(k.Public()); err == nil {
				v.keys = append(v.keys, jose.JSONWebKey{Key: secret, KeyID: k.KeyID, Algorithm: "HS256"})
			}
		}
		return v
	})(h)
}

// acceptUnsignedAssertions (accept-alg-none-client-assertion): an
// assertion with alg none is taken unverified.
func acceptUnsignedAssertions(h *hooks) {
	prev := h.assertionKeys
	h.assertionKeys = func(op *OP, c *Client, hdr jwsHeader, v verification) verification {
		v = prev(op, c, hdr, v)
		v.unsigned = hdr.Alg == ciba.AlgNone
		return v
	}
}

// assertionAudStringOnly (client-assertion-aud-string-only): an assertion
// whose aud is an array is refused.
func assertionAudStringOnly(h *hooks) {
	prev := h.assertionAud
	h.assertionAud = func(aud any, strict error) error {
		if _, isArray := aud.([]any); isArray {
			return invalidClient("client_assertion aud must be a string")
		}
		return prev(aud, strict)
	}
}

// assertionAudEndpointOnly (client-assertion-aud-endpoint-only): only
// the URL of the endpoint an assertion is sent to is its aud.
func assertionAudEndpointOnly(h *hooks) {
	h.assertionAudiences = func(op *OP, r *http.Request, _ []string) []string {
		return []string{op.endpoint(r.URL.Path)}
	}
}

// certificateClientBend is the bend naming the client a request's TLS
// connection alone authenticates, when the strict OP names none.
func certificateClientBend(f func(op *OP, r *http.Request, formClientID string) *Client) func(*hooks) {
	return func(h *hooks) {
		prev := h.certificateClient
		h.certificateClient = func(op *OP, r *http.Request, formClientID string) *Client {
			if c := prev(op, r, formClientID); c != nil {
				return c
			}
			return f(op, r, formClientID)
		}
	}
}

// mtlsWithoutCertificate (mtls-client-without-certificate): a mutual-TLS
// client naming its client_id without a certificate is accepted.
func mtlsWithoutCertificate(h *hooks) {
	certificateClientBend(func(op *OP, r *http.Request, formClientID string) *Client {
		if c, ok := op.clients[formClientID]; ok && peerCert(r) == nil && c.AuthMethod.UsesMTLS() {
			return c
		}
		return nil
	})(h)
}

// mtlsClientFromCertificate (mtls-client-from-certificate): the client is
// the one whose registration the certificate satisfies.
func mtlsClientFromCertificate(h *hooks) {
	certificateClientBend(func(op *OP, r *http.Request, _ string) *Client {
		if peerCert(r) == nil {
			return nil
		}
		return op.mtlsClientForCertificate(r)
	})(h)
}

// mtlsActsForClientID (mtls-acts-for-client-id): any mutual-TLS client's
// certificate authenticates, and the OP acts for the form client_id.
func mtlsActsForClientID(h *hooks) {
	certificateClientBend(func(op *OP, r *http.Request, formClientID string) *Client {
		if peerCert(r) == nil {
			return nil
		}
		return op.actingForClientID(r, formClientID)
	})(h)
}
