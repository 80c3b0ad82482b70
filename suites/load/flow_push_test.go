package load

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
)

func TestCheckPush(t *testing.T) {
	const id, bearer = "req-1", "notify-1"
	push := func(bearer string, payload map[string]any) client.Notification {
		body, _ := json.Marshal(payload)
		return client.Notification{BearerToken: bearer, Body: body, Payload: payload, AuthReqID: id}
	}
	tokens := map[string]any{"auth_req_id": id, "access_token": "at", "token_type": "Bearer", "id_token": "a.b.c", "expires_in": 60}
	without := func(k string) map[string]any {
		m := map[string]any{}
		for kk, v := range tokens {
			if kk != k {
				m[kk] = v
			}
		}
		return m
	}
	tests := []struct {
		name      string
		n         client.Notification
		wantErr   string
		wantOAuth string // the error payload's code, counted as an OAuth error
	}{
		{name: "token payload", n: push(bearer, tokens)},
		{name: "wrong bearer", n: push("other", tokens), wantErr: "not the request's client_notification_token"},
		{name: "no bearer", n: push("", tokens), wantErr: "not the request's client_notification_token"},
		{name: "error payload", n: push(bearer, map[string]any{"auth_req_id": id, "error": "access_denied"}), wantErr: "access_denied", wantOAuth: "access_denied"},
		{name: "other request's tokens", n: push(bearer, map[string]any{"auth_req_id": "req-2", "access_token": "at", "token_type": "Bearer", "id_token": "a.b.c"}), wantErr: "auth_req_id is not the request's"},
		{name: "no ID token", n: push(bearer, without("id_token")), wantErr: "lacks access_token, token_type or id_token"},
		{name: "no access token", n: push(bearer, without("access_token")), wantErr: "lacks access_token, token_type or id_token"},
		{name: "not JSON", n: client.Notification{BearerToken: bearer, Body: []byte("ok")}, wantErr: "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkPush(tt.n, id, bearer)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			var oe *ciba.Error
			if got := errors.As(err, &oe); got != (tt.wantOAuth != "") || (got && oe.Code != tt.wantOAuth) {
				t.Fatalf("err %v: OAuth error %v, want %q", err, oe, tt.wantOAuth)
			}
		})
	}
}
