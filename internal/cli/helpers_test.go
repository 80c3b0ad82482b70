package cli

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/ciba-check/ciba-check/internal/devenv"
)

// executeFlags runs cmd with args, its output discarded, for the flag
// tests of the commands. With wantErr the error must contain it; without,
// there must be none. It returns the error for further checks.
func executeFlags(t *testing.T, cmd *cobra.Command, args []string, wantErr string) error {
	t.Helper()
	cmd.SetArgs(args)
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	err := cmd.Execute()
	switch {
	case wantErr == "" && err != nil:
		t.Fatal(err)
	case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
		t.Fatalf("error %v, want %q", err, wantErr)
	}
	return err
}

// startServe runs `ciba-check` with args (a serve command) until it says
// "serving", and returns what it printed by then; the test's cleanup
// stops it.
func startServe(t *testing.T, args []string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, args, &Factory{IO: &IOStreams{In: strings.NewReader(""), Out: pw, ErrOut: pw}, Version: "test"})
		pw.Close()
	}()
	var out strings.Builder
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "serving") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	return out.String()
}

// startDevEnv runs the embedded reference OP and mock device with o (in
// a temporary folder unless o.Dir is set) until the test ends.
func startDevEnv(t *testing.T, o devenv.Options) *devenv.Env {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	env, err := devenv.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closeEmbedded(env) })
	return env
}
