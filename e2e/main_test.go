package e2e

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/devenv"
	"github.com/ciba-check/ciba-check/internal/target"
)

// materialDir holds keys and certificates generated once for the whole
// test binary (RSA key generation dominates start-up); each world copies
// them into its own directory, which devenv then reuses. It is written
// only by TestMain, before any test runs.
var materialDir string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "ciba-e2e-material-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Push allowed: the material then includes the push client too.
	env, err := devenv.Start(context.Background(), devenv.Options{Dir: dir, PushAllowed: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "generating test material:", err)
		return 1
	}
	if err := env.Close(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	materialDir = dir
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left behind:", err)
			return 1
		}
	}
	return code
}

// copyMaterial copies the shared keys and certificates into dst.
func copyMaterial(t *testing.T, dst string) {
	t.Helper()
	err := filepath.WalkDir(materialDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(materialDir, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		if d.Name() == "target.yaml" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copying test material: %v", err)
	}
}

// startCopiedEnv starts the embedded environment on a copy of the shared
// material in a fresh folder, closed when the test ends; it returns the
// environment and the folder.
func startCopiedEnv(t *testing.T) (*devenv.Env, string) {
	t.Helper()
	dir := t.TempDir()
	copyMaterial(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	env, err := devenv.Start(ctx, devenv.Options{Dir: dir})
	cancel()
	if err != nil {
		t.Fatalf("starting the embedded environment: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := env.Close(ctx); err != nil {
			t.Errorf("closing environment: %v", err)
		}
	})
	return env, dir
}

// targetRoots is the CA pool of tgt's ca file.
func targetRoots(t *testing.T, tgt *target.Target) *x509.CertPool {
	t.Helper()
	roots, err := tgt.RootCAs()
	if err != nil {
		t.Fatal(err)
	}
	return roots
}

// trustingClient is an HTTP client that trusts tgt's CA, closed when t
// ends.
func trustingClient(t *testing.T, tgt *target.Target) *http.Client {
	t.Helper()
	hc, err := client.NewHTTPClient(client.Config{RootCAs: targetRoots(t, tgt)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

// getReference GETs u from the embedded environment (the reference OP or
// the device) trusting its CA, and fails the test unless the answer is
// 200 with a body.
func getReference(t *testing.T, env *devenv.Env, u string) []byte {
	t.Helper()
	hc := trustingClient(t, env.Target)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("reference OP: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("reference OP %s: status %d, %v", u, resp.StatusCode, err)
	}
	return body
}
