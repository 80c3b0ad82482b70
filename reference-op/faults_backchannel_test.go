package refop_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
	refop "github.com/ciba-check/ciba-check/reference-op"
)

// authReqIDChars is the CIBA 7.3 character set of auth_req_id.
var authReqIDChars = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// backchannelFaultProbes observe the faults of faults_backchannel.go.
var backchannelFaultProbes = map[string]faultProbe{
	refop.FaultBindingMessageFormEncoded: func(t *testing.T, h *harness) bool {
		id := h.start(cPoll, map[string]any{"binding_message": "pay 12"})
		return h.device.await(t, id).body.BindingMessage != "pay 12"
	},
	refop.FaultKidlessAnyClientKey: func(t *testing.T, h *harness) bool {
		f := h.authForm(cPoll, h.issuer)
		other := h.ids[cPoll2]
		f.Set("request", signJWT(t, other.key, other.alg, "", h.requestClaims(cPoll, nil), nil))
		return h.post(cPoll, refop.PathBackchannel, f).status == 200
	},
	refop.FaultBindingMessageDropped: func(t *testing.T, h *harness) bool {
		id := h.start(cPoll, map[string]any{"binding_message": "1234"})
		return h.device.await(t, id).body.BindingMessage != "1234"
	},
	refop.FaultBindingMessageTruncated: func(t *testing.T, h *harness) bool {
		return h.backchannel(cPoll, map[string]any{"binding_message": strings.Repeat("確", refop.MaxBindingMessageRunes+1)}).status == 200
	},
	refop.FaultFirstRequestParamWins: func(t *testing.T, h *harness) bool {
		f := h.authForm(cPoll, h.issuer)
		req := h.requestObject(cPoll, nil)
		f["request"] = []string{req, req}
		return h.post(cPoll, refop.PathBackchannel, f).status == 200
	},
	refop.FaultFormOverridesSigned: func(t *testing.T, h *harness) bool {
		f := h.authForm(cPoll, h.issuer)
		f.Set("request", h.requestObject(cPoll, map[string]any{"binding_message": "signed"}))
		f.Set("binding_message", "unsigned")
		r := h.post(cPoll, refop.PathBackchannel, f)
		return r.status == 200 && h.device.await(t, r.str("auth_req_id")).body.BindingMessage == "unsigned"
	},
	refop.FaultHintsNotCounted: func(t *testing.T, h *harness) bool {
		return h.backchannel(cPoll, map[string]any{"login_hint": nil}).str("error") != "invalid_request"
	},
	refop.FaultIgnoreACRValues: func(t *testing.T, h *harness) bool {
		id := h.start(cPoll, map[string]any{"acr_values": refop.ACRMultiFactor})
		h.approve(id)
		_, c := decodeJWT(t, h.poll(cPoll, id).str("id_token"))
		return c["acr"] != refop.ACRMultiFactor
	},
	refop.FaultIgnoreSignedUserCode: func(t *testing.T, h *harness) bool {
		return h.backchannel(cUserCode, map[string]any{"login_hint": "bob", "user_code": "4321"}).str("error") == "missing_user_code"
	},
	refop.FaultLenientRequestedExpiry: func(t *testing.T, h *harness) bool {
		return h.backchannel(cPoll, map[string]any{"requested_expiry": 0}).status == 200
	},
	refop.FaultNotificationTokenBase64URL: func(t *testing.T, h *harness) bool {
		return h.backchannel(cPing, map[string]any{"client_notification_token": "abc~+/="}).status != 200
	},
	refop.FaultNotificationTokenOptional: func(t *testing.T, h *harness) bool {
		return h.backchannel(cPing, map[string]any{"client_notification_token": nil}).status == 200
	},
	refop.FaultNotificationTokenUnlimited: func(t *testing.T, h *harness) bool {
		long := strings.Repeat("A", ciba.MaxClientNotificationTokenLength+1)
		return h.backchannel(cPing, map[string]any{"client_notification_token": long}).status == 200
	},
	refop.FaultNullInterval: func(t *testing.T, h *harness) bool {
		v, present := h.backchannel(cPoll, nil).body["interval"]
		return present && v == nil
	},
	refop.FaultOmitExpiresIn: func(t *testing.T, h *harness) bool {
		_, present := h.backchannel(cPoll, nil).body["expires_in"]
		return !present
	},
	refop.FaultOversizedRequestServerError: func(t *testing.T, h *harness) bool {
		r := h.backchannel(cPoll, map[string]any{"padding": strings.Repeat("x", refop.MaxBodyBytes)})
		return r.status >= 500
	},
	refop.FaultPaddedAuthReqID: func(t *testing.T, h *harness) bool {
		return !authReqIDChars.MatchString(h.start(cPoll, nil))
	},
	refop.FaultRefuseJARTyp: func(t *testing.T, h *harness) bool {
		ident := h.ids[cPoll]
		f := h.authForm(cPoll, h.issuer)
		f.Set("request", signJWT(t, ident.key, ident.alg, ident.kid, h.requestClaims(cPoll, nil), map[string]any{"typ": "oauth-authz-req+jwt"}))
		return h.post(cPoll, refop.PathBackchannel, f).status != 200
	},
	refop.FaultRequestedExpiryNumberOnly: func(t *testing.T, h *harness) bool {
		return h.backchannel(cPoll, map[string]any{"requested_expiry": "30"}).status != 200
	},
	refop.FaultRequestURIServerError: func(t *testing.T, h *harness) bool {
		f := h.authForm(cPoll, h.issuer)
		f.Set("request_uri", "urn:example:request")
		return h.post(cPoll, refop.PathBackchannel, f).status == 500
	},
	refop.FaultScopeOpenIDOptional: func(t *testing.T, h *harness) bool {
		return h.backchannel(cPoll, map[string]any{"scope": "accounts"}).status == 200
	},
	refop.FaultScopeOrderSensitive: func(t *testing.T, h *harness) bool {
		return h.backchannel(cPoll, map[string]any{"scope": "accounts openid"}).status != 200
	},
	refop.FaultUnknownUserAccepted: func(t *testing.T, h *harness) bool {
		return h.backchannel(cPoll, map[string]any{"login_hint": "nobody"}).status == 200
	},
	refop.FaultUserCodeOptional: func(t *testing.T, h *harness) bool {
		return h.backchannel(cUserCode, map[string]any{"login_hint": "bob"}).status == 200
	},
	refop.FaultUserCodeUnchecked: func(t *testing.T, h *harness) bool {
		return h.backchannel(cUserCode, map[string]any{"login_hint": "bob", "user_code": "0000"}).status == 200
	},
}

