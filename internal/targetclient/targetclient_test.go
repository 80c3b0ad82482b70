package targetclient

import (
	"context"
	"testing"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/target"
)

func TestApplyOverrides(t *testing.T) {
	base := func() *ciba.ProviderMetadata {
		return &ciba.ProviderMetadata{
			BackchannelAuthenticationEndpoint: "https://op/bc", TokenEndpoint: "https://op/token", UserinfoEndpoint: "https://op/userinfo",
			MTLSEndpointAliases: &ciba.MTLSEndpointAliases{BackchannelAuthenticationEndpoint: "https://mtls/bc", TokenEndpoint: "https://mtls/token", UserinfoEndpoint: "https://mtls/userinfo"},
		}
	}
	tests := []struct {
		name                     string
		e                        target.Endpoints
		bc, token, ui            string
		aliasBC, aliasToken, aUI string
	}{
		{name: "none", bc: "https://op/bc", token: "https://op/token", ui: "https://op/userinfo",
			aliasBC: "https://mtls/bc", aliasToken: "https://mtls/token", aUI: "https://mtls/userinfo"},
		{name: "token only", e: target.Endpoints{Token: "https://x/token"}, bc: "https://op/bc", token: "https://x/token", ui: "https://op/userinfo",
			aliasBC: "https://mtls/bc", aUI: "https://mtls/userinfo"},
		{name: "all", e: target.Endpoints{BackchannelAuthentication: "https://x/bc", Token: "https://x/token", Userinfo: "https://x/ui"},
			bc: "https://x/bc", token: "https://x/token", ui: "https://x/ui"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md := base()
			ApplyOverrides(md, tt.e)
			a := md.MTLSEndpointAliases
			got := []string{md.BackchannelAuthenticationEndpoint, md.TokenEndpoint, md.UserinfoEndpoint, a.BackchannelAuthenticationEndpoint, a.TokenEndpoint, a.UserinfoEndpoint}
			want := []string{tt.bc, tt.token, tt.ui, tt.aliasBC, tt.aliasToken, tt.aUI}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("field %d = %q, want %q", i, got[i], want[i])
				}
			}
		})
	}
	md := &ciba.ProviderMetadata{}
	ApplyOverrides(md, target.Endpoints{Token: "https://x/token"}) // no aliases: must not panic
	if md.TokenEndpoint != "https://x/token" {
		t.Errorf("token = %q", md.TokenEndpoint)
	}
}

func TestErrors(t *testing.T) {
	if _, err := Discover(context.Background(), nil); err == nil {
		t.Error("Discover(nil) succeeded")
	}
	if _, err := Config(nil, nil, nil, nil); err == nil {
		t.Error("Config(nil) succeeded")
	}
	tgt := &target.Target{Issuer: "https://op"}
	tc := &target.Client{ID: "c", SigningKey: "/nonexistent/key.jwk"}
	if _, err := New(tgt, tc, &ciba.ProviderMetadata{Issuer: "https://op"}, nil); err == nil {
		t.Error("New with a missing key file succeeded")
	}
	var rs *Receivers
	if rs.For("x") != nil || rs.Close() != nil {
		t.Error("nil Receivers is not inert")
	}
	rs, err := StartReceivers(&target.Target{Clients: []target.Client{{ID: "poll", Mode: ciba.ModePoll}}}, nil)
	if err != nil || rs.For("poll") != nil {
		t.Errorf("StartReceivers without notification clients = %v, %v", rs, err)
	}
	_ = rs.Close()
	_, err = StartReceivers(&target.Target{Clients: []target.Client{{ID: "ping", Mode: ciba.ModePing, Notification: &target.Notification{Listen: "127.0.0.1:0", URL: "https://127.0.0.1/n"}}}}, nil)
	if err == nil {
		t.Error("a receiver without a TLS certificate started")
	}
}
