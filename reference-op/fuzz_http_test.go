package refop

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/clock"
)

// fuzzOP is an OP without TLS or outbound calls, served in process, for
// fuzzing what reaches it from the network.
type fuzzOP struct {
	op        *OP
	clientKey *ecdsa.PrivateKey
	h         http.Handler
}

const fuzzClient = "fuzz-client"

func newFuzzOP(f *testing.F) *fuzzOP {
	f.Helper()
	opKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	clientKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	op, err := New(Config{
		Issuer:      "https://op.fuzz.test",
		SigningKeys: []jose.JSONWebKey{{Key: opKey, KeyID: "op", Algorithm: ciba.AlgES256}},
		Clients: []Client{{ID: fuzzClient, AuthMethod: ciba.AuthPrivateKeyJWT, DeliveryMode: ciba.ModePoll,
			JWKS: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: clientKey.Public(), KeyID: "c", Algorithm: ciba.AlgES256}}}}},
		Users: []User{{Subject: "sub-alice", LoginHint: "alice"}},
		Clock: clock.NewFake(time.Unix(1_800_000_000, 0)),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = op.Close() })
	return &fuzzOP{op: op, clientKey: clientKey, h: op.Handler()}
}

// sign makes a JWS over payload (any bytes) with the client's key.
func (z *fuzzOP) sign(t *testing.T, payload []byte, typ string) string {
	opts := (&jose.SignerOptions{}).WithHeader("kid", "c")
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: z.clientKey}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// wantClientError fails unless w is a 4xx OAuth error body or a 200.
func wantClientError(t *testing.T, w *httptest.ResponseRecorder, what string) {
	t.Helper()
	if w.Code >= 500 {
		t.Fatalf("%s: status %d: %s", what, w.Code, w.Body)
	}
	if w.Code >= 400 {
		var e ciba.ErrorResponse
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
			t.Fatalf("%s: status %d without an OAuth error body: %q", what, w.Code, w.Body)
		}
	}
}

