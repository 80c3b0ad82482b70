package target

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ciba-check/ciba-check/ciba"
)

// TestKeycloakExample parses docs/examples/keycloak-target.yaml, the
// README's CIBA-without-FAPI example, and pins what it shows.
func TestKeycloakExample(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "examples", "keycloak-target.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := func(name string) (string, bool) {
		if name == "CIBA_CHECK_KC_SECRET" {
			return "kc-secret", true
		}
		return "", false
	}
	tg, err := ParseWithEnv(data, path, filepath.Dir(path), env)
	if err != nil {
		t.Fatal(err)
	}
	c := tg.Clients[0]
	switch {
	case tg.FAPI:
		t.Error("fapi: want false")
	case tg.Endpoints.BackchannelAuthentication != tg.Issuer+"/protocol/openid-connect/ext/ciba/auth" || tg.Issuer != "https://kc.example/realms/demo":
		t.Errorf("backchannel endpoint %q of issuer %q is not Keycloak's /realms/R/protocol/openid-connect/ext/ciba/auth", tg.Endpoints.BackchannelAuthentication, tg.Issuer)
	case c.Auth != ciba.AuthClientSecretBasic || c.Mode != ciba.ModePoll || c.SignsRequests() || c.Secret.Value() != "kc-secret":
		t.Errorf("client = %+v", c)
	case tg.Device.Kind != DeviceMock:
		t.Errorf("device = %+v", tg.Device)
	}
	// Without the variable: a target error at the secret's line.
	if _, err := ParseWithEnv(data, path, filepath.Dir(path), func(string) (string, bool) { return "", false }); err == nil {
		t.Fatal("parsed without CIBA_CHECK_KC_SECRET")
	}
}
