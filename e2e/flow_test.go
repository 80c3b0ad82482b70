package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/devenv"
)

func TestDiscoveryPublishesFAPICIBAMetadata(t *testing.T) {
	w := newWorld(t, nil)
	md := w.md
	if md.Issuer != w.env.Issuer {
		t.Errorf("issuer %q, want %q", md.Issuer, w.env.Issuer)
	}
	for name, v := range map[string]string{
		"backchannel_authentication_endpoint": md.BackchannelAuthenticationEndpoint,
		"token_endpoint":                      md.TokenEndpoint,
		"jwks_uri":                            md.JWKSURI,
		"userinfo_endpoint":                   md.UserinfoEndpoint,
	} {
		if v == "" {
			t.Errorf("%s missing", name)
		}
	}
	if !containsAll(md.BackchannelTokenDeliveryModesSupported, ciba.ModePoll, ciba.ModePing) {
		t.Errorf("delivery modes %v lack poll or ping", md.BackchannelTokenDeliveryModesSupported)
	}
	for _, m := range md.BackchannelTokenDeliveryModesSupported {
		if m == ciba.ModePush {
			t.Errorf("push advertised under FAPI (FAPI-CIBA 5.2.2-3)")
		}
	}
	for name, algs := range map[string][]string{
		"backchannel_authentication_request_signing_alg_values_supported": md.BackchannelAuthenticationRequestSigningAlgs,
		"id_token_signing_alg_values_supported":                           md.IDTokenSigningAlgValuesSupported,
		"token_endpoint_auth_signing_alg_values_supported":                md.TokenEndpointAuthSigningAlgValuesSupported,
	} {
		if len(algs) == 0 {
			t.Errorf("%s empty", name)
		}
		for _, a := range algs {
			if a != ciba.AlgPS256 && a != ciba.AlgES256 {
				t.Errorf("%s lists %s; FAPI allows PS256 and ES256 only", name, a)
			}
		}
	}
	if !containsAll(md.GrantTypesSupported, ciba.GrantTypeCIBA, ciba.GrantTypeRefreshToken) {
		t.Errorf("grant types %v", md.GrantTypesSupported)
	}
	if !containsAll(md.TokenEndpointAuthMethodsSupported, ciba.AuthPrivateKeyJWT, ciba.AuthTLSClient, ciba.AuthSelfSignedTLSClient) {
		t.Errorf("auth methods %v", md.TokenEndpointAuthMethodsSupported)
	}
	for _, m := range md.TokenEndpointAuthMethodsSupported {
		if !m.Valid() {
			t.Errorf("auth method %s offered; FAPI allows only private_key_jwt and mTLS", m)
		}
	}
	if !md.TLSClientCertificateBoundAccessTokens {
		t.Error("tls_client_certificate_bound_access_tokens is not true")
	}
	if !md.BackchannelUserCodeParameterSupported {
		t.Error("backchannel_user_code_parameter_supported is not true")
	}
	set := w.fetchJWKS()
	if len(set.Keys) == 0 {
		t.Fatal("JWKS is empty")
	}
	for _, k := range set.Keys {
		if k.KeyID == "" || !k.IsPublic() {
			t.Errorf("JWKS key %q: kid present and public only required", k.KeyID)
		}
	}
}

func containsAll[T comparable](list []T, want ...T) bool {
	for _, w := range want {
		if !slices.Contains(list, w) {
			return false
		}
	}
	return true
}

