package interop

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
)

// The strict configuration's acr values (server.mjs CHOICES.strict): gold
// is advertised first, the test users' devices reach silver only.
const (
	acrSilver = "urn:ciba-check:acr:silver"
	acrGold   = "urn:ciba-check:acr:gold"
)

// strictExpiresIn is the expires_in of every backchannel request under
// the strict configuration, whatever requested_expiry says.
const strictExpiresIn = 30

// TestOIDCProviderStrictChoices starts oidc-provider with the second
// configuration (strictChoices: other legal choices, each stricter),
// proves the harness and each choice with direct requests, then runs the
// conformance suite against it and compares the outcome with
// expected-strict.json. Like TestOIDCProvider it skips without node
// unless CI=true.
func TestOIDCProviderStrictChoices(t *testing.T) {
	ctx := interopContext(t)
	h, md := startProvenHarness(ctx, t, withChoices(strictChoices))
	t.Run("choices", func(t *testing.T) {
		testStrictChoices(ctx, t, h, md)
	})
	runSuiteAgainst(t, h)
}

// testStrictChoices shows that each choice of the strict configuration is
// in effect, with the requests a person would make by hand.
func testStrictChoices(ctx context.Context, t *testing.T, h *harness, md *ciba.ProviderMetadata) {
	params := func(user string) client.AuthParams {
		return client.AuthParams{Scope: "openid profile", LoginHint: user, BindingMessage: "1234"}
	}
	// refused sends a backchannel request that must be refused with want.
	refused := func(t *testing.T, c *client.Client, p client.AuthParams, want *ciba.Error) {
		t.Helper()
		_, ex, err := c.Authenticate(ctx, p)
		if !errors.Is(err, want) || ex == nil || ex.Status != http.StatusBadRequest {
			t.Fatalf("backchannel request: %v, want HTTP 400 %s\n%s", err, want.Code, exchangeText(ex))
		}
	}

	t.Run("binding_message required and limited", func(t *testing.T) {
		t.Parallel()
		c := h.client(t, md, "poll-pkjwt-es256")
		p := params("carol")
		p.BindingMessage = ""
		refused(t, c, p, ciba.ErrInvalidBindingMessage)
		p.BindingMessage = "ciba check"
		refused(t, c, p, ciba.ErrInvalidBindingMessage)
		p.BindingMessage = strings.Repeat("x", 21)
		refused(t, c, p, ciba.ErrInvalidBindingMessage)
	})

	t.Run("requested_expiry not used", func(t *testing.T) {
		t.Parallel()
		c := h.client(t, md, "poll-pkjwt-es256")
		for _, requested := range []any{5, 600, "300"} {
			p := params("carol")
			p.RequestedExpiry = requested
			ack, ex, err := c.Authenticate(ctx, p)
			if err != nil {
				t.Fatalf("requested_expiry %v: %v\n%s", requested, err, exchangeText(ex))
			}
			if ack.ExpiresIn != strictExpiresIn {
				t.Errorf("requested_expiry %v: expires_in %d, want %d", requested, ack.ExpiresIn, strictExpiresIn)
			}
		}
	})

	t.Run("user_code only for the client that registered it", func(t *testing.T) {
		t.Parallel()
		// grace has a user_code; only poll-mtls registered
		// backchannel_user_code_parameter.
		registered := h.client(t, md, "poll-mtls")
		p := params("grace")
		refused(t, registered, p, ciba.ErrMissingUserCode)
		p.UserCode = "0000"
		refused(t, registered, p, ciba.ErrInvalidUserCode)
		p.UserCode = "4711"
		if _, ex, err := registered.Authenticate(ctx, p); err != nil {
			t.Fatalf("with the right user_code: %v\n%s", err, exchangeText(ex))
		}
		other := h.client(t, md, "poll-pkjwt-es256")
		if _, ex, err := other.Authenticate(ctx, params("grace")); err != nil {
			t.Fatalf("without a user_code from a client that did not register backchannel_user_code_parameter: %v\n%s", err, exchangeText(ex))
		}
	})

	t.Run("acr_values_supported", func(t *testing.T) {
		if want := []string{acrGold, acrSilver}; !slices.Equal(md.ACRValuesSupported, want) {
			t.Errorf("acr_values_supported %v, want %v", md.ACRValuesSupported, want)
		}
	})

	// One flow per scope: a refresh token only with offline_access; the
	// device reaches silver although gold is asked for; the tokens cannot
	// be introspected by the client they were issued to.
	for _, tt := range []struct {
		scope   string
		refresh bool
	}{
		{scope: "openid profile", refresh: false},
		{scope: "openid profile offline_access", refresh: true},
	} {
		t.Run("tokens for "+tt.scope, func(t *testing.T) {
			t.Parallel()
			c := h.client(t, md, "poll-pkjwt-ps256")
			flowCtx, cancel := context.WithTimeout(ctx, flowTimeout)
			defer cancel()
			p := params("alice")
			p.Scope = tt.scope
			p.ACRValues = acrGold
			ack, ex, err := c.Authenticate(flowCtx, p)
			if err != nil {
				t.Fatalf("backchannel request: %v\n%s", err, exchangeText(ex))
			}
			tr, err := c.Poll(flowCtx, ack)
			if err != nil {
				t.Fatalf("poll: %v", err)
			}
			if got := tr.RefreshToken != ""; got != tt.refresh {
				t.Errorf("refresh token issued: %v, want %v", got, tt.refresh)
			}
			claims, err := jwtClaims(tr.IDToken)
			if err != nil {
				t.Fatalf("ID token: %v", err)
			}
			if claims["acr"] != acrSilver {
				t.Errorf("ID token acr %v, want %s (the device's only class; gold was requested)", claims["acr"], acrSilver)
			}
			ir, ex, err := c.Introspect(flowCtx, tr.AccessToken, "access_token")
			if err != nil {
				t.Fatalf("introspection: %v\n%s", err, exchangeText(ex))
			}
			if ir.Active {
				t.Errorf("introspection by the token's own client says active; want active:false (only resource-server may introspect)\n%s", exchangeText(ex))
			}
		})
	}
}

// jwtClaims returns the payload of a compact JWS without verifying it:
// the suite checks ID token signatures; this only reads a claim.
func jwtClaims(token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	return claims, json.Unmarshal(payload, &claims)
}
