package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/clock"
)

// startReceiver starts a receiver on loopback and returns it with an HTTP
// client that trusts it and, like an OP must, never follows redirects.
func startReceiver(t *testing.T) (*NotificationReceiver, *http.Client) {
	t.Helper()
	cert, leaf := selfSignedCert(t, "receiver")
	r, err := NewNotificationReceiver(ReceiverConfig{Listen: "127.0.0.1:0", TLSCert: cert, Path: "/cb", Clock: clock.NewFake(testStart)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	return r, &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// notify POSTs body to the receiver as an OP would and returns the answer.
func notify(t *testing.T, hc *http.Client, url, bearer, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestReceiverRecordsPings(t *testing.T) {
	r, hc := startReceiver(t)
	ch := r.Expect("req-1", "")
	select {
	case n := <-ch:
		t.Fatalf("notification before any was sent: %+v", n)
	default:
	}
	resp, _ := notify(t, hc, r.URL(), "tok-1", `{"auth_req_id":"req-1"}`)
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("default answer %d, want 204", resp.StatusCode)
	}
	n := <-ch
	if n.AuthReqID != "req-1" || n.BearerToken != "tok-1" || n.Method != http.MethodPost || n.Path != "/cb" ||
		string(n.Body) != `{"auth_req_id":"req-1"}` || !n.Received.Equal(testStart) || n.Header.Get("Content-Type") != "application/json" {
		t.Errorf("recorded %+v", n)
	}
	if len(n.Payload) != 1 {
		t.Errorf("payload = %v", n.Payload)
	}
	// Recorded notifications are found by later waits too.
	got, err := r.Wait(context.Background(), "req-1")
	if err != nil || got.BearerToken != "tok-1" {
		t.Fatalf("Wait = %+v, %v", got, err)
	}
	// A broken body is still recorded and found by its bearer token.
	resp, _ = notify(t, hc, r.URL(), "tok-2", `not json`)
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("answer %d", resp.StatusCode)
	}
	if n := <-r.Expect("req-2", "tok-2"); string(n.Body) != "not json" || n.Payload != nil || n.AuthReqID != "" {
		t.Errorf("recorded %+v", n)
	}
	// Lowercase scheme and extra members are recorded as sent; no judgement.
	req, _ := http.NewRequest(http.MethodPost, r.URL(), strings.NewReader(`{"auth_req_id":"req-3","extra":true}`))
	req.Header.Set("Authorization", "bearer tok-3")
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n, _ := r.Wait(context.Background(), "req-3"); n.BearerToken != "tok-3" || n.Payload["extra"] != true {
		t.Errorf("recorded %+v", n)
	}
	if all := r.Notifications(); len(all) != 3 || all[0].AuthReqID != "req-1" || all[2].AuthReqID != "req-3" {
		t.Errorf("notifications = %+v", all)
	}
}

func TestReceiverScriptedAnswers(t *testing.T) {
	r, hc := startReceiver(t)
	for id, answers := range map[string][]Answer{
		"req-401": {AnswerStatus(http.StatusUnauthorized, "")},
		"req-301": {AnswerRedirect("https://elsewhere.example/cb")},
		"req-seq": {AnswerStatus(http.StatusServiceUnavailable, ""), AnswerStatus(http.StatusOK, `{"ok":true}`)},
	} {
		if err := r.SetAnswers(id, answers...); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []Answer{{Status: 42}, {Status: 102}, {Status: 1000}} {
		if err := r.SetAnswers("x", bad); err == nil {
			t.Errorf("status %d accepted", bad.Status)
		}
		if err := r.SetDefaultAnswer(bad); err == nil {
			t.Errorf("default status %d accepted", bad.Status)
		}
	}
	if err := r.SetAnswers("x"); err == nil {
		t.Error("empty script accepted")
	}
	for _, tc := range []struct {
		id         string
		wantStatus int
		wantBody   string
		wantLoc    string
	}{
		{"req-401", 401, "", ""},
		{"req-301", 301, "", "https://elsewhere.example/cb"},
		{"req-seq", 503, "", ""},
		{"req-seq", 200, `{"ok":true}`, ""},
		{"req-seq", 200, `{"ok":true}`, ""},
		{"other", 204, "", ""},
	} {
		resp, body := notify(t, hc, r.URL(), "tok", `{"auth_req_id":"`+tc.id+`"}`)
		if resp.StatusCode != tc.wantStatus || body != tc.wantBody || resp.Header.Get("Location") != tc.wantLoc {
			t.Errorf("%s: answered %d %q location %q", tc.id, resp.StatusCode, body, resp.Header.Get("Location"))
		}
	}
	if got := r.NotificationsFor("req-seq"); len(got) != 3 || got[0].Answer.Status != 503 || got[1].Answer.Status != 200 {
		t.Errorf("req-seq notifications = %+v", got)
	}
	if err := r.SetDefaultAnswer(AnswerStatus(http.StatusForbidden, "")); err != nil {
		t.Fatal(err)
	}
	if resp, _ := notify(t, hc, r.URL(), "tok", `{"auth_req_id":"new"}`); resp.StatusCode != 403 {
		t.Errorf("default answer %d, want 403", resp.StatusCode)
	}
	if len(r.NotificationsFor("req-401")) != 1 {
		t.Error("the 401 notification was not recorded exactly once")
	}
}

func TestReceiverOtherRequestsAndBounds(t *testing.T) {
	r, hc := startReceiver(t)
	resp, err := hc.Get(r.URL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET answered %d", resp.StatusCode)
	}
	wrongPath := strings.TrimSuffix(r.URL(), "/cb") + "/other"
	if resp, _ := notify(t, hc, wrongPath, "", `{"auth_req_id":"p"}`); resp.StatusCode != http.StatusNotFound {
		t.Errorf("wrong path answered %d", resp.StatusCode)
	}
	big := `{"auth_req_id":"big","pad":"` + strings.Repeat("x", MaxNotificationBody) + `"}`
	notify(t, hc, r.URL(), "", big)
	all := r.Notifications()
	if len(all) != 3 || all[0].Method != http.MethodGet || all[1].Path != "/other" {
		t.Fatalf("notifications = %d", len(all))
	}
	if last := all[2]; !last.Truncated || len(last.Body) != MaxNotificationBody || last.Payload != nil {
		t.Errorf("oversized body kept %d bytes, truncated %v", len(last.Body), last.Truncated)
	}
}

func TestReceiverPushPayloads(t *testing.T) {
	r, hc := startReceiver(t)
	notify(t, hc, r.URL(), "t", `{"auth_req_id":"ok","access_token":"at","token_type":"Bearer","id_token":"a.b.c","expires_in":60}`)
	notify(t, hc, r.URL(), "t", `{"auth_req_id":"bad","error":"access_denied","error_description":"user said no"}`)
	n, _ := r.Wait(context.Background(), "ok")
	tok, perr, err := n.PushPayload()
	if err != nil || perr != nil || tok.AccessToken != "at" || tok.IDToken != "a.b.c" || tok.AuthReqID != "ok" {
		t.Errorf("token payload = %+v %+v %v", tok, perr, err)
	}
	n, _ = r.Wait(context.Background(), "bad")
	tok, perr, err = n.PushPayload()
	if err != nil || tok != nil || perr.Error != "access_denied" || perr.ErrorDescription != "user said no" {
		t.Errorf("error payload = %+v %+v %v", tok, perr, err)
	}
	if _, _, err := (Notification{Body: []byte("x")}).PushPayload(); err == nil {
		t.Error("non-JSON push payload accepted")
	}
}

func TestReceiverWaitEnds(t *testing.T) {
	r, _ := startReceiver(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Wait(ctx, "never"); err == nil {
		t.Error("Wait returned no error on a cancelled context")
	}
	done := make(chan error, 1)
	go func() {
		_, err := r.Wait(context.Background(), "never")
		done <- err
	}()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "closed") {
			t.Errorf("err = %v", err)
		}
	case <-time.After(5 * time.Second): // failure deadline
		t.Fatal("Wait did not return after Close")
	}
}

func TestNewNotificationReceiverChecksConfig(t *testing.T) {
	cert, _ := selfSignedCert(t, "r")
	for _, tc := range []struct {
		name string
		cfg  ReceiverConfig
		want string
	}{
		{"no listen", ReceiverConfig{TLSCert: cert}, "Listen"},
		{"no cert", ReceiverConfig{Listen: "127.0.0.1:0"}, "TLSCert"},
		{"bad path", ReceiverConfig{Listen: "127.0.0.1:0", TLSCert: cert, Path: "cb"}, "Path"},
	} {
		if _, err := NewNotificationReceiver(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
	r, err := NewNotificationReceiver(ReceiverConfig{Listen: "127.0.0.1:0", TLSCert: cert})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Start(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(r.URL(), "/") {
		t.Errorf("default path missing from %s", r.URL())
	}
	if _, err := r.Start(); err == nil {
		t.Error("second Start accepted")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	closedEarly, _ := NewNotificationReceiver(ReceiverConfig{Listen: "127.0.0.1:0", TLSCert: cert})
	_ = closedEarly.Close()
	if _, err := closedEarly.Start(); err == nil {
		t.Error("Start after Close accepted")
	}
}
