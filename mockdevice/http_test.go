package mockdevice

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/ciba-check/ciba-check/ciba"
)

func TestChannelRejectsBadInput(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Default = Policy{Outcome: ciba.OutcomeNever} })
	good := `{"scope":"openid","login_hint":"u","is_consent_required":false}`
	bearer := "Bearer " + h.token(t, "req-1")
	noJTI := defaultClaims("")
	tests := []struct {
		name        string
		method      string
		auth        string
		contentType string
		body        string
		want        int
		wantCode    string
	}{
		{"no Authorization", http.MethodPost, "", "application/json", good, 401, "invalid_token"},
		{"basic auth", http.MethodPost, "Basic dTpw", "application/json", good, 401, "invalid_token"},
		{"empty bearer", http.MethodPost, "Bearer ", "application/json", good, 401, "invalid_token"},
		{"opaque bearer", http.MethodPost, "Bearer not-a-jwt", "application/json", good, 401, "invalid_token"},
		{"bearer without jti", http.MethodPost, "Bearer " + sign(t, h.key.private, jose.ES256, noJTI), "application/json", good, 401, "invalid_token"},
		{"invalid JSON", http.MethodPost, bearer, "application/json", `{"scope":`, 400, "invalid_request"},
		{"JSON array", http.MethodPost, bearer, "application/json", `[1,2]`, 400, "invalid_request"},
		{"wrong member type", http.MethodPost, bearer, "application/json", `{"is_consent_required":"yes"}`, 400, "invalid_request"},
		{"trailing data", http.MethodPost, bearer, "application/json", good + `{}`, 400, "invalid_request"},
		{"empty body", http.MethodPost, bearer, "application/json", ``, 400, "invalid_request"},
		{"form body", http.MethodPost, bearer, "application/x-www-form-urlencoded", "scope=openid", 415, "invalid_request"},
		{"huge body", http.MethodPost, bearer, "application/json", `{"scope":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, 413, "invalid_request"},
		{"GET on channel", http.MethodGet, bearer, "", "", 405, "method_not_allowed"},
		{"PUT on channel", http.MethodPut, bearer, "application/json", good, 405, "method_not_allowed"},
		{"unknown route", http.MethodPost, bearer, "application/json", good, 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := PathChannel
			if tt.name == "unknown route" {
				target = "/authenticate"
			}
			w := h.do(tt.method, target, tt.auth, tt.contentType, tt.body)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.want, w.Body)
			}
			if e := decodeError(t, w); e.Error != tt.wantCode {
				t.Errorf("error %q, want %q", e.Error, tt.wantCode)
			}
			if tt.want == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate (RFC 6750 3)")
			}
			if tt.want == 405 && w.Header().Get("Allow") != "POST" {
				t.Errorf("Allow %q", w.Header().Get("Allow"))
			}
		})
	}
	if n := len(h.device.Requests()); n != 0 {
		t.Fatalf("bad requests were recorded: %d", n)
	}
	// A missing Content-Type is tolerated; a second request with the same
	// jti is a conflict.
	if w := h.do(http.MethodPost, PathChannel, bearer, "", good); w.Code != http.StatusCreated {
		t.Fatalf("without Content-Type: %d %s", w.Code, w.Body)
	}
	w := h.do(http.MethodPost, PathChannel, bearer, "application/json; charset=utf-8", good)
	if w.Code != http.StatusConflict {
		t.Fatalf("duplicate jti: %d %s", w.Code, w.Body)
	}
	decodeError(t, w)
}

func TestChannelTokenVerification(t *testing.T) {
	other := newOPKey(t, "op-key-1") // same kid, different key
	claimsWith := func(edit func(*tokenClaims)) tokenClaims {
		c := defaultClaims("req-v")
		edit(&c)
		return c
	}
	hmacKey := jose.JSONWebKey{Key: []byte(strings.Repeat("k", 32)), KeyID: "op-key-1"}
	tests := []struct {
		name  string
		token func(h *harness) string
		want  int
	}{
		{"valid", func(h *harness) string { return h.token(t, "req-v") }, 201},
		{"signed by another key", func(*harness) string { return sign(t, other.private, jose.ES256, defaultClaims("req-v")) }, 401},
		{"expired", func(h *harness) string {
			return sign(t, h.key.private, jose.ES256, claimsWith(func(c *tokenClaims) { c.Expiry = jwt.NewNumericDate(epoch.Add(-time.Minute)) }))
		}, 401},
		{"no exp", func(h *harness) string {
			return sign(t, h.key.private, jose.ES256, claimsWith(func(c *tokenClaims) { c.Expiry = nil }))
		}, 401},
		{"wrong iss", func(h *harness) string {
			return sign(t, h.key.private, jose.ES256, claimsWith(func(c *tokenClaims) {
				c.Issuer = "https://evil.test"
				c.Audience = jwt.Audience{"https://evil.test"}
			}))
		}, 401},
		{"aud is not the issuer", func(h *harness) string {
			return sign(t, h.key.private, jose.ES256, claimsWith(func(c *tokenClaims) { c.Audience = jwt.Audience{"client-1"} }))
		}, 401},
		{"unknown kid", func(*harness) string {
			k := newOPKey(t, "rotated")
			return sign(t, k.private, jose.ES256, defaultClaims("req-v"))
		}, 401},
		{"HS256", func(*harness) string { return sign(t, hmacKey, jose.HS256, defaultClaims("req-v")) }, 401},
		{"malformed JWT", func(h *harness) string {
			parts := strings.Split(h.token(t, "req-v"), ".")
			return parts[0] + ".e30." + parts[2] + "x"
		}, 401},
		{"not a JWT", func(*harness) string { return "a.b.c" }, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := newOPKey(t, "op-key-1")
			h := newHarnessWithKey(t, key, func(c *Config) {
				c.Default = Policy{Outcome: ciba.OutcomeNever}
				c.Issuer = testIssuer
				c.VerifyKeys = StaticKeys(key.public)
			})
			w := h.do(http.MethodPost, PathChannel, "Bearer "+tt.token(h), "application/json", `{"scope":"openid","login_hint":"u"}`)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.want, w.Body)
			}
			if tt.want == 401 {
				decodeError(t, w)
			}
		})
	}
}

func TestRemoteKeysRefetchOnlyForUnknownKid(t *testing.T) {
	first, second := newOPKey(t, "k1"), newOPKey(t, "k2")
	fetches := 0
	current := first.public
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches++
		_ = json.NewEncoder(w).Encode(current)
	}))
	defer jwks.Close()
	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	h := newHarness(t, func(c *Config) {
		c.Default = Policy{Outcome: ciba.OutcomeNever}
		c.VerifyKeys = RemoteKeys(&http.Client{Transport: transport}, jwks.URL)
	})
	post := func(key opKey, id string) int {
		return h.do(http.MethodPost, PathChannel, "Bearer "+sign(t, key.private, jose.ES256, defaultClaims(id)),
			"application/json", `{"login_hint":"u"}`).Code
	}
	steps := []struct {
		key         opKey
		id          string
		want        int
		wantFetches int
	}{
		{first, "r1", 201, 1},
		{first, "r2", 201, 1},  // cached
		{second, "r3", 401, 2}, // unknown kid: refetched, still unknown
	}
	for _, s := range steps {
		if got := post(s.key, s.id); got != s.want || fetches != s.wantFetches {
			t.Fatalf("%s: status %d fetches %d, want %d and %d", s.id, got, fetches, s.want, s.wantFetches)
		}
	}
	current = &jose.JSONWebKeySet{Keys: append(first.public.Keys, second.public.Keys...)} // the OP rotated
	if got := post(second, "r4"); got != 201 || fetches != 3 {
		t.Fatalf("after rotation: status %d fetches %d", got, fetches)
	}
}

func TestHTTPAPIRoutes(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Default = Policy{Outcome: ciba.OutcomeNever} })
	h.send(t, "r1", "u1", http.StatusCreated)
	h.send(t, "r2", "u2", http.StatusCreated)

	w := h.do(http.MethodGet, "/requests", "", "", "")
	var list []Request
	if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil || w.Code != 200 {
		t.Fatalf("GET /requests: %d %s", w.Code, w.Body)
	}
	if len(list) != 2 || list[0].ID != "r1" || list[1].ID != "r2" || list[0].BindingMessage != "BM-r1" {
		t.Fatalf("list %+v", list)
	}
	var one Request
	w = h.do(http.MethodGet, "/requests/r2", "", "", "")
	if err := json.Unmarshal(w.Body.Bytes(), &one); err != nil || one.LoginHint != "u2" || one.State != StatePending {
		t.Fatalf("GET /requests/r2: %d %s", w.Code, w.Body)
	}
	if strings.Contains(w.Body.String(), "decided_at") {
		t.Errorf("a pending request shows decided_at: %s", w.Body)
	}

	tests := []struct {
		name, method, target, body string
		want                       int
		wantCallback               ciba.DeviceStatus
	}{
		{"get unknown", "GET", "/requests/nope", "", 404, ""},
		{"approve", "POST", "/requests/r1/approve", "", 200, ciba.DeviceSucceed},
		{"approve twice", "POST", "/requests/r1/approve", "", 409, ""},
		{"deny after approve", "POST", "/requests/r1/deny", "", 409, ""},
		{"bad action", "POST", "/requests/r2/maybe", "", 400, ""},
		{"decide unknown", "POST", "/requests/nope/deny", "", 404, ""},
		{"decide with GET", "GET", "/requests/r2/deny", "", 405, ""},
		{"cancel", "POST", "/requests/r2/cancel", "", 200, ciba.DeviceCancelled},
		{"list with POST", "POST", "/requests", "", 405, ""},
		{"put policy", "PUT", "/policies/bob", `{"outcome":"deny","delay":"2s"}`, 200, ""},
		{"put policy hint with slash", "PUT", "/policies/tenant/bob", `{"outcome":"approve"}`, 200, ""},
		{"put error policy", "PUT", "/policies/eve", `{"outcome":"error","error_status":502}`, 200, ""},
		{"policy unknown outcome", "PUT", "/policies/bob", `{"outcome":"perhaps"}`, 400, ""},
		{"policy typo member", "PUT", "/policies/bob", `{"outcom":"deny"}`, 400, ""},
		{"policy bad delay", "PUT", "/policies/bob", `{"outcome":"deny","delay":"soon"}`, 400, ""},
		{"policy negative delay", "PUT", "/policies/bob", `{"outcome":"deny","delay":"-1s"}`, 400, ""},
		{"policy bad status", "PUT", "/policies/bob", `{"outcome":"error","error_status":200}`, 400, ""},
		{"policy not JSON", "PUT", "/policies/bob", `outcome=deny`, 400, ""},
		{"policy huge", "PUT", "/policies/bob", `{"outcome":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, 413, ""},
		{"policy with POST", "POST", "/policies/bob", `{"outcome":"deny"}`, 405, ""},
		{"delete policy", "DELETE", "/policies/tenant/bob", "", 204, ""},
		{"put policy without hint", "PUT", "/policies/", `{"outcome":"deny"}`, 400, ""},
		{"delete policy without hint", "DELETE", "/policies/", "", 400, ""},
		{"put default", "PUT", "/policy", `{"outcome":"never"}`, 200, ""},
		{"put default bad", "PUT", "/policy", `{"outcome":"never","delay":"1s"}`, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := h.do(tt.method, tt.target, "", "application/json", tt.body)
			if w.Code != tt.want {
				t.Fatalf("%s %s: %d, want %d; body %s", tt.method, tt.target, w.Code, tt.want, w.Body)
			}
			if w.Code >= 400 {
				decodeError(t, w)
			}
			if tt.wantCallback != "" {
				if cb := h.op.next(t); cb.Body.Status != tt.wantCallback {
					t.Fatalf("callback %q, want %q", cb.Body.Status, tt.wantCallback)
				}
			}
		})
	}
	h.op.expectNone(t)

	var pol policiesResponse
	w = h.do(http.MethodGet, "/policies", "", "", "")
	if err := json.Unmarshal(w.Body.Bytes(), &pol); err != nil {
		t.Fatalf("GET /policies: %d %s", w.Code, w.Body)
	}
	wantBob := Policy{Outcome: ciba.OutcomeDeny, Delay: 2 * time.Second}
	if pol.Policies["bob"] != wantBob || pol.Policies["eve"].ErrorStatus != 502 || pol.Default.Outcome != ciba.OutcomeNever || len(pol.Policies) != 2 {
		t.Fatalf("policies %+v", pol)
	}

	// The policy scripted over HTTP drives the next request for bob.
	h.send(t, "r3", "bob", http.StatusCreated)
	h.clock.Advance(2 * time.Second)
	if cb := h.op.next(t); cb.Body.Status != ciba.DeviceUnauthorized {
		t.Fatalf("callback %q", cb.Body.Status)
	}
	h.send(t, "r4", "eve", http.StatusBadGateway)
}

