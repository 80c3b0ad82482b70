package conformance

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/clock"
	"github.com/ciba-check/ciba-check/internal/devenv"
	"github.com/ciba-check/ciba-check/internal/pki"
	"github.com/ciba-check/ciba-check/internal/target"
	refop "github.com/ciba-check/ciba-check/reference-op"
)

func TestPreflightUser(t *testing.T) {
	approve := target.User{Name: "a", Outcome: ciba.OutcomeApprove}
	never := target.User{Name: "n", Outcome: ciba.OutcomeNever}
	deny := target.User{Name: "d", Outcome: ciba.OutcomeDeny}
	tests := []struct {
		name  string
		users []target.User
		want  string
	}{
		{"a pending user first", []target.User{approve, deny, never}, "n"},
		{"else the first user", []target.User{deny, approve}, "d"},
		{"outcome left empty means approve", []target.User{{Name: "e"}, never}, "n"},
		{"no user", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := PreflightUser(&target.Target{Users: tt.users})
			got := ""
			if u != nil {
				got = u.Name
			}
			if got != tt.want {
				t.Fatalf("PreflightUser = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPreflightErrorIsOneLine(t *testing.T) {
	cause := errors.New("cause")
	tests := []struct {
		err  *PreflightError
		want string
	}{
		{&PreflightError{Where: "t.yaml:7", Entry: "client c", Reason: "refused\n  with invalid_client", Err: cause},
			"t.yaml:7: client c: refused with invalid_client"},
		{&PreflightError{Entry: "user u", Reason: "unknown"}, "user u: unknown"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	if !errors.Is(tests[0].err, cause) {
		t.Error("the cause is not unwrapped")
	}
}

func TestAnswerDetail(t *testing.T) {
	tests := []struct {
		ce   ciba.Error
		want string
	}{
		{ciba.Error{Code: "invalid_client", Status: 401, Description: "unknown client"}, ` (HTTP 401, "unknown client")`},
		{ciba.Error{Code: "invalid_client", Status: 400}, ` (HTTP 400)`},
		{ciba.Error{Code: "x", Description: "line\nbreak"}, ` ("line\nbreak")`},
		{ciba.Error{Code: "x"}, ``},
	}
	for _, tt := range tests {
		if got := answerDetail(&tt.ce); got != tt.want {
			t.Errorf("answerDetail(%+v) = %q, want %q", tt.ce, got, tt.want)
		}
	}
}

// editedTarget writes the devenv target.yaml with old replaced by new
// (once) next to it and loads it, so entries carry their lines.
func editedTarget(t *testing.T, dev *devenv.Env, old, new string) *target.Target {
	t.Helper()
	raw, err := os.ReadFile(dev.TargetPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), old) {
		t.Fatalf("target.yaml lacks %q", old)
	}
	path := filepath.Join(filepath.Dir(dev.TargetPath), "edited.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(string(raw), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	tg, err := target.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// lineOf is the 1-based line of the first line of the file holding s.
func lineOf(t *testing.T, path, s string) int {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(raw), "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("%s lacks %q", path, s)
	return 0
}

// TestPreflightAgainstReferenceOP runs the preflight against the embedded
// reference OP: the good target passes; a client id the OP does not know,
// a user it does not know and a client certificate a server refuses each
// stop it with one line naming the entry and its line. The OP runs with
// token-requires-ca-issued-cert: invalid_client at the token endpoint
// after an accepted backchannel request is the OP's inconsistency, for the
// suite to judge, not a setup mistake.
func TestPreflightAgainstReferenceOP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the reference OP")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dev, err := devenv.Start(ctx, devenv.Options{Dir: t.TempDir(), Faults: []string{refop.FaultTokenRequiresCAIssuedCert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = dev.Close(ctx)
	})
	env, err := NewEnv(ctx, dev.Target, EnvOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()

	t.Run("good target", func(t *testing.T) {
		if err := Preflight(ctx, env); err != nil {
			t.Fatalf("Preflight = %v", err)
		}
		tc, _ := dev.Target.Client("poll-selfsigned")
		r := ProbeClient(ctx, env, tc)
		if r.Err != nil || !strings.Contains(r.Detail, "invalid_client") || r.User == nil || r.User.Name != "carol" {
			t.Fatalf("poll-selfsigned: %+v, want the token endpoint's invalid_client left to the suite, user carol", r)
		}
	})

	other := func(tg *target.Target) *Env {
		return &Env{Target: tg, Metadata: env.Metadata, Clock: clock.Real{}}
	}
	t.Run("client id the OP does not know", func(t *testing.T) {
		tg := editedTarget(t, dev, "id: poll-pkjwt-es256\n", "id: poll-pkjwt-es256-typo\n")
		err := Preflight(ctx, other(tg))
		want := fmt.Sprintf("%s:%d: client poll-pkjwt-es256-typo: the OP refused its backchannel request with invalid_client",
			tg.File, lineOf(t, tg.File, "id: poll-pkjwt-es256-typo"))
		var pe *PreflightError
		if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("Preflight = %v\nwant one line starting %q", err, want)
		}
	})
	t.Run("login_hint the OP does not know", func(t *testing.T) {
		tg := editedTarget(t, dev, "login_hint: carol\n", "login_hint: nobody-at-all\n")
		err := Preflight(ctx, other(tg))
		want := fmt.Sprintf("%s:%d: user carol: the OP does not know login_hint \"nobody-at-all\"",
			tg.File, lineOf(t, tg.File, "name: carol"))
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("Preflight = %v\nwant one starting %q", err, want)
		}
	})
	t.Run("client certificate refused in the handshake", func(t *testing.T) {
		// A backchannel endpoint the client trusts (the OP's server
		// certificate) that accepts only certificates of another CA.
		tc, _ := dev.Target.Client("ping-mtls")
		serverCert, err := tc.Notification.LoadTLSCertificate()
		if err != nil {
			t.Fatal(err)
		}
		ca, err := pki.NewCA(rand.Reader, time.Now(), "someone else")
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AddCert(ca.Certificate())
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t.Error("the request passed the handshake")
		}))
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{*serverCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
		srv.StartTLS()
		defer srv.Close()
		md := *env.Metadata
		md.BackchannelAuthenticationEndpoint = srv.URL + "/backchannel"
		md.MTLSEndpointAliases = nil
		tg := editedTarget(t, dev, "id: poll-mtls\n", "id: poll-mtls\n")
		r := ProbeClient(ctx, &Env{Target: tg, Metadata: &md, Clock: clock.Real{}}, mustClient(t, tg, "poll-mtls"))
		want := fmt.Sprintf("%s:%d: client poll-mtls: the TLS handshake presenting the client's certificate failed", tg.File, lineOf(t, tg.File, "id: poll-mtls"))
		if r.Err == nil || !strings.HasPrefix(r.Err.Error(), want) {
			t.Fatalf("ProbeClient = %+v\nwant an error starting %q", r, want)
		}
		t.Log(r.Err)
	})
	t.Run("plain-HTTP endpoint", func(t *testing.T) {
		// An Env built without NewEnv (target check's) still sends no
		// credential over plain HTTP: the client refuses, and the probe
		// names the URL.
		var hits atomic.Int64
		plain := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
		defer plain.Close()
		for _, edit := range []func(*ciba.ProviderMetadata){
			func(md *ciba.ProviderMetadata) { md.BackchannelAuthenticationEndpoint = plain.URL + "/backchannel" },
			func(md *ciba.ProviderMetadata) { md.TokenEndpoint = plain.URL + "/token" },
		} {
			md := *env.Metadata
			md.MTLSEndpointAliases = nil
			edit(&md)
			tg := editedTarget(t, dev, "id: poll-mtls\n", "id: poll-mtls\n")
			r := ProbeClient(ctx, &Env{Target: tg, Metadata: &md, Clock: clock.Real{}}, mustClient(t, tg, "poll-mtls"))
			if r.Err == nil || !strings.Contains(r.Err.Error(), plain.URL) || !strings.Contains(r.Err.Error(), "refused to send credentials") {
				t.Errorf("ProbeClient = %+v, want an error naming %s", r, plain.URL)
			}
		}
		if n := hits.Load(); n != 0 {
			t.Errorf("the plain-HTTP endpoint got %d requests", n)
		}
	})
}

func mustClient(t *testing.T, tg *target.Target, id string) *target.Client {
	t.Helper()
	tc, ok := tg.Client(id)
	if !ok {
		t.Fatalf("no client %s", id)
	}
	return tc
}
