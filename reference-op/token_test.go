package refop_test

import (
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	refop "github.com/ciba-check/ciba-check/reference-op"
)

// TestPollingStateMachine drives interval enforcement, expiry, denial and
// the cross-client rule with the fake clock (CIBA 11; CIBA.md 3.3, 7.4).
func TestPollingStateMachine(t *testing.T) {
	t.Run("slow_down raises the interval", func(t *testing.T) {
		h := newHarness(t)
		id := h.start(cPoll, nil)
		wantError(t, h.poll(cPoll, id), 400, "authorization_pending")
		wantError(t, h.poll(cPoll, id), 400, "slow_down") // interval now 2+5 = 7 s
		h.clock.Advance(3 * time.Second)
		wantError(t, h.poll(cPoll, id), 400, "slow_down") // 3 s < 7 s; interval 12 s
		h.clock.Advance(11 * time.Second)
		wantError(t, h.poll(cPoll, id), 400, "slow_down") // 11 s < 12 s; interval 17 s
		h.clock.Advance(17 * time.Second)
		wantError(t, h.poll(cPoll, id), 400, "authorization_pending")
	})
	t.Run("twenty back-to-back polls never 5xx nor tokens", func(t *testing.T) {
		h := newHarness(t)
		id := h.start(cPoll, nil)
		for i := 0; i < 20; i++ {
			r := h.poll(cPoll, id)
			if code := r.str("error"); r.status != 400 || (code != "authorization_pending" && code != "slow_down") {
				t.Fatalf("poll %d: %d %s", i, r.status, r.raw)
			}
		}
	})
	t.Run("expiry gives expired_token", func(t *testing.T) {
		h := newHarness(t)
		id := h.start(cPoll, map[string]any{"requested_expiry": 10})
		h.clock.Advance(10 * time.Second)
		wantError(t, h.poll(cPoll, id), 400, "expired_token")
		// A late approval is refused and changes nothing: the channel
		// token expired with the request, and Decide refuses too.
		wantError(t, h.decide(id, ciba.DeviceSucceed), 401, "invalid_token")
		if err := h.op.Decide(ctx(t), id, ciba.DeviceSucceed); !errors.Is(err, ciba.ErrInvalidRequest) {
			t.Errorf("late Decide: %v, want invalid_request", err)
		}
		wantError(t, h.poll(cPoll, id), 400, "expired_token")
	})
	t.Run("approved then expired gives expired_token", func(t *testing.T) {
		h := newHarness(t)
		id := h.start(cPoll, map[string]any{"requested_expiry": 10})
		h.approve(id)
		h.clock.Advance(11 * time.Second)
		wantError(t, h.poll(cPoll, id), 400, "expired_token")
	})
	t.Run("denial gives access_denied", func(t *testing.T) {
		for _, st := range []ciba.DeviceStatus{ciba.DeviceUnauthorized, ciba.DeviceCancelled} {
			h := newHarness(t)
			id := h.start(cPoll, nil)
			if r := h.decide(id, st); r.status != 200 {
				t.Fatalf("callback %s: %d", st, r.status)
			}
			wantError(t, h.poll(cPoll, id), 400, "access_denied")
			wantError(t, h.poll(cPoll, id), 400, "access_denied")
		}
	})
	t.Run("other client's auth_req_id is invalid_grant and harmless", func(t *testing.T) {
		h := newHarness(t)
		id := h.start(cPoll, nil)
		h.approve(id)
		for i := 0; i < 3; i++ {
			wantError(t, h.poll(cPoll2, id), 400, "invalid_grant")
		}
		if r := h.poll(cPoll, id); r.status != 200 {
			t.Fatalf("rightful client: %d %s", r.status, r.raw)
		}
	})
	t.Run("other client's poll does not count as a poll", func(t *testing.T) {
		h := newHarness(t)
		id := h.start(cPoll, nil)
		wantError(t, h.poll(cPoll2, id), 400, "invalid_grant")
		wantError(t, h.poll(cPoll, id), 400, "authorization_pending")
	})
	t.Run("device failure gives access_denied", func(t *testing.T) {
		h := newHarness(t)
		h.device.setStatus(http.StatusInternalServerError)
		id := h.start(cPoll, map[string]any{"requested_expiry": 600})
		h.device.await(t, id)
		deadline := time.Now().Add(5 * time.Second)
		for {
			r := h.poll(cPoll, id)
			if r.str("error") == "access_denied" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("still %s", r.raw)
			}
			h.clock.Advance(time.Second)
		}
	})
}