func TestHandDecisionReports502WhenTheOPRefuses(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Default = Policy{Outcome: ciba.OutcomeNever} })
	h.op.setStatus(http.StatusBadRequest)
	h.send(t, "r1", "u", http.StatusCreated)
	w := h.do(http.MethodPost, "/requests/r1/approve", "", "", "")
	if w.Code != http.StatusBadGateway {
		t.Fatalf("status %d, want 502; %s", w.Code, w.Body)
	}
	if e := decodeError(t, w); e.Error != "callback_failed" || !strings.Contains(e.ErrorDescription, "400") {
		t.Fatalf("error %+v", e)
	}
	h.op.next(t)
}

func TestApprovalURLContract(t *testing.T) {
	if got, want := ApprovalURLTemplate("https://127.0.0.1:8443/"), "https://127.0.0.1:8443/action?token={auth_req_id}&type={action}"; got != want {
		t.Fatalf("template %q, want %q", got, want)
	}
	h := newHarness(t, func(c *Config) { c.Default = Policy{Outcome: ciba.OutcomeNever} })
	device := httptest.NewServer(h.device.Handler())
	defer device.Close()
	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport}

	// auth_req_ids are opaque: make sure URL-escaping round-trips.
	idAllow, idDeny := "aR+q/1=", "deny-me"
	h.send(t, idAllow, "u", http.StatusCreated)
	h.send(t, idDeny, "u", http.StatusCreated)
	call := func(id, action string) int {
		// Substitute as the OIDF suite's URI template does: values encoded.
		u := strings.NewReplacer("{auth_req_id}", url.QueryEscape(id), "{action}", url.QueryEscape(action)).
			Replace(ApprovalURLTemplate(device.URL))
		req, _ := http.NewRequest(http.MethodPost, u, nil)
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 400 {
			var e ciba.ErrorResponse
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e.Error == "" {
				t.Errorf("error answer without a JSON error body (%v)", err)
			}
		}
		return resp.StatusCode
	}
	tests := []struct {
		name, id, action string
		want             int
		wantCallback     ciba.DeviceStatus
	}{
		{"allow", idAllow, "allow", 200, ciba.DeviceSucceed},
		{"allow again", idAllow, "allow", 409, ""},
		{"deny", idDeny, "deny", 200, ciba.DeviceUnauthorized},
		{"unknown id", "nope", "allow", 404, ""},
		{"bad action", idDeny, "approve", 400, ""},
		{"no token", "", "allow", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := call(tt.id, tt.action); got != tt.want {
				t.Fatalf("status %d, want %d", got, tt.want)
			}
			if tt.wantCallback != "" {
				if cb := h.op.next(t); cb.Body.Status != tt.wantCallback {
					t.Fatalf("callback %q", cb.Body.Status)
				}
			}
		})
	}
	// The same opaque id is reachable, escaped, on /requests/{id}.
	var r Request
	w := h.do(http.MethodGet, "/requests/"+url.PathEscape(idAllow), "", "", "")
	if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil || r.ID != idAllow || r.State != StateApproved {
		t.Fatalf("GET escaped id: %d %s", w.Code, w.Body)
	}
	if w := h.do(http.MethodGet, "/action?token=x&type=allow", "", "", ""); w.Code != 405 {
		t.Fatalf("GET /action: %d", w.Code)
	}
	h.op.expectNone(t)
}

