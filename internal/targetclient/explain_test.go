package targetclient

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ciba-check/ciba-check/internal/pki"
	"github.com/ciba-check/ciba-check/internal/target"
)

// TestDiscoveryErrorsHint: when discovery fails because nothing listens at
// the issuer, or the issuer has no discovery document, the one-line error
// says what to check and where issuer: is in the target file.
func TestDiscoveryErrorsHint(t *testing.T) {
	notFound := httptest.NewTLSServer(http.NotFoundHandler())
	defer notFound.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := pki.WriteCertPEM(ca, notFound.Certificate()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	tests := []struct {
		name, issuer string
		want         []string
	}{
		{"nothing listening", "https://" + closed, []string{"connection refused", "(is the OP running at " + closed + "?", "check issuer: in mybank/target.yaml:2)"}},
		{"no discovery document", notFound.URL + "/wrong-realm", []string{"HTTP 404", "no discovery document there: check issuer: in mybank/target.yaml:2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := "# my bank\nissuer: " + tt.issuer + "\nca: ca.pem\nclients:\n  - id: c\n    auth: private_key_jwt\n    mode: poll\n    signing_key: k.jwk\nusers:\n  - name: u\n    login_hint: u\ndevice:\n  kind: hints\n"
			tgt, err := target.ParseWithEnv([]byte(doc), "mybank/target.yaml", dir, func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			_, err = Discover(context.Background(), tgt)
			if err == nil {
				t.Fatal("discovery succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is more than one line", err)
			}
		})
	}
}
