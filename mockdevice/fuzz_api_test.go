package mockdevice

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzAPI sends arbitrary requests to the device's own HTTP API (list,
// decide, policies, approval_url action): every answer is below 500.
func FuzzAPI(f *testing.F) {
	f.Add(http.MethodPost, PathRequests+"/abc/approve", `{}`, "application/json")
	f.Add(http.MethodPost, PathRequests+"/abc/frobnicate", ``, "")
	f.Add(http.MethodPut, PathPolicies+"/alice", `{"outcome":"approve","delay":"-5s"}`, "application/json")
	f.Add(http.MethodPut, PathDefaultPolicy, `{"outcome":"error","error_status":99999}`, "application/json")
	f.Add(http.MethodPut, PathPolicies+"/a%2Fb", `[`, "text/plain")
	f.Add(http.MethodPost, PathAction+"?auth_req_id=x&action=allow", ``, "")
	f.Add(http.MethodGet, PathRequests+"/x?wait=settled&timeout=1e9s", ``, "")
	f.Add(http.MethodDelete, PathPolicies+"/", ``, "")
	f.Fuzz(func(t *testing.T, method, target, body, contentType string) {
		if len(target) == 0 || target[0] != '/' || strings.ContainsAny(target, " \t\r\n\x00\x7f") {
			return // not a request line net/http would deliver
		}
		r, err := http.NewRequest(method, target, strings.NewReader(body))
		if err != nil {
			return // an invalid method or URL never reaches a handler
		}
		r.Header.Set("Content-Type", contentType)
		h := newHarness(t, nil)
		w := httptest.NewRecorder()
		h.device.Handler().ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%s %s %q: status %d: %s", method, target, body, w.Code, w.Body)
		}
	})
}
