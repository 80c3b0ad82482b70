package targetclient

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/target"
)

func TestCheckCredentialURLs(t *testing.T) {
	const iss = "https://op.example"
	md := func(edit func(*ciba.ProviderMetadata)) *ciba.ProviderMetadata {
		m := &ciba.ProviderMetadata{
			Issuer:                            iss,
			BackchannelAuthenticationEndpoint: iss + "/bc",
			TokenEndpoint:                     iss + "/token",
			UserinfoEndpoint:                  iss + "/userinfo",
			IntrospectionEndpoint:             iss + "/introspect",
			RevocationEndpoint:                iss + "/revoke",
		}
		if edit != nil {
			edit(m)
		}
		return m
	}
	tests := []struct {
		name    string
		target  target.Target
		md      *ciba.ProviderMetadata
		wantErr []string // substrings; none: no error
		offHost []string
	}{
		{name: "all https", md: md(nil)},
		{name: "http token_endpoint", md: md(func(m *ciba.ProviderMetadata) { m.TokenEndpoint = "http://op.example/token" }),
			wantErr: []string{`the OP publishes token_endpoint "http://op.example/token"`, "https://op.example/.well-known/openid-configuration", "refused to send credentials"}},
		{name: "http revocation_endpoint", md: md(func(m *ciba.ProviderMetadata) { m.RevocationEndpoint = "http://op.example/revoke" }),
			wantErr: []string{`revocation_endpoint "http://op.example/revoke"`}},
		{name: "http alias", md: md(func(m *ciba.ProviderMetadata) {
			m.MTLSEndpointAliases = &ciba.MTLSEndpointAliases{BackchannelAuthenticationEndpoint: "http://mtls.op.example/bc"}
		}), wantErr: []string{`mtls_endpoint_aliases.backchannel_authentication_endpoint "http://mtls.op.example/bc"`},
			offHost: []string{"mtls_endpoint_aliases.backchannel_authentication_endpoint http://mtls.op.example/bc"}},
		{name: "http canonical behind an https alias is never called", md: md(func(m *ciba.ProviderMetadata) {
			m.TokenEndpoint = "http://op.example/token"
			m.MTLSEndpointAliases = &ciba.MTLSEndpointAliases{TokenEndpoint: "https://mtls.example/token"}
		}), offHost: []string{"mtls_endpoint_aliases.token_endpoint https://mtls.example/token"}},
		{name: "http override", target: target.Target{File: "t.yaml", Endpoints: target.Endpoints{Token: "http://proxy.example/token"}},
			md:      md(func(m *ciba.ProviderMetadata) { m.TokenEndpoint = "http://proxy.example/token" }),
			wantErr: []string{`t.yaml endpoints.token: "http://proxy.example/token" is not an https URL`}},
		{name: "https override on another host is not noted", target: target.Target{Endpoints: target.Endpoints{Token: "https://proxy.example/token"}},
			md: md(func(m *ciba.ProviderMetadata) { m.TokenEndpoint = "https://proxy.example/token" })},
		{name: "off-host userinfo", md: md(func(m *ciba.ProviderMetadata) { m.UserinfoEndpoint = "https://api.example:8443/me" }),
			offHost: []string{"userinfo_endpoint https://api.example:8443/me"}},
		{name: "same host, other port", md: md(func(m *ciba.ProviderMetadata) { m.UserinfoEndpoint = "https://OP.example:8443/me" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := tt.target
			tg.Issuer = iss
			err := CheckCredentialURLs(&tg, tt.md)
			if len(tt.wantErr) == 0 && err != nil {
				t.Fatalf("CheckCredentialURLs: %v", err)
			}
			if len(tt.wantErr) > 0 {
				var ie *InsecureURLError
				var ce *client.InsecureURLError
				if !errors.As(err, &ie) || !errors.As(err, &ce) {
					t.Fatalf("err = %v, want an InsecureURLError", err)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
			}
			if got := OffHost(&tg, tt.md); !slices.Equal(got, tt.offHost) {
				t.Errorf("OffHost = %q, want %q", got, tt.offHost)
			}
		})
	}
}
