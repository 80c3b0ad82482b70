package interop

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/pki"
)

// TestOnboardingFromInit follows README's "Testing your own OP" against
// oidc-provider: `ciba-check init --issuer` reads discovery, the generated
// clients are registered with their jwks.json (here by dynamic
// registration, RFC 7591), the skeleton's placeholders are filled in,
// `ciba-check target check` passes, and `ciba-check run` issues tokens.
func TestOnboardingFromInit(t *testing.T) {
	if testing.Short() {
		t.Skip("the onboarding test runs oidc-provider; skipped with -short")
	}
	node, npm := requireNode(t)
	h := startHarness(t, node, installHarness(t, npm), withRegistration())
	bin := suiteCLI(t, "finish onboarding")
	caFile := filepath.Join(h.Dir, "ca.pem")
	dir := filepath.Join(t.TempDir(), "mybank")

	out := cli(t, bin, 0, "init", "--dir", dir, "--issuer", h.Issuer, "--ca", caFile)
	if !strings.Contains(out, "Read discovery from "+h.Issuer) {
		t.Fatalf("init did not read discovery:\n%s", out)
	}
	skeleton, err := os.ReadFile(filepath.Join(dir, "target.yaml"))
	must(t, err)
	text := string(skeleton)
	for _, want := range []string{"backchannel_token_delivery_modes_supported: poll, ping", "auth: private_key_jwt", "mode: poll"} {
		if !strings.Contains(text, want) {
			t.Fatalf("the skeleton lacks %q:\n%s", want, text)
		}
	}

	// Register both clients the way the next steps say.
	replacements := []string{}
	for _, c := range []struct{ folder, alg string }{{"client1-ps256", ciba.AlgPS256}, {"client2-es256", ciba.AlgES256}} {
		jwks, err := os.ReadFile(filepath.Join(dir, c.folder+"-jwks.json"))
		must(t, err)
		id := register(t, h, caFile, map[string]any{
			"jwks":                                           json.RawMessage(jwks),
			"token_endpoint_auth_method":                     "private_key_jwt",
			"token_endpoint_auth_signing_alg":                c.alg,
			"backchannel_token_delivery_mode":                "poll",
			"backchannel_authentication_request_signing_alg": c.alg,
			"id_token_signed_response_alg":                   c.alg,
			"grant_types":                                    []string{ciba.GrantTypeCIBA},
			"response_types":                                 []string{},
			"redirect_uris":                                  []string{},
			"tls_client_certificate_bound_access_tokens":     true,
		})
		replacements = append(replacements, `"REPLACE-ME-`+c.folder+`"`, `"`+id+`"`)
	}
	// Fill in the users and the device as a newcomer would, editing the
	// skeleton's own lines.
	replacements = append(replacements,
		`"REPLACE-ME-user-who-approves"`, `"alice"`,
		"  # - name: pending\n  #   login_hint: user-left-pending\n  #   outcome: never\n",
		"  - name: pending\n    login_hint: carol\n    outcome: never\n",
		"device:\n  kind: manual\n",
		"device:\n  kind: approval_url\n  approval_url: "+h.Issuer+"/ciba-sim?auth_req_id={auth_req_id}&action={action}\n",
	)
	filled := strings.NewReplacer(replacements...).Replace(text)
	for i := 0; i < len(replacements); i += 2 {
		if !strings.Contains(text, replacements[i]) {
			t.Fatalf("the skeleton no longer contains %q; update this test with it", replacements[i])
		}
	}
	targetPath := filepath.Join(dir, "target.yaml")
	must(t, os.WriteFile(targetPath, []byte(filled), 0o644))

	out = cli(t, bin, 0, "target", "check", targetPath)
	if strings.Contains(out, "✗") || !strings.Contains(out, "all items passed") {
		t.Fatalf("target check:\n%s", out)
	}

	results := filepath.Join(dir, "results.json")
	out = cli(t, bin, 0, "run", "--target", targetPath, "--json", results, "--focus", "issues tokens to an approved poll client")
	var res runResult
	data, err := os.ReadFile(results)
	must(t, err)
	must(t, json.Unmarshal(data, &res))
	if res.Summary.Passed == 0 || res.Summary.Failed != 0 {
		t.Fatalf("run after onboarding: %+v\n%s", res.Summary, out)
	}
}

// cli runs the built ciba-check and fails unless it exits with want.
func cli(t *testing.T, bin string, want int, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	_ = cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != want {
		t.Fatalf("ciba-check %s: exit %d, want %d:\n%s", strings.Join(args, " "), code, want, out.String())
	}
	return out.String()
}

// register posts client metadata to the OP's registration endpoint
// (RFC 7591 3.1) and returns the client_id.
func register(t *testing.T, h *harness, caFile string, metadata map[string]any) string {
	t.Helper()
	pool, err := pki.LoadCAPool(caFile)
	must(t, err)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	defer hc.CloseIdleConnections()
	body, err := json.Marshal(metadata)
	must(t, err)
	resp, err := hc.Post(h.Issuer+"/reg", "application/json", bytes.NewReader(body))
	must(t, err)
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("registration: HTTP %d %s\n%s", resp.StatusCode, answer, h.Log())
	}
	var reg struct {
		ClientID string `json:"client_id"`
	}
	if err := json.Unmarshal(answer, &reg); err != nil || reg.ClientID == "" {
		t.Fatalf("registration answer %s: %v", answer, err)
	}
	return reg.ClientID
}
