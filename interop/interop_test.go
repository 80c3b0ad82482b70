package interop

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/device"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/internal/targetclient"
)

// flowTimeout bounds one CIBA flow. oidc-provider sends no interval, so
// the client waits the CIBA 7.3 default of 5 s before each poll.
const flowTimeout = 45 * time.Second

// TestOIDCProvider starts panva's oidc-provider as a FAPI-CIBA OP, proves
// the harness with direct flows, then runs the conformance suite against it
// and compares the outcome with expected.json.
func TestOIDCProvider(t *testing.T) {
	ctx := interopContext(t)
	h, _ := startProvenHarness(ctx, t)
	if t.Failed() {
		return
	}
	bin := suiteCLI(t, suiteAgainstOP)
	// The runs share the harness (one node start) but run one after the
	// other: every run listens on the ping clients' notification address
	// registered at the OP, so two at once would collide.
	for _, dev := range suiteDevices(h) {
		name := "suite"
		if dev.Kind != h.Target.Device.Kind {
			name += "/" + string(dev.Kind)
		}
		t.Run(name, func(t *testing.T) {
			testSuiteMatchesExpectation(t, h, bin, dev)
		})
	}
	t.Run("suite/manual", func(t *testing.T) {
		testManualDevice(t, h, bin)
	})
}

// suiteDevices are the device sections the whole suite runs with against
// the harness (issue 7): approval_url (the harness's own target.yaml);
// hints, as the harness's users decide by login_hint (alice approves,
// bob denies, carol waits for the approval URL and is never approved by
// a hints device, grace approves); and command, a shell command that
// calls the same approval endpoint with curl, trusting the target's CA
// (ca.pem beside target.yaml, the command's working folder).
func suiteDevices(h *harness) []target.Device {
	return []target.Device{
		h.Target.Device,
		{Kind: target.DeviceHints},
		{Kind: target.DeviceCommand, Command: "curl -sS --fail-with-body --max-time 10 --cacert ca.pem -X POST -G" +
			" --data-urlencode auth_req_id=" + target.PlaceholderAuthReqID +
			" --data-urlencode action=" + target.PlaceholderAction +
			" " + device.ShellQuote(h.Issuer+"/ciba-sim")},
	}
}

