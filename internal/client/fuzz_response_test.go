package client

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ciba-check/ciba-check/ciba"
)

// FuzzDecodeResponses feeds what an OP under test may answer to the
// decoders of token, backchannel and introspection responses: whatever
// the bytes, the result is a decoded value, a *ciba.Error or a
// *ResponseError, never a panic.
func FuzzDecodeResponses(f *testing.F) {
	for _, s := range []struct {
		status int
		body   string
	}{
		{200, `{"access_token":"a","token_type":"Bearer","expires_in":60,"id_token":"x.y.z","refresh_token":"r"}`},
		{200, `{"auth_req_id":"id","expires_in":"120","interval":1e99}`},
		{200, `{"active":true,"cnf":{"x5t#S256":1}}`},
		{400, `{"error":"authorization_pending"}`},
		{400, `{"error":["x"]}`},
		{503, ``},
		{200, `{"access_token":"a"} trailing`},
		{200, "\xff\xfe"},
	} {
		f.Add(s.status, []byte(s.body), false)
	}
	f.Fuzz(func(t *testing.T, status int, body []byte, truncated bool) {
		ex := &Exchange{Status: status, ResponseHeader: http.Header{"Content-Type": {"application/json"}}, ResponseBody: body, Truncated: truncated}
		for _, out := range []any{&ciba.TokenResponse{}, &ciba.AuthenticationResponse{}, &ciba.IntrospectionResponse{}, &map[string]any{}} {
			err := decodeSuccess(ex, body, out)
			if err == nil {
				if status != http.StatusOK || truncated {
					t.Fatalf("status %d truncated=%v decoded without error", status, truncated)
				}
				continue
			}
			var oe *ciba.Error
			var re *ResponseError
			if !errors.As(err, &oe) && !errors.As(err, &re) {
				t.Fatalf("error of type %T: %v", err, err)
			}
		}
	})
}

// received is every notification a receiver took in: kept, evicted to
// stay within its bounds, or not kept past MaxPerRequest.
func received(s ReceiverStats) int { return s.Kept + s.Evicted + s.OverPerRequest }

// FuzzNotificationReceiver sends arbitrary requests to the ping and push
// receiver: it accounts for each and answers, never panics, and only a POST to
// its path gets the scripted answer.
func FuzzNotificationReceiver(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	r, err := NewNotificationReceiver(ReceiverConfig{Listen: "127.0.0.1:0", Path: "/cb",
		TLSCert: tls.Certificate{Certificate: [][]byte{{0}}, PrivateKey: key}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("POST", "/cb", "Bearer tok", []byte(`{"auth_req_id":"a"}`))
	f.Add("POST", "/cb", "bearer   ", []byte(`{"auth_req_id":7}`))
	f.Add("GET", "/other", "", []byte(`[`))
	f.Add("POST", "/cb", "Basic x", []byte(strings.Repeat("a", 70000)))
	f.Fuzz(func(t *testing.T, method, path, auth string, body []byte) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " ?#%\x00\r\n\t") || method == "" || strings.ContainsAny(method, " \r\n\t") {
			return // not a request line net/http would deliver
		}
		req, err := http.NewRequest(method, "https://receiver.test"+path, strings.NewReader(string(body)))
		if err != nil {
			return
		}
		req.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		before := r.Stats()
		r.ServeHTTP(w, req)
		// The fuzzer runs far more inputs than the receiver keeps, so
		// count what it holds, dropped and refused to keep: exactly one
		// more, whatever the bounds did with it.
		after := r.Stats()
		if got, want := received(after), received(before)+1; got != want {
			t.Fatalf("accounted for %d notifications, want %d (before %+v, after %+v)", got, want, before, after)
		}
		if after.OverPerRequest == before.OverPerRequest {
			kept := r.Notifications()
			n := kept[len(kept)-1] // the newest is never the one evicted
			if len(n.Body) > MaxNotificationBody || n.Truncated != (len(body) > MaxNotificationBody) {
				t.Fatalf("body of %d bytes recorded as %d, truncated=%v", len(body), len(n.Body), n.Truncated)
			}
		}
		want := http.StatusNoContent
		if path != "/cb" {
			want = http.StatusNotFound
		} else if method != http.MethodPost {
			want = http.StatusMethodNotAllowed
		}
		if w.Code != want {
			t.Fatalf("%s %s answered %d, want %d", method, path, w.Code, want)
		}
	})
}
