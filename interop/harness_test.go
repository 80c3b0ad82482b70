package interop

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/pki"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/internal/targetclient"
)

// harnessDir holds the Node harness, relative to this package.
const harnessDir = "harness"

// Limits for the slow steps, so a hung npm or node fails the test with a
// message instead of the whole `go test` timing out.
const (
	npmTimeout   = 4 * time.Minute
	startTimeout = 30 * time.Second
)

// requireNode returns the paths of node and npm, or skips (outside CI) or
// fails (CI=true) when either is missing.
func requireNode(t *testing.T) (node, npm string) {
	t.Helper()
	node, errNode := exec.LookPath("node")
	npm, errNpm := exec.LookPath("npm")
	var msg string
	switch {
	case errNode != nil || errNpm != nil:
		msg = "the interop test needs Node.js and npm on PATH (Debian: apt-get install -y nodejs npm)"
	default:
		out, err := exec.Command(node, "--version").Output()
		version := strings.TrimSpace(string(out))
		if err != nil {
			msg = fmt.Sprintf("node --version failed: %v", err)
		} else if !nodeSupported(version) {
			// Debian bookworm's nodejs is 18; trixie's, or NodeSource's, will do.
			msg = fmt.Sprintf("node %s is too old for oidc-provider 9, which needs ^20.19, ^22.12 or >= 23", version)
		}
	}
	if msg == "" {
		return node, npm
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s: CI=true, so this is a failure, not a skip", msg)
	}
	t.Skip(msg)
	return "", ""
}

// nodeSupported reports whether a `node --version` string ("v20.19.2")
// satisfies harness/package.json's engines: ^20.19.0 || ^22.12.0 || >=23.
func nodeSupported(version string) bool {
	var major, minor, patch int
	if _, err := fmt.Sscanf(version, "v%d.%d.%d", &major, &minor, &patch); err != nil {
		return false
	}
	switch {
	case major >= 23:
		return true
	case major == 22:
		return minor >= 12
	case major == 20:
		return minor >= 19
	}
	return false
}