// testHarnessFlows drives the OP with internal/client: what every check of
// the suite builds on must work, or the harness is broken, not the OP.
// interopContext skips t under -short and bounds it by 2 minutes, what one
// interop test takes to start oidc-provider and run the suite once.
func interopContext(t *testing.T) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("the interop test installs and runs oidc-provider; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// startProvenHarness starts oidc-provider with opts, reads its discovery
// document and proves the harness with direct flows (subtest "harness").
func startProvenHarness(ctx context.Context, t *testing.T, opts ...harnessOption) (*harness, *ciba.ProviderMetadata) {
	t.Helper()
	h, md := startDiscoveredHarness(ctx, t, opts...)
	t.Run("harness", func(t *testing.T) {
		testHarnessFlows(ctx, t, h, md)
	})
	return h, md
}

// startDiscoveredHarness starts oidc-provider with opts and reads its
// discovery document.
func startDiscoveredHarness(ctx context.Context, t *testing.T, opts ...harnessOption) (*harness, *ciba.ProviderMetadata) {
	t.Helper()
	node, npm := requireNode(t)
	h := startHarness(t, node, installHarness(t, npm), opts...)
	t.Logf("oidc-provider (%s choices) is at %s; target: %s", h.Choices.Name, h.Issuer, h.TargetPath)
	md, err := targetclient.Discover(ctx, h.Target)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return h, md
}

func testHarnessFlows(ctx context.Context, t *testing.T, h *harness, md *ciba.ProviderMetadata) {
	t.Run("discovery", func(t *testing.T) {
		if md.BackchannelAuthenticationEndpoint == "" {
			t.Error("no backchannel_authentication_endpoint (CIBA 4)")
		}
		for _, m := range []ciba.DeliveryMode{ciba.ModePoll, ciba.ModePing} {
			if !slices.Contains(md.BackchannelTokenDeliveryModesSupported, m) {
				t.Errorf("backchannel_token_delivery_modes_supported %v lacks %s", md.BackchannelTokenDeliveryModesSupported, m)
			}
		}
		if slices.Contains(md.BackchannelTokenDeliveryModesSupported, ciba.ModePush) {
			t.Errorf("push is advertised (FAPI-CIBA 5.2.2-3 forbids it)")
		}
		if !md.TLSClientCertificateBoundAccessTokens {
			t.Error("tls_client_certificate_bound_access_tokens is not true (RFC 8705 3.3)")
		}
		for _, m := range []ciba.AuthMethod{ciba.AuthPrivateKeyJWT, ciba.AuthTLSClient, ciba.AuthSelfSignedTLSClient} {
			if !slices.Contains(md.TokenEndpointAuthMethodsSupported, m) {
				t.Errorf("token_endpoint_auth_methods_supported %v lacks %s", md.TokenEndpointAuthMethodsSupported, m)
			}
		}
	})

	receivers, err := targetclient.StartReceivers(h.Target, nil)
	if err != nil {
		t.Fatalf("notification receivers: %v", err)
	}
	t.Cleanup(func() { _ = receivers.Close() })
	roots, err := h.Target.RootCAs()
	must(t, err)
	approvals, err := device.NewApprovalURL(h.Target.Device.ApprovalURL, &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}},
	})
	must(t, err)

	tests := []struct {
		name     string
		clientID string
		user     string
		// approve: the held request is approved through the approval URL.
		approve bool
		wantErr *ciba.Error
	}{
		{name: "poll private_key_jwt ES256 approved", clientID: "poll-pkjwt-es256", user: "alice"},
		{name: "poll private_key_jwt PS256 denied", clientID: "poll-pkjwt-ps256", user: "bob", wantErr: ciba.ErrAccessDenied},
		{name: "poll tls_client_auth via approval URL", clientID: "poll-mtls", user: "carol", approve: true},
		{name: "poll self_signed_tls_client_auth approved", clientID: "poll-selfsigned", user: "alice"},
		{name: "ping private_key_jwt approved", clientID: "ping-pkjwt-ps256", user: "alice"},
		{name: "ping tls_client_auth denied", clientID: "ping-mtls", user: "bob", wantErr: ciba.ErrAccessDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tc, ok := h.Target.Client(tt.clientID)
			if !ok {
				t.Fatalf("no client %s in target.yaml", tt.clientID)
			}
			u, ok := h.Target.User(tt.user)
			if !ok {
				t.Fatalf("no user %s in target.yaml", tt.user)
			}
			c, err := targetclient.New(h.Target, tc, md, nil)
			must(t, err)
			defer c.CloseIdleConnections()
			flowCtx, cancel := context.WithTimeout(ctx, flowTimeout)
			defer cancel()
			p := client.AuthParams{Scope: "openid profile", LoginHint: u.LoginHint, BindingMessage: "1234"}
			var notified <-chan client.Notification
			if tc.Mode == ciba.ModePing {
				p.ClientNotificationToken = "tok-" + tt.clientID + "-0123456789abcdefghijklmnopqrstuv"
			}
			ack, ex, err := c.Authenticate(flowCtx, p)
			if err != nil {
				t.Fatalf("backchannel request: %v\n%s", err, exchangeText(ex))
			}
			if tc.Mode == ciba.ModePing {
				notified = receivers.For(tt.clientID).Expect(ack.AuthReqID, p.ClientNotificationToken)
			}
			if tt.approve {
				if err := approvals.Decide(flowCtx, device.Request{AuthReqID: ack.AuthReqID, User: u, ClientID: tt.clientID}, device.ActionAllow); err != nil {
					t.Fatalf("approval URL: %v", err)
				}
			}
			tr, ex, err := flowTokens(flowCtx, t, c, ack, ex, notified, p.ClientNotificationToken)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("outcome %v, want %v\n%s", err, tt.wantErr, exchangeText(ex))
				}
				return
			}
			if err != nil {
				t.Fatalf("outcome: %v\n%s", err, exchangeText(ex))
			}
			if tr.AccessToken == "" || tr.IDToken == "" {
				t.Fatalf("token response without access_token or id_token: %+v", tr)
			}
			// The token is bound to the client certificate (RFC 8705 3):
			// userinfo answers with it and this client's certificate.
			if md.UserinfoEndpoint != "" {
				info, ex, err := c.UserInfo(flowCtx, tr.AccessToken)
				if err != nil {
					t.Fatalf("userinfo: %v\n%s", err, exchangeText(ex))
				}
				if info["sub"] != "user-"+tt.user {
					t.Errorf("userinfo sub %v, want user-%s", info["sub"], tt.user)
				}
			}
			testResource(flowCtx, t, h, c, tr.AccessToken)
		})
	}

	t.Run("unsigned request refused", func(t *testing.T) {
		t.Parallel()
		tc, _ := h.Target.Client("poll-pkjwt-es256")
		c, err := targetclient.New(h.Target, tc, md, nil)
		must(t, err)
		defer c.CloseIdleConnections()
		_, ex, err := c.Authenticate(ctx, client.AuthParams{Scope: "openid", LoginHint: "carol"}, client.CallUnsigned())
		if !errors.Is(err, ciba.ErrInvalidRequest) || ex == nil || ex.Status != http.StatusBadRequest {
			t.Fatalf("unsigned backchannel request: %v, want HTTP 400 invalid_request (FAPI-CIBA 5.2.2-6)\n%s", err, exchangeText(ex))
		}
	})
}

