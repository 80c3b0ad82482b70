package conformance

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
)

func TestHasNoStore(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   bool
	}{
		{"exact", []string{"no-store"}, true},
		{"upper case", []string{"No-Store"}, true},
		{"with other directives", []string{"private, no-cache, no-store, max-age=0"}, true},
		{"in a second field", []string{"no-cache", "NO-STORE"}, true},
		{"spaces around", []string{" no-store ,no-cache"}, true},
		{"absent", nil, false},
		{"only no-cache", []string{"no-cache, max-age=0"}, false},
		{"a longer name", []string{"no-store-please"}, false},
		{"inside a value", []string{`private="no-store"`}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.values {
				h.Add("Cache-Control", v)
			}
			if got := hasNoStore(h); got != tt.want {
				t.Errorf("hasNoStore(%q) = %v, want %v", tt.values, got, tt.want)
			}
		})
	}
}

func TestTokenHash(t *testing.T) {
	// The access token of OIDC Core's examples; the expected values are
	// the left halves of its SHA-256, SHA-384 and SHA-512, base64url.
	const token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
	tests := []struct {
		alg, want string
		ok        bool
	}{
		{"RS256", "77QmUPtjPfzWtF2AnpK9RQ", true},
		{"PS256", "77QmUPtjPfzWtF2AnpK9RQ", true},
		{"ES256", "77QmUPtjPfzWtF2AnpK9RQ", true},
		{"PS384", "jtAeDp945y1dDqU3nkIVGNZP1HjH_MFs", true},
		{"ES384", "jtAeDp945y1dDqU3nkIVGNZP1HjH_MFs", true},
		{"PS512", "q7nS86GgvvFaZkzALLWqJYaJIKw2wCDAVfCAsm5CrBM", true},
		{"ES512", "q7nS86GgvvFaZkzALLWqJYaJIKw2wCDAVfCAsm5CrBM", true},
		{"EdDSA", "", false},
		{"none", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := tokenHash(tt.alg, token)
		if got != tt.want || ok != tt.ok {
			t.Errorf("tokenHash(%q) = %q, %v; want %q, %v", tt.alg, got, ok, tt.want, tt.ok)
		}
	}
	if got, _ := tokenHash("RS256", token); got != atHash(token) {
		t.Errorf("tokenHash(RS256) = %q differs from atHash %q", got, atHash(token))
	}
}

func TestSigningKeyCount(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sig := func(k any, use, alg string) jose.JSONWebKey {
		return jose.JSONWebKey{Key: k, Use: use, Algorithm: alg}
	}
	tests := []struct {
		name string
		keys []jose.JSONWebKey
		want int
	}{
		{"empty", nil, 0},
		{"one RSA", []jose.JSONWebKey{sig(&rsaKey.PublicKey, "sig", "PS256")}, 1},
		{"RSA and EC", []jose.JSONWebKey{sig(&rsaKey.PublicKey, "sig", "PS256"), sig(&ecKey.PublicKey, "", "ES256")}, 2},
		{"Ed25519 counts", []jose.JSONWebKey{sig(edPub, "sig", "EdDSA"), sig(&ecKey.PublicKey, "sig", "ES256")}, 2},
		{"encryption key by use", []jose.JSONWebKey{sig(&rsaKey.PublicKey, "sig", "PS256"), sig(&rsaKey.PublicKey, "enc", "")}, 1},
		{"encryption key by alg", []jose.JSONWebKey{sig(&ecKey.PublicKey, "", "ES256"), sig(&rsaKey.PublicKey, "", "RSA-OAEP-256"), sig(&ecKey.PublicKey, "", "ECDH-ES")}, 1},
		{"symmetric key", []jose.JSONWebKey{sig(&ecKey.PublicKey, "sig", "ES256"), sig([]byte("secret"), "sig", "HS256")}, 1},
	}
	for _, tt := range tests {
		if got := signingKeyCount(jose.JSONWebKeySet{Keys: tt.keys}); got != tt.want {
			t.Errorf("%s: signingKeyCount = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestPollInterval(t *testing.T) {
	if got := pollInterval(&ciba.AuthenticationResponse{}); got != 5*time.Second {
		t.Errorf("no interval: %v, want the CIBA 7.3 default of 5 s", got)
	}
	if got := pollInterval(&ciba.AuthenticationResponse{Interval: 2}); got != 2*time.Second {
		t.Errorf("interval 2: %v", got)
	}
}

// answerTokens, answerError and answerLost build token answers: tokens,
// an OAuth error with its status, no response at all.
func answerTokens() tokenAnswer {
	return tokenAnswer{tr: &ciba.TokenResponse{AccessToken: "a"}, ex: &client.Exchange{Status: http.StatusOK}}
}

func answerError(status int, code string) tokenAnswer {
	return tokenAnswer{ex: &client.Exchange{Status: status}, err: &ciba.Error{Code: code, Status: status}}
}

func answerLost() tokenAnswer {
	return tokenAnswer{ex: &client.Exchange{}, err: errors.New("read tcp: connection reset by peer")}
}

func TestJudgeRace(t *testing.T) {
	pending := answerError(http.StatusBadRequest, "authorization_pending")
	slow := answerError(http.StatusBadRequest, "slow_down")
	grant := answerError(http.StatusBadRequest, "invalid_grant")
	busy := tokenAnswer{ex: &client.Exchange{Status: http.StatusServiceUnavailable}, err: errors.New("unexpected response (HTTP 503)")}
	tests := []struct {
		name    string
		answers []tokenAnswer
		verdict raceVerdict
		other   int
	}{
		{"one wins, the other invalid_grant", []tokenAnswer{answerTokens(), grant}, raceOnce, 0},
		{"the second wins", []tokenAnswer{grant, answerTokens()}, raceOnce, 0},
		{"both win", []tokenAnswer{answerTokens(), answerTokens()}, raceTwice, 1},
		{"both pending", []tokenAnswer{pending, slow}, raceOpen, 0},
		{"pending and busy", []tokenAnswer{busy, pending}, raceOpen, 0},
		{"loser still pending", []tokenAnswer{answerTokens(), pending}, raceLoserPending, 1},
		{"loser expired_token", []tokenAnswer{expiredLoser(), answerTokens()}, raceLoserWrong, 0},
		{"loser invalid_grant with 401", []tokenAnswer{answerTokens(), answerError(http.StatusUnauthorized, "invalid_grant")}, raceLoserWrong, 1},
		{"loser busy", []tokenAnswer{answerTokens(), busy}, raceLoserPending, 1},
		{"nobody wins", []tokenAnswer{grant, grant}, raceNoTokens, 0},
		{"nobody wins, one pending", []tokenAnswer{pending, grant}, raceNoTokens, 1},
		{"a lost request with a winner", []tokenAnswer{answerTokens(), answerLost()}, raceUnknown, 1},
		{"a lost request without a winner", []tokenAnswer{answerLost(), grant}, raceUnknown, 0},
		{"a lost request while pending", []tokenAnswer{pending, answerLost()}, raceUnknown, 1},
		{"two winners beat a loss", []tokenAnswer{answerTokens(), answerLost(), answerTokens()}, raceTwice, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			verdict, other := judgeRace(tt.answers)
			if verdict != tt.verdict || (verdict != raceOpen && verdict != raceOnce && other != tt.other) {
				t.Errorf("judgeRace = %d, %d; want %d, %d", verdict, other, tt.verdict, tt.other)
			}
		})
	}
}

func expiredLoser() tokenAnswer { return answerError(http.StatusBadRequest, "expired_token") }

func TestUndecidedAndNoResponse(t *testing.T) {
	tests := []struct {
		name              string
		a                 tokenAnswer
		undecided, noResp bool
	}{
		{"tokens", answerTokens(), false, false},
		{"pending", answerError(http.StatusBadRequest, "authorization_pending"), true, false},
		{"slow_down", answerError(http.StatusBadRequest, "slow_down"), true, false},
		{"503", tokenAnswer{ex: &client.Exchange{Status: http.StatusServiceUnavailable}, err: errors.New("x")}, true, false},
		{"invalid_grant", answerError(http.StatusBadRequest, "invalid_grant"), false, false},
		{"reset", answerLost(), false, true},
		{"no exchange", tokenAnswer{err: errors.New("dial")}, false, true},
	}
	for _, tt := range tests {
		if got := undecided(tt.a.ex, tt.a.err); got != tt.undecided {
			t.Errorf("%s: undecided = %v", tt.name, got)
		}
		if got := noResponse(tt.a.ex, tt.a.err); got != tt.noResp {
			t.Errorf("%s: noResponse = %v", tt.name, got)
		}
	}
}