// installHarness runs `npm ci` for the harness into a cache folder keyed by
// the hash of package-lock.json and returns the folder holding
// node_modules. A finished install is marked by a file; an interrupted one
// is redone. Concurrent test processes each install into a private folder
// and rename it into place, so they never see a half-written tree.
func installHarness(t *testing.T, npm string) string {
	t.Helper()
	lock, err := os.ReadFile(filepath.Join(harnessDir, "package-lock.json"))
	if err != nil {
		t.Fatalf("reading the harness lockfile: %v", err)
	}
	pkg, err := os.ReadFile(filepath.Join(harnessDir, "package.json"))
	if err != nil {
		t.Fatalf("reading the harness package.json: %v", err)
	}
	sum := sha256.Sum256(append(append([]byte{}, pkg...), lock...))
	root := os.Getenv("CIBA_CHECK_INTEROP_CACHE")
	if root == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		root = filepath.Join(base, "ciba-check-interop")
	}
	dir := filepath.Join(root, hex.EncodeToString(sum[:8]))
	marker := filepath.Join(dir, ".installed")
	if _, err := os.Stat(marker); err == nil {
		return dir
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatalf("interop cache: %v", err)
	}
	work, err := os.MkdirTemp(root, "install-*")
	if err != nil {
		t.Fatalf("interop cache: %v", err)
	}
	defer os.RemoveAll(work)
	for name, data := range map[string][]byte{"package.json": pkg, "package-lock.json": lock} {
		if err := os.WriteFile(filepath.Join(work, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), npmTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error")
	cmd.Dir = work
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci for the interop harness failed after %s: %v\n%s", time.Since(start).Round(time.Second), err, out)
	}
	if err := os.WriteFile(filepath.Join(work, ".installed"), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(work, dir); err != nil {
		// Another process won the race; its install is as good as ours.
		if _, statErr := os.Stat(marker); statErr != nil {
			t.Fatalf("interop cache: installing into %s: %v", dir, err)
		}
	}
	t.Logf("installed the interop harness into %s in %s", dir, time.Since(start).Round(time.Second))
	return dir
}

// clientSpec is one client registered at the harness OP. The set covers
// the combinations FAPI-CIBA OPs are certified in plus two of the same
// kind for the mix-up checks (CIBA.md pitfall 7).
type clientSpec struct {
	ID   string
	Auth ciba.AuthMethod
	Mode ciba.DeliveryMode
	Alg  string
}

var harnessClients = []clientSpec{
	{ID: "poll-pkjwt-es256", Auth: ciba.AuthPrivateKeyJWT, Mode: ciba.ModePoll, Alg: ciba.AlgES256},
	{ID: "poll-pkjwt-ps256", Auth: ciba.AuthPrivateKeyJWT, Mode: ciba.ModePoll, Alg: ciba.AlgPS256},
	{ID: "ping-pkjwt-ps256", Auth: ciba.AuthPrivateKeyJWT, Mode: ciba.ModePing, Alg: ciba.AlgPS256},
	{ID: "poll-mtls", Auth: ciba.AuthTLSClient, Mode: ciba.ModePoll, Alg: ciba.AlgES256},
	{ID: "ping-mtls", Auth: ciba.AuthTLSClient, Mode: ciba.ModePing, Alg: ciba.AlgPS256},
	{ID: "poll-selfsigned", Auth: ciba.AuthSelfSignedTLSClient, Mode: ciba.ModePoll, Alg: ciba.AlgES256},
}

// harnessUser is a test user of the harness OP and what its device does:
// approve or deny at once, or hold until the approval URL is called.
type harnessUser struct {
	Name     string
	Decision string // approve | deny | hold
	Outcome  ciba.Outcome
	// UserCode is required of clients registered with
	// backchannel_user_code_parameter (CIBA 7.1.2).
	UserCode string
}

var harnessUsers = []harnessUser{
	{Name: "alice", Decision: "approve", Outcome: ciba.OutcomeApprove},
	{Name: "bob", Decision: "deny", Outcome: ciba.OutcomeDeny},
	{Name: "carol", Decision: "hold", Outcome: ciba.OutcomeNever},
	{Name: "grace", Decision: "approve", Outcome: ciba.OutcomeApprove, UserCode: "4711"},
	// Peers, so that run --parallel has users to lease (no two running
	// checks share one).
	{Name: "alice2", Decision: "approve", Outcome: ciba.OutcomeApprove},
	{Name: "alice3", Decision: "approve", Outcome: ciba.OutcomeApprove},
	{Name: "alice4", Decision: "approve", Outcome: ciba.OutcomeApprove},
	{Name: "alice5", Decision: "approve", Outcome: ciba.OutcomeApprove},
	{Name: "bob2", Decision: "deny", Outcome: ciba.OutcomeDeny},
	{Name: "carol2", Decision: "hold", Outcome: ciba.OutcomeNever},
	{Name: "carol3", Decision: "hold", Outcome: ciba.OutcomeNever},
}

// deviceDelayMS is how long the harness device waits before an
// approve or deny user decides. It still decides after the
// acknowledgement (on a timer), but at once: with server.mjs's default
// of 200 ms the suite's first poll finds every such request pending and
// waits the CIBA 7.3 default interval of 5 s, which makes a run with the
// hints driver (whose checks all use these users) take over two minutes
// instead of about twenty seconds.
const deviceDelayMS = 0

// notifyPath is the notification endpoint path of the ping clients.
const notifyPath = "/notify"

// harnessChoices is one configuration of the harness: the choices the
// specs leave to the OP that server.mjs makes (its CHOICES, selected by
// Name), the client registrations that go with them, and the committed
// expectation of the suite's outcome against it.
type harnessChoices struct {
	// Name selects the choices in server.mjs (CONFIG.json "choices").
	Name string
	// UserCodeClients are the clients registered with
	// backchannel_user_code_parameter (CIBA 4); nil means all.
	UserCodeClients []string
	// Expected is the expectation file of the suite's outcome.
	Expected string
	// Plain is a CIBA Core OP without the FAPI profile: the clients are
	// plainClients (client secrets, unsigned requests) and target.yaml
	// says fapi: false.
	Plain bool
}

// registersUserCode reports whether client id registers
// backchannel_user_code_parameter.
func (c harnessChoices) registersUserCode(id string) bool {
	return c.UserCodeClients == nil || slices.Contains(c.UserCodeClients, id)
}

// defaultChoices is the first configuration: every client registers
// backchannel_user_code_parameter, requested_expiry is honoured up to
// ten minutes, refresh tokens come with every grant, binding_message is
// optional, any client may introspect.
var defaultChoices = harnessChoices{Name: "default", Expected: expectedFile}

// strictChoices is the second configuration: other legal choices, each
// stricter (docs/interop.md, "The second configuration"). Only poll-mtls
// registers backchannel_user_code_parameter; it is not the first client,
// which the suite picks when any client will do.
var strictChoices = harnessChoices{Name: "strict", UserCodeClients: []string{"poll-mtls"}, Expected: "expected-strict.json"}

// plainChoices is the third configuration: oidc-provider as a plain CIBA
// OP (no FAPI profile, no mutual TLS) with client_secret_basic and
// client_secret_post clients sending unsigned requests, poll and ping;
// the policies are the default configuration's.
var plainChoices = harnessChoices{Name: "plain", Expected: "expected-plain.json", Plain: true}

// plainClients are the clients of the plain configuration: both secret
// methods in both modes, two of a kind for the mix-up checks. None signs
// its backchannel requests or presents a certificate.
var plainClients = []clientSpec{
	{ID: "poll-secret-basic", Auth: ciba.AuthClientSecretBasic, Mode: ciba.ModePoll},
	{ID: "poll-secret-post", Auth: ciba.AuthClientSecretPost, Mode: ciba.ModePoll},
	{ID: "ping-secret-basic", Auth: ciba.AuthClientSecretBasic, Mode: ciba.ModePing},
	{ID: "ping-secret-post", Auth: ciba.AuthClientSecretPost, Mode: ciba.ModePing},
}

// secretVar is the environment variable the plain configuration's
// target.yaml names for a client's secret (secret: ${...}).
func secretVar(clientID string) string {
	return "CIBA_CHECK_INTEROP_SECRET_" + strings.ToUpper(strings.ReplaceAll(clientID, "-", "_"))
}

// resourcePath is the path of the FAPI protected resource server.mjs
// serves beside the OP (its RESOURCE_PATH).
const resourcePath = "/fapi/accounts"

// harness is a running oidc-provider.
type harness struct {
	Issuer string
	// ResourceURL is the FAPI protected resource beside the OP.
	ResourceURL string
	TargetPath  string
	Target      *target.Target
	Dir         string
	CA          *pki.CA
	Choices     harnessChoices
	// Env holds NAME=value of the client secrets target.yaml names (the
	// plain configuration), for lookups and the ciba-check processes.
	Env    []string
	stderr *lockedBuffer
}

// lookupEnv resolves target.yaml's ${NAME} references: the harness's
// client secrets, else the process environment.
func (h *harness) lookupEnv(name string) (string, bool) {
	for _, kv := range h.Env {
		if k, v, _ := strings.Cut(kv, "="); k == name {
			return v, true
		}
	}
	return os.LookupEnv(name)
}

// load reads a target.yaml of the harness, its secrets from h.Env.
func (h *harness) load(path string) (*target.Target, error) {
	return target.LoadWithEnv(path, h.lookupEnv)
}

// lockedBuffer collects the harness's stderr for failure messages.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Log returns the harness's stderr so far.
func (h *harness) Log() string { return h.stderr.String() }

// startHarness generates the PKI, starts oidc-provider and writes
// target.yaml. The process is stopped when the test ends.
func startHarness(t *testing.T, node, modules string, opts ...harnessOption) *harness {
	t.Helper()
	setup := harnessSetup{choices: defaultChoices, deviceDelayMS: deviceDelayMS}
	for _, o := range opts {
		o(&setup)
	}
	dir := t.TempDir()
	now := time.Now()
	ca, err := pki.NewCA(rand.Reader, now, "ciba-check interop CA")
	must(t, err)
	caFile := filepath.Join(dir, "ca.pem")
	must(t, ca.Write(caFile, filepath.Join(dir, "ca.key")))
	server, err := ca.IssueServer(rand.Reader, now, []string{"127.0.0.1", "localhost"})
	must(t, err)
	serverCert, serverKey := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	must(t, pki.WriteTLSCertificate(serverCert, serverKey, server))

	var opKeys []jose.JSONWebKey
	for _, alg := range ciba.FAPIAlgs {
		k, err := pki.GenerateSigningKey(rand.Reader, alg, "op-"+alg)
		must(t, err)
		opKeys = append(opKeys, k)
	}

	// The notification receiver's address must be known before the OP
	// registers it (CIBA 4); reserve a free port now.
	notifyAddr := freeAddr(t)
	notifyURL := "https://" + notifyAddr + notifyPath

	tgt := &target.Target{
		CA:     caFile,
		FAPI:   !setup.choices.Plain,
		Device: target.Device{Kind: target.DeviceApprovalURL},
	}
	var registrations []map[string]any
	var secretEnv []string
	must(t, os.MkdirAll(filepath.Join(dir, "clients"), 0o700))
	specs := harnessClients
	if setup.choices.Plain {
		specs = plainClients
	}
	for _, s := range specs {
		if s.Auth.UsesSecret() {
			secret := rand.Text() + rand.Text() // 52 base32 characters
			secretEnv = append(secretEnv, secretVar(s.ID)+"="+secret)
			registrations = append(registrations, secretRegistration(s, secret, notifyURL))
			tc := target.Client{
				ID: s.ID, Auth: s.Auth, Mode: s.Mode, Scope: "openid profile",
				Secret:            target.NewSecret("${"+secretVar(s.ID)+"}", secret),
				UserCodeParameter: setup.choices.registersUserCode(s.ID),
			}
			if s.Mode == ciba.ModePing {
				tc.Notification = &target.Notification{Listen: notifyAddr, URL: notifyURL, TLSCert: serverCert, TLSKey: serverKey}
			}
			tgt.Clients = append(tgt.Clients, tc)
			continue
		}
		key, err := pki.GenerateSigningKey(rand.Reader, s.Alg, s.ID)
		must(t, err)
		var cert tls.Certificate
		if s.Auth == ciba.AuthSelfSignedTLSClient {
			cert, err = pki.SelfSignedClient(rand.Reader, now, s.ID)
		} else {
			cert, err = ca.IssueClient(rand.Reader, now, s.ID)
		}
		must(t, err)
		keyFile := filepath.Join(dir, "clients", s.ID+".jwk")
		certFile, certKey := filepath.Join(dir, "clients", s.ID+".pem"), filepath.Join(dir, "clients", s.ID+".key")
		must(t, pki.WriteJWK(keyFile, key))
		must(t, pki.WriteTLSCertificate(certFile, certKey, cert))
		registrations = append(registrations, registration(t, s, key, cert, notifyURL, setup.choices.registersUserCode(s.ID)))
		tc := target.Client{
			ID: s.ID, Auth: s.Auth, Mode: s.Mode, SigningKey: keyFile, Alg: s.Alg,
			TLSCert: certFile, TLSKey: certKey, Scope: "openid profile",
			UserCodeParameter: setup.choices.registersUserCode(s.ID),
		}
		if s.Mode == ciba.ModePing {
			tc.Notification = &target.Notification{Listen: notifyAddr, URL: notifyURL, TLSCert: serverCert, TLSKey: serverKey}
		}
		tgt.Clients = append(tgt.Clients, tc)
	}
	var users []map[string]any
	for _, u := range harnessUsers {
		users = append(users, map[string]any{
			"login_hint": u.Name, "sub": "user-" + u.Name, "decision": u.Decision, "user_code": u.UserCode,
			"name": strings.ToUpper(u.Name[:1]) + u.Name[1:], "email": u.Name + "@example.com",
			"delay_ms": setup.deviceDelayMS,
		})
		tgt.Users = append(tgt.Users, target.User{Name: u.Name, LoginHint: u.Name, Outcome: u.Outcome, UserCode: u.UserCode})
	}
	var keys []json.RawMessage
	for _, k := range opKeys {
		b, err := k.MarshalJSON()
		must(t, err)
		keys = append(keys, b)
	}
	cfg := map[string]any{
		"host":         "127.0.0.1",
		"port":         0,
		"tls":          map[string]string{"cert": serverCert, "key": serverKey, "ca": caFile},
		"keys":         keys,
		"clients":      registrations,
		"users":        users,
		"choices":      setup.choices.Name,
		"registration": setup.registration,
	}
	cfgFile := filepath.Join(dir, "harness.json")
	b, err := json.MarshalIndent(cfg, "", "  ")
	must(t, err)
	must(t, os.WriteFile(cfgFile, b, 0o600))

	// The script runs from a folder whose node_modules is the cached
	// install, so the repository stays free of it.
	run := filepath.Join(dir, "harness")
	must(t, os.MkdirAll(run, 0o755))
	script, err := os.ReadFile(filepath.Join(harnessDir, "server.mjs"))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(run, "server.mjs"), script, 0o644))
	must(t, os.WriteFile(filepath.Join(run, "package.json"), []byte(`{"type":"module","private":true}`), 0o644))
	must(t, os.Symlink(filepath.Join(modules, "node_modules"), filepath.Join(run, "node_modules")))

	h := &harness{Dir: dir, CA: ca, Choices: setup.choices, Env: secretEnv, stderr: &lockedBuffer{}}
	cmd := exec.Command(node, "server.mjs", cfgFile)
	cmd.Dir = run
	cmd.Env = append(os.Environ(), "NODE_ENV=test")
	logFile, err := os.Create(filepath.Join(dir, "harness.log"))
	must(t, err)
	t.Cleanup(func() { logFile.Close() })
	cmd.Stderr = io.MultiWriter(h.stderr, logFile)
	stdin, err := cmd.StdinPipe()
	must(t, err)
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		stdin.Close() // the harness exits when its stdin closes
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("oidc-provider harness log:\n%s", h.Log())
		}
	})

	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var msg struct {
				Ready  bool   `json:"ready"`
				Issuer string `json:"issuer"`
			}
			if json.Unmarshal(sc.Bytes(), &msg) == nil && msg.Ready {
				ready <- msg.Issuer
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case h.Issuer = <-ready:
	case err := <-exited:
		t.Fatalf("the oidc-provider harness exited before it was ready: %v\n%s", err, h.Log())
	case <-time.After(startTimeout):
		t.Fatalf("the oidc-provider harness was not ready after %s\n%s", startTimeout, h.Log())
	}

	tgt.Issuer = h.Issuer
	h.ResourceURL = h.Issuer + resourcePath
	if !setup.choices.Plain {
		// A FAPI resource; a plain OP's tokens are checked at userinfo.
		tgt.Resource = h.ResourceURL
	}
	// What the test users' devices can perform (server.mjs deviceACRs).
	tgt.ACR = "urn:ciba-check:acr:silver"
	tgt.Device.ApprovalURL = h.Issuer + "/ciba-sim?auth_req_id={auth_req_id}&action={action}"
	h.TargetPath = filepath.Join(dir, "target.yaml")
	must(t, tgt.Write(h.TargetPath))
	h.Target, err = h.load(h.TargetPath)
	if err != nil {
		t.Fatalf("the generated target.yaml does not load: %v", err)
	}
	return h
}

