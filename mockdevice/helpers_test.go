package mockdevice

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/clock"
)

// testIssuer is the OP the tests pretend to be.
const testIssuer = "https://op.example.test"

// epoch is the fake clock's start; tokens are minted relative to it.
var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// waitLimit bounds every wait so a broken device fails instead of hanging.
const waitLimit = 5 * time.Second

// callback is one POST the fake OP received on its callback endpoint.
type callback struct {
	Path          string
	Authorization string
	ContentType   string
	Body          ciba.DeviceCallback
	RawBody       string
}

// fakeOP is the OP's callback endpoint: it records each callback and
// answers with status.
type fakeOP struct {
	server    *httptest.Server
	callbacks chan callback
	mu        sync.Mutex
	status    int
}

func newFakeOP(t *testing.T) *fakeOP {
	t.Helper()
	op := &fakeOP{callbacks: make(chan callback, 64), status: http.StatusNoContent}
	op.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		cb := callback{
			Path:          r.URL.Path,
			Authorization: r.Header.Get("Authorization"),
			ContentType:   r.Header.Get("Content-Type"),
			RawBody:       string(raw),
		}
		_ = json.Unmarshal(raw, &cb.Body)
		op.mu.Lock()
		status := op.status
		op.mu.Unlock()
		w.WriteHeader(status)
		op.callbacks <- cb
	}))
	t.Cleanup(op.server.Close)
	return op
}

func (op *fakeOP) setStatus(status int) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.status = status
}

// callbackURL is the reference OP's callback path on the fake OP.
func (op *fakeOP) callbackURL() string { return op.server.URL + "/ciba/auth/callback" }

// next waits for the next callback.
func (op *fakeOP) next(t *testing.T) callback {
	t.Helper()
	select {
	case cb := <-op.callbacks:
		return cb
	case <-time.After(waitLimit):
		t.Fatal("no callback reached the OP")
		return callback{}
	}
}

// expectNone asserts no callback has been received so far.
func (op *fakeOP) expectNone(t *testing.T) {
	t.Helper()
	select {
	case cb := <-op.callbacks:
		t.Fatalf("unexpected callback %+v", cb)
	default:
	}
}

// opKey is an OP signing key with its public JWKS.
type opKey struct {
	private jose.JSONWebKey
	public  *jose.JSONWebKeySet
}

func newOPKey(t *testing.T, kid string) opKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk := jose.JSONWebKey{Key: priv, KeyID: kid, Algorithm: string(jose.ES256), Use: "sig"}
	return opKey{private: jwk, public: &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk.Public()}}}
}

// tokenClaims are the claims of a channel token as the reference OP mints it.
type tokenClaims struct {
	jwt.Claims
	AZP string `json:"azp,omitempty"`
}

// defaultClaims is a valid channel token for request id.
func defaultClaims(id string) tokenClaims {
	return tokenClaims{
		Claims: jwt.Claims{
			Issuer:   testIssuer,
			Audience: jwt.Audience{testIssuer},
			ID:       id,
			Subject:  "user-sub-1",
			IssuedAt: jwt.NewNumericDate(epoch),
			Expiry:   jwt.NewNumericDate(epoch.Add(5 * time.Minute)),
		},
		AZP: "client-1",
	}
}

// sign mints a compact JWS of claims with key (any JSON-able value).
func sign(t *testing.T, key jose.JSONWebKey, alg jose.SignatureAlgorithm, claims any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	token, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// harness is a Device on a fake clock in front of a fake OP.
type harness struct {
	op     *fakeOP
	clock  *clock.Fake
	device *Device
	key    opKey
}

func newHarness(t *testing.T, mutate func(*Config)) *harness {
	t.Helper()
	return newHarnessWithKey(t, newOPKey(t, "op-key-1"), mutate)
}

// newHarnessWithKey is newHarness with the OP's key chosen by the test, so
// the Config can verify with it.
func newHarnessWithKey(t *testing.T, key opKey, mutate func(*Config)) *harness {
	t.Helper()
	h := &harness{op: newFakeOP(t), clock: clock.NewFake(epoch), key: key}
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	cfg := Config{
		CallbackURL: h.op.callbackURL(),
		HTTPClient:  &http.Client{Transport: transport},
		Clock:       h.clock,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	h.device = d
	return h
}

// token mints a valid channel token for id.
func (h *harness) token(t *testing.T, id string) string {
	return sign(t, h.key.private, jose.ES256, defaultClaims(id))
}

// do sends a request through the device's handler.
func (h *harness) do(method, target, authorization, contentType, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	h.device.Handler().ServeHTTP(w, r)
	return w
}

// send posts a channel request for id and login hint and checks the status.
func (h *harness) send(t *testing.T, id, loginHint string, wantStatus int) *httptest.ResponseRecorder {
	t.Helper()
	body := `{"scope":"openid","binding_message":"BM-` + id + `","login_hint":"` + loginHint + `","is_consent_required":true,"acr_values":"urn:mace:incommon:iap:silver"}`
	w := h.do(http.MethodPost, PathChannel, "Bearer "+h.token(t, id), "application/json", body)
	if w.Code != wantStatus {
		t.Fatalf("POST %s: status %d, want %d; body %s", PathChannel, w.Code, wantStatus, w.Body)
	}
	return w
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

// decodeError checks an error answer is the JSON error object.
func decodeError(t *testing.T, w *httptest.ResponseRecorder) ciba.ErrorResponse {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type %q, want application/json", ct)
	}
	var e ciba.ErrorResponse
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
		t.Errorf("error body %q is not a JSON error object (%v)", w.Body, err)
	}
	return e
}
