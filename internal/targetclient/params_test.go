package targetclient

import (
	"testing"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/target"
)

func TestWithHint(t *testing.T) {
	base := client.AuthParams{Scope: "openid", LoginHint: "a", LoginHintToken: "b", IDTokenHint: "c"}
	for _, tc := range []struct {
		param string
		want  client.AuthParams
	}{
		{ciba.ParamLoginHint, client.AuthParams{Scope: "openid", LoginHint: "v"}},
		{ciba.ParamLoginHintToken, client.AuthParams{Scope: "openid", LoginHintToken: "v"}},
		{ciba.ParamIDTokenHint, client.AuthParams{Scope: "openid", IDTokenHint: "v"}},
	} {
		got := WithHint(base, tc.param, "v")
		if got.LoginHint != tc.want.LoginHint || got.LoginHintToken != tc.want.LoginHintToken || got.IDTokenHint != tc.want.IDTokenHint || got.Scope != "openid" {
			t.Errorf("WithHint(%s) = %+v, want %+v", tc.param, got, tc.want)
		}
	}
}

func TestAuthRequest(t *testing.T) {
	user := &target.User{LoginHintToken: "lht", UserCode: "4711"}
	for _, tc := range []struct {
		name         string
		mode         ciba.DeliveryMode
		withUserCode bool
		wantUserCode string
		wantToken    bool
	}{
		{"poll, no user_code parameter", ciba.ModePoll, false, "", false},
		{"poll, user_code parameter registered", ciba.ModePoll, true, "4711", false},
		{"ping gets a notification token", ciba.ModePing, false, "", true},
		{"push gets a notification token", ciba.ModePush, true, "4711", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := client.New(client.Config{ClientID: "c", AuthMethod: ciba.AuthClientSecretBasic, Secret: "s", Unsigned: true, Mode: tc.mode, Metadata: &ciba.ProviderMetadata{Issuer: "https://op.test"}})
			if err != nil {
				t.Fatal(err)
			}
			p, err := AuthRequest(c, user, "openid x", tc.withUserCode)
			if err != nil {
				t.Fatal(err)
			}
			if p.Scope != "openid x" || p.LoginHintToken != "lht" || p.LoginHint != "" || p.IDTokenHint != "" {
				t.Errorf("scope/hint %+v, want scope %q and only login_hint_token", p, "openid x")
			}
			if p.UserCode != tc.wantUserCode {
				t.Errorf("user_code %q, want %q", p.UserCode, tc.wantUserCode)
			}
			if (p.ClientNotificationToken != "") != tc.wantToken {
				t.Errorf("client_notification_token %q, want one: %v", p.ClientNotificationToken, tc.wantToken)
			}
		})
	}
}
