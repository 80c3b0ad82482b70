package interop

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/targetclient"
)

// TestOIDCProviderPlain starts oidc-provider with the third configuration
// (plainChoices: a CIBA Core OP without the FAPI profile, client secrets,
// unsigned requests, poll and ping), proves the harness with direct
// flows, then runs the conformance suite with fapi: false against it and
// compares the outcome with expected-plain.json. Like TestOIDCProvider it
// skips without node unless CI=true.
func TestOIDCProviderPlain(t *testing.T) {
	ctx := interopContext(t)
	h, md := startDiscoveredHarness(ctx, t, withChoices(plainChoices))
	t.Run("harness", func(t *testing.T) {
		testPlainHarness(ctx, t, h, md)
	})
	runSuiteAgainst(t, h)
}

// testPlainHarness shows the plain configuration works as a CIBA Core OP
// with the requests a person would make: secret clients, unsigned
// requests, unbound tokens, and a wrong secret refused.
func testPlainHarness(ctx context.Context, t *testing.T, h *harness, md *ciba.ProviderMetadata) {
	for _, m := range []ciba.AuthMethod{ciba.AuthClientSecretBasic, ciba.AuthClientSecretPost} {
		if !slices.Contains(md.TokenEndpointAuthMethodsSupported, m) {
			t.Errorf("token_endpoint_auth_methods_supported %v lacks %s", md.TokenEndpointAuthMethodsSupported, m)
		}
	}
	if md.TLSClientCertificateBoundAccessTokens {
		t.Error("the plain configuration advertises certificate-bound tokens")
	}
	receivers, err := targetclient.StartReceivers(h.Target, nil)
	if err != nil {
		t.Fatalf("notification receivers: %v", err)
	}
	t.Cleanup(func() { _ = receivers.Close() })
	tests := []struct {
		clientID, user string
		wantErr        *ciba.Error
	}{
		{"poll-secret-basic", "alice", nil},
		{"poll-secret-post", "bob", ciba.ErrAccessDenied},
		{"ping-secret-basic", "alice", nil},
		{"ping-secret-post", "alice", nil},
	}
	for _, tt := range tests {
		t.Run(tt.clientID, func(t *testing.T) {
			t.Parallel()
			c := h.client(t, md, tt.clientID)
			if c.SignsRequests() {
				t.Fatal("a plain client signs its requests")
			}
			flowCtx, cancel := context.WithTimeout(ctx, flowTimeout)
			defer cancel()
			p := client.AuthParams{Scope: "openid profile", LoginHint: tt.user, BindingMessage: "1234"}
			if c.Mode() == ciba.ModePing {
				p.ClientNotificationToken = "tok-" + tt.clientID + "-0123456789abcdefghijklmnopqrstuv"
			}
			ack, ex, err := c.Authenticate(flowCtx, p)
			if err != nil {
				t.Fatalf("unsigned backchannel request: %v\n%s", err, exchangeText(ex))
			}
			var notified <-chan client.Notification
			if c.Mode() == ciba.ModePing {
				notified = receivers.For(tt.clientID).Expect(ack.AuthReqID, p.ClientNotificationToken)
			}
			tr, ex, err := flowTokens(flowCtx, t, c, ack, ex, notified, p.ClientNotificationToken)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("outcome %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || tr.AccessToken == "" {
				t.Fatalf("outcome %v %+v\n%s", err, tr, exchangeText(ex))
			}
			// Unbound: userinfo answers over a connection without a certificate.
			if info, ex, err := c.UserInfo(flowCtx, tr.AccessToken); err != nil || info["sub"] != "user-"+tt.user {
				t.Fatalf("userinfo: %v %v\n%s", info, err, exchangeText(ex))
			}
		})
	}
	t.Run("wrong secret refused", func(t *testing.T) {
		t.Parallel()
		for _, id := range []string{"poll-secret-basic", "poll-secret-post"} {
			c := h.client(t, md, id)
			_, ex, err := c.Authenticate(ctx, client.AuthParams{Scope: "openid", LoginHint: "carol"}, client.WithAuth(client.AuthSecret("a-wrong-secret-for-the-interop-test")))
			if !errors.Is(err, ciba.ErrInvalidClient) || ex == nil || (ex.Status != http.StatusUnauthorized && ex.Status != http.StatusBadRequest) {
				t.Fatalf("%s with a wrong secret: %v, want invalid_client\n%s", id, err, exchangeText(ex))
			}
		}
	})
}