// harnessSetup is what harness options change before the harness starts.
type harnessSetup struct {
	choices      harnessChoices
	registration bool
	// deviceDelayMS is how long approve and deny users take to decide.
	deviceDelayMS int
}

// withDeviceDelay makes the approve and deny users decide after ms
// milliseconds (a real device's delay): with the hints driver every flow
// then waits for the CIBA 7.3 default interval of 5 s, as oidc-provider
// sends no interval.
func withDeviceDelay(ms int) harnessOption {
	return func(s *harnessSetup) { s.deviceDelayMS = ms }
}

// harnessOption changes the harness configuration before it starts.
type harnessOption func(*harnessSetup)

// withRegistration opens dynamic client registration (RFC 7591).
func withRegistration() harnessOption {
	return func(s *harnessSetup) { s.registration = true }
}

// withChoices starts the harness with the given configuration instead of
// defaultChoices.
func withChoices(c harnessChoices) harnessOption {
	return func(s *harnessSetup) { s.choices = c }
}

// registration is the client metadata oidc-provider registers (CIBA 4,
// RFC 8705 2 and 3, OIDC Registration 2).
func registration(t *testing.T, s clientSpec, key jose.JSONWebKey, cert tls.Certificate, notifyURL string, userCode bool) map[string]any {
	t.Helper()
	keys := []jose.JSONWebKey{key.Public()}
	if s.Auth == ciba.AuthSelfSignedTLSClient {
		// RFC 8705 2.2: the certificate is registered in the client's JWKS.
		keys = append(keys, jose.JSONWebKey{
			Key: cert.Leaf.PublicKey, KeyID: s.ID + "-tls", Algorithm: ciba.AlgES256,
			Certificates: []*x509.Certificate{cert.Leaf},
		})
	}
	raw, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	must(t, err)
	reg := map[string]any{
		"client_id":                       s.ID,
		"grant_types":                     []string{ciba.GrantTypeCIBA, ciba.GrantTypeRefreshToken},
		"response_types":                  []string{},
		"redirect_uris":                   []string{},
		"token_endpoint_auth_method":      string(s.Auth),
		"backchannel_token_delivery_mode": string(s.Mode),
		"backchannel_authentication_request_signing_alg": s.Alg,
		"id_token_signed_response_alg":                   s.Alg,
		"tls_client_certificate_bound_access_tokens":     true,
		"backchannel_user_code_parameter":                userCode,
		"jwks":                                           json.RawMessage(raw),
		"scope":                                          "openid profile email offline_access",
	}
	if s.Auth == ciba.AuthPrivateKeyJWT {
		reg["token_endpoint_auth_signing_alg"] = s.Alg
	}
	if s.Auth == ciba.AuthTLSClient {
		reg["tls_client_auth_subject_dn"] = cert.Leaf.Subject.String()
	}
	if s.Mode == ciba.ModePing {
		reg["backchannel_client_notification_endpoint"] = notifyURL
	}
	return reg
}