// A poll flow for every client authentication method: acknowledgement,
// device approval, tokens, certificate-bound access token.
func TestPollFlowForEachClientAuthMethod(t *testing.T) {
	w := newWorld(t, nil)
	for _, id := range []string{"poll-pkjwt-es256", "poll-pkjwt-ps256", "poll-mtls", "poll-selfsigned"} {
		t.Run(id, func(t *testing.T) {
			c := w.client(id)
			ack := w.authenticate(c, w.params(c, "alice"))
			if !hasOnlyURLSafe(ack.AuthReqID) || len(ack.AuthReqID) < 22 {
				t.Errorf("auth_req_id %q: want >= 128 bits in A-Z a-z 0-9 . - _ (CIBA 7.3)", ack.AuthReqID)
			}
			if ack.ExpiresIn <= 0 || ack.Interval != 1 {
				t.Errorf("expires_in %d interval %d, want positive and 1", ack.ExpiresIn, ack.Interval)
			}
			w.settled(ack.AuthReqID)
			tr, ex, err := c.Token(w.ctx(), ack.AuthReqID)
			wantOK(t, ex, err, "token after approval")
			if got := ex.ResponseHeader.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q, want no-store (OIDC 3.1.3.3)", got)
			}
			if tr.TokenType != "Bearer" || tr.AccessToken == "" || tr.ExpiresIn <= 0 || tr.RefreshToken == "" {
				t.Errorf("token response %+v", tr)
			}
			claims := w.idToken(tr.IDToken, id, tr.AccessToken)
			if claims["sub"] != "user-alice" {
				t.Errorf("sub %v, want user-alice", claims["sub"])
			}

			info, ex, err := c.UserInfo(w.ctx(), tr.AccessToken)
			wantOK(t, ex, err, "userinfo with the bound certificate")
			if info["sub"] != "user-alice" {
				t.Errorf("userinfo sub %v", info["sub"])
			}
			other := w.withCert(c, w.certOf("ping-mtls"))
			_, ex, err = other.UserInfo(w.ctx(), tr.AccessToken)
			wantOAuthError(t, ex, err, "invalid_token", http.StatusUnauthorized)

			intro, ex, err := c.Introspect(w.ctx(), tr.AccessToken, "access_token")
			wantOK(t, ex, err, "introspection")
			cert := w.certOf(id)
			if !intro.Active || intro.CNF["x5t#S256"] != thumbprint(cert.Leaf.Raw) {
				t.Errorf("introspection %+v: want active and cnf x5t#S256 of the client certificate (RFC 8705 3.1)", intro)
			}

			// Redeemed: the same auth_req_id never gives tokens again.
			_, ex, err = c.Token(w.ctx(), ack.AuthReqID)
			wantOAuthError(t, ex, err, "invalid_grant")
		})
	}
}

// Interval enforcement (CIBA 11): polling faster than the interval gives
// slow_down and raises the interval by 5 s; pending answers follow at the
// new pace; after the user approves, tokens.
func TestSlowDownThenApproval(t *testing.T) {
	w := newWorld(t, nil)
	c := w.client("poll-mtls")
	ack := w.authenticate(c, w.params(c, "carol")) // the device never answers by itself
	w.arrived(ack.AuthReqID)

	_, ex, err := c.Token(w.ctx(), ack.AuthReqID)
	wantOAuthError(t, ex, err, "authorization_pending")
	_, ex, err = c.Token(w.ctx(), ack.AuthReqID)
	wantOAuthError(t, ex, err, "slow_down")

	// The interval is now 1+5 s: 5 s later is still too fast.
	w.answersAfter(t, c, ack.AuthReqID, 5*time.Second, "slow_down")
	w.answersAfter(t, c, ack.AuthReqID, 11*time.Second, "authorization_pending")

	if err := w.env.Device.Decide(w.ctx(), ack.AuthReqID, ciba.DeviceSucceed); err != nil {
		t.Fatalf("approving by hand: %v", err)
	}
	w.clock.Advance(11 * time.Second)
	tr, ex, err := c.Token(w.ctx(), ack.AuthReqID)
	wantOK(t, ex, err, "token after approval")
	w.idToken(tr.IDToken, c.ClientID(), tr.AccessToken)
}

