package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/devenv"
)

// secretSet is every secret a run used, by kind, for scanning outputs.
type secretSet map[string][]string

func (s secretSet) add(kind string, values ...string) {
	for _, v := range values {
		if len(v) >= 8 { // shorter strings match unrelated text
			s[kind] = append(s[kind], v)
		}
	}
}

// scan reports every secret found in clear in output.
func (s secretSet) scan(t *testing.T, where, output string) {
	t.Helper()
	for _, found := range s.find(output) {
		t.Errorf("%s: %s", where, found)
	}
}

func (s secretSet) find(output string) []string {
	var found []string
	for kind, values := range s {
		for _, v := range values {
			if strings.Contains(output, v) {
				found = append(found, fmt.Sprintf("a %s appears in clear (%s)", kind, client.Redact(v)))
			}
		}
	}
	return found
}

// privateKeyMaterial collects the private parts of every key file under
// dir: JWK "d" (and RSA CRT) members and PEM key bodies. It also checks
// each such file is readable by its owner only.
func privateKeyMaterial(t *testing.T, dir string, secrets secretSet) (files int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		private := false
		switch {
		case strings.HasSuffix(path, ".jwk"):
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			for _, member := range []string{"d", "p", "q", "dp", "dq", "qi"} {
				if v, ok := m[member].(string); ok {
					secrets.add("private key ("+filepath.Base(path)+" "+member+")", v)
					private = true
				}
			}
		case bytes.Contains(data, []byte("PRIVATE KEY-----")):
			for rest := data; ; {
				var b *pem.Block
				if b, rest = pem.Decode(rest); b == nil {
					break
				}
				if strings.Contains(b.Type, "PRIVATE KEY") {
					// Each base64 line of the body is a secret on its own.
					enc := strings.Split(strings.TrimSpace(string(pem.EncodeToMemory(b))), "\n")
					secrets.add("private key ("+filepath.Base(path)+")", enc[1:len(enc)-1]...)
					private = true
				}
			}
		}
		if private {
			files++
			info, err := d.Info()
			if err != nil {
				return err
			}
			if info.Mode().Perm() != 0o600 {
				t.Errorf("%s holds a private key and has mode %v, want 0600", path, info.Mode().Perm())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestNoSecretInOutputs runs full flows (poll, ping, mTLS, refresh,
// userinfo) with every log at debug level, then scans all the outputs of
// the run (OP and device logs, the client's exchange records, target.yaml,
// the device's recorded requests) for the secrets it used. Secrets may
// appear redacted: their first six characters, then "…".
func TestNoSecretInOutputs(t *testing.T) {
	var logMu sync.Mutex
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&lockedWriter{mu: &logMu, w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w := newWorld(t, func(o *devenv.Options) { o.Logger = logger })
	secrets := secretSet{}

	// The keys devenv generated for this test binary (TestMain) are the
	// files `serve` writes: each must be 0600, and none may leak.
	if n := privateKeyMaterial(t, materialDir, secrets); n < 5 {
		t.Fatalf("found %d private key files in %s; the scan would prove little", n, materialDir)
	}

	var exMu sync.Mutex
	var exchanges []*client.Exchange
	record := client.OnExchange(func(ex *client.Exchange) {
		exMu.Lock()
		exchanges = append(exchanges, ex)
		exMu.Unlock()
	})
	ctx := w.ctx()

	for _, id := range []string{"poll-pkjwt-es256", "ping-pkjwt-ps256", "poll-mtls"} {
		c := w.client(id)
		p := w.params(c, "alice")
		secrets.add("client_notification_token", p.ClientNotificationToken)
		var auth []client.CallOption
		if c.AuthMethod() == ciba.AuthPrivateKeyJWT {
			// Assertions made here, so the test knows their values.
			for _, aud := range []string{w.md.Issuer, w.md.TokenEndpoint} {
				a, err := c.ClientAssertion(aud)
				if err != nil {
					t.Fatal(err)
				}
				secrets.add("client assertion", a)
				auth = append(auth, client.WithAuth(client.AuthAssertion(a)))
			}
		}
		ack, ex, err := c.Authenticate(ctx, p, append([]client.CallOption{record}, auth[:min(len(auth), 1)]...)...)
		wantOK(t, ex, err, id+" backchannel")
		w.settled(ack.AuthReqID)
		if c.Mode() == ciba.ModePing {
			n, err := w.receiver.Wait(ctx, ack.AuthReqID)
			if err != nil {
				t.Fatalf("no ping: %v", err)
			}
			if n.BearerToken != p.ClientNotificationToken {
				t.Fatalf("ping carried %q", client.Redact(n.BearerToken))
			}
		}
		tr, ex, err := c.Token(ctx, ack.AuthReqID, append([]client.CallOption{record}, auth[min(len(auth), 1):]...)...)
		wantOK(t, ex, err, id+" token")
		secrets.add("access token", tr.AccessToken)
		secrets.add("refresh token", tr.RefreshToken)

		_, ex, err = c.UserInfo(ctx, tr.AccessToken, record)
		wantOK(t, ex, err, id+" userinfo")
		rt, ex, err := c.Refresh(ctx, tr.RefreshToken, "", record)
		wantOK(t, ex, err, id+" refresh")
		secrets.add("access token", rt.AccessToken)
		_, ex, err = c.Introspect(ctx, rt.AccessToken, "access_token", record)
		wantOK(t, ex, err, id+" introspection")
		// A bad call too: error paths log what they refuse.
		_, ex, _ = c.Token(ctx, ack.AuthReqID, record)
		if ex == nil || ex.Status != 400 {
			t.Fatalf("%s: second redemption: %s", id, dump(ex))
		}
	}
	if len(secrets["access token"]) < 6 || len(secrets["client_notification_token"]) != 1 || len(secrets["client assertion"]) != 4 {
		t.Fatalf("collected %d access tokens, %d notification tokens, %d assertions",
			len(secrets["access token"]), len(secrets["client_notification_token"]), len(secrets["client assertion"]))
	}

	// The scan itself can fail: a secret in clear is found.
	if got := secrets.find("x " + secrets["refresh token"][0] + " y"); len(got) != 1 {
		t.Fatalf("scan of a leaked refresh token found %v", got)
	}

	// Every output of the run.
	logMu.Lock()
	logText := logs.String()
	logMu.Unlock()
	if logText == "" {
		t.Fatal("nothing was logged; the scan would prove nothing")
	}
	secrets.scan(t, "OP and device logs", logText)
	// The OP's logs do correlate: redacted values, first six characters.
	notifyToken := secrets["client_notification_token"][0]
	if !strings.Contains(logText, "token="+notifyToken[:6]+"…") {
		t.Errorf("logs lack the redacted notification token %q", notifyToken[:6]+"…")
	}
	exMu.Lock()
	for i, ex := range exchanges {
		secrets.scan(t, fmt.Sprintf("exchange %d (%s %s)", i, ex.Method, ex.URL), dumpAll(ex))
	}
	exMu.Unlock()
	if len(exchanges) < 15 {
		t.Errorf("recorded %d exchanges, want at least 15", len(exchanges))
	}
	yaml, err := os.ReadFile(w.env.TargetPath)
	if err != nil {
		t.Fatal(err)
	}
	secrets.scan(t, "target.yaml", string(yaml))
	device, err := json.Marshal(w.env.Device.Requests())
	if err != nil {
		t.Fatal(err)
	}
	secrets.scan(t, "the device's recorded requests", string(device))
}

// dumpAll renders every field of an exchange as a report would.
func dumpAll(ex *client.Exchange) string {
	return fmt.Sprintf("%s %s\n%v\n%v\n%s\n%d %v\n%s", ex.Method, ex.URL, ex.RequestHeader, ex.RequestForm,
		ex.RequestBody, ex.Status, ex.ResponseHeader, ex.ResponseBody)
}

// TestNoSecretInRunOutputs runs the whole conformance suite as a user
// does, `ciba-check run --target` against a `serve --verbose` process,
// with every report format, and scans the console output of both and
// every report file for the private key material of the run.
func TestNoSecretInRunOutputs(t *testing.T) {
	bin := longBinaryTest(t, "runs the whole suite against a served OP")
	dir := t.TempDir()
	serve := startServe(t, bin, "--dir", dir, "--verbose")

	secrets := secretSet{}
	if n := privateKeyMaterial(t, dir, secrets); n < 7 {
		t.Fatalf("found %d private key files in %s, want the CA, server, OP and client keys", n, dir)
	}
	reports := t.TempDir()
	files := map[string]string{
		"--json": filepath.Join(reports, "r.json"), "--junit": filepath.Join(reports, "r.xml"),
		"--html": filepath.Join(reports, "r.html"), "--md": filepath.Join(reports, "r.md"),
	}
	args := []string{"run", "--target", filepath.Join(dir, "target.yaml")}
	for flag, file := range files {
		args = append(args, flag, file)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "GITHUB_STEP_SUMMARY=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ciba-check run against serve: %v\n%s", err, out)
	}
	secrets.scan(t, "run output", string(out))
	for flag, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		secrets.scan(t, "run "+flag+" report", string(data))
	}
	serve.stop(t)
	secrets.scan(t, "serve stdout", serve.out())
	secrets.scan(t, "serve stderr (verbose log)", serve.errOut())

	// The scan must be able to fail: a leaked key would be found.
	for kind, values := range secrets {
		if got := secrets.find("x" + values[0] + "y"); len(got) == 0 {
			t.Fatalf("the scan misses a leaked %s", kind)
		}
		break
	}
}