// secretRegistration is the metadata of a client_secret_basic or
// client_secret_post client of the plain configuration (OIDC Registration
// 2, CIBA 4): no keys, no signing alg (its requests are unsigned), no
// certificate-bound tokens.
func secretRegistration(s clientSpec, secret, notifyURL string) map[string]any {
	reg := map[string]any{
		"client_id":                       s.ID,
		"client_secret":                   secret,
		"grant_types":                     []string{ciba.GrantTypeCIBA, ciba.GrantTypeRefreshToken},
		"response_types":                  []string{},
		"redirect_uris":                   []string{},
		"token_endpoint_auth_method":      string(s.Auth),
		"backchannel_token_delivery_mode": string(s.Mode),
		"id_token_signed_response_alg":    ciba.AlgES256,
		"backchannel_user_code_parameter": true,
		"scope":                           "openid profile email offline_access",
	}
	if s.Mode == ciba.ModePing {
		reg["backchannel_client_notification_endpoint"] = notifyURL
	}
	return reg
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// errNoRun reports a ciba-check binary without the run command.
var errNoRun = errors.New("this ciba-check has no run command yet")

// buildCLI builds ciba-check into a temporary folder and reports whether
// it has the run command.
func buildCLI(t *testing.T) (string, error) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ciba-check")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/ciba-check")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/ciba-check: %v\n%s", err, out)
	}
	// cobra answers `X --help` for an unknown X with the root's help and
	// exit 0, so look for run's own usage line.
	out, err := exec.Command(bin, "run", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ciba-check run") {
		return bin, fmt.Errorf("%w (`ciba-check run --help` does not describe run)", errNoRun)
	}
	return bin, nil
}