// FuzzEndpointForms sends arbitrary bodies and content types to every
// POST endpoint: the answer is a 4xx OAuth error (or a 200), never a 5xx
// or a panic (issue 8: form bodies, duplicated parameters, JSON where a
// form is expected).
func FuzzEndpointForms(f *testing.F) {
	z := newFuzzOP(f)
	paths := []string{PathBackchannel, PathToken, PathIntrospect, PathRevoke, PathDeviceCallback, PathUserinfo}
	form := "application/x-www-form-urlencoded"
	f.Add(uint8(0), form, "client_id=fuzz-client&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c&request=x.y.z")
	f.Add(uint8(1), form, "grant_type=urn%3Aopenid%3Aparams%3Agrant-type%3Aciba&auth_req_id=x&auth_req_id=y")
	f.Add(uint8(1), form, "grant_type=refresh_token&refresh_token=%ff%fe&client_id=fuzz-client")
	f.Add(uint8(0), "application/json", `{"login_hint":"alice"}`)
	f.Add(uint8(2), form+"; charset=utf-8", "token=abc&token_type_hint=access_token")
	f.Add(uint8(3), form, "%zz=1")
	f.Add(uint8(4), "application/json", `{"status":"SUCCEED"}`)
	f.Add(uint8(5), form, "access_token=abc")
	f.Add(uint8(0), "multipart/form-data; boundary=x", "--x\r\n")
	f.Fuzz(func(t *testing.T, which uint8, contentType, body string) {
		path := paths[int(which)%len(paths)]
		r := httptest.NewRequest(http.MethodPost, "https://op.fuzz.test"+path, strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		w := httptest.NewRecorder()
		z.h.ServeHTTP(w, r)
		wantClientError(t, w, path)
	})
}

// FuzzSignedRequestObject signs arbitrary payloads with the client's own
// key, so the claim checks behind the signature (CIBA 7.1.1, FAPI-CIBA
// 5.2.2) see every shape of claims a client can send.
func FuzzSignedRequestObject(f *testing.F) {
	z := newFuzzOP(f)
	for _, s := range []string{
		`{"iss":"fuzz-client","aud":"https://op.fuzz.test","iat":1800000000,"nbf":1800000000,"exp":1800000300,"jti":"j1","scope":"openid","login_hint":"alice"}`,
		`{"iss":"fuzz-client","aud":["https://op.fuzz.test","x"],"exp":1800000300,"nbf":"soon","jti":7}`,
		`{"requested_expiry":"1e9","binding_message":"\u202e","acr_values":null}`,
		`[]`, `null`, `{"exp":1e400}`, ``,
	} {
		f.Add([]byte(s), "oauth-authz-req+jwt")
	}
	f.Add([]byte(`{}`), "JWT")
	f.Fuzz(func(t *testing.T, payload []byte, typ string) {
		c := z.op.clients[fuzzClient]
		p, err := z.op.parseRequestObject(context.Background(), c, z.sign(t, payload, typ))
		if err != nil {
			var e *ciba.Error
			if !errors.As(err, &e) || e.Status >= 500 {
				t.Fatalf("request object %q: %v", payload, err)
			}
			return
		}
		// Only a request object naming this client, for this OP, passes.
		var cl map[string]any
		if err := json.Unmarshal(payload, &cl); err != nil {
			t.Fatalf("accepted a payload that is not JSON: %q", payload)
		}
		if cl["iss"] != fuzzClient || cl["jti"] == nil {
			t.Fatalf("accepted iss %v jti %v", cl["iss"], cl["jti"])
		}
		_ = p
	})
}

// FuzzSignedClientAssertion signs arbitrary payloads as client
// assertions (RFC 7523 3): every failure is invalid_client.
func FuzzSignedClientAssertion(f *testing.F) {
	z := newFuzzOP(f)
	for _, s := range []string{
		`{"iss":"fuzz-client","sub":"fuzz-client","aud":"https://op.fuzz.test/token","iat":1800000000,"exp":1800000060,"jti":"a1"}`,
		`{"iss":"fuzz-client","sub":"other","aud":[],"exp":"later"}`,
		`{"iss":1,"jti":""}`, `{}`, `x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		aud := []string{"https://op.fuzz.test/token", "https://op.fuzz.test"}
		c, err := z.op.authenticatePrivateKeyJWT(context.Background(), z.sign(t, payload, ""), ciba.ClientAssertionTypeJWTBearer, "", aud)
		if err != nil {
			if !errors.Is(err, ciba.ErrInvalidClient) {
				var e *ciba.Error
				if !errors.As(err, &e) || e.Status >= 500 {
					t.Fatalf("assertion %q: %v", payload, err)
				}
			}
			return
		}
		if c.ID != fuzzClient {
			t.Fatalf("assertion %q authenticated %q", payload, c.ID)
		}
	})
}

// FuzzDeviceCallback sends arbitrary bodies (and, when auth is set,
// arbitrary Authorization headers) to the device callback for a pending
// request with a valid channel token.
func FuzzDeviceCallback(f *testing.F) {
	z := newFuzzOP(f)
	for _, s := range []string{`{"status":"SUCCEED"}`, `{"status":"UNAUTHORIZED"}`, `{"status":"CANCELLED","x":1}`, `{"status":1}`, `{`, ``, `{"status":"SUCCEED"} {}`} {
		f.Add([]byte(s), "")
	}
	f.Add([]byte(`{"status":"SUCCEED"}`), "Bearer a.b.c")
	f.Add([]byte(`{"status":"SUCCEED"}`), "Basic Zm9vOmJhcg==")
	n := 0
	f.Fuzz(func(t *testing.T, body []byte, auth string) {
		n++
		now := z.op.clock.Now()
		ar := AuthRequest{ID: "cb-" + itoa(n) + "-" + b64(body[:min(len(body), 8)]), ClientID: fuzzClient, Subject: "sub-alice",
			Status: StatusPending, CreatedAt: now, ExpiresAt: now.Add(time.Minute), DeliveryMode: string(ciba.ModePoll)}
		if err := z.op.store.CreateAuthRequest(context.Background(), ar); err != nil {
			return // same id again: the fuzzer repeats inputs
		}
		token, err := z.op.channelToken(ar)
		if err != nil {
			t.Fatal(err)
		}
		if auth == "" {
			auth = "Bearer " + token
		}
		r := httptest.NewRequest(http.MethodPost, "https://op.fuzz.test"+PathDeviceCallback, strings.NewReader(string(body)))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		z.h.ServeHTTP(w, r)
		wantClientError(t, w, "callback")
		if w.Code == http.StatusOK {
			var cb ciba.DeviceCallback
			if json.Unmarshal(body, &cb) != nil {
				t.Fatalf("callback accepted a body that is not JSON: %q", body)
			}
			got, _ := z.op.store.GetAuthRequest(context.Background(), ar.ID)
			if got.Status == StatusPending {
				t.Fatalf("callback answered 200 but left the request pending: %q", body)
			}
		}
	})
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
