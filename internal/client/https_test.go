package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
)

// TestNoCredentialOverPlainHTTP points every call of the client at a
// plain-HTTP listener, by the OP's metadata (canonical endpoints and
// mutual-TLS aliases) and by a call's own endpoint: each call must end in
// an *InsecureURLError and the listener must see no request at all.
func TestNoCredentialOverPlainHTTP(t *testing.T) {
	var hits atomic.Int64
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusBadRequest)
	}))
	defer plain.Close()
	op := newFakeOP(t, false, func(seen) reply { return jsonReply(http.StatusBadRequest, `{"error":"invalid_request"}`) })
	cert, _ := selfSignedCert(t, "client")

	plainMD := func(aliases bool) func(*Config) {
		return func(cfg *Config) {
			md := *cfg.Metadata
			if aliases {
				md.MTLSEndpointAliases = &ciba.MTLSEndpointAliases{
					TokenEndpoint: plain.URL + "/token", BackchannelAuthenticationEndpoint: plain.URL + "/bc",
					UserinfoEndpoint: plain.URL + "/userinfo", IntrospectionEndpoint: plain.URL + "/introspect",
					RevocationEndpoint: plain.URL + "/revoke",
				}
			} else {
				md.TokenEndpoint, md.BackchannelAuthenticationEndpoint = plain.URL+"/token", plain.URL+"/bc"
				md.UserinfoEndpoint, md.IntrospectionEndpoint, md.RevocationEndpoint = plain.URL+"/userinfo", plain.URL+"/introspect", plain.URL+"/revoke"
			}
			cfg.Metadata = &md
			cfg.TLSCert = &cert
		}
	}
	p := AuthParams{Scope: "openid", LoginHint: "alice"}
	calls := []struct {
		name string
		call func(ctx context.Context, c *Client) error
	}{
		{"Authenticate", func(ctx context.Context, c *Client) error { _, _, err := c.Authenticate(ctx, p); return err }},
		{"Token", func(ctx context.Context, c *Client) error { _, _, err := c.Token(ctx, "id"); return err }},
		// Poll sends with Token.
		{"Refresh", func(ctx context.Context, c *Client) error { _, _, err := c.Refresh(ctx, "rt", ""); return err }},
		{"Introspect", func(ctx context.Context, c *Client) error { _, _, err := c.Introspect(ctx, "at", ""); return err }},
		{"Revoke", func(ctx context.Context, c *Client) error { _, err := c.Revoke(ctx, "at", ""); return err }},
		{"UserInfo", func(ctx context.Context, c *Client) error { _, _, err := c.UserInfo(ctx, "at"); return err }},
		{"PostForm", func(ctx context.Context, c *Client) error {
			_, err := c.PostForm(ctx, plain.URL+"/x", url.Values{})
			return err
		}},
		{"CallEndpoint", func(ctx context.Context, c *Client) error {
			_, _, err := c.Token(ctx, "id", CallEndpoint(plain.URL+"/token"))
			return err
		}},
		{"WithTLSCertificate", func(ctx context.Context, c *Client) error {
			_, _, err := c.WithTLSCertificate(nil).Token(ctx, "id")
			return err
		}},
		{"CallTLSCertificate", func(ctx context.Context, c *Client) error {
			_, _, err := c.Token(ctx, "id", CallTLSCertificate(nil))
			return err
		}},
		{"HTTPClient", func(ctx context.Context, c *Client) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, plain.URL+"/token", strings.NewReader("client_assertion=x"))
			resp, err := c.HTTPClient().Do(req)
			if err == nil {
				resp.Body.Close()
			}
			return err
		}},
	}
	for _, aliases := range []bool{false, true} {
		c, _ := testClient(t, op, ecJWK(t, "k1"), plainMD(aliases))
		for _, tc := range calls {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := tc.call(ctx, c)
			cancel()
			var ie *InsecureURLError
			if !errors.As(err, &ie) {
				t.Errorf("aliases=%v %s: err = %v, want an *InsecureURLError", aliases, tc.name, err)
				continue
			}
			if !strings.HasPrefix(ie.URL, plain.URL) || !strings.Contains(err.Error(), "refused to send credentials") {
				t.Errorf("aliases=%v %s: %v does not name the URL %s", aliases, tc.name, err, plain.URL)
			}
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the plain-HTTP listener received %d requests", n)
	}
	if len(op.requests()) != 0 {
		t.Errorf("the TLS OP received %d requests; every call was meant for the plain listener", len(op.requests()))
	}
}

// TestCredentialEndpointsMatchTheCalls: the list the up-front check reads
// names the very URLs the calls use.
func TestCredentialEndpointsMatchTheCalls(t *testing.T) {
	op := newFakeOP(t, false, nil)
	for _, aliases := range []bool{false, true} {
		c, _ := testClient(t, op, ecJWK(t, "k1"), func(cfg *Config) {
			if aliases {
				md := *cfg.Metadata
				md.MTLSEndpointAliases = &ciba.MTLSEndpointAliases{TokenEndpoint: "https://mtls.example/token"}
				cfg.Metadata = &md
			}
		})
		got := map[string]string{}
		for _, e := range CredentialEndpoints(c.Metadata()) {
			got[strings.TrimPrefix(e.Member, "mtls_endpoint_aliases.")] = e.URL
		}
		if got["token_endpoint"] != c.TokenEndpoint() || got["backchannel_authentication_endpoint"] != c.BackchannelEndpoint() {
			t.Errorf("aliases=%v: CredentialEndpoints = %v, the client calls token %s and backchannel %s", aliases, got, c.TokenEndpoint(), c.BackchannelEndpoint())
		}
		if len(got) != 5 {
			t.Errorf("aliases=%v: CredentialEndpoints lists %d endpoints, want 5: %v", aliases, len(got), got)
		}
	}
}

func TestRequireHTTPS(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://op.example/token": true, "HTTPS://op.example/t": true, "http://op.example/token": false,
		"https:///token": false, "//op.example/token": false, "ftp://op.example": false, "": false, "%zz": false,
	} {
		err := RequireHTTPS(raw)
		var ie *InsecureURLError
		if (err == nil) != ok || (err != nil && !errors.As(err, &ie)) {
			t.Errorf("RequireHTTPS(%q) = %v, want ok=%v", raw, err, ok)
		}
	}
}
