package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/safetext"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/internal/targetclient"
	"github.com/ciba-check/ciba-check/suites/conformance"
)

// TargetCheckOptions are the inputs of `ciba-check target check`.
type TargetCheckOptions struct {
	IO *IOStreams

	File string
	// Timeout bounds each network step.
	Timeout time.Duration
	// Now is the clock for certificate validity; nil means time.Now.
	Now func() time.Time
}

// NewCmdTarget builds `ciba-check target` and its subcommands.
func NewCmdTarget(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "target",
		Short: "Work with target.yaml files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("target: name a subcommand, e.g. `ciba-check target check target.yaml`")
		},
	}
	cmd.AddCommand(NewCmdTargetCheck(f, nil))
	return cmd
}

// NewCmdTargetCheck builds `ciba-check target check FILE`.
func NewCmdTargetCheck(f *Factory, runF func(context.Context, *TargetCheckOptions) error) *cobra.Command {
	opts := &TargetCheckOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a target.yaml and check that the OP and device it names are reachable",
		Long: `Validate target.yaml and reach what it describes, without running the suite:
the OP's discovery document and JWKS, a TLS handshake with each client's
certificate, the delivery modes, client authentication methods and
algorithms the clients need, resource, acr and user_code_parameter, the
notification listen addresses, and the authentication device. Each client
then makes the run's preflight: one real backchannel request (for a user
whose request stays pending when there is one) and, for poll clients, one
token request; a refusal that says target.yaml is wrong (invalid_client,
unauthorized_client, unknown_user_id, a TLS failure) names FILE:LINE.

Prints one line per item, ✓ or ✗ with what is wrong. Exit status: 0 all
items are fine, 1 an item failed, 2 the file is invalid (FILE:LINE:COL).`,
		Example: `  ciba-check target check mybank/target.yaml`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("target check: give exactly one target.yaml, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			if opts.Timeout <= 0 {
				return usageErrorf("target check: --timeout must be positive, got %s", opts.Timeout)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runTargetCheck(cmd.Context(), opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 15*time.Second, "bound on each network step")
	return cmd
}

// checkReport prints items as they are checked and counts failures.
type checkReport struct {
	w      io.Writer
	failed int
}

// ok and fail print one line each; what the OP sent (URLs, error
// descriptions) is shown with its control characters escaped.
func (r *checkReport) ok(item, detail string) {
	fmt.Fprintf(r.w, "✓ %s", safetext.Line(item))
	if detail != "" {
		fmt.Fprintf(r.w, ": %s", safetext.Line(detail))
	}
	fmt.Fprintln(r.w)
}

func (r *checkReport) fail(item string, format string, args ...any) {
	r.failed++
	fmt.Fprintf(r.w, "✗ %s: %s\n", safetext.Line(item), safetext.Line(fmt.Sprintf(format, args...)))
}

func runTargetCheck(ctx context.Context, opts *TargetCheckOptions) error {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	t, err := target.Load(opts.File)
	if err != nil {
		return &UsageError{Err: err}
	}
	r := &checkReport{w: opts.IO.Out}
	r.ok("target.yaml", fmt.Sprintf("%d clients, %d users, device %s", len(t.Clients), len(t.Users), t.Device.Kind))
	checkInitPlaceholders(r, t)

	// The session as a run opens it, but one that records a credential
	// URL that is not https instead of refusing (each is listed below).
	stepCtx, cancel := context.WithTimeout(ctx, opts.Timeout)
	s, err := targetclient.Open(stepCtx, t, targetclient.SessionOptions{Inspect: true})
	cancel()
	discoveryURL := targetclient.DiscoveryURL(t.Issuer)
	var discoveryErr *targetclient.DiscoveryError
	switch {
	case errors.As(err, &discoveryErr):
		r.fail("discovery", "%s: %v", discoveryURL, explainTLSError(discoveryErr.Err, caHint))
		// Everything below needs the document; the device can still be checked.
		checkDevice(ctx, r, t, nil, opts)
		return r.result()
	case err != nil:
		r.fail("ca", "%v", err)
		return r.result()
	}
	defer s.Close()
	md := s.Metadata
	if md.Issuer != t.Issuer {
		r.fail("discovery", "the document at %s names issuer %q, not %q (OIDC Discovery 4.3): check issuer: in %s, which must be the OP's issuer exactly as it publishes it", discoveryURL, md.Issuer, t.Issuer, t.IssuerWhere())
	} else {
		r.ok("discovery", discoveryURL)
	}
	for _, ep := range []struct{ name, url string }{
		{"backchannel_authentication_endpoint", md.BackchannelAuthenticationEndpoint},
		{"token_endpoint", md.TokenEndpoint},
	} {
		if ep.url == "" {
			r.fail(ep.name, "missing from discovery and not set under endpoints: (CIBA 4)")
		}
	}
	secure := checkCredentialURLs(r, t, md)
	checkJWKS(ctx, r, s, opts.Timeout)
	checkRegistration(r, t, md)
	for i := range t.Clients {
		checkClient(ctx, r, s, &t.Clients[i], opts)
	}
	if md.BackchannelAuthenticationEndpoint != "" && secure {
		probeClients(ctx, r, s, opts)
	}
	checkDevice(ctx, r, t, s.HTTP, opts)
	return r.result()
}

// checkCredentialURLs shows every URL credentials would be sent to that
// is not https as failed (the run refuses it as a target error), and the
// backchannel and token endpoints as the client calls them. It reports
// whether all are https: the client probes are only made then.
func checkCredentialURLs(r *checkReport, t *target.Target, md *ciba.ProviderMetadata) bool {
	offHost := targetclient.OffHost(t, md)
	secure := true
	for _, cu := range targetclient.CredentialURLs(t, md) {
		if client.RequireHTTPS(cu.URL) != nil {
			secure = false
			r.fail(cu.Name, "%v", &targetclient.InsecureURLError{CredentialURL: cu})
			continue
		}
		switch strings.TrimPrefix(cu.Name, "mtls_endpoint_aliases.") {
		case "backchannel_authentication_endpoint", "token_endpoint", "endpoints.backchannel_authentication", "endpoints.token":
		default:
			continue
		}
		detail := cu.URL
		if slices.Contains(offHost, cu.Name+" "+cu.URL) {
			detail += " (on another host than the issuer)"
		}
		r.ok(cu.Name, detail)
	}
	return secure
}

// checkRegistration reports what target.yaml says of the registration
// beyond the clients' basics: resource, acr and user_code_parameter.
func checkRegistration(r *checkReport, t *target.Target, md *ciba.ProviderMetadata) {
	if t.Resource != "" {
		r.ok("resource", t.Resource+" (the FAPI-R 6.2.1 resource checks call it)")
	} else {
		r.ok("resource", "none: the resource checks call userinfo as a stand-in and only warn")
	}
	if t.ACR != "" {
		var unknown []string
		for _, v := range strings.Fields(t.ACR) {
			if len(md.ACRValuesSupported) > 0 && !slices.Contains(md.ACRValuesSupported, v) {
				unknown = append(unknown, v)
			}
		}
		if len(unknown) > 0 {
			r.fail("acr", "%s not in the OP's acr_values_supported %v", strings.Join(unknown, ", "), md.ACRValuesSupported)
		} else {
			r.ok("acr", t.ACR+" (requested by the acr check)")
		}
	}
	var codeClients []string
	for _, c := range t.Clients {
		if c.UserCodeParameter {
			codeClients = append(codeClients, c.ID)
		}
	}
	var codeUsers []string
	for _, u := range t.Users {
		if u.UserCode != "" {
			codeUsers = append(codeUsers, u.Name)
		}
	}
	switch {
	case len(codeClients) > 0 && !md.BackchannelUserCodeParameterSupported:
		r.fail("user_code", "clients %s have user_code_parameter: true, but the OP does not publish backchannel_user_code_parameter_supported true (CIBA 4)", strings.Join(codeClients, ", "))
	case len(codeClients) > 0 && len(codeUsers) > 0:
		r.ok("user_code", fmt.Sprintf("clients %s send the user_code of users %s", strings.Join(codeClients, ", "), strings.Join(codeUsers, ", ")))
	case len(codeUsers) > 0:
		r.ok("user_code", fmt.Sprintf("users %s have a user_code, but no client has user_code_parameter: true (CIBA 4 default false): it is never sent and the user_code checks skip", strings.Join(codeUsers, ", ")))
	case len(codeClients) > 0:
		r.ok("user_code", fmt.Sprintf("clients %s have user_code_parameter: true, but no user has a user_code: the user_code checks skip", strings.Join(codeClients, ", ")))
	}
}

// probeClients makes the run's preflight: one real backchannel request per
// client (and a token request for poll clients), each refusal that says
// target.yaml is wrong a failed item with its FILE:LINE.
func probeClients(ctx context.Context, r *checkReport, s *targetclient.Session, opts *TargetCheckOptions) {
	env, t := conformance.EnvOf(s), s.Target
	for i := range t.Clients {
		tc := &t.Clients[i]
		item := "client " + tc.ID + " request"
		stepCtx, cancel := context.WithTimeout(ctx, opts.Timeout)
		res := conformance.ProbeClient(stepCtx, env, tc)
		cancel()
		if res.Err != nil {
			r.fail(item, "%v", res.Err)
			continue
		}
		detail := res.Detail
		if res.User != nil {
			detail += " (user " + res.User.Name + ")"
		}
		r.ok(item, detail)
	}
}

func (r *checkReport) result() error {
	if r.failed > 0 {
		fmt.Fprintf(r.w, "\n%d item(s) failed\n", r.failed)
		return ErrChecksFailed
	}
	fmt.Fprintln(r.w, "\nall items passed")
	return nil
}

// checkInitPlaceholders reports values `ciba-check init` left to fill in
// (Placeholder; not the {placeholders} of device templates, which
// target.Load checks).
func checkInitPlaceholders(r *checkReport, t *target.Target) {
	var found []string
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem(), path)
			}
		case reflect.Struct:
			for i := range v.NumField() {
				tag := strings.Split(v.Type().Field(i).Tag.Get("yaml"), ",")[0]
				if tag == "" || tag == "-" {
					continue
				}
				walk(v.Field(i), strings.TrimPrefix(path+"."+tag, "."))
			}
		case reflect.Slice:
			for i := range v.Len() {
				walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i))
			}
		case reflect.String:
			if strings.Contains(v.String(), Placeholder) {
				found = append(found, path)
			}
		}
	}
	walk(reflect.ValueOf(t).Elem(), "")
	if len(found) > 0 {
		r.fail("placeholders", "%s still hold %s from ciba-check init", strings.Join(found, ", "), Placeholder)
	}
}

// checkJWKS fetches the OP's key set (OIDC Discovery 3, jwks_uri).
func checkJWKS(ctx context.Context, r *checkReport, s *targetclient.Session, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	set, err := s.FetchJWKS(ctx)
	var jwksErr *targetclient.JWKSError
	switch {
	case errors.As(err, &jwksErr) && jwksErr.Transport:
		r.fail("jwks", "%s: %v", jwksErr.URI, explainTLSError(jwksErr.Err, caHint))
	case err != nil:
		r.fail("jwks", "%v", err)
	default:
		r.ok("jwks", fmt.Sprintf("%s (%d keys)", s.Metadata.JWKSURI, len(set.Keys)))
	}
}