// TestKeycloakShapedRequest replays the authentication request as Keycloak's
// HTTP authentication channel sends it: its JSON member names, its bearer
// token claims (typ, azp, a UUID jti, aud = realm issuer, RS256) and its
// callback path.
func TestKeycloakShapedRequest(t *testing.T) {
	const realm = "https://kc.example.test/realms/fapi"
	op := newFakeOP(t)
	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	// Keycloak signs the channel token with the realm's default, RS256.
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	signing := jose.JSONWebKey{Key: rsaKey, KeyID: "kc-rsa", Algorithm: string(jose.RS256), Use: "sig"}
	d, err := New(Config{
		CallbackURL: op.server.URL + "/realms/fapi/protocol/openid-connect/ext/ciba/auth/callback",
		HTTPClient:  &http.Client{Transport: transport},
		VerifyKeys:  StaticKeys(&jose.JSONWebKeySet{Keys: []jose.JSONWebKey{signing.Public()}}),
		Issuer:      realm,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	device := httptest.NewServer(d.Handler())
	defer device.Close()

	claims := map[string]any{
		"exp": time.Now().Add(2 * time.Minute).Unix(), "iat": time.Now().Unix(),
		"jti": "5b3c9e57-8f4e-4d0a-9a53-6f1f5b0c2f11", "iss": realm, "aud": realm,
		"sub": "2a7e5e0e-1c1f-4b6e-9f7a-0b9e8f1c2d3e", "typ": "Bearer", "azp": "fapi-ciba-client",
		"scope": "openid profile",
	}
	token := sign(t, signing, jose.RS256, claims)
	body := `{"scope":"openid profile","binding_message":"ABC-123","login_hint":"john","is_consent_required":true,"acr_values":"gold"}`
	req, _ := http.NewRequest(http.MethodPost, device.URL+PathChannel, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d, want 201 (Keycloak treats anything else as failure)", resp.StatusCode)
	}
	cb := op.next(t)
	if cb.Path != "/realms/fapi/protocol/openid-connect/ext/ciba/auth/callback" || cb.RawBody != `{"status":"SUCCEED"}` || cb.Authorization != "Bearer "+token {
		t.Fatalf("callback %+v", cb)
	}
	got, err := d.WaitSettled(waitCtx(t), "5b3c9e57-8f4e-4d0a-9a53-6f1f5b0c2f11")
	if err != nil {
		t.Fatal(err)
	}
	if got.LoginHint != "john" || got.Scope != "openid profile" || got.BindingMessage != "ABC-123" ||
		!got.IsConsentRequired || got.ACRValues != "gold" || got.ClientID != "fapi-ciba-client" || got.Issuer != realm ||
		got.Subject != "2a7e5e0e-1c1f-4b6e-9f7a-0b9e8f1c2d3e" {
		t.Fatalf("recorded %+v", got)
	}
}
