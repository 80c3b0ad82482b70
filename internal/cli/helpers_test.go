package cli

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
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
// "serving", and returns what it printed by then and stop, which stops it
// the way Ctrl-C does (context cancellation) and returns its exit code and
// what it printed after (-1 when it did not stop). The test's cleanup
// stops it if the test did not.
func startServe(t *testing.T, args []string) (string, func() (int, string)) {
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
	rest := make(chan string, 1)
	go func() {
		var b strings.Builder
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
		}
		_, _ = io.Copy(io.Discard, pr)
		rest <- b.String()
	}()
	stop := sync.OnceValues(func() (int, string) {
		cancel()
		select {
		case code := <-done:
			return code, <-rest
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
			return -1, ""
		}
	})
	t.Cleanup(func() { stop() })
	return out.String(), stop
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
