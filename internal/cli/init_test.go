package cli

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/pki"
	"github.com/ciba-check/ciba-check/internal/target"
)

func TestNewCmdInitFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    InitOptions
		wantErr string
	}{
		{name: "dir only", args: []string{"--dir", "d"}, want: InitOptions{Dir: "d"}},
		{name: "all", args: []string{"--dir", "d", "--issuer", "https://op.example", "--ca", "ca.pem", "--force"},
			want: InitOptions{Dir: "d", Issuer: "https://op.example", CAFile: "ca.pem", Force: true}},
		{name: "no dir", args: nil, wantErr: "--dir is required"},
		{name: "http issuer", args: []string{"--dir", "d", "--issuer", "http://op.example"}, wantErr: "must be an https URL"},
		{name: "issuer with query", args: []string{"--dir", "d", "--issuer", "https://op.example/?a=b"}, wantErr: "no query"},
		{name: "argument", args: []string{"--dir", "d", "extra"}, wantErr: "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io, _, _, _ := TestStreams()
			var got *InitOptions
			cmd := NewCmdInit(&Factory{IO: io}, func(_ context.Context, o *InitOptions) error { got = o; return nil })
			if executeFlags(t, cmd, tt.args, tt.wantErr); tt.wantErr != "" {
				return
			}
			if got.Dir != tt.want.Dir || got.Issuer != tt.want.Issuer || got.CAFile != tt.want.CAFile || got.Force != tt.want.Force {
				t.Fatalf("options %+v, want %+v", *got, tt.want)
			}
		})
	}
}

// initFiles are the files init writes for its two default clients, with
// the mode each must have.
var initFiles = map[string]os.FileMode{
	"target.yaml":               0o644,
	"client1-ps256-signing.jwk": 0o600,
	"client1-ps256-tls.pem":     0o644,
	"client1-ps256-tls.key":     0o600,
	"client1-ps256-tls.csr.pem": 0o644,
	"client1-ps256-jwks.json":   0o644,
	"client2-es256-signing.jwk": 0o600,
	"client2-es256-tls.key":     0o600,
	"client2-es256-jwks.json":   0o644,
}

