package refop

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"testing"
	"time"
)

func TestChainCacheWindowAndBound(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	leaf := &x509.Certificate{Raw: []byte("leaf"), Subject: pkix.Name{CommonName: "leaf"}, NotBefore: t0, NotAfter: t0.Add(48 * time.Hour)}
	inter := &x509.Certificate{Raw: []byte("inter"), NotBefore: t0.Add(time.Hour), NotAfter: t0.Add(72 * time.Hour)}
	root := &x509.Certificate{Raw: []byte("root"), NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(24 * time.Hour)}

	cc := newChainCache()
	key := chainKeyOf([]*x509.Certificate{leaf, inter})
	v := cc.add(key, []*x509.Certificate{leaf, inter, root}, t0.Add(2*time.Hour))
	if v.subject != "CN=leaf" {
		t.Errorf("subject %q, want CN=leaf", v.subject)
	}
	tests := []struct {
		name string
		at   time.Time
		want bool
	}{
		{"before the intermediate's NotBefore", t0.Add(30 * time.Minute), false},
		{"inside every validity period", t0.Add(2 * time.Hour), true},
		{"at the root's NotAfter", t0.Add(24 * time.Hour), true},
		{"after the root's NotAfter", t0.Add(24*time.Hour + time.Second), false},
	}
	for _, tt := range tests {
		if _, ok := cc.lookup(key, tt.at); ok != tt.want {
			t.Errorf("%s: lookup = %v, want %v", tt.name, ok, tt.want)
		}
	}
	if _, ok := cc.lookup(chainKeyOf([]*x509.Certificate{leaf}), t0.Add(2*time.Hour)); ok {
		t.Error("the leaf without its intermediate shares the cached entry")
	}

	for i := range maxVerifiedChains + 10 {
		c := &x509.Certificate{Raw: fmt.Appendf(nil, "cert-%d", i), NotBefore: t0, NotAfter: t0.Add(time.Hour)}
		cc.add(chainKeyOf([]*x509.Certificate{c}), []*x509.Certificate{c}, t0)
	}
	if n := cc.len(); n > maxVerifiedChains {
		t.Errorf("cache holds %d entries, bound is %d", n, maxVerifiedChains)
	}
}

func TestSanitizeDescription(t *testing.T) {
	tests := []struct{ in, want string }{
		{"auth_req_id is unknown", "auth_req_id is unknown"},
		{`say "hi" \ bye`, "say 'hi' ' bye"},
		{"tab\there", "tab?here"},
		{"caf\u00e9", "caf?"},
		{"bad \xff byte", "bad ? byte"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := sanitizeDescription(tt.in); got != tt.want {
			t.Errorf("sanitizeDescription(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