// TestTokenEndpointErrors covers CIBA.md 3.2 request-level errors.
func TestTokenEndpointErrors(t *testing.T) {
	h := newHarness(t)
	id := h.start(cPoll, nil)
	tests := []struct {
		name   string
		cert   string
		form   func() map[string]string
		client string
		status int
		code   string
	}{
		{"missing auth_req_id", cPoll, func() map[string]string { return map[string]string{"grant_type": ciba.GrantTypeCIBA} }, cPoll, 400, "invalid_request"},
		{"unknown auth_req_id", cPoll, func() map[string]string {
			return map[string]string{"grant_type": ciba.GrantTypeCIBA, "auth_req_id": "nope' OR 1=1"}
		}, cPoll, 400, "invalid_grant"},
		{"missing grant_type", cPoll, func() map[string]string { return map[string]string{"auth_req_id": id} }, cPoll, 400, "invalid_request"},
		{"unsupported grant", cPoll, func() map[string]string { return map[string]string{"grant_type": "password"} }, cPoll, 400, "unsupported_grant_type"},
		{"no client certificate", "", func() map[string]string {
			return map[string]string{"grant_type": ciba.GrantTypeCIBA, "auth_req_id": id}
		}, cPoll, 400, "invalid_request"},
		{"push client", cPush, func() map[string]string {
			return map[string]string{"grant_type": ciba.GrantTypeCIBA, "auth_req_id": id}
		}, cPush, 400, "unauthorized_client"},
		{"mtls wrong client_id for cert", cMTLS, func() map[string]string {
			return map[string]string{"grant_type": ciba.GrantTypeCIBA, "auth_req_id": id}
		}, cSelfSigned, 401, "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := h.authForm(tt.client, h.issuer+refop.PathToken)
			for k, v := range tt.form() {
				f.Set(k, v)
			}
			wantError(t, h.post(tt.cert, refop.PathToken, f), tt.status, tt.code)
		})
	}
	// None of the above disturbed the request.
	wantError(t, h.poll(cPoll, id), 400, "authorization_pending")
}

// TestTokensExactlyOnce: 50 concurrent redemptions, one success (CIBA.md 3.3).
func TestTokensExactlyOnce(t *testing.T) {
	h := newHarness(t)
	id := h.start(cPoll, nil)
	h.approve(id)
	const n = 50
	forms := make([]map[string]string, n)
	for i := range forms {
		f := h.authForm(cPoll, h.issuer+refop.PathToken)
		forms[i] = map[string]string{"client_assertion": f.Get("client_assertion"), "client_assertion_type": f.Get("client_assertion_type")}
	}
	var wg sync.WaitGroup
	statuses := make([]int, n)
	codes := make([]string, n)
	client := h.httpClient(cPoll)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			vals := map[string][]string{"grant_type": {ciba.GrantTypeCIBA}, "auth_req_id": {id}}
			for k, v := range forms[i] {
				vals[k] = []string{v}
			}
			resp, err := client.PostForm(h.issuer+refop.PathToken, vals)
			if err != nil {
				codes[i] = err.Error()
				return
			}
			defer resp.Body.Close()
			statuses[i] = resp.StatusCode
			var body struct{ Error string }
			_ = jsonDecode(resp.Body, &body)
			codes[i] = body.Error
		}(i)
	}
	wg.Wait()
	ok := 0
	for i := range statuses {
		switch {
		case statuses[i] == 200:
			ok++
		case statuses[i] == 400 && codes[i] == "invalid_grant":
		default:
			t.Errorf("request %d: %d %s", i, statuses[i], codes[i])
		}
	}
	if ok != 1 {
		t.Fatalf("%d successful redemptions, want exactly 1", ok)
	}
}

// TestTokenEndpointAssertionAudience: aud may be the token endpoint or
// the issuer (suite module 37), nothing else; RS256 is refused (module 36).
func TestTokenEndpointAssertionAudience(t *testing.T) {
	h := newHarness(t)
	id := h.start(cPoll, nil)
	ident := h.ids[cPoll]
	tests := []struct {
		name, aud, alg string
		status         int
		code           string
	}{
		{"token endpoint", h.issuer + refop.PathToken, "ES256", 400, "authorization_pending"},
		{"issuer", h.issuer, "ES256", 400, "slow_down"},
		{"other server", "https://other.example/token", "ES256", 401, "invalid_client"},
		{"RS256", h.issuer + refop.PathToken, "RS256", 401, "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := h.clock.Now().Unix()
			claims := map[string]any{"iss": cPoll, "sub": cPoll, "aud": tt.aud, "iat": now, "exp": now + 60, "jti": newJTI()}
			var a string
			if tt.alg == "RS256" {
				a = signJWT(t, rsaKey(), "RS256", ident.kid, claims, nil)
			} else {
				a = signJWT(t, ident.key, "ES256", ident.kid, claims, nil)
			}
			f := map[string][]string{
				"client_assertion_type": {ciba.ClientAssertionTypeJWTBearer}, "client_assertion": {a},
				"grant_type": {ciba.GrantTypeCIBA}, "auth_req_id": {id},
			}
			wantError(t, h.post(cPoll, refop.PathToken, f), tt.status, tt.code)
		})
	}
}