func TestInitWritesLoadableSkeleton(t *testing.T) {
	dir := t.TempDir()
	io, _, out, errOut := TestStreams()
	code := Run(context.Background(), []string{"init", "--dir", dir}, &Factory{IO: io})
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for name, mode := range initFiles {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s has mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	for _, want := range []string{"Next steps:", "ciba-check target check " + filepath.Join(dir, "target.yaml"), "private_key_jwt", ciba.GrantTypeCIBA,
		"tls_client_certificate_bound_access_tokens true", "ciba-check serve --dir dev --register " + dir} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// As written, placeholders and all, the skeleton loads.
	tp := filepath.Join(dir, "target.yaml")
	tg, err := target.Load(tp)
	if err != nil {
		t.Fatalf("the skeleton does not load: %v", err)
	}
	if len(tg.Clients) != 2 || !strings.Contains(tg.Clients[0].ID, Placeholder) || tg.Device.Kind != target.DeviceManual {
		t.Fatalf("skeleton %+v", tg)
	}
	// Filled in, it still loads, and its keys and certificates work.
	data, err := os.ReadFile(tp)
	if err != nil {
		t.Fatal(err)
	}
	filled := strings.NewReplacer(
		"https://"+Placeholder+".op.example", "https://op.mybank.example",
		Placeholder+"-client1-ps256", "bank-client-1",
		Placeholder+"-client2-es256", "bank-client-2",
		Placeholder+"-user-who-approves", "alice@mybank.example",
		// The registration's optional fields, uncommented as written.
		"# resource: ", "resource: ",
		"# acr: ", "acr: ",
		"    # user_code_parameter: true", "    user_code_parameter: true",
	).Replace(string(data))
	if strings.Contains(filled, Placeholder+"-") || strings.Contains(filled, `"`+Placeholder) {
		t.Fatalf("a placeholder is left after filling:\n%s", filled)
	}
	if err := os.WriteFile(tp, []byte(filled), 0o644); err != nil {
		t.Fatal(err)
	}
	tg, err = target.Load(tp)
	if err != nil {
		t.Fatalf("the filled skeleton does not load: %v", err)
	}
	if tg.Resource != "https://api.example/accounts" || tg.ACR != "urn:example:acr:mfa" || !tg.Clients[0].UserCodeParameter || !tg.Clients[1].UserCodeParameter {
		t.Fatalf("uncommented resource %q, acr %q, user_code_parameter %v %v", tg.Resource, tg.ACR, tg.Clients[0].UserCodeParameter, tg.Clients[1].UserCodeParameter)
	}
	algs := map[string]string{}
	for i := range tg.Clients {
		c := &tg.Clients[i]
		key, err := c.LoadSigningKey()
		if err != nil {
			t.Fatal(err)
		}
		algs[c.ID] = key.Algorithm
		cert, err := c.LoadTLSCertificate()
		if err != nil || cert == nil {
			t.Fatalf("client %s TLS certificate: %v", c.ID, err)
		}
	}
	if algs["bank-client-1"] != ciba.AlgPS256 || algs["bank-client-2"] != ciba.AlgES256 {
		t.Fatalf("signing algorithms %v, want PS256 and ES256", algs)
	}

	// The JWKS to register holds only public keys: the signing key and the
	// certificate's key with x5c (RFC 8705 2.2).
	raw, err := os.ReadFile(filepath.Join(dir, "client1-ps256-jwks.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), `"d"`) {
		t.Fatalf("jwks.json contains private key material:\n%s", raw)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil || len(set.Keys) != 2 || len(set.Keys[1].Certificates) != 1 {
		t.Fatalf("jwks.json: %v %+v", err, set)
	}
	// The CSR is signed with the TLS key and names the client.
	csrPEM, err := os.ReadFile(filepath.Join(dir, "client1-ps256-tls.csr.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		t.Fatalf("tls.csr.pem is not a PEM CSR")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil || csr.CheckSignature() != nil || csr.Subject.CommonName != "ciba-check client1-ps256" {
		t.Fatalf("CSR: %v %+v", err, csr)
	}
	cert, err := pki.LoadCertificate(filepath.Join(dir, "client1-ps256-tls.pem"), filepath.Join(dir, "client1-ps256-tls.key"))
	if err != nil || !publicKeyEqual(cert.Leaf.PublicKey, csr.PublicKey) {
		t.Fatalf("the CSR's key is not the certificate's: %v", err)
	}
}

func publicKeyEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

func TestInitRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	io, _, _, _ := TestStreams()
	if code := Run(context.Background(), []string{"init", "--dir", dir}, &Factory{IO: io}); code != ExitOK {
		t.Fatalf("first init: exit %d", code)
	}
	before, err := os.ReadFile(filepath.Join(dir, "client1-ps256-signing.jwk"))
	if err != nil {
		t.Fatal(err)
	}
	io, _, _, errOut := TestStreams()
	if code := Run(context.Background(), []string{"init", "--dir", dir}, &Factory{IO: io}); code != ExitUsage {
		t.Fatalf("second init without --force: exit %d, want %d", code, ExitUsage)
	}
	if !strings.Contains(errOut.String(), "already exists") || !strings.Contains(errOut.String(), "--force") {
		t.Fatalf("stderr %q", errOut)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "client1-ps256-signing.jwk"))
	if !bytes.Equal(before, after) {
		t.Fatal("a refused init changed the signing key")
	}
	io, _, _, errOut = TestStreams()
	if code := Run(context.Background(), []string{"init", "--dir", dir, "--force"}, &Factory{IO: io}); code != ExitOK {
		t.Fatalf("init --force: exit %d: %s", code, errOut)
	}
	after, _ = os.ReadFile(filepath.Join(dir, "client1-ps256-signing.jwk"))
	if bytes.Equal(before, after) {
		t.Fatal("init --force kept the old signing key")
	}
	if fi, _ := os.Stat(filepath.Join(dir, "client1-ps256-signing.jwk")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("overwritten key has mode %v", fi.Mode().Perm())
	}
}

// discoveryServer serves a discovery document over TLS and writes its CA
// certificate to a file for --ca.
func discoveryServer(t *testing.T, edit func(md map[string]any)) (issuer, caFile string) {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case ciba.DiscoveryPath:
		case "/jwks":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"keys":[{"kty":"EC","crv":"P-256","kid":"op","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`))
			return
		case "/token":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_request"}`))
			return
		default:
			http.NotFound(w, r)
			return
		}
		md := map[string]any{
			"issuer":                              srv.URL,
			"token_endpoint":                      srv.URL + "/token",
			"jwks_uri":                            srv.URL + "/jwks",
			"backchannel_authentication_endpoint": srv.URL + "/bc",
			"backchannel_token_delivery_modes_supported":                      []string{"poll", "ping"},
			"backchannel_authentication_request_signing_alg_values_supported": []string{"PS256", "ES256"},
			"token_endpoint_auth_methods_supported":                           []string{"private_key_jwt", "tls_client_auth"},
			"tls_client_certificate_bound_access_tokens":                      true,
		}
		if edit != nil {
			edit(md)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(md)
	}))
	t.Cleanup(srv.Close)
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := pki.WriteCertPEM(caFile, srv.Certificate()); err != nil {
		t.Fatal(err)
	}
	return srv.URL, caFile
}

func TestInitFillsFromDiscovery(t *testing.T) {
	tests := []struct {
		name string
		edit func(md map[string]any)
		// want are lines the skeleton must contain.
		want []string
	}{
		{name: "PS256 and ES256, private_key_jwt, poll",
			want: []string{"auth: private_key_jwt", "mode: poll", "alg: PS256", "alg: ES256",
				"#   backchannel_token_delivery_modes_supported: poll, ping", "#   backchannel_authentication: "}},
		{name: "ES256 only",
			edit: func(md map[string]any) {
				md["backchannel_authentication_request_signing_alg_values_supported"] = []string{"ES256"}
			},
			want: []string{"signing_key: client1-es256-signing.jwk", "signing_key: client2-es256-signing.jwk"}},
		{name: "mutual TLS only, ping only",
			edit: func(md map[string]any) {
				md["token_endpoint_auth_methods_supported"] = []string{"tls_client_auth"}
				md["backchannel_token_delivery_modes_supported"] = []string{"ping"}
			},
			want: []string{"auth: tls_client_auth", "mode: ping", "    notification:\n", `url: "https://` + Placeholder + `.ciba-check.example:9443/notify"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			issuer, caFile := discoveryServer(t, tt.edit)
			dir := t.TempDir()
			io, _, out, errOut := TestStreams()
			if code := Run(context.Background(), []string{"init", "--dir", dir, "--issuer", issuer, "--ca", caFile}, &Factory{IO: io}); code != ExitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			data, err := os.ReadFile(filepath.Join(dir, "target.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			text := string(data)
			for _, w := range append(tt.want, "issuer: \""+issuer+"\"", "ca: \"op-ca.pem\"") {
				if !strings.Contains(text, w) {
					t.Errorf("target.yaml lacks %q:\n%s", w, text)
				}
			}
			if !strings.Contains(out.String(), "Read discovery from "+issuer) {
				t.Errorf("output %q", out)
			}
			if _, err := target.Load(filepath.Join(dir, "target.yaml")); err != nil {
				t.Fatalf("the filled skeleton does not load: %v", err)
			}
		})
	}
}

func TestInitUnreachableIssuerStillWritesSkeleton(t *testing.T) {
	tests := []struct {
		name    string
		issuer  func(t *testing.T) (issuer string, args []string)
		wantWhy string
	}{
		{name: "untrusted certificate", issuer: func(t *testing.T) (string, []string) {
			issuer, _ := discoveryServer(t, nil)
			return issuer, nil
		}, wantWhy: "give its CA bundle with --ca)"},
		{name: "wrong issuer in document", issuer: func(t *testing.T) (string, []string) {
			issuer, ca := discoveryServer(t, func(md map[string]any) { md["issuer"] = "https://elsewhere.example" })
			return issuer, []string{"--ca", ca}
		}, wantWhy: "OIDC Discovery 4.3"},
		{name: "nothing listening", issuer: func(t *testing.T) (string, []string) {
			srv := httptest.NewTLSServer(http.NotFoundHandler())
			u := srv.URL
			srv.Close()
			return u, nil
		}, wantWhy: "Could not read discovery"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			issuer, extra := tt.issuer(t)
			dir := t.TempDir()
			io, _, out, errOut := TestStreams()
			args := append([]string{"init", "--dir", dir, "--issuer", issuer, "--timeout", "5s"}, extra...)
			if code := Run(context.Background(), args, &Factory{IO: io}); code != ExitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if !strings.Contains(out.String(), tt.wantWhy) {
				t.Errorf("output lacks %q:\n%s", tt.wantWhy, out)
			}
			tg, err := target.Load(filepath.Join(dir, "target.yaml"))
			if err != nil {
				t.Fatalf("skeleton does not load: %v", err)
			}
			if tg.Issuer != issuer {
				t.Errorf("issuer %q, want %q", tg.Issuer, issuer)
			}
		})
	}
}

func TestInitBadCAFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	io, _, _, errOut := TestStreams()
	code := Run(context.Background(), []string{"init", "--dir", filepath.Join(dir, "out"), "--ca", bad}, &Factory{IO: io})
	if code != ExitUsage || !strings.Contains(errOut.String(), "--ca") {
		t.Fatalf("exit %d, stderr %q; want a usage error naming --ca", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "target.yaml")); err == nil {
		t.Fatal("init wrote files despite a bad --ca")
	}
}
