package conformance

import (
	"errors"
	"testing"

	"github.com/ciba-check/ciba-check/ciba"
)

func TestInAuthReqIDCharset(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"", false},
		{"AZaz09.-_", true},
		{"1c266114-a1be-4252-8ad1-04986c5b9ac1", true},
		{"abc=", false},   // padded base64
		{"ab+c/d", false}, // standard base64
		{"' OR '1'='1", false},
		{`{"$ne":null}`, false},
		{"abc def", false},
		{"abcé", false},
	} {
		if got := inAuthReqIDCharset(tc.id); got != tc.want {
			t.Errorf("inAuthReqIDCharset(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

func TestTokenRequestHonoured(t *testing.T) {
	for _, tc := range []struct {
		name string
		tr   *ciba.TokenResponse
		err  error
		want bool
	}{
		{"tokens", &ciba.TokenResponse{AccessToken: "x"}, nil, true},
		{"no error, no tokens", nil, nil, false},
		{"pending", nil, ciba.ErrAuthorizationPending.WithDescription("wait"), true},
		{"slow_down", nil, ciba.ErrSlowDown, true},
		{"invalid_client", nil, &ciba.Error{Code: "invalid_client", Status: 401}, false},
		{"invalid_grant", nil, &ciba.Error{Code: "invalid_grant", Status: 400}, false},
		{"transport", nil, errors.New("connection reset"), false},
	} {
		if got := tokenRequestHonoured(tc.tr, tc.err); got != tc.want {
			t.Errorf("%s: tokenRequestHonoured = %v, want %v", tc.name, got, tc.want)
		}
	}
}
