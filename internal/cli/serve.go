package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ciba-check/ciba-check/internal/devenv"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/internal/targetclient"
	refop "github.com/ciba-check/ciba-check/reference-op"
)

// ServeOptions are the inputs of `ciba-check serve`.
type ServeOptions struct {
	IO *IOStreams

	Dir        string
	OPAddr     string
	DeviceAddr string
	NotifyAddr string
	Interval   int
	Faults     []string
	ListFaults bool
	// Allowances switches on spec-permitted behaviours (--allow).
	Allowances     []string
	ListAllowances bool
	NoFAPI         bool
	Verbose        bool
	Store          string
	// Register are folders (or target files) whose clients the OP
	// registers besides its own (--register), e.g. what init wrote.
	Register []string
}

// NewCmdServe builds `ciba-check serve`.
func NewCmdServe(f *Factory, runF func(context.Context, *ServeOptions) error) *cobra.Command {
	opts := &ServeOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the reference OP and the mock authentication device on localhost",
		Long: `Run the reference FAPI-CIBA OP and the mock authentication device on
127.0.0.1 over HTTPS until interrupted.

On first use it generates a CA, server and client certificates and keys into
--dir, and writes --dir/target.yaml describing the OP; later runs reuse the
keys so registrations stay valid.

With --store FILE the OP keeps its state (pending requests, issued tokens,
used jtis) in a bbolt file: after a restart, even after a crash, pending
requests are offered to the device again, undelivered pings are re-sent,
issued tokens keep working and used request objects and client assertions
stay refused.

With --register DIR the OP also registers the clients of DIR/target.yaml
(the folder ciba-check init writes; a .yaml file may be named instead),
by the ids in that file: the public half of each signing_key and the TLS
certificate's key as the JWKS, auth, mode and notification url as the
file says, the key's algorithm for signed requests, and for
tls_client_auth the certificate's subject DN (its certificate must then
be issued by --dir/ca.pem). The OP's users and device stay the built-in
ones (alice approves, carol never answers, ...).`,
		Example: `  ciba-check serve --dir ./dev
  ciba-check serve --dir ./dev --op-addr 127.0.0.1:8443 --fault jwks-duplicate-kid
  ciba-check serve --dir ./dev --op-addr 127.0.0.1:8443 --store ./dev/op.db
  ciba-check serve --dir ./dev --allow interval-absent --allow jwt-access-tokens
  ciba-check serve --dir ./dev --register mybank/
  ciba-check serve --list-faults
  ciba-check serve --list-allowances`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Interval < 1 {
				return usageErrorf("serve: --interval must be a whole number of seconds >= 1, got %d", opts.Interval)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runServe(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Dir, "dir", "./ciba-dev", "directory for keys, certificates and target.yaml")
	fl.StringVar(&opts.OPAddr, "op-addr", "127.0.0.1:0", "listen address of the OP (port 0 picks a free port)")
	fl.StringVar(&opts.DeviceAddr, "device-addr", "127.0.0.1:0", "listen address of the mock device")
	fl.StringVar(&opts.NotifyAddr, "notify-addr", "127.0.0.1:0", "address registered for ping clients' notification endpoint")
	fl.IntVar(&opts.Interval, "interval", 1, "poll interval in seconds handed to clients")
	fl.StringArrayVar(&opts.Faults, "fault", nil, "switch on a fault from the catalogue (repeatable; see --list-faults)")
	fl.BoolVar(&opts.ListFaults, "list-faults", false, "print the fault catalogue and exit")
	fl.StringArrayVar(&opts.Allowances, "allow", nil, "switch on a spec-permitted behaviour from the allowance catalogue (repeatable; see --list-allowances)")
	fl.BoolVar(&opts.ListAllowances, "list-allowances", false, "print the allowance catalogue and exit")
	fl.BoolVar(&opts.NoFAPI, "no-fapi", false, "plain CIBA: allow push mode (FAPI-CIBA forbids it)")
	fl.StringVar(&opts.Store, "store", "", "keep the OP's state in this file (bbolt) so a restart loses no pending request, token or used jti")
	fl.StringArrayVar(&opts.Register, "register", nil, "also register the clients of this folder's target.yaml, as init writes it (repeatable)")
	fl.BoolVarP(&opts.Verbose, "verbose", "v", false, "log every request the OP and device handle")
	return cmd
}

func runServe(ctx context.Context, opts *ServeOptions) error {
	if opts.ListFaults {
		return printFaults(opts.IO)
	}
	if opts.ListAllowances {
		return printAllowances(opts.IO)
	}
	extra, registered, err := registerClients(opts.Register)
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if opts.Verbose {
		level = slog.LevelInfo
	}
	env, err := startEmbedded(ctx, "serve", devenv.Options{
		Dir:         opts.Dir,
		OPAddr:      opts.OPAddr,
		DeviceAddr:  opts.DeviceAddr,
		NotifyAddr:  opts.NotifyAddr,
		Interval:    opts.Interval,
		Faults:      opts.Faults,
		Allowances:  opts.Allowances,
		PushAllowed: opts.NoFAPI,
		StorePath:   opts.Store,
		Register:    extra,
		Logger:      slog.New(slog.NewTextHandler(opts.IO.ErrOut, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		return err
	}
	if n := len(env.Tightened); n > 0 {
		// One line: reused keys others could read are private now.
		fmt.Fprintf(opts.IO.ErrOut, "serve: %d reused private key files in %s were readable by group or others; made them 0600: %s\n", n, opts.Dir, strings.Join(env.Tightened, ", "))
	}
	printServing(opts.IO.Out, opts, env, registered)
	<-ctx.Done()
	fmt.Fprintln(opts.IO.Out, "shutting down")
	return closeEmbedded(env)
}

// printServing says what serve started, where, and what it wrote.
func printServing(out io.Writer, opts *ServeOptions, env *devenv.Env, registered []string) {
	fmt.Fprintf(out, "reference OP   %s\n", env.Issuer)
	fmt.Fprintf(out, "discovery      %s\n", targetclient.DiscoveryURL(env.Issuer))
	fmt.Fprintf(out, "mock device    %s\n", env.DeviceURL)
	if len(opts.Faults) > 0 {
		fmt.Fprintf(out, "faults         %v\n", opts.Faults)
	}
	if len(opts.Allowances) > 0 {
		fmt.Fprintf(out, "allowances     %v\n", opts.Allowances)
	}
	if opts.Store != "" {
		r := env.Resumed
		fmt.Fprintf(out, "store          %s (resumed %d pending, %d notifications)\n", opts.Store, r.Pending, r.Notifications)
	}
	for _, r := range registered {
		fmt.Fprintf(out, "registered     %s\n", r)
	}
	fmt.Fprintf(out, "target         %s\n", env.TargetPath)
	if opts.NoFAPI {
		// The secret clients' target.yaml names the secret, never holds it.
		fmt.Fprintf(out, "client secret  %s=\"$(cat %s)\" before run --target\n", devenv.DevSecretVar, filepath.Join(opts.Dir, devenv.SecretFile))
	}
	if len(env.Written) > 0 {
		fmt.Fprintf(out, "generated      %d files in %s\n", len(env.Written), opts.Dir)
	}
	fmt.Fprintln(out, "serving; press Ctrl-C to stop")
}

func printFaults(io *IOStreams) error {
	w := tabwriter.NewWriter(io.Out, 0, 4, 2, ' ', 0)
	for _, f := range refop.Faults() {
		fmt.Fprintf(w, "%s\t%s\n", f.Name, f.Breaks)
	}
	return w.Flush()
}

// printAllowances prints the allowance catalogue, one a line: name, what
// the OP then does, and the text that permits it.
func printAllowances(io *IOStreams) error {
	w := tabwriter.NewWriter(io.Out, 0, 4, 2, ' ', 0)
	for _, a := range devenv.Allowances() {
		fmt.Fprintf(w, "%s\t%s\t%s\n", a.Name, a.Permits, a.Basis)
	}
	return w.Flush()
}

// registerClients reads the clients of each --register folder's
// target.yaml as the OP registers them; lines says what was registered,
// one a client.
func registerClients(dirs []string) (clients []refop.Client, lines []string, err error) {
	for _, d := range dirs {
		file := d
		if ext := filepath.Ext(d); ext != ".yaml" && ext != ".yml" {
			file = filepath.Join(d, "target.yaml")
		}
		t, err := target.Load(file)
		if err != nil {
			return nil, nil, usageErrorf("serve: --register %s: %v", d, err)
		}
		for i := range t.Clients {
			tc := &t.Clients[i]
			reg, err := devenv.Registration(tc)
			if err != nil {
				return nil, nil, usageErrorf("serve: --register %s: %v", d, err)
			}
			clients = append(clients, reg)
			lines = append(lines, fmt.Sprintf("%s (%s, %s, %s) from %s", reg.ID, reg.AuthMethod, reg.DeliveryMode, reg.RequestSigningAlg, t.Where(tc.Line)))
		}
	}
	return clients, lines, nil
}
