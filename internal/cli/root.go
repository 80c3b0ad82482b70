// Package cli holds ciba-check's commands. Each command has an Options
// struct and a NewCmdX(f, runF) constructor, as gh does, so tests can check
// flag parsing without running the command and run it with test streams.
package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ciba-check/ciba-check/internal/safetext"
)

// Factory carries what every command needs and tests replace.
type Factory struct {
	IO *IOStreams
	// Version is the tool version shown by `version` and in reports.
	Version string
}

// Main runs ciba-check with args and returns the process exit code.
func Main(args []string, io *IOStreams) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, args, &Factory{IO: io, Version: buildVersion()})
}

// Run executes the command line with a given context and factory; Main
// and tests share it.
func Run(ctx context.Context, args []string, f *Factory) int {
	root := NewCmdRoot(f)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil {
		if err != ErrChecksFailed && err != ErrInterrupted {
			// Errors may quote what the OP answered: one line, its
			// control characters escaped.
			fmt.Fprintf(f.IO.ErrOut, "ciba-check: %s\n", safetext.Line(err.Error()))
		}
	}
	return exitCode(err)
}

// NewCmdRoot builds the command tree.
func NewCmdRoot(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "ciba-check",
		Short: "Conformance and load testing for CIBA / FAPI-CIBA OpenID Providers",
		Long: `ciba-check tests OpenID Providers that implement Client-Initiated Backchannel
Authentication (CIBA Core 1.0) under the FAPI-CIBA security profile. It bundles
a strict reference OP and a mock authentication device.

Exit codes: 0 success, 1 a check failed or a threshold was breached,
2 usage, configuration or target error, 130 a load run interrupted
(Ctrl-C, SIGTERM) before its end.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.SetIn(f.IO.In)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		// Run prefixes "ciba-check: "; name only the subcommand here.
		return &UsageError{Err: fmt.Errorf("%s: %w", cmd.Name(), err)}
	})
	root.AddCommand(NewCmdVersion(f, nil))
	root.AddCommand(NewCmdServe(f, nil))
	root.AddCommand(NewCmdRun(f, nil))
	root.AddCommand(NewCmdLoad(f, nil))
	root.AddCommand(NewCmdInit(f, nil))
	root.AddCommand(NewCmdTarget(f))
	root.AddCommand(NewCmdReport(f, nil))
	return root
}
