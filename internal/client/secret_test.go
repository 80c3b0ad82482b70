package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
)

// A secret with characters that RFC 6749 2.3.1 form-urlencodes before
// Basic encoding.
const (
	secretID    = "client one:é"
	secretValue = "s3cr3t value+/:%&é-long-enough-for-HS256"
)

func secretClient(t *testing.T, op *fakeOP, m ciba.AuthMethod) *Client {
	c, _ := testClient(t, op, jose.JSONWebKey{}, func(c *Config) {
		c.ClientID, c.AuthMethod, c.Secret, c.SigningKey, c.Unsigned = secretID, m, secretValue, jose.JSONWebKey{}, true
	})
	return c
}

func TestSecretClientAuthentication(t *testing.T) {
	op := newFakeOP(t, false, func(seen) reply {
		return jsonReply(400, `{"error":"invalid_grant","error_description":"echo `+secretValue+`"}`)
	})
	basicWant := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(secretID)+":"+url.QueryEscape(secretValue)))
	for _, tc := range []struct {
		name   string
		method ciba.AuthMethod
		opts   []AuthOption
		check  func(t *testing.T, s seen)
	}{
		{"basic", ciba.AuthClientSecretBasic, nil, func(t *testing.T, s seen) {
			if got := s.Header.Get("Authorization"); got != basicWant {
				t.Errorf("Authorization = %q, want %q (RFC 6749 2.3.1 form-urlencodes id and secret)", got, basicWant)
			}
			if s.Form.Has(ciba.ParamClientSecret) || s.Form.Has(ciba.ParamClientID) {
				t.Errorf("form = %v", s.Form)
			}
		}},
		{"post", ciba.AuthClientSecretPost, nil, func(t *testing.T, s seen) {
			if s.Form.Get(ciba.ParamClientSecret) != secretValue || s.Form.Get(ciba.ParamClientID) != secretID || s.Header.Get("Authorization") != "" {
				t.Errorf("form = %v, header = %v", s.Form, s.Header)
			}
		}},
		{"basic wrong secret", ciba.AuthClientSecretBasic, []AuthOption{AuthSecret("wrong")}, func(t *testing.T, s seen) {
			if got := s.Header.Get("Authorization"); got != BasicAuthorization(secretID, "wrong") {
				t.Errorf("Authorization = %q", got)
			}
		}},
		{"basic both ways", ciba.AuthClientSecretBasic, []AuthOption{AuthSecretBothWays()}, func(t *testing.T, s seen) {
			if s.Header.Get("Authorization") != basicWant || s.Form.Get(ciba.ParamClientSecret) != secretValue {
				t.Errorf("form = %v, header = %v", s.Form, s.Header)
			}
		}},
		{"post both ways", ciba.AuthClientSecretPost, []AuthOption{AuthSecretBothWays()}, func(t *testing.T, s seen) {
			if s.Header.Get("Authorization") != basicWant || s.Form.Get(ciba.ParamClientSecret) != secretValue {
				t.Errorf("form = %v, header = %v", s.Form, s.Header)
			}
		}},
		{"jwt", ciba.AuthClientSecretJWT, nil, func(t *testing.T, s seen) {
			a := s.Form.Get(ciba.ParamClientAssertion)
			if s.Form.Get(ciba.ParamClientAssertionType) != ciba.ClientAssertionTypeJWTBearer || s.Form.Has(ciba.ParamClientSecret) {
				t.Errorf("form = %v", s.Form)
			}
			if err := verifyJWT(a, jose.HS256, []byte(secretValue)); err != nil {
				t.Fatalf("assertion is not HS256 under the secret: %v", err)
			}
			h, claims, _ := decodeJWT(t, a)
			if h["alg"] != "HS256" || h["kid"] != nil || claims["iss"] != secretID || claims["sub"] != secretID ||
				claims["aud"] != op.metadata().TokenEndpoint || claims["jti"] == nil || claims["exp"] == nil {
				t.Errorf("header %v claims %v (OIDC Core 9: iss = sub = client_id, aud, jti, exp)", h, claims)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := secretClient(t, op, tc.method)
			_, ex, err := c.Token(context.Background(), "req-1", WithAuth(tc.opts...))
			if ce, ok := err.(*ciba.Error); !ok || ce.Code != "invalid_grant" {
				t.Fatalf("err = %v", err)
			}
			reqs := op.requests()
			tc.check(t, reqs[len(reqs)-1])
			// The exchange, the error and every encoding of them hide the
			// secret (and the Basic credential) whole.
			b, _ := json.Marshal(ex)
			for name, out := range map[string]string{"exchange": string(b), "exchange %+v": fmt.Sprintf("%+v", ex), "error": err.Error()} {
				for _, v := range []string{secretValue, url.QueryEscape(secretValue), "s3cr3t", basicWant[len("Basic "):]} {
					if strings.Contains(out, v) {
						t.Errorf("%s shows %q: %s", name, v, out)
					}
				}
			}
		})
	}
}

func TestUnsignedClientSendsPlainParameters(t *testing.T) {
	op := newFakeOP(t, false, func(seen) reply {
		return jsonReply(200, `{"auth_req_id":"r","expires_in":60}`)
	})
	c := secretClient(t, op, ciba.AuthClientSecretPost)
	if c.SignsRequests() {
		t.Fatal("an Unsigned client signs")
	}
	if _, _, err := c.Authenticate(context.Background(), AuthParams{Scope: "openid", LoginHint: "alice", RequestedExpiry: 30}); err != nil {
		t.Fatal(err)
	}
	s := op.requests()[0]
	if s.Form.Has(ciba.ParamRequest) || s.Form.Get(ciba.ParamLoginHint) != "alice" || s.Form.Get(ciba.ParamScope) != "openid" || s.Form.Get(ciba.ParamRequestedExpiry) != "30" {
		t.Fatalf("form = %v", s.Form)
	}
	// A client with a key can still be asked for a signed request.
	key := ecJWK(t, "k")
	signer, _ := testClient(t, op, key, func(c *Config) {
		c.AuthMethod, c.Secret, c.Unsigned = ciba.AuthClientSecretBasic, secretValue, true
	})
	if _, _, err := signer.Authenticate(context.Background(), AuthParams{Scope: "openid", LoginHint: "alice"}, CallSigned()); err != nil {
		t.Fatal(err)
	}
	if s := op.requests()[1]; !s.Form.Has(ciba.ParamRequest) || s.Form.Has(ciba.ParamLoginHint) {
		t.Fatalf("CallSigned form = %v", s.Form)
	}
}
