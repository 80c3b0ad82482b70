package devenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/url"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/internal/target"
	refop "github.com/ciba-check/ciba-check/reference-op"
)

func TestAllowancesCatalogue(t *testing.T) {
	all := Allowances()
	var names []string
	for _, a := range all {
		names = append(names, a.Name)
	}
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("names not sorted and unique: %v", names)
	}
	if len(all) != len(refop.Allowances())+len(envAllowances()) || !slices.Contains(names, AllowUserCodePerClient) {
		t.Errorf("catalogue %v lacks the OP's or the environment's allowances", names)
	}
	if got := opAllowances([]string{refop.AllowTLS13Only, AllowUserCodePerClient}); !slices.Equal(got, []string{refop.AllowTLS13Only}) {
		t.Errorf("opAllowances = %v, want the OP's only", got)
	}
}

func TestRegistersUserCode(t *testing.T) {
	for _, s := range clientSpecs(true) {
		if !registersUserCode(s.ID, nil) {
			t.Errorf("%s: not registered with backchannel_user_code_parameter by default", s.ID)
		}
		if got, want := registersUserCode(s.ID, []string{AllowUserCodePerClient}), s.ID == UserCodeClient; got != want {
			t.Errorf("%s under %s: registered %v, want %v", s.ID, AllowUserCodePerClient, got, want)
		}
	}
}

func TestStartRefusesBadAllowances(t *testing.T) {
	for _, names := range [][]string{{"no-such-allowance"}, {refop.AllowACRAlways, refop.AllowACRUnsupported}} {
		_, err := Start(context.Background(), Options{Dir: t.TempDir(), Allowances: names})
		var cfgErr *target.ConfigError
		if !errors.As(err, &cfgErr) {
			t.Errorf("%v: error %v, want a ConfigError", names, err)
		}
	}
}

// TestStartWithAllowances: the OP's allowances reach the OP, the
// environment's own stay with the environment.
func TestStartWithAllowances(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env, err := Start(ctx, Options{Allowances: []string{refop.AllowTLS13Only, AllowUserCodePerClient}})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close(ctx)
	u, err := url.Parse(env.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(env.Target.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	dial := func(maxVersion uint16) error {
		conn, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: roots, MaxVersion: maxVersion})
		if err == nil {
			conn.Close()
		}
		return err
	}
	if err := dial(tls.VersionTLS12); err == nil {
		t.Error("a TLS 1.2 handshake succeeded under tls13-only")
	}
	if err := dial(tls.VersionTLS13); err != nil {
		t.Errorf("TLS 1.3 handshake: %v", err)
	}
	for _, c := range env.Target.Clients {
		if c.UserCodeParameter != (c.ID == UserCodeClient) {
			t.Errorf("target.yaml: client %s user_code_parameter %v, want it only for %s", c.ID, c.UserCodeParameter, UserCodeClient)
		}
	}
}

// TestTargetFollowsAllowances: target.yaml says what the allowances
// change for a client: no acr to ask for when the OP supports none.
func TestTargetFollowsAllowances(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tt := range []struct {
		allowances []string
		acr        string
	}{
		{nil, refop.ACRMultiFactor},
		{[]string{refop.AllowACRUnsupported}, ""},
	} {
		env, err := Start(ctx, Options{Allowances: tt.allowances})
		if err != nil {
			t.Fatal(err)
		}
		if env.Target.ACR != tt.acr {
			t.Errorf("%v: target acr %q, want %q", tt.allowances, env.Target.ACR, tt.acr)
		}
		for _, c := range env.Target.Clients {
			if !c.UserCodeParameter {
				t.Errorf("%v: client %s lacks user_code_parameter, registered for all by default", tt.allowances, c.ID)
			}
		}
		if err := env.Close(ctx); err != nil {
			t.Error(err)
		}
	}
}
