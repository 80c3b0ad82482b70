package refop_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
	refop "github.com/ciba-check/ciba-check/reference-op"
)

// Secret clients of the FAPI-off reference OP.
const (
	cSecretBasic = "secret-basic"
	cSecretPost  = "secret-post"
	cSecretJWT   = "secret-jwt"
	// clientSecret has characters RFC 6749 2.3.1 form-urlencodes.
	clientSecret = "s3cr3t:+/ é&=-at-least-32-bytes-long"
)

// withSecretClients turns FAPI off and registers a client_secret_basic, a
// client_secret_post and a client_secret_jwt poll client, all sending
// unsigned requests.
func withSecretClients() option {
	return func(c *refop.Config) {
		c.PushAllowed = true
		for id, m := range map[string]ciba.AuthMethod{cSecretBasic: ciba.AuthClientSecretBasic, cSecretPost: ciba.AuthClientSecretPost, cSecretJWT: ciba.AuthClientSecretJWT} {
			c.Clients = append(c.Clients, refop.Client{ID: id, AuthMethod: m, DeliveryMode: ciba.ModePoll, Secret: clientSecret, Scopes: []string{"accounts"}})
		}
	}
}

func basicHeader(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// hs256Assertion is a client_secret_jwt assertion (OIDC Core 9).
func (h *harness) hs256Assertion(id, secret, jti string) string {
	h.t.Helper()
	now := h.clock.Now().Unix()
	payload, _ := json.Marshal(map[string]any{"iss": id, "sub": id, "aud": h.issuer + refop.PathToken, "iat": now, "exp": now + 60, "jti": jti})
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(secret)}, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		h.t.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

// secretCall sends form to path as id would with its secret method:
// basic and/or post as asked.
func (h *harness) secretCall(path string, form url.Values, basic string) response {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic != "" {
		req.Header.Set("Authorization", basic)
	}
	return h.do("", req)
}

func unsignedForm(extra url.Values) url.Values {
	f := url.Values{"scope": {"openid"}, "login_hint": {"alice"}}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

func TestSecretClientAuthentication(t *testing.T) {
	h := newHarness(t, withSecretClients())
	post := url.Values{"client_id": {cSecretPost}, "client_secret": {clientSecret}}
	tests := []struct {
		name       string
		form       url.Values
		basic      string
		wantStatus int
		wantError  string
	}{
		{"basic", unsignedForm(nil), basicHeader(cSecretBasic, clientSecret), 200, ""},
		{"post", unsignedForm(post), "", 200, ""},
		{"jwt", unsignedForm(url.Values{"client_assertion_type": {ciba.ClientAssertionTypeJWTBearer}, "client_assertion": {h.hs256Assertion(cSecretJWT, clientSecret, "j1")}}), "", 200, ""},
		{"basic wrong secret", unsignedForm(nil), basicHeader(cSecretBasic, "wrong"), 401, "invalid_client"},
		{"basic without form-urlencoding", unsignedForm(nil), "Basic " + base64.StdEncoding.EncodeToString([]byte(cSecretBasic+":"+clientSecret)), 401, "invalid_client"},
		{"post wrong secret", unsignedForm(url.Values{"client_id": {cSecretPost}, "client_secret": {"wrong"}}), "", 401, "invalid_client"},
		{"basic client using post", unsignedForm(url.Values{"client_id": {cSecretBasic}, "client_secret": {clientSecret}}), "", 401, "invalid_client"},
		{"both ways", unsignedForm(post), basicHeader(cSecretPost, clientSecret), 400, "invalid_request"},
		{"jwt with wrong secret", unsignedForm(url.Values{"client_assertion_type": {ciba.ClientAssertionTypeJWTBearer}, "client_assertion": {h.hs256Assertion(cSecretJWT, strings.Repeat("x", 40), "j2")}}), "", 401, "invalid_client"},
		{"unknown client", unsignedForm(nil), basicHeader("nobody", clientSecret), 401, "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.secretCall(refop.PathBackchannel, tt.form, tt.basic)
			if r.status != tt.wantStatus || r.str("error") != tt.wantError {
				t.Fatalf("got %d %s, want %d %q", r.status, r.raw, tt.wantStatus, tt.wantError)
			}
			if tt.basic != "" && r.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("401 after an Authorization header without a Basic WWW-Authenticate (RFC 6749 5.2): %v", r.header)
			}
			if strings.Contains(r.raw, clientSecret) {
				t.Errorf("the answer echoes the secret: %s", r.raw)
			}
		})
	}
	// A replayed client_secret_jwt assertion is refused.
	a := h.hs256Assertion(cSecretJWT, clientSecret, "replayed")
	form := unsignedForm(url.Values{"client_assertion_type": {ciba.ClientAssertionTypeJWTBearer}, "client_assertion": {a}})
	if r := h.secretCall(refop.PathBackchannel, form, ""); r.status != 200 {
		t.Fatalf("first use: %d %s", r.status, r.raw)
	}
	if r := h.secretCall(refop.PathBackchannel, form, ""); r.status != 401 || r.str("error") != "invalid_client" {
		t.Fatalf("replay: %d %s", r.status, r.raw)
	}
	// A whole flow: tokens over no certificate, unbound, usable at userinfo.
	r := h.secretCall(refop.PathBackchannel, unsignedForm(nil), basicHeader(cSecretBasic, clientSecret))
	id := r.str("auth_req_id")
	h.approve(id)
	tr := h.secretCall(refop.PathToken, url.Values{"grant_type": {ciba.GrantTypeCIBA}, "auth_req_id": {id}}, basicHeader(cSecretBasic, clientSecret))
	if tr.status != 200 || tr.str("access_token") == "" {
		t.Fatalf("token: %d %s", tr.status, tr.raw)
	}
	if ui := h.userinfo("", tr.str("access_token")); ui.status != 200 {
		t.Fatalf("userinfo with an unbound token: %d %s", ui.status, ui.raw)
	}
	md := h.get("", ciba.DiscoveryPath)
	if !strings.Contains(md.raw, "client_secret_basic") {
		t.Errorf("discovery lists no secret methods with FAPI off: %s", md.raw)
	}
}

