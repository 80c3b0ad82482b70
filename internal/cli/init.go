package cli

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/spf13/cobra"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/pki"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/internal/targetclient"
)

// Placeholder marks values in a generated target.yaml the user must
// replace; `target check` reports any that remain.
const Placeholder = "REPLACE-ME"

// InitOptions are the inputs of `ciba-check init`.
type InitOptions struct {
	IO *IOStreams

	Dir    string
	Issuer string
	// CAFile is a PEM bundle trusted for the issuer's TLS certificate
	// (else the system roots); it is also written into target.yaml.
	CAFile string
	Force  bool
	// Profile is fapi (the default: keys, certificates, private_key_jwt
	// or mTLS) or ciba (CIBA Core: client secrets, unsigned requests).
	Profile string

	// HTTPClient reads discovery; nil builds one trusting CAFile.
	HTTPClient *http.Client
	// Rand and Now make key material; nil means crypto/rand and time.Now.
	Rand io.Reader
	Now  func() time.Time
	// DiscoveryTimeout bounds the discovery request.
	DiscoveryTimeout time.Duration
}

// NewCmdInit builds `ciba-check init`.
func NewCmdInit(f *Factory, runF func(context.Context, *InitOptions) error) *cobra.Command {
	opts := &InitOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Generate client keys, certificates and a target.yaml skeleton for a real OP",
		Long: `Generate what testing a real OP needs: for each of two clients (two are needed
for the mix-up checks) a signing key (PS256 and ES256), a self-signed TLS
client certificate with a CSR to have it issued by a CA instead, and the
public JWKS to register; plus a commented target.yaml skeleton.

With --issuer, the OP's discovery document is read when it is reachable and
the skeleton is filled with what it says: delivery mode, client
authentication method and signing algorithms the OP supports, and its
endpoints (as comments).

Key files are written with mode 0600. Existing files are never overwritten
unless --force is given.`,
		Example: `  ciba-check init --dir mybank
  ciba-check init --dir mybank --issuer https://op.mybank.example --ca mybank-ca.pem
  ciba-check init --dir kc --profile ciba --issuer https://kc.example/realms/demo`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Dir == "" {
				return usageErrorf("init: --dir is required")
			}
			if opts.Profile != initProfileFAPI && opts.Profile != initProfileCIBA {
				return usageErrorf("init: --profile %q: want fapi or ciba", opts.Profile)
			}
			if opts.Issuer != "" {
				if err := checkIssuerFlag(opts.Issuer); err != nil {
					return err
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runInit(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Dir, "dir", "", "directory to write keys, certificates and target.yaml into (required)")
	fl.StringVar(&opts.Issuer, "issuer", "", "the OP's issuer URL; its discovery document fills the skeleton when reachable")
	fl.StringVar(&opts.CAFile, "ca", "", "PEM CA bundle to trust for the OP's TLS certificate (default: system roots)")
	fl.BoolVar(&opts.Force, "force", false, "overwrite existing files")
	fl.StringVar(&opts.Profile, "profile", initProfileFAPI, "fapi (FAPI-CIBA: keys and certificates for private_key_jwt or mTLS) or ciba (CIBA Core: client secrets, unsigned requests, no key material)")
	fl.DurationVar(&opts.DiscoveryTimeout, "timeout", 15*time.Second, "how long to wait for the discovery document")
	return cmd
}

// checkIssuerFlag applies target.yaml's rule for issuers to --issuer by
// parsing a file holding only it: an issuer problem is the first error
// (line 1), anything else concerns the missing rest.
func checkIssuerFlag(issuer string) error {
	_, err := target.ParseWithEnv([]byte("issuer: "+quoteYAML(issuer)+"\n"), "--issuer", "", func(string) (string, bool) { return "", false })
	var te *target.Error
	if errors.As(err, &te) && te.Path == "issuer" {
		return usageErrorf("init: --issuer: %s", te.Msg)
	}
	return nil
}

// initClient is one client the skeleton describes.
type initClient struct {
	Name     string // folder and placeholder id suffix
	Alg      string
	Auth     ciba.AuthMethod
	Mode     ciba.DeliveryMode
	Subject  string
	KeyFile  string
	CertFile string
	CertKey  string
	CSRFile  string
	JWKSFile string
}

// initPlan is what the skeleton is filled with.
type initPlan struct {
	Issuer    string
	CAFile    string
	Clients   []initClient
	Discovery *ciba.ProviderMetadata
	// DiscoveryError says why discovery could not be read ("" when it was,
	// or when no issuer was given).
	DiscoveryError string
	Placeholder    string
	Generated      string
}

func runInit(ctx context.Context, opts *InitOptions) error {
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	var caSource string // the --ca file, copied to initCAFile
	plan := &initPlan{Issuer: opts.Issuer, Placeholder: Placeholder, Generated: opts.Now().UTC().Format(time.RFC3339)}
	if plan.Issuer == "" {
		plan.Issuer = "https://" + Placeholder + ".op.example"
	}
	if opts.CAFile != "" {
		abs, err := filepath.Abs(opts.CAFile)
		if err != nil {
			return usageErrorf("init: --ca: %v", err)
		}
		if _, err := pki.LoadCAPool(abs); err != nil {
			return usageErrorf("init: --ca %s: %v", opts.CAFile, err)
		}
		// target.yaml names a copy beside it, by a relative path, so the
		// folder works wherever it is mounted (a pod's /config).
		plan.CAFile = initCAFile
		caSource = abs
	}
	if opts.Issuer != "" {
		md, err := initDiscover(ctx, opts)
		if err != nil {
			plan.DiscoveryError = err.Error()
		} else {
			plan.Discovery = md
		}
	}
	if opts.Profile == initProfileCIBA {
		return runInitCIBA(ctx, opts, plan)
	}
	plan.Clients = planClients(plan.Discovery)

	files := []string{"target.yaml"}
	if dst, err := filepath.Abs(filepath.Join(opts.Dir, initCAFile)); caSource != "" && (err != nil || dst != caSource) {
		files = append(files, initCAFile)
	}
	for _, c := range plan.Clients {
		files = append(files, c.KeyFile, c.CertFile, c.CertKey, c.CSRFile, c.JWKSFile)
	}
	if !opts.Force {
		var existing []string
		for _, f := range files {
			if _, err := os.Stat(filepath.Join(opts.Dir, f)); err == nil {
				existing = append(existing, filepath.Join(opts.Dir, f))
			} else if !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("init: %w", err)
			}
		}
		if len(existing) > 0 {
			return usageErrorf("init: %s already exists (and %d more of the files init writes); use --force to overwrite", existing[0], len(existing)-1)
		}
	}

	yamlText, err := renderSkeleton(plan)
	if err != nil {
		return err
	}
	// The skeleton must load exactly as written, placeholders and all, so
	// a user's first `target check` points at what to fill in rather than
	// at a syntax error of ours.
	if _, err := target.ParseWithEnv(yamlText, "target.yaml", opts.Dir, func(string) (string, bool) { return "", false }); err != nil {
		return fmt.Errorf("init: the generated target.yaml does not load (a bug): %w", err)
	}

	now := opts.Now()
	for _, c := range plan.Clients {
		if err := writeClientMaterial(opts.Dir, c, opts.Rand, now); err != nil {
			return fmt.Errorf("init: client %s: %w", c.Name, err)
		}
	}
	if caSource != "" {
		if err := copyCA(caSource, filepath.Join(opts.Dir, initCAFile)); err != nil {
			return fmt.Errorf("init: --ca: %w", err)
		}
	}
	targetPath := filepath.Join(opts.Dir, "target.yaml")
	if err := os.WriteFile(targetPath, yamlText, 0o644); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	printNextSteps(opts.IO.Out, opts.Dir, plan)
	return nil
}

// initCAFile is the name of init's copy of the --ca bundle in --dir.
const initCAFile = "op-ca.pem"

// copyCA copies the CA bundle src to dst (public: mode 0644); the same file
// is left alone.
func copyCA(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if absDst, err := filepath.Abs(dst); err == nil && absDst == src {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	return os.WriteFile(dst, data, pki.PublicFileMode)
}

// initDiscover reads the issuer's discovery document.
func initDiscover(ctx context.Context, opts *InitOptions) (*ciba.ProviderMetadata, error) {
	timeout := opts.DiscoveryTimeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	md, err := targetclient.DiscoverWithCA(ctx, opts.HTTPClient, opts.Issuer, opts.CAFile, timeout)
	if err != nil {
		return nil, explainTLSError(err, "with --ca")
	}
	return md, nil
}

// planClients picks two clients: the first signing with PS256, the second
// with ES256, unless the OP supports only the other; both poll with
// private_key_jwt unless discovery says the OP lacks them.
func planClients(md *ciba.ProviderMetadata) []initClient {
	first, second := ciba.AlgPS256, ciba.AlgES256
	auth := ciba.AuthPrivateKeyJWT
	mode := ciba.ModePoll
	if md != nil {
		algs := md.BackchannelAuthenticationRequestSigningAlgs
		switch {
		case slices.Contains(algs, ciba.AlgPS256) && !slices.Contains(algs, ciba.AlgES256):
			second = ciba.AlgPS256
		case slices.Contains(algs, ciba.AlgES256) && !slices.Contains(algs, ciba.AlgPS256):
			first = ciba.AlgES256
		}
		methods := md.TokenEndpointAuthMethodsSupported
		if len(methods) > 0 && !slices.Contains(methods, ciba.AuthPrivateKeyJWT) {
			for _, m := range []ciba.AuthMethod{ciba.AuthTLSClient, ciba.AuthSelfSignedTLSClient} {
				if slices.Contains(methods, m) {
					auth = m
					break
				}
			}
		}
		modes := md.BackchannelTokenDeliveryModesSupported
		if len(modes) > 0 && !slices.Contains(modes, ciba.ModePoll) && slices.Contains(modes, ciba.ModePing) {
			mode = ciba.ModePing
		}
	}
	mk := func(n int, alg string) initClient {
		name := fmt.Sprintf("client%d-%s", n, strings.ToLower(alg))
		// One flat folder, names prefixed by the client: mountable as
		// one Kubernetes Secret (kubectl create secret --from-file=DIR/
		// takes a folder's files, not its subfolders).
		return initClient{
			Name: name, Alg: alg, Auth: auth, Mode: mode,
			Subject:  "CN=ciba-check " + name + ",O=" + pki.Organization,
			KeyFile:  name + "-signing.jwk",
			CertFile: name + "-tls.pem",
			CertKey:  name + "-tls.key",
			CSRFile:  name + "-tls.csr.pem",
			JWKSFile: name + "-jwks.json",
		}
	}
	return []initClient{mk(1, first), mk(2, second)}
}

// writeClientMaterial writes the client's signing key (0600), a
// self-signed TLS certificate and its key (0600), a CSR for the same key,
// and the public JWKS to register: the signing key plus the certificate
// (x5c) for self_signed_tls_client_auth (RFC 8705 2.2).
func writeClientMaterial(dir string, c initClient, rnd io.Reader, now time.Time) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	key, err := pki.GenerateSigningKey(rnd, c.Alg, c.Name)
	if err != nil {
		return err
	}
	if err := pki.WriteJWK(filepath.Join(dir, c.KeyFile), key); err != nil {
		return err
	}
	cert, err := pki.SelfSignedClient(rnd, now, "ciba-check "+c.Name)
	if err != nil {
		return err
	}
	if err := pki.WriteTLSCertificate(filepath.Join(dir, c.CertFile), filepath.Join(dir, c.CertKey), cert); err != nil {
		return err
	}
	signer, ok := cert.PrivateKey.(crypto.Signer)
	if !ok {
		return fmt.Errorf("the TLS key of type %T cannot sign a CSR", cert.PrivateKey)
	}
	csr, err := x509.CreateCertificateRequest(rnd, &x509.CertificateRequest{Subject: pkix.Name{
		CommonName: "ciba-check " + c.Name, Organization: []string{pki.Organization},
	}}, signer)
	if err != nil {
		return fmt.Errorf("CSR: %w", err)
	}
	if err := writePEMFile(filepath.Join(dir, c.CSRFile), "CERTIFICATE REQUEST", csr); err != nil {
		return err
	}
	return pki.WriteJWKS(filepath.Join(dir, c.JWKSFile), key, jose.JSONWebKey{
		Key:          cert.Leaf.PublicKey,
		KeyID:        c.Name + "-tls",
		Certificates: []*x509.Certificate{cert.Leaf},
	})
}

func writePEMFile(path, blockType string, der []byte) error {
	data := pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, pki.PublicFileMode)
	if err != nil {
		return err
	}
	if err := f.Chmod(pki.PublicFileMode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// quoteYAML writes s as a double-quoted YAML scalar.
func quoteYAML(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func joinList[T ~string](list []T) string {
	if len(list) == 0 {
		return "(not published)"
	}
	parts := make([]string, len(list))
	for i, v := range list {
		parts[i] = string(v)
	}
	return strings.Join(parts, ", ")
}

var skeletonTemplate = template.Must(template.New("target.yaml").Funcs(template.FuncMap{
	"q":     quoteYAML,
	"modes": joinList[ciba.DeliveryMode],
	"auths": joinList[ciba.AuthMethod],
	"algs":  joinList[string],
}).Parse(`# target.yaml: how ciba-check reaches your OP. Generated by ciba-check init
# on {{.Generated}}. Values {{.Placeholder}} must be replaced; "ciba-check target
# check" lists any that remain. Relative paths are relative to this file;
# ${NAME} takes a value from the environment.
{{- if .Discovery}}
#
# Read from {{.Issuer}}/.well-known/openid-configuration:
#   backchannel_authentication_endpoint: {{.Discovery.BackchannelAuthenticationEndpoint}}
#   token_endpoint: {{.Discovery.TokenEndpoint}}
#   backchannel_token_delivery_modes_supported: {{modes .Discovery.BackchannelTokenDeliveryModesSupported}}
#   backchannel_authentication_request_signing_alg_values_supported: {{algs .Discovery.BackchannelAuthenticationRequestSigningAlgs}}
#   token_endpoint_auth_methods_supported: {{auths .Discovery.TokenEndpointAuthMethodsSupported}}
#   token_endpoint_auth_signing_alg_values_supported: {{algs .Discovery.TokenEndpointAuthSigningAlgValuesSupported}}
#   tls_client_certificate_bound_access_tokens: {{.Discovery.TLSClientCertificateBoundAccessTokens}}
#   backchannel_user_code_parameter_supported: {{.Discovery.BackchannelUserCodeParameterSupported}}
#   acr_values_supported: {{algs .Discovery.ACRValuesSupported}}
{{- else if .DiscoveryError}}
#
# The discovery document could not be read ({{.DiscoveryError}}),
# so the choices below are defaults; check them against your OP.
{{- end}}

# The OP's issuer identifier, exactly as in its discovery document; https only.
issuer: {{q .Issuer}}
{{- if .CAFile}}

# CA bundle (PEM) that issued the OP's TLS certificate.
ca: {{q .CAFile}}
{{- else}}

# CA bundle (PEM) that issued the OP's TLS certificate, if not a public CA:
# ca: op-ca.pem
{{- end}}

# Endpoints are read from discovery; override one only if your OP needs it.
{{- if .Discovery}}
# endpoints:
#   backchannel_authentication: {{.Discovery.BackchannelAuthenticationEndpoint}}
#   token: {{.Discovery.TokenEndpoint}}
{{- if .Discovery.UserinfoEndpoint}}
#   userinfo: {{.Discovery.UserinfoEndpoint}}
{{- end}}
{{- else}}
# endpoints:
#   backchannel_authentication: https://op.example/backchannel
#   token: https://op.example/token
{{- end}}

# FAPI-CIBA profile checks (push mode forbidden, signed requests, bound tokens).
fapi: true

# A FAPI resource endpoint of your resource server that accepts the access
# token: GET with "Authorization: Bearer" over the client's certificate
# (FAPI-R 6.2.1). The x-fapi-interaction-id, Date and query-string checks
# call it; without it they call userinfo as a stand-in and only warn.
# resource: https://api.example/accounts

# The acr value(s) the acr check requests as acr_values (space-separated, in
# order of preference; FAPI-CIBA 5.2.2-8: an acr claim must come back).
# Without it the check requests the OP's acr_values_supported.
# acr: urn:example:acr:mfa

# Clients registered at the OP. Register each with its jwks.json (or jwks_uri
# serving it), the token_endpoint_auth_method in "auth", the
# backchannel_token_delivery_mode in "mode",
# backchannel_authentication_request_signing_alg = "alg", grant type
# urn:openid:params:grant-type:ciba, and tls_client_certificate_bound_access_tokens.
# Two clients are needed for the checks that one client cannot use another's
# auth_req_id, certificate or tokens.
clients:
{{- range .Clients}}
  - # The client_id the OP assigned.
    id: {{q (print $.Placeholder "-" .Name)}}
    # private_key_jwt | tls_client_auth | self_signed_tls_client_auth
    auth: {{.Auth}}
    # poll | ping (ping needs a notification section; push is not FAPI)
    mode: {{.Mode}}
    # Signs request objects (CIBA 7.1.1) and client assertions.
    signing_key: {{.KeyFile}}
    alg: {{.Alg}}
    # TLS client certificate: self-signed, fit for self_signed_tls_client_auth
    # and for certificate-bound tokens. For tls_client_auth have
    # {{.CSRFile}} issued by the CA your OP trusts, replace {{.CertFile}} with
    # the result and register tls_client_auth_subject_dn {{q .Subject}}.
    tls_cert: {{.CertFile}}
    tls_key: {{.CertKey}}
    scope: openid
    # Whether the OP registered this client with backchannel_user_code_parameter
    # true (CIBA 4; default false). Only then does ciba-check send a user's
    # user_code (CIBA 7.1), and only such clients run the user_code checks.
    # user_code_parameter: true
    # For mode ping: where ciba-check listens, the https URL registered as
    # backchannel_client_notification_endpoint (must reach this machine), and
    # the listener's certificate (one the OP trusts).
{{- if eq .Mode "ping"}}
    notification:
      listen: 0.0.0.0:9443
      url: {{q (print "https://" $.Placeholder ".ciba-check.example:9443/notify")}}
      tls_cert: {{q (print $.Placeholder "-notify.pem")}}
      tls_key: {{q (print $.Placeholder "-notify.key")}}
{{- else}}
    # notification:
    #   listen: 0.0.0.0:9443
    #   url: https://ciba-check.example:9443/notify
    #   tls_cert: notify.pem
    #   tls_key: notify.key
{{- end}}
{{- end}}

# Test users at the OP. Exactly one of login_hint, login_hint_token or
# id_token_hint each (CIBA 7.1). outcome is what the device does for the
# user: approve | deny | never (left pending) | cancel | error. A user with
# outcome never lets the device drivers that can hold requests
# (approval_url, command, manual) approve or deny on demand.
# Several users of each outcome let run --parallel run that many checks at
# once: no two running checks get the same user, as an OP may rate-limit
# per login_hint (FAPI-CIBA 7.2). With one user of an outcome, the checks
# needing it run one after another; uncomment the extra users below for
# test users your OP has. shared: true lets several checks use a user at
# once.
users:
  - name: approver
    login_hint: {{q (print .Placeholder "-user-who-approves")}}
    outcome: approve
  # - name: approver-2
  #   login_hint: user-who-approves-2
  #   outcome: approve
  # - name: approver-3
  #   login_hint: user-who-approves-3
  #   outcome: approve
  # - name: denier
  #   login_hint: user-who-denies
  #   outcome: deny
  # - name: denier-2
  #   login_hint: user-who-denies-2
  #   outcome: deny
  # - name: pending
  #   login_hint: user-left-pending
  #   outcome: never
  # - name: pending-2
  #   login_hint: user-left-pending-2
  #   outcome: never
  # - name: pending-3
  #   login_hint: user-left-pending-3
  #   outcome: never
  # A user_code is the code the OP requires of that user (CIBA 7.1.2); it is
  # sent only by clients with user_code_parameter: true.
  # - name: coded
  #   login_hint: user-with-a-user-code
  #   user_code: "4711"
  #   outcome: never
#
# Before each run ciba-check sends one backchannel request per client, for a
# user with outcome never if there is one (its request just expires): an
# answer that says this file is wrong (invalid_client, unauthorized_client,
# unknown_user_id, a TLS failure) stops the run with the entry's line.

# How ciba-check makes the user approve or deny. One of:
#   kind: mockdevice    url: https://device.example       (ciba-check's mock device)
#   kind: approval_url  approval_url: https://op.example/ciba-sim?auth_req_id={auth_req_id}&action={action}
#   kind: hints         (the OP decides by login_hint itself)
#   kind: command       command: ./approve.sh {auth_req_id} {login_hint} {action}
#   kind: manual        (prints each request and waits for you)
device:
  kind: manual
`))

func renderSkeleton(plan *initPlan) ([]byte, error) {
	var b bytes.Buffer
	if err := skeletonTemplate.Execute(&b, plan); err != nil {
		return nil, fmt.Errorf("init: rendering target.yaml: %w", err)
	}
	return b.Bytes(), nil
}

func printNextSteps(w io.Writer, dir string, plan *initPlan) {
	fmt.Fprintf(w, "Wrote %s\n", filepath.Join(dir, "target.yaml"))
	for _, c := range plan.Clients {
		fmt.Fprintf(w, "Wrote %s-* (%s signing key, TLS certificate and CSR, JWKS)\n", filepath.Join(dir, c.Name), c.Alg)
	}
	switch {
	case plan.Discovery != nil:
		fmt.Fprintf(w, "Read discovery from %s: modes %s, auth methods %s\n", plan.Issuer,
			joinList(plan.Discovery.BackchannelTokenDeliveryModesSupported), joinList(plan.Discovery.TokenEndpointAuthMethodsSupported))
	case plan.DiscoveryError != "":
		fmt.Fprintf(w, "Could not read discovery from %s: %s\n", plan.Issuer, plan.DiscoveryError)
	}
	fmt.Fprintln(w, "\nNext steps:")
	step := 1
	if plan.Discovery == nil && plan.DiscoveryError == "" {
		fmt.Fprintf(w, "  %d. Set issuer in target.yaml (or rerun with --issuer).\n", step)
		step++
	}
	for _, c := range plan.Clients {
		fmt.Fprintf(w, "  %d. Register a client at the OP with jwks %s, token_endpoint_auth_method %s,\n"+
			"     backchannel_token_delivery_mode %s, backchannel_authentication_request_signing_alg %s,\n"+
			"     grant type %s and tls_client_certificate_bound_access_tokens true;\n"+
			"     put its client_id into target.yaml.\n",
			step, filepath.Join(dir, c.JWKSFile), c.Auth, c.Mode, c.Alg, ciba.GrantTypeCIBA)
		step++
	}
	fmt.Fprintf(w, "  %d. For tls_client_auth, have the tls.csr.pem files signed by the CA your OP trusts\n"+
		"     and replace tls.pem with the issued certificates.\n", step)
	step++
	fmt.Fprintf(w, "  %d. Fill in test users and the device section of target.yaml.\n", step)
	step++
	fmt.Fprintf(w, "  %d. ciba-check target check %s\n", step, filepath.Join(dir, "target.yaml"))
	step++
	fmt.Fprintf(w, "  %d. ciba-check run --target %s --json results.json --junit junit.xml\n", step, filepath.Join(dir, "target.yaml"))
	fmt.Fprintf(w, "\nTo try these steps against the bundled reference OP instead of yours: set the two\n"+
		"client ids in target.yaml (any ids), start\n"+
		"  ciba-check serve --dir dev --register %s\n"+
		"which registers them as the steps above say, then in target.yaml set issuer and\n"+
		"ca: to what serve prints (dev/ca.pem), login_hint alice (approves) and a user\n"+
		"carol with outcome never, and device kind: mockdevice with serve's device URL.\n", dir)
}

// explainTLSError adds the likely fix to a certificate verification error;
// giveCA says how to give a CA bundle where the error is shown ("with
// --ca" for a flag, "with ca: in target.yaml" for the file).
func explainTLSError(err error, giveCA string) error {
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var alert tls.AlertError
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("%w (the OP's certificate is not from a trusted CA: give its CA bundle "+giveCA+")", err)
	case errors.As(err, &hostname):
		return fmt.Errorf("%w (the OP's certificate does not name this host)", err)
	case errors.As(err, &invalid):
		return fmt.Errorf("%w (the OP's certificate is invalid, e.g. expired)", err)
	case errors.As(err, &alert):
		return fmt.Errorf("%w (the OP refused the TLS handshake)", err)
	}
	return err
}
