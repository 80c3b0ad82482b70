package cli

import (
	"strings"
	"testing"

	"github.com/ciba-check/ciba-check/internal/devenv"
)

// TestTargetCheckClientSecret: target check proves each secret client's
// secret with a token request that only a right secret gets past, and
// never prints the secret.
func TestTargetCheckClientSecret(t *testing.T) {
	env := startDevEnv(t, devenv.Options{PushAllowed: true})
	secret := env.Target.Clients[0].Secret.Value()
	for _, c := range env.Target.Clients {
		if c.UsesSecret() {
			secret = c.Secret.Value()
		}
	}
	tests := []struct {
		name     string
		value    string
		wantCode int
		want     []string
	}{
		{"right secret", secret, ExitOK, []string{
			"✓ client poll-secret-basic secret: ${CIBA_CHECK_DEV_CLIENT_SECRET} accepted (client_secret_basic; an unknown auth_req_id was answered invalid_grant)",
			"✓ client ping-secret-post secret: ${CIBA_CHECK_DEV_CLIENT_SECRET} accepted (client_secret_post;",
			"✓ client poll-secret-jwt secret: ${CIBA_CHECK_DEV_CLIENT_SECRET} accepted (client_secret_jwt;",
		}},
		{"wrong secret", "a-wrong-secret-of-more-than-32-bytes-length", ExitFailed, []string{
			"✗ client poll-secret-basic secret: the OP refused the client authentication (invalid_client, HTTP 401): check that ${CIBA_CHECK_DEV_CLIENT_SECRET} holds the client secret registered for poll-secret-basic",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The file names the variable; serve's devenv supplies its own
			// value only in-process, so the CLI reads the environment.
			t.Setenv(devenv.DevSecretVar, tt.value)
			code, out, errOut := runTargetCheckCLI(t, env.TargetPath)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d:\n%s%s", code, tt.wantCode, out, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out+errOut, tt.value) || strings.Contains(out+errOut, secret) {
				t.Errorf("the output shows a secret:\n%s%s", out, errOut)
			}
		})
	}
}
