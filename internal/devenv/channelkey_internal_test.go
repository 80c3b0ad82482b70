package devenv

import (
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
)

// TestChannelKeyID: the OP's channel tokens to the mock device are
// signed with its ES256 key when it has one, else with its first key.
func TestChannelKeyID(t *testing.T) {
	ps, es := jose.JSONWebKey{KeyID: "op-PS256", Algorithm: ciba.AlgPS256}, jose.JSONWebKey{KeyID: "op-ES256", Algorithm: ciba.AlgES256}
	for _, tt := range []struct {
		name string
		keys []jose.JSONWebKey
		want string
	}{
		{"both, PS256 first", []jose.JSONWebKey{ps, es}, "op-ES256"},
		{"both, ES256 first", []jose.JSONWebKey{es, ps}, "op-ES256"},
		{"PS256 only", []jose.JSONWebKey{ps}, ""},
		{"none", nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := channelKeyID(tt.keys); got != tt.want {
				t.Errorf("channelKeyID = %q, want %q", got, tt.want)
			}
		})
	}
}