// expired_token once expires_in has passed (CIBA 11); requested_expiry
// drives expires_in (CIBA 7.1, 7.3).
func TestExpiry(t *testing.T) {
	w := newWorld(t, nil)
	c := w.client("poll-pkjwt-ps256")
	p := w.params(c, "carol")
	p.RequestedExpiry = 10
	ack := w.authenticate(c, p)
	if ack.ExpiresIn != 10 {
		t.Errorf("expires_in %d, want the requested 10", ack.ExpiresIn)
	}
	w.arrived(ack.AuthReqID)
	_, ex, err := c.Token(w.ctx(), ack.AuthReqID)
	wantOAuthError(t, ex, err, "authorization_pending")
	w.answersAfter(t, c, ack.AuthReqID, 9*time.Second, "authorization_pending")
	w.answersAfter(t, c, ack.AuthReqID, 2*time.Second, "expired_token")

	// A late approval cannot revive it.
	_ = w.env.Device.Decide(w.ctx(), ack.AuthReqID, ciba.DeviceSucceed)
	w.noTokensLater(t, c, ack.AuthReqID, "issued for an expired request")
}

// A denial (UNAUTHORIZED) and a cancellation both end in access_denied (CIBA 11).
func TestDenialAndCancellation(t *testing.T) {
	w := newWorld(t, nil)
	c := w.client("poll-pkjwt-es256")
	for _, user := range []string{"bob", "erin"} {
		t.Run(user, func(t *testing.T) {
			ack := w.authenticate(c, w.params(c, user))
			w.settled(ack.AuthReqID)
			_, ex, err := c.Token(w.ctx(), ack.AuthReqID)
			wantOAuthError(t, ex, err, "access_denied")
			w.noTokensLater(t, c, ack.AuthReqID, "after denial")
		})
	}
}

// When the device itself fails, the client never gets tokens and never a 5xx.
func TestDeviceFailure(t *testing.T) {
	w := newWorld(t, nil)
	c := w.client("poll-pkjwt-es256")
	ack := w.authenticate(c, w.params(c, "frank"))
	req, err := w.env.Device.Wait(w.ctx(), ack.AuthReqID)
	if err != nil {
		t.Fatal(err)
	}
	if req.ResponseStatus != http.StatusServiceUnavailable {
		t.Fatalf("device answered %d, want the scripted 503", req.ResponseStatus)
	}
	w.clock.Advance(2 * time.Second)
	_, ex, err := c.Token(w.ctx(), ack.AuthReqID)
	if err == nil || ex.Status >= 500 {
		t.Fatalf("want an OAuth error after the device failed, got %v: %s", err, dump(ex))
	}
}

// Exactly-once issuance (CIBA.md §3.3): 50 concurrent token requests for
// one approved auth_req_id give one set of tokens; the rest invalid_grant.
func TestExactlyOnceUnderConcurrency(t *testing.T) {
	w := newWorld(t, nil)
	c := w.client("poll-pkjwt-es256")
	ack := w.authenticate(c, w.params(c, "alice"))
	w.settled(ack.AuthReqID)

	const n = 50
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		successes int
		codes     = map[string]int{}
		start     = make(chan struct{})
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, ex, err := c.Token(w.ctx(), ack.AuthReqID)
			mu.Lock()
			defer mu.Unlock()
			var oe *ciba.Error
			switch {
			case err == nil:
				successes++
			case errors.As(err, &oe):
				codes[oe.Code]++
			default:
				codes["transport: "+err.Error()]++
			}
			if ex != nil && ex.Status >= 500 {
				codes["5xx"]++
			}
		}()
	}
	close(start)
	wg.Wait()
	if successes != 1 || codes["invalid_grant"] != n-1 {
		t.Fatalf("%d successes and %v; want exactly 1 success and %d invalid_grant", successes, codes, n-1)
	}
}

// An auth_req_id is bound to its client (CIBA 11): another client gets
// invalid_grant and the rightful client is unaffected.
func TestAuthReqIDIsBoundToItsClient(t *testing.T) {
	w := newWorld(t, nil)
	owner, thief := w.client("poll-pkjwt-es256"), w.client("poll-pkjwt-ps256")
	ack := w.authenticate(owner, w.params(owner, "alice"))
	w.settled(ack.AuthReqID)
	_, ex, err := thief.Token(w.ctx(), ack.AuthReqID)
	wantOAuthError(t, ex, err, "invalid_grant")
	tr, ex, err := owner.Token(w.ctx(), ack.AuthReqID)
	wantOK(t, ex, err, "owner after the theft attempt")
	if tr.AccessToken == "" {
		t.Fatal("owner got no access token")
	}
}

