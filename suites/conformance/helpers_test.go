package conformance

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/ciba-check/ciba-check/internal/client"
)

func TestErrorBodyProblem(t *testing.T) {
	json := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	tests := []struct {
		name   string
		header http.Header
		body   string
		want   string // substring of the problem; "" means none
	}{
		{"minimal", json, `{"error":"invalid_request"}`, ""},
		{"all members", json, `{"error":"invalid_request","error_description":"bad aud","error_uri":"https://op.example/e"}`, ""},
		// RFC 6749 5.1: "The client MUST ignore unrecognized value names".
		{"extra member", json, `{"error":"invalid_request","detail":"x","scope":"openid"}`, ""},
		{"extra member not a string", json, `{"error":"invalid_request","details":{"a":1}}`, ""},
		{"control char", json, `{"error":"invalid_request","error_description":"a\nb"}`, "outside the characters"},
		{"non-ascii", json, `{"error":"invalid_request","error_description":"café"}`, "outside the characters"},
		{"quote", json, `{"error":"invalid_request","error_description":"say \"hi\""}`, "outside the characters"},
		{"number", json, `{"error":400}`, "not a string"},
		{"html", http.Header{"Content-Type": {"text/html"}}, `<h1>400</h1>`, "not application/json"},
		{"not an object", json, `["invalid_request"]`, "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errorBodyProblem(&client.Exchange{Status: 400, ResponseHeader: tt.header, ResponseBody: []byte(tt.body)})
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("problem = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTLSRefusal(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"server alert", &url.Error{Op: "Post", URL: "https://op", Err: &net.OpError{Op: "remote error", Err: errors.New("tls: handshake failure")}}, true},
		{"timeout", &url.Error{Op: "Post", URL: "https://op", Err: context.DeadlineExceeded}, false},
		{"reset", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, false},
		{"name mismatch", &url.Error{Op: "Post", URL: "https://op", Err: &tls.CertificateVerificationError{Err: x509.HostnameError{Host: "op"}}}, false},
		{"eof", io.EOF, false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		if got := tlsRefusal(tt.err); got != tt.want {
			t.Errorf("%s: tlsRefusal = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestEntropyBits(t *testing.T) {
	tests := []struct {
		id      string
		atLeast float64
		below   float64
	}{
		{strings.Repeat("Az", 11), 132, 133},              // base64url alphabet: 6 bits each
		{"lEhba7VvfyA7AkN04eZaElUc7dM", 160, 170},         // 27 base64url characters
		{strings.Repeat("0123456789abcdef", 2), 128, 129}, // 32 hex digits
		{"0123456789abcdef", 64, 65},                      // 16 hex digits: 64 bits
		{"12345678901234567890", 66, 67},                  // 20 digits
		{"", 0, 0.1},
	}
	for _, tt := range tests {
		got := entropyBits(tt.id)
		if got < tt.atLeast || got >= tt.below {
			t.Errorf("entropyBits(%q) = %.1f, want in [%v, %v)", tt.id, got, tt.atLeast, tt.below)
		}
	}
}

func TestATHash(t *testing.T) {
	// OIDC Core A.3's example: access token and its at_hash.
	if got := atHash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"); got != "77QmUPtjPfzWtF2AnpK9RQ" {
		t.Errorf("atHash = %q", got)
	}
}

func TestClassifyAndValidateLabels(t *testing.T) {
	labels := []string{"CIBA-7.1.1", "FAPI-CIBA-5.2.2-9", "poll", "private_key_jwt", "negative", ModROAlgNone}
	m := Classify(labels)
	if len(m.SpecRefs) != 2 || len(m.Modes) != 1 || len(m.Auth) != 1 || !m.Negative || len(m.OIDFModules) != 1 {
		t.Errorf("Classify = %+v", m)
	}
	if err := validateLabels("ok", labels); err != nil {
		t.Errorf("valid labels refused: %v", err)
	}
	for _, bad := range [][]string{
		{"poll"},                            // no spec section
		{"CIBA-7.1", "CIBA 7.1"},            // not a known kind
		{"CIBA-7.1", "RFC8705/3"},           // a slash
		{"CIBA-7.1", "fapi-ciba-id1-nope"},  // not a plan module
		{"CIBA-7.1", "FAPI-CIBA-5.2.2-9-1"}, // malformed section
	} {
		if err := validateLabels("bad", bad); err == nil {
			t.Errorf("labels %v accepted", bad)
		}
	}
}

func TestCheckID(t *testing.T) {
	got := checkID([]string{"Token endpoint"}, "refuses a redeemed auth_req_id with invalid_grant")
	if got != "token-endpoint/refuses-a-redeemed-auth-req-id-with-invalid-grant" {
		t.Errorf("checkID = %q", got)
	}
}

func TestSelector(t *testing.T) {
	c := CheckResult{Name: "refuses a request object with alg none", Section: "Signed authentication request", Labels: []string{"CIBA-7.1.1", "negative"}}
	tests := []struct {
		cfg  RunConfig
		want bool
	}{
		{RunConfig{}, true},
		{RunConfig{LabelFilter: "CIBA-7.1.1"}, true},
		{RunConfig{LabelFilter: "!negative"}, false},
		{RunConfig{Focus: []string{"alg none"}}, true},
		{RunConfig{Focus: []string{"Signed authentication"}}, true},
		{RunConfig{Focus: []string{"ping"}}, false},
		{RunConfig{Skip: []string{"alg"}}, false},
	}
	for _, tt := range tests {
		if got := newSelector(tt.cfg).selected(c); got != tt.want {
			t.Errorf("selected(%+v) = %v, want %v", tt.cfg, got, tt.want)
		}
	}
}

func TestRunConfigValidate(t *testing.T) {
	for _, bad := range []RunConfig{{LabelFilter: "a &&"}, {Focus: []string{"("}}, {Skip: []string{"[z-a]"}}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if err := (RunConfig{LabelFilter: "CIBA-7.1.1 && !negative", Focus: []string{"aud"}}).Validate(); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}
