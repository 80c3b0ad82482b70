package e2e

import (
	"crypto/rand"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/devenv"
	"github.com/ciba-check/ciba-check/internal/pki"
	"github.com/ciba-check/ciba-check/internal/target"
)

// TestPollFlowWithPlainCIBAAlgs: with FAPI off, clients registered (as
// serve --register does) with ES384, ES512 and EdDSA keys sign their
// request objects and private_key_jwt assertions with those algs, the
// reference OP verifies them, and the poll flow ends in tokens. A token
// request signed with another alg than the one registered is refused.
func TestPollFlowWithPlainCIBAAlgs(t *testing.T) {
	keys := map[string]jose.JSONWebKey{}
	for _, alg := range []string{"ES384", "ES512", "EdDSA"} {
		k, err := pki.GenerateSigningKey(rand.Reader, alg, "kid-"+alg)
		if err != nil {
			t.Fatal(err)
		}
		keys[alg] = k
	}
	dir := t.TempDir()
	var clients []target.Client
	w := newWorld(t, func(o *devenv.Options) {
		o.PushAllowed = true
		for alg, k := range keys {
			file := filepath.Join(dir, alg+".jwk")
			if err := pki.WriteJWK(file, k); err != nil {
				t.Fatal(err)
			}
			tc := target.Client{ID: "poll-pkjwt-" + alg, Auth: ciba.AuthPrivateKeyJWT, Mode: ciba.ModePoll, SigningKey: file, Alg: alg, Scope: "openid",
				TLSCert: filepath.Join(dir, alg+".pem"), TLSKey: filepath.Join(dir, alg+".key")}
			// The OP binds access tokens to the client's certificate (RFC 8705 3).
			cert, err := pki.SelfSignedClient(rand.Reader, time.Now(), tc.ID)
			if err != nil {
				t.Fatal(err)
			}
			if err := pki.WriteTLSCertificate(tc.TLSCert, tc.TLSKey, cert); err != nil {
				t.Fatal(err)
			}
			reg, err := devenv.Registration(&tc)
			if err != nil {
				t.Fatalf("registering %s: %v", tc.ID, err)
			}
			if reg.RequestSigningAlg != alg {
				t.Fatalf("%s registered with request signing alg %q, want %s", tc.ID, reg.RequestSigningAlg, alg)
			}
			o.Register = append(o.Register, reg)
			clients = append(clients, tc)
		}
	})
	w.env.Target.Clients = append(w.env.Target.Clients, clients...)
	// The OP advertises the algs its clients registered (what target check
	// compares a client's key with).
	for alg := range keys {
		if !slices.Contains(w.md.BackchannelAuthenticationRequestSigningAlgs, alg) || !slices.Contains(w.md.TokenEndpointAuthSigningAlgValuesSupported, alg) {
			t.Errorf("discovery does not advertise %s: request %v, token endpoint %v", alg, w.md.BackchannelAuthenticationRequestSigningAlgs, w.md.TokenEndpointAuthSigningAlgValuesSupported)
		}
	}
	for _, tc := range clients {
		t.Run(tc.Alg, func(t *testing.T) {
			c := w.client(tc.ID)
			ack := w.authenticate(c, w.params(c, "alice"))
			w.settled(ack.AuthReqID)

			// An assertion naming this client's kid but signed with
			// another alg than the one it registered is refused, and the
			// request stays redeemable.
			other := "ES384"
			if tc.Alg == other {
				other = "EdDSA"
			}
			wrong := client.WithAuth(client.AuthAssertionOptions(
				client.WithSigningKey(keys[other]), client.WithHeader("kid", "kid-"+tc.Alg)))
			_, ex, err := c.Token(w.ctx(), ack.AuthReqID, wrong)
			wantOAuthError(t, ex, err, "invalid_client", http.StatusUnauthorized)

			tr, ex, err := c.Token(w.ctx(), ack.AuthReqID)
			wantOK(t, ex, err, "token after approval")
			if tr.AccessToken == "" || tr.IDToken == "" {
				t.Errorf("token response %+v", tr)
			}
			claims := w.idToken(tr.IDToken, tc.ID, tr.AccessToken)
			if claims["sub"] != "user-alice" {
				t.Errorf("sub %v, want user-alice", claims["sub"])
			}
		})
	}
}
