package interop

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/device"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/mockdevice"
)

// keycloakRealm is a stand-in for a Keycloak realm using the mock device as
// its CIBA HTTP authentication channel: it serves the realm keys at
// Keycloak's certs path and records the device's callbacks.
type keycloakRealm struct {
	server    *httptest.Server
	issuer    string
	key       jose.JSONWebKey
	callbacks chan keycloakCallback
}

type keycloakCallback struct {
	Authorization string
	Body          string
}

// Paths of a Keycloak realm (Keycloak server administration guide, CIBA:
// "Provider Setting" and the authentication channel callback).
const (
	keycloakCertsPath    = "/protocol/openid-connect/certs"
	keycloakCallbackPath = "/protocol/openid-connect/ext/ciba/auth/callback"
)

func newKeycloakRealm(t *testing.T) *keycloakRealm {
	t.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	kc := &keycloakRealm{
		key:       jose.JSONWebKey{Key: rsaKey, KeyID: "realm-rs256", Algorithm: string(jose.RS256), Use: "sig"},
		callbacks: make(chan keycloakCallback, 8),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /realms/fapi"+keycloakCertsPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{kc.key.Public()}})
	})
	mux.HandleFunc("POST /realms/fapi"+keycloakCallbackPath, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 4096))
		kc.callbacks <- keycloakCallback{Authorization: r.Header.Get("Authorization"), Body: string(body)}
		// Keycloak answers the callback with 200 and no body.
		w.WriteHeader(http.StatusOK)
	})
	kc.server = httptest.NewTLSServer(mux)
	t.Cleanup(kc.server.Close)
	kc.issuer = kc.server.URL + "/realms/fapi"
	return kc
}

// channelRequest sends what Keycloak's HTTP authentication channel
// provider POSTs to the device: the JSON body with scope, binding_message,
// login_hint, is_consent_required and acr_values, and a bearer JWT signed
// by the realm whose jti is the auth_req_id.
func (kc *keycloakRealm) channelRequest(t *testing.T, hc *http.Client, deviceURL, authReqID, loginHint string) *http.Response {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: kc.key}, (&jose.SignerOptions{}).WithType("JWT"))
	must(t, err)
	now := time.Now()
	token, err := jwt.Signed(signer).Claims(map[string]any{
		"iss": kc.issuer, "aud": kc.issuer, "jti": authReqID, "typ": "Bearer",
		"azp": "fapi-ciba-client", "sub": "f4a1c0de-0000-4000-8000-00000000" + loginHint[:4],
		"iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
	}).Serialize()
	must(t, err)
	body := `{"scope":"openid profile","binding_message":"KC-42","login_hint":"` + loginHint + `","is_consent_required":true,"acr_values":"silver"}`
	req, err := http.NewRequest(http.MethodPost, deviceURL+mockdevice.PathChannel, strings.NewReader(body))
	must(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	must(t, err)
	resp.Body.Close()
	return resp
}

// TestMockDeviceAsKeycloakChannel replays Keycloak's HTTP authentication
// channel against the mock device for the outcomes mockdevice's own
// Keycloak test leaves out: a denial (UNAUTHORIZED) and a cancellation
// scripted by policy, and a held request decided through ciba-check's
// approval_url driver, with the realm keys fetched from Keycloak's certs
// endpoint.
func TestMockDeviceAsKeycloakChannel(t *testing.T) {
	kc := newKeycloakRealm(t)
	hc := kc.server.Client()
	d, err := mockdevice.New(mockdevice.Config{
		CallbackURL: kc.issuer + keycloakCallbackPath,
		HTTPClient:  hc,
		VerifyKeys:  mockdevice.RemoteKeys(hc, kc.issuer+keycloakCertsPath),
		Issuer:      kc.issuer,
		Policies: map[string]mockdevice.Policy{
			"dora": {Outcome: ciba.OutcomeDeny},
			"carl": {Outcome: ciba.OutcomeCancel},
			"hank": {Outcome: ciba.OutcomeNever},
		},
	})
	must(t, err)
	t.Cleanup(d.Close)
	dev := httptest.NewTLSServer(d.Handler())
	t.Cleanup(dev.Close)
	devClient := dev.Client()

	approvals, err := device.NewApprovalURL(mockdevice.ApprovalURLTemplate(dev.URL), devClient)
	must(t, err)

	tests := []struct {
		name, loginHint string
		// approve: decide the held request through the approval URL.
		approve    bool
		wantStatus string
	}{
		{name: "denied by the user", loginHint: "dora", wantStatus: "UNAUTHORIZED"},
		{name: "cancelled by the user", loginHint: "carl", wantStatus: "CANCELLED"},
		{name: "held, then approved through approval_url", loginHint: "hank", approve: true, wantStatus: "SUCCEED"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			authReqID := "3f1e2d4c-5b6a-4798-8a9b-0c1d2e3f4a5" + string(rune('0'+i))
			resp := kc.channelRequest(t, devClient, dev.URL, authReqID, tt.loginHint)
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("channel request: HTTP %d, want 201 Created (Keycloak treats anything else as a failure)", resp.StatusCode)
			}
			if tt.approve {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				user := &target.User{Name: tt.loginHint, LoginHint: tt.loginHint, Outcome: ciba.OutcomeNever}
				if err := approvals.Decide(ctx, device.Request{AuthReqID: authReqID, User: user}, device.ActionAllow); err != nil {
					t.Fatalf("approval_url: %v", err)
				}
			}
			select {
			case cb := <-kc.callbacks:
				if got := cb.Body; got != `{"status":"`+tt.wantStatus+`"}` {
					t.Errorf("callback body %s, want status %s", got, tt.wantStatus)
				}
				if !strings.HasPrefix(cb.Authorization, "Bearer ") || len(cb.Authorization) < 50 {
					t.Errorf("callback Authorization %q, want the channel's bearer JWT", cb.Authorization)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no callback to the realm")
			}
			got, ok := d.Request(authReqID)
			if !ok {
				t.Fatalf("the device has no record of %s", authReqID)
			}
			if got.LoginHint != tt.loginHint || got.BindingMessage != "KC-42" || got.ACRValues != "silver" || !got.IsConsentRequired {
				t.Errorf("recorded %+v", got)
			}
		})
	}

	t.Run("token signed by another key is refused", func(t *testing.T) {
		other := newKeycloakRealm(t)
		other.issuer = kc.issuer // same claims, wrong key
		resp := other.channelRequest(t, devClient, dev.URL, "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a", "dora")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("HTTP %d, want 401 for a token the realm did not sign", resp.StatusCode)
		}
	})
}
