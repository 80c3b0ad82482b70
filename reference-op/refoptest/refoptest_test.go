package refoptest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/ciba-check/ciba-check/reference-op/refoptest"
)

func TestStartDescribesARunningOP(t *testing.T) {
	op := refoptest.Start(t)
	if !strings.HasPrefix(op.Issuer, "https://127.0.0.1:") {
		t.Errorf("issuer %q: want https on loopback", op.Issuer)
	}
	if op.Discovery.Issuer != op.Issuer || op.Discovery.TokenEndpoint == "" || op.Discovery.BackchannelAuthenticationEndpoint == "" {
		t.Errorf("discovery %+v: want the OP's issuer and its token and backchannel endpoints", op.Discovery)
	}
	for _, want := range []struct{ mode, auth string }{{"poll", "private_key_jwt"}, {"ping", "tls_client_auth"}, {"poll", ""}} {
		c := op.Client(want.mode, want.auth)
		if c.SigningKey.IsPublic() || !c.SigningKey.Valid() {
			t.Errorf("client %s: want its private signing key", c.ID)
		}
		if len(c.TLSCertificate.Certificate) == 0 {
			t.Errorf("client %s: want its TLS certificate", c.ID)
		}
		if (c.DeliveryMode == "ping") != (c.NotificationEndpoint != "") {
			t.Errorf("client %s (%s): notification endpoint %q", c.ID, c.DeliveryMode, c.NotificationEndpoint)
		}
	}
	for _, outcome := range []string{"approve", "deny", "never"} {
		if u := op.User(outcome); u.LoginHint == "" {
			t.Errorf("user for %s: no login_hint", outcome)
		}
	}
	if len(op.CACertPEM) == 0 || op.RootCAs == nil {
		t.Error("want the CA, as PEM and as a pool")
	}
	if err := op.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err := op.Stop(); err != nil {
		t.Errorf("a second Stop: %v", err)
	}
}

func TestNoFAPIRegistersAPushClient(t *testing.T) {
	op := refoptest.Start(t, refoptest.Options{NoFAPI: true})
	if c := op.Client("push", ""); c.NotificationEndpoint == "" {
		t.Errorf("push client %s has no notification endpoint", c.ID)
	}
}

func TestStartRefusesAnUnknownFault(t *testing.T) {
	if _, err := refoptest.New(t.TempDir(), refoptest.Options{Faults: []string{"no-such-fault"}}); err == nil ||
		!strings.Contains(err.Error(), "no-such-fault") {
		t.Fatalf("err %v: want the unknown fault named", err)
	}
}

// An outside module (examples/rptest: its own go.mod, importing only this
// package) compiles and completes a poll flow with it: the proof that the
// reference OP can be used as a library by projects that cannot import
// ciba-check's internal packages.
func TestOutsideModuleCompletesAPollFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs another module")
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	dir, err := filepath.Abs(filepath.Join("..", "..", "examples", "rptest"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goBin, "test", "-count=1", "./...")
	cmd.Dir = dir
	// The module's own go.mod and go.sum decide; the caller's flags
	// (e.g. -race through GOFLAGS) do not apply to it.
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go test in %s: %v\n%s", dir, err, out)
	}
}
