package targetclient

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/target"
)

// CredentialURL is a URL the tool will send a credential to, and where
// the URL came from.
type CredentialURL struct {
	// Name is the endpoint's discovery member (token_endpoint,
	// mtls_endpoint_aliases.token_endpoint, ...) or target.yaml key
	// (endpoints.token, resource).
	Name string
	URL  string
	// Source says where the URL came from: "the discovery document at
	// URL" or "FILE endpoints.token".
	Source string
	// FromTarget is true when target.yaml set the URL.
	FromTarget bool
}

// CredentialURLs lists every URL a run sends credentials to: the
// endpoints the client calls (their mutual-TLS aliases when published,
// RFC 8705 5), the endpoint overrides of target.yaml among them, and
// target.yaml's resource. md is the metadata with the overrides applied
// (Discover).
func CredentialURLs(t *target.Target, md *ciba.ProviderMetadata) []CredentialURL {
	discovery := "the discovery document at " + strings.TrimSuffix(t.Issuer, "/") + ciba.DiscoveryPath
	file := t.File
	if file == "" {
		file = "target.yaml"
	}
	overrides := map[string]string{
		"backchannel_authentication_endpoint": t.Endpoints.BackchannelAuthentication,
		"token_endpoint":                      t.Endpoints.Token,
		"userinfo_endpoint":                   t.Endpoints.Userinfo,
	}
	overrideKey := map[string]string{
		"backchannel_authentication_endpoint": "endpoints.backchannel_authentication",
		"token_endpoint":                      "endpoints.token",
		"userinfo_endpoint":                   "endpoints.userinfo",
	}
	var out []CredentialURL
	for _, e := range client.CredentialEndpoints(md) {
		cu := CredentialURL{Name: e.Member, URL: e.URL, Source: discovery}
		if o := overrides[e.Member]; o != "" && o == e.URL {
			cu.Name, cu.Source, cu.FromTarget = overrideKey[e.Member], file+" "+overrideKey[e.Member], true
		}
		out = append(out, cu)
	}
	if t.Resource != "" {
		out = append(out, CredentialURL{Name: "resource", URL: t.Resource, Source: file + " resource", FromTarget: true})
	}
	return out
}

// InsecureURLError is a URL the tool would send credentials to that is
// not https: a target error, found before the first credential leaves.
type InsecureURLError struct {
	CredentialURL
}

func (e *InsecureURLError) Error() string {
	if e.FromTarget {
		return fmt.Sprintf("%s: %q is not an https URL; ciba-check refuses to send credentials there", e.Source, e.URL)
	}
	return fmt.Sprintf("the OP publishes %s %q (%s), not an https URL; ciba-check refused to send credentials there", e.Name, e.URL, e.Source)
}

// Unwrap is the client's own refusal, so errors.As finds a
// *client.InsecureURLError either way.
func (e *InsecureURLError) Unwrap() error { return &client.InsecureURLError{URL: e.URL} }

// CheckCredentialURLs returns an *InsecureURLError for the first URL of
// CredentialURLs that is not https, or nil. Every command that sends
// credentials (run, load, target check) calls it right after discovery.
func CheckCredentialURLs(t *target.Target, md *ciba.ProviderMetadata) error {
	for _, cu := range CredentialURLs(t, md) {
		if client.RequireHTTPS(cu.URL) != nil {
			return &InsecureURLError{CredentialURL: cu}
		}
	}
	return nil
}

// OffHost lists the credential URLs the OP's discovery document puts on
// another host than the issuer, as "name URL" entries for a note:
// allowed, but the report names them (the URLs target.yaml sets are the
// user's own choice).
func OffHost(t *target.Target, md *ciba.ProviderMetadata) []string {
	iss, err := url.Parse(t.Issuer)
	if err != nil {
		return nil
	}
	var out []string
	for _, cu := range CredentialURLs(t, md) {
		if cu.FromTarget {
			continue
		}
		u, err := url.Parse(cu.URL)
		if err != nil || strings.EqualFold(u.Hostname(), iss.Hostname()) {
			continue
		}
		out = append(out, cu.Name+" "+cu.URL)
	}
	return out
}