// Ping mode (CIBA 10.2): on approval and on denial the OP POSTs
// {"auth_req_id"} with the client's bearer token, then the client calls
// the token endpoint.
func TestPingFlow(t *testing.T) {
	w := newWorld(t, nil)
	for _, tc := range []struct {
		client, user string
		wantTokens   bool
	}{
		{"ping-pkjwt-ps256", "alice", true},
		{"ping-mtls", "alice", true},
		{"ping-mtls", "bob", false},
		{"ping-pkjwt-ps256", "erin", false},
	} {
		t.Run(tc.client+"/"+tc.user, func(t *testing.T) {
			c := w.client(tc.client)
			p := w.params(c, tc.user)
			ack := w.authenticate(c, p)
			n, err := w.receiver.Wait(w.ctx(), ack.AuthReqID)
			if err != nil {
				t.Fatalf("no ping for %s: %v", ack.AuthReqID, err)
			}
			if n.Method != http.MethodPost || n.BearerToken != p.ClientNotificationToken {
				t.Errorf("ping %s with bearer %q, want POST with the client_notification_token", n.Method, n.BearerToken)
			}
			if ct := n.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("ping content type %q", ct)
			}
			var body map[string]any
			if err := json.Unmarshal(n.Body, &body); err != nil || len(body) != 1 || body["auth_req_id"] != ack.AuthReqID {
				t.Errorf("ping body %s, want exactly {\"auth_req_id\"}", n.Body)
			}
			tr, ex, err := c.Token(w.ctx(), ack.AuthReqID)
			if tc.wantTokens {
				wantOK(t, ex, err, "token after ping")
				w.idToken(tr.IDToken, tc.client, tr.AccessToken)
			} else {
				wantOAuthError(t, ex, err, "access_denied")
			}
			if got := len(w.receiver.NotificationsFor(ack.AuthReqID)); got != 1 {
				t.Errorf("%d pings, want 1", got)
			}
		})
	}
}

// The OP never retries a ping answered 4xx and never follows a redirect
// (CIBA.md §4.1); the client still gets its tokens.
func TestPingAnswersAreNotRetriedOrFollowed(t *testing.T) {
	w := newWorld(t, nil)
	c := w.client("ping-mtls")
	for _, answer := range []client.Answer{
		client.AnswerStatus(http.StatusUnauthorized, ""),
		client.AnswerStatus(http.StatusForbidden, ""),
		client.AnswerRedirect("https://" + w.receiver.URL()[len("https://"):] + "/elsewhere"),
		client.AnswerStatus(http.StatusOK, `{"ignored":true}`),
	} {
		t.Run(http.StatusText(answer.Status), func(t *testing.T) {
			p := w.params(c, "carol")
			ack := w.authenticate(c, p)
			w.arrived(ack.AuthReqID)
			if err := w.receiver.SetAnswers(ack.AuthReqID, answer); err != nil {
				t.Fatal(err)
			}
			if err := w.env.Device.Decide(w.ctx(), ack.AuthReqID, ciba.DeviceSucceed); err != nil {
				t.Fatal(err)
			}
			if _, err := w.receiver.Wait(w.ctx(), ack.AuthReqID); err != nil {
				t.Fatal(err)
			}
			_, ex, err := c.Token(w.ctx(), ack.AuthReqID)
			wantOK(t, ex, err, "token after the ping was answered "+http.StatusText(answer.Status))
			// A retry would be scheduled on the fake clock some time after
			// the answer reached the OP; a negative can only be watched for
			// a bounded while, moving the clock on meanwhile.
			w.watchFor(300*time.Millisecond, func() string {
				for _, n := range w.receiver.Notifications() {
					if n.Path != devenv.NotifyPath {
						return "the OP followed the redirect to " + n.Path
					}
				}
				if got := len(w.receiver.NotificationsFor(ack.AuthReqID)); got != 1 {
					return fmt.Sprintf("%d pings, want exactly 1", got)
				}
				return ""
			})
		})
	}
}