// pinRSAKeyAlg registers cPoll2's RSA key for PS256 only, as real
// registrations (and the embedded OP of the suite) do.
func pinRSAKeyAlg(c *refop.Config) {
	for i := range c.Clients {
		if c.Clients[i].ID != cPoll2 {
			continue
		}
		keys := append([]jose.JSONWebKey(nil), c.Clients[i].JWKS.Keys...)
		for j := range keys {
			if keys[j].KeyID == cPoll2+"-rsa" {
				keys[j].Algorithm = ciba.AlgPS256
			}
		}
		c.Clients[i].JWKS.Keys = keys
	}
}

// TestAcceptRS256WithPinnedKey: the accept-rs256 fault must work when the
// client's RSA key is registered for PS256 (it once had no effect then),
// and PS256 must keep working with and without the fault.
func TestAcceptRS256WithPinnedKey(t *testing.T) {
	tests := []struct {
		name   string
		faults []string
		alg    string
		want   int
	}{
		{"RS256 refused without the fault", nil, "RS256", 400},
		{"RS256 accepted with the fault", []string{refop.FaultAcceptRS256}, "RS256", 200},
		{"PS256 accepted without the fault", nil, "PS256", 200},
		{"PS256 accepted with the fault", []string{refop.FaultAcceptRS256}, "PS256", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, pinRSAKeyAlg, withFaults(tt.faults...))
			f := h.authForm(cPoll2, h.issuer)
			f.Set("request", signJWT(t, rsaKey(), tt.alg, cPoll2+"-rsa", h.requestClaims(cPoll2, nil), nil))
			if r := h.post(cPoll2, refop.PathBackchannel, f); r.status != tt.want {
				t.Errorf("status %d, want %d: %s", r.status, tt.want, r.raw)
			}
		})
	}
}

// TestBackchannelFaultsKeepHappyFlow: each backchannel fault changes
// nothing about a well-formed request: the happy flow still completes
// with the fault on (the deviations are targeted branches).
func TestBackchannelFaultsKeepHappyFlow(t *testing.T) {
	for name := range backchannelFaultProbes {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, withFaults(name))
			id := h.start(cPoll, nil)
			h.approve(id)
			if r := h.poll(cPoll, id); r.status != 200 {
				t.Errorf("happy flow under %s: %d %s", name, r.status, r.raw)
			}
		})
	}
}