// flowTokens ends a flow: for a ping client (notified not nil) it waits
// for the ping, which must carry the client_notification_token as its
// bearer, then asks for the tokens; a poll client polls until the request
// is decided. ex is the exchange to report when polling makes none.
func flowTokens(ctx context.Context, t *testing.T, c *client.Client, ack *ciba.AuthenticationResponse, ex *client.Exchange, notified <-chan client.Notification, bearer string) (*ciba.TokenResponse, *client.Exchange, error) {
	t.Helper()
	if notified == nil {
		tr, err := c.Poll(ctx, ack)
		return tr, ex, err
	}
	select {
	case n := <-notified:
		if n.BearerToken != bearer {
			t.Errorf("ping bearer %q, want the client_notification_token (CIBA 10.2)", n.BearerToken)
		}
	case <-ctx.Done():
		t.Fatalf("no ping notification for %s (CIBA 10.2)", ack.AuthReqID)
	}
	return c.Token(ctx, ack.AuthReqID)
}

// testResource calls the harness's FAPI protected resource with an
// access token issued to c: over c's certificate it answers 200 and
// echoes x-fapi-interaction-id with a Date header (FAPI 1.0 Part 1
// 6.2.1); without a certificate the bound token is refused with 401
// (RFC 8705 3).
func testResource(ctx context.Context, t *testing.T, h *harness, c *client.Client, accessToken string) {
	t.Helper()
	const interactionID = "c0ffee00-1234-4abc-8def-0123456789ab"
	call := func(hc *http.Client) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.ResourceURL, nil)
		must(t, err)
		req.Header.Set("Authorization", "Bearer "+accessToken)
		req.Header.Set("x-fapi-interaction-id", interactionID)
		res, err := hc.Do(req)
		if err != nil {
			t.Fatalf("resource %s: %v", h.ResourceURL, err)
		}
		_ = res.Body.Close()
		return res
	}
	res := call(c.HTTPClient())
	if res.StatusCode != http.StatusOK {
		t.Fatalf("resource over the client's certificate: HTTP %d, want 200", res.StatusCode)
	}
	if got := res.Header.Get("x-fapi-interaction-id"); got != interactionID {
		t.Errorf("resource x-fapi-interaction-id %q, want %q echoed", got, interactionID)
	}
	if res.Header.Get("Date") == "" {
		t.Error("resource sent no Date header")
	}
	noCert := c.WithTLSCertificate(nil)
	defer noCert.CloseIdleConnections()
	if res := call(noCert.HTTPClient()); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("resource without the bound certificate: HTTP %d, want 401", res.StatusCode)
	}
}

// exchangeText renders an exchange for a failure message.
func exchangeText(ex *client.Exchange) string {
	if ex == nil {
		return "(no exchange)"
	}
	return fmt.Sprintf("%s %s -> HTTP %d %s", ex.Method, ex.URL, ex.Status, ex.ResponseBody)
}