func TestSecretClientsNeedFAPIOff(t *testing.T) {
	_, err := refop.New(refop.Config{Issuer: "https://op.example", SigningKeys: []jose.JSONWebKey{{Key: ecKey(t), KeyID: "k", Algorithm: "ES256", Use: "sig"}}, Clients: []refop.Client{{ID: "x", AuthMethod: ciba.AuthClientSecretBasic, DeliveryMode: ciba.ModePoll, Secret: clientSecret}}})
	if err == nil || !strings.Contains(err.Error(), "FAPI off") {
		t.Fatalf("err = %v", err)
	}
}

// clientAuthFaultProbes show each secret fault against the FAPI-off OP
// (faultBase gives them withSecretClients).
var clientAuthFaultProbes = map[string]faultProbe{
	refop.FaultAcceptWrongSecret: func(t *testing.T, h *harness) bool {
		return h.secretCall(refop.PathBackchannel, unsignedForm(nil), basicHeader(cSecretBasic, "wrong")).status == 200
	},
	refop.FaultAcceptSecretBothWays: func(t *testing.T, h *harness) bool {
		form := unsignedForm(url.Values{"client_id": {cSecretPost}, "client_secret": {clientSecret}})
		return h.secretCall(refop.PathBackchannel, form, basicHeader(cSecretPost, clientSecret)).status == 200
	},
	refop.FaultBasicFailure400: func(t *testing.T, h *harness) bool {
		return h.secretCall(refop.PathBackchannel, unsignedForm(nil), basicHeader(cSecretBasic, "wrong")).status == 400
	},
	refop.FaultIgnoreSecretAssertionReplay: func(t *testing.T, h *harness) bool {
		form := unsignedForm(url.Values{"client_assertion_type": {ciba.ClientAssertionTypeJWTBearer}, "client_assertion": {h.hs256Assertion(cSecretJWT, clientSecret, "jti-1")}})
		if r := h.secretCall(refop.PathBackchannel, form, ""); r.status != 200 {
			t.Fatalf("first use: %d %s", r.status, r.raw)
		}
		return h.secretCall(refop.PathBackchannel, form, "").status == 200
	},
}

// faultBase is the OP a fault's probe needs beyond the default harness.
var faultBase = map[string][]option{
	refop.FaultAcceptWrongSecret:           {withSecretClients()},
	refop.FaultAcceptSecretBothWays:        {withSecretClients()},
	refop.FaultBasicFailure400:             {withSecretClients()},
	refop.FaultIgnoreSecretAssertionReplay: {withSecretClients()},
}
