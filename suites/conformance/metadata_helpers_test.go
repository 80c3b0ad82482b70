package conformance

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
)

func TestReadAlgList(t *testing.T) {
	tests := []struct {
		algs []string
		want algList
	}{
		{nil, algList{}},
		{[]string{"PS256"}, algList{fapi: true}},
		{[]string{"ES256", "RS256", "none"}, algList{fapi: true, none: true, others: []string{"RS256"}}},
		{[]string{"RS256", "ES384"}, algList{others: []string{"RS256", "ES384"}}},
		{[]string{"none"}, algList{none: true}},
	}
	for _, tt := range tests {
		if got := readAlgList(tt.algs); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("readAlgList(%v) = %+v, want %+v", tt.algs, got, tt.want)
		}
	}
}

func TestJWKSKids(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k := func(kid, use string) jose.JSONWebKey {
		return jose.JSONWebKey{Key: &key.PublicKey, KeyID: kid, Use: use}
	}
	tests := []struct {
		name    string
		keys    []jose.JSONWebKey
		without int
		dup     []string
	}{
		{"one key without kid", []jose.JSONWebKey{k("", "sig")}, 1, nil},
		{"distinct kids", []jose.JSONWebKey{k("a", "sig"), k("b", "")}, 0, nil},
		{"signing key without kid beside an encryption key", []jose.JSONWebKey{k("", "sig"), k("", "enc")}, 1, nil},
		{"no use counts as signing", []jose.JSONWebKey{k("a", "sig"), k("", "")}, 1, nil},
		{"duplicates", []jose.JSONWebKey{k("a", "sig"), k("a", "sig"), k("a", "enc"), k("b", "sig"), k("b", "sig")}, 0, []string{"a", "b"}},
	}
	for _, tt := range tests {
		set := jose.JSONWebKeySet{Keys: tt.keys}
		if got := signingKeysWithoutKid(set); got != tt.without {
			t.Errorf("%s: signingKeysWithoutKid = %d, want %d", tt.name, got, tt.without)
		}
		if got := duplicateKids(set); !reflect.DeepEqual(got, tt.dup) {
			t.Errorf("%s: duplicateKids = %v, want %v", tt.name, got, tt.dup)
		}
	}
}

func TestRawKeyCount(t *testing.T) {
	for body, want := range map[string]int{`{"keys":[]}`: 0, `{"keys":[{"kty":"OKP"},{}]}`: 2, `{}`: 0, `[]`: -1, `nope`: -1} {
		if got := rawKeyCount([]byte(body)); got != want {
			t.Errorf("rawKeyCount(%s) = %d, want %d", body, got, want)
		}
	}
}

func TestEndpointAliasProblems(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want int
	}{
		{"https endpoints", map[string]any{"token_endpoint": "https://mtls.op/token", "backchannel_authentication_endpoint": "https://mtls.op/bc"}, 0},
		{"null", nil, 1},
		{"array", []any{"https://mtls.op/token"}, 1},
		{"http endpoint", map[string]any{"token_endpoint": "http://mtls.op/token"}, 1},
		{"endpoint not a string", map[string]any{"token_endpoint": 7, "introspection_endpoint": nil}, 2},
		{"non-endpoint members are ignored", map[string]any{"token_endpoint": "https://mtls.op/token", "x_note": 7}, 0},
	}
	for _, tt := range tests {
		if got := endpointAliasProblems(tt.v); len(got) != tt.want {
			t.Errorf("%s: endpointAliasProblems = %v, want %d problems", tt.name, got, tt.want)
		}
	}
}

func TestClientAuthenticated(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, true},
		{&ciba.Error{Code: "authorization_pending"}, true},
		{fmt.Errorf("wrapped: %w", &ciba.Error{Code: "slow_down"}), true},
		{&ciba.Error{Code: "access_denied"}, true},
		{&ciba.Error{Code: "expired_token"}, true},
		{&ciba.Error{Code: "invalid_client"}, false},
		{&ciba.Error{Code: "invalid_grant"}, false},
		{errors.New("connection reset"), false},
	}
	for _, tt := range tests {
		if got := clientAuthenticated(tt.err); got != tt.want {
			t.Errorf("clientAuthenticated(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
