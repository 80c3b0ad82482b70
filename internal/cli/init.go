package cli

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

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
	plan, caSource, err := newInitPlan(ctx, opts)
	if err != nil {
		return err
	}
	if opts.Profile == initProfileCIBA {
		return runInitCIBA(ctx, opts, plan)
	}
	plan.Clients = planClients(plan.Discovery)
	if !opts.Force {
		if err := refuseOverwrite(opts.Dir, plan.files(opts.Dir, caSource)); err != nil {
			return err
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
	if err := writeInitFiles(opts, plan, caSource, yamlText); err != nil {
		return err
	}
	printNextSteps(opts.IO.Out, opts.Dir, plan)
	return nil
}

// newInitPlan checks --ca (caSource is its absolute path, copied beside
// target.yaml) and reads the issuer's discovery document when --issuer
// is given.
func newInitPlan(ctx context.Context, opts *InitOptions) (plan *initPlan, caSource string, err error) {
	plan = &initPlan{Issuer: opts.Issuer, Placeholder: Placeholder, Generated: opts.Now().UTC().Format(time.RFC3339)}
	if plan.Issuer == "" {
		plan.Issuer = "https://" + Placeholder + ".op.example"
	}
	if opts.CAFile != "" {
		abs, err := filepath.Abs(opts.CAFile)
		if err != nil {
			return nil, "", usageErrorf("init: --ca: %v", err)
		}
		if _, err := pki.LoadCAPool(abs); err != nil {
			return nil, "", usageErrorf("init: --ca %s: %v", opts.CAFile, err)
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
	return plan, caSource, nil
}

// initCAFile is the name of init's copy of the --ca bundle in --dir.
const initCAFile = "op-ca.pem"

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