// Push mode exists only with FAPI off (FAPI-CIBA 5.2.2-3); then the OP
// delivers the token response to the client (CIBA 10.3) with an ID token
// carrying the auth_req_id and at_hash (CIBA 10.3.1).
func TestPushWithFAPIOff(t *testing.T) {
	w := newWorld(t, func(o *devenv.Options) { o.PushAllowed = true })
	found := false
	for _, m := range w.md.BackchannelTokenDeliveryModesSupported {
		found = found || m == ciba.ModePush
	}
	if !found {
		t.Fatalf("push not advertised with FAPI off: %v", w.md.BackchannelTokenDeliveryModesSupported)
	}
	c := w.client("push-pkjwt-es256")
	p := w.params(c, "alice")
	ack := w.authenticate(c, p)
	n, err := w.receiver.Wait(w.ctx(), ack.AuthReqID)
	if err != nil {
		t.Fatalf("no push: %v", err)
	}
	if n.BearerToken != p.ClientNotificationToken {
		t.Errorf("push bearer %q, want the client_notification_token", n.BearerToken)
	}
	tokens, failure, err := n.PushPayload()
	if err != nil || failure != nil || tokens == nil {
		t.Fatalf("push payload %s: tokens %v, error %v, %v", n.Body, tokens, failure, err)
	}
	claims := w.idToken(tokens.IDToken, c.ClientID(), tokens.AccessToken)
	if claims[ciba.ClaimAuthReqID] != ack.AuthReqID {
		t.Errorf("push ID token %s = %v, want %s", ciba.ClaimAuthReqID, claims[ciba.ClaimAuthReqID], ack.AuthReqID)
	}

	// A denial is pushed as an error payload (CIBA 12).
	p = w.params(c, "bob")
	ack = w.authenticate(c, p)
	n, err = w.receiver.Wait(w.ctx(), ack.AuthReqID)
	if err != nil {
		t.Fatalf("no push for the denial: %v", err)
	}
	if _, failure, err = n.PushPayload(); err != nil || failure == nil || failure.Error != "access_denied" {
		t.Fatalf("push payload %s: want an access_denied error payload", n.Body)
	}
}

// Under FAPI a push client cannot even be registered, so the environment
// has none; a FAPI OP refuses push at the backchannel endpoint
// (FAPI-CIBA 5.2.2-3) — proven with the push-under-fapi fault off and on in
// the fault tests of the conformance suite.

// Refresh (RFC 6749 6): the owner gets a new certificate-bound access
// token; another client's refresh token is refused.
func TestRefreshToken(t *testing.T) {
	w := newWorld(t, nil)
	owner, other := w.client("poll-pkjwt-es256"), w.client("poll-mtls")
	ack := w.authenticate(owner, w.params(owner, "alice"))
	w.settled(ack.AuthReqID)
	tr, ex, err := owner.Token(w.ctx(), ack.AuthReqID)
	wantOK(t, ex, err, "tokens")

	_, ex, err = other.Refresh(w.ctx(), tr.RefreshToken, "")
	wantOAuthError(t, ex, err, "invalid_grant")
	_, ex, err = owner.Refresh(w.ctx(), tr.RefreshToken, "openid profile admin")
	wantOAuthError(t, ex, err, "invalid_scope")

	refreshed, ex, err := owner.Refresh(w.ctx(), tr.RefreshToken, "openid")
	wantOK(t, ex, err, "refresh")
	if refreshed.AccessToken == "" || refreshed.AccessToken == tr.AccessToken {
		t.Fatalf("refresh gave access token %q", refreshed.AccessToken)
	}
	if _, ex, err := owner.UserInfo(w.ctx(), refreshed.AccessToken); err != nil {
		t.Fatalf("refreshed token with the owner's certificate: %v %s", err, dump(ex))
	}
	_, ex, err = w.withCert(owner, w.certOf("poll-mtls")).UserInfo(w.ctx(), refreshed.AccessToken)
	wantOAuthError(t, ex, err, "invalid_token", http.StatusUnauthorized)
}