// suiteCLI is buildCLI for a test that runs the suite: it skips the test
// when the binary has no run command.
func suiteCLI(t *testing.T, purpose string) string {
	t.Helper()
	bin, err := buildCLI(t)
	if errors.Is(err, errNoRun) {
		t.Skipf("cannot %s: %v", purpose, err)
	}
	return bin
}

// runSuiteAgainst runs the conformance suite against h with its own
// device (subtest "suite") and compares the outcome with the
// configuration's expectation, unless an earlier subtest failed.
func runSuiteAgainst(t *testing.T, h *harness) {
	t.Helper()
	if t.Failed() {
		return
	}
	bin := suiteCLI(t, suiteAgainstOP)
	t.Run("suite", func(t *testing.T) {
		testSuiteMatchesExpectation(t, h, bin, h.Target.Device)
	})
}

// suiteAgainstOP is what a test that runs the suite cannot do without
// the run command.
const suiteAgainstOP = "run the conformance suite against oidc-provider"

// client is a client of h's target.yaml, closed when t ends.
func (h *harness) client(t *testing.T, md *ciba.ProviderMetadata, id string) *client.Client {
	t.Helper()
	tc, ok := h.Target.Client(id)
	if !ok {
		t.Fatalf("no client %s in target.yaml", id)
	}
	c, err := targetclient.New(h.Target, tc, md, nil)
	must(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// TestManualHarness keeps the harness running for manual runs:
// CIBA_CHECK_INTEROP_HOLD=1 go test -run TestManualHarness ./interop
// starts the default configuration; CIBA_CHECK_INTEROP_CHOICES=strict
// beside it starts the strict one.
func TestManualHarness(t *testing.T) {
	if os.Getenv("CIBA_CHECK_INTEROP_HOLD") == "" {
		t.Skip("set CIBA_CHECK_INTEROP_HOLD=1 to start the harness and keep it running")
	}
	choices := defaultChoices
	switch name := os.Getenv("CIBA_CHECK_INTEROP_CHOICES"); name {
	case "", defaultChoices.Name:
	case strictChoices.Name:
		choices = strictChoices
	default:
		t.Fatalf("CIBA_CHECK_INTEROP_CHOICES=%q: want %s or %s", name, defaultChoices.Name, strictChoices.Name)
	}
	node, npm := requireNode(t)
	h := startHarness(t, node, installHarness(t, npm), withChoices(choices))
	fmt.Fprintf(os.Stderr, "HARNESS %s %s (%s choices)\n", h.Issuer, h.TargetPath, h.Choices.Name)
	<-time.After(10 * time.Minute)
}