// The device shows what the client asked for (CIBA 7.1 binding_message,
// user_code) and the OP only acts on the device's answer.
func TestDeviceSeesBindingMessageAndUserCode(t *testing.T) {
	w := newWorld(t, nil)
	c := w.client("poll-selfsigned")
	p := w.params(c, "grace")
	p.BindingMessage = "Pay 12.50 EUR to Shop 7"
	p.UserCode = "4711"
	ack := w.authenticate(c, p)
	req, err := w.env.Device.Wait(w.ctx(), ack.AuthReqID)
	if err != nil {
		t.Fatal(err)
	}
	if req.BindingMessage != p.BindingMessage || req.UserCode != "4711" || req.LoginHint != "grace" || req.ClientID != c.ClientID() {
		t.Errorf("device saw %+v", req)
	}
	if req.Scope != "openid profile" {
		t.Errorf("device saw scope %q", req.Scope)
	}
	w.settled(ack.AuthReqID)
}

// Revocation (RFC 7009): a revoked access token no longer works.
func TestRevocation(t *testing.T) {
	w := newWorld(t, nil)
	c := w.client("poll-mtls")
	ack := w.authenticate(c, w.params(c, "alice"))
	w.settled(ack.AuthReqID)
	tr, ex, err := c.Token(w.ctx(), ack.AuthReqID)
	wantOK(t, ex, err, "tokens")
	if ex, err := c.Revoke(w.ctx(), tr.AccessToken, "access_token"); err != nil {
		t.Fatalf("revoke: %v %s", err, dump(ex))
	}
	_, ex, err = c.UserInfo(w.ctx(), tr.AccessToken)
	wantOAuthError(t, ex, err, "invalid_token", http.StatusUnauthorized)
	intro, ex, err := c.Introspect(w.ctx(), tr.AccessToken, "")
	wantOK(t, ex, err, "introspect")
	if intro.Active {
		t.Error("revoked token is still active")
	}
}

// A push request the user never decides ends in an expired_token error
// payload at its expiry (CIBA 12): a push client never polls, so it would
// otherwise hear nothing.
func TestPushExpiry(t *testing.T) {
	w := newWorld(t, func(o *devenv.Options) { o.PushAllowed = true })
	c := w.client("push-pkjwt-es256")
	p := w.params(c, "carol") // the device never answers
	p.RequestedExpiry = 10
	ack := w.authenticate(c, p)
	w.arrived(ack.AuthReqID)
	if got := len(w.receiver.NotificationsFor(ack.AuthReqID)); got != 0 {
		t.Fatalf("%d pushes before expiry, want 0", got)
	}
	w.clock.Advance(11 * time.Second)
	n, err := w.receiver.Wait(w.ctx(), ack.AuthReqID)
	if err != nil {
		t.Fatalf("no push at expiry: %v", err)
	}
	if n.BearerToken != p.ClientNotificationToken {
		t.Errorf("push bearer %q, want the client_notification_token", n.BearerToken)
	}
	if _, failure, err := n.PushPayload(); err != nil || failure == nil || failure.Error != "expired_token" || failure.AuthReqID != ack.AuthReqID {
		t.Fatalf("push payload %s: want an expired_token error payload for %s", n.Body, ack.AuthReqID)
	}
	// A late approval changes nothing and pushes nothing more.
	_ = w.env.Device.Decide(w.ctx(), ack.AuthReqID, ciba.DeviceSucceed)
	w.watchFor(200*time.Millisecond, func() string {
		if got := len(w.receiver.NotificationsFor(ack.AuthReqID)); got != 1 {
			return fmt.Sprintf("%d pushes, want exactly 1", got)
		}
		return ""
	})
}
