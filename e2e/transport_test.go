package e2e

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/devenv"
	refop "github.com/ciba-check/ciba-check/reference-op"
)

// Invalid UTF-8 in form values gets an OAuth error, never a 5xx, and the
// OP serves the next good request (issue: bad input never breaks it).
func TestBadInputInvalidUTF8(t *testing.T) {
	w := newWorld(t, nil)
	mtls, pkjwt := w.client("poll-mtls"), w.client("poll-pkjwt-es256")
	invalid := "\xff\xfe\xfd"
	runBadProbes(t, []badProbe{
		probeRefused("token auth_req_id", func(t *testing.T) (*client.Exchange, error) {
			_, ex, err := mtls.Token(w.ctx(), invalid)
			return ex, err
		}, []string{"invalid_grant", "invalid_request"}),
		probeRefused("token grant_type", func(t *testing.T) (*client.Exchange, error) {
			return errorExchange(mtls.PostForm(w.ctx(), mtls.TokenEndpoint(), url.Values{ciba.ParamGrantType: {invalid}}))
		}, []string{"unsupported_grant_type", "invalid_request"}),
		probeRefused("mTLS client_id", func(t *testing.T) (*client.Exchange, error) {
			_, ex, err := mtls.Authenticate(w.ctx(), w.params(mtls, "alice"), client.WithAuth(client.AuthClientID(invalid)))
			return ex, err
		}, []string{"invalid_client", "invalid_request"}, http.StatusBadRequest, http.StatusUnauthorized),
		probeRefused("client_assertion", func(t *testing.T) (*client.Exchange, error) {
			_, ex, err := pkjwt.Authenticate(w.ctx(), w.params(pkjwt, "alice"), client.WithAuth(client.AuthAssertion(invalid)))
			return ex, err
		}, []string{"invalid_client", "invalid_request"}, http.StatusBadRequest, http.StatusUnauthorized),
		probeRefused("request object", func(t *testing.T) (*client.Exchange, error) {
			_, ex, err := mtls.Authenticate(w.ctx(), w.params(mtls, "alice"), client.CallRequestObjectJWT(invalid+"."+invalid+"."+invalid))
			return ex, err
		}, []string{"invalid_request"}),
		probeRefused("form field name", func(t *testing.T) (*client.Exchange, error) {
			return errorExchange(mtls.PostForm(w.ctx(), mtls.TokenEndpoint(), url.Values{invalid: {"x"}, ciba.ParamGrantType: {ciba.GrantTypeCIBA}}))
		}, []string{"invalid_request"}),
		probeAccepted("a good request afterwards", func(t *testing.T) (*client.Exchange, error) {
			_, ex, err := mtls.Authenticate(w.ctx(), w.params(mtls, "carol"))
			return ex, err
		}),
	})
}

// errorExchange turns a raw exchange into what a typed call returns.
func errorExchange(ex *client.Exchange, err error) (*client.Exchange, error) {
	if err != nil || ex.Status == http.StatusOK {
		return ex, err
	}
	if oe := ex.OAuthError(); oe != nil {
		return ex, oe
	}
	return ex, errors.New("error status without an OAuth error body")
}

// Oversized headers are refused before any handler runs: HTTP/1.1 with
// 431 (or 400/413), HTTP/2 by resetting the stream; never a 5xx, and the
// OP keeps serving.
func TestOversizedHeaders(t *testing.T) {
	w := newWorld(t, nil)
	c := w.client("poll-mtls")
	huge := strings.Repeat("a", 128<<10)

	roots := targetRoots(t, w.env.Target)
	h1 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}},
		TLSNextProto:    map[string]func(string, *tls.Conn) http.RoundTripper{}, // no HTTP/2
	}}
	defer h1.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(w.ctx(), http.MethodGet, w.md.JWKSURI, nil)
	req.Header.Set("X-Padding", huge)
	resp, err := h1.Do(req)
	if err != nil {
		t.Fatalf("HTTP/1.1: want an HTTP answer to an oversized header, got %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge && resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("HTTP/1.1 oversized header: status %d, want 431, 400 or 413", resp.StatusCode)
	}

	ex, err := c.PostForm(w.ctx(), c.TokenEndpoint(), url.Values{ciba.ParamGrantType: {ciba.GrantTypeCIBA}}, client.CallHeader("X-Padding", huge))
	if err == nil && ex.Status < 400 || ex != nil && ex.Status >= 500 {
		t.Errorf("HTTP/2 oversized header: got %d, want a refusal (stream reset or 4xx)", ex.Status)
	}

	// The OP is still up for well-behaved clients.
	w.authenticate(c, w.params(c, "carol"))
}

// Slow clients are cut off by the server's timeouts (CIBA.md 7.5): a
// request whose headers never finish is dropped, one whose body stalls is
// answered 4xx or dropped, and neither holds the OP.
func TestSlowClients(t *testing.T) {
	timeouts := refop.Timeouts{ReadHeader: 200 * time.Millisecond, Read: 400 * time.Millisecond, Write: 5 * time.Second, Idle: 5 * time.Second}
	w := newWorld(t, func(o *devenv.Options) { o.OPTimeouts = &timeouts })
	roots := targetRoots(t, w.env.Target)
	host := strings.TrimPrefix(w.env.Issuer, "https://")
	dial := func(t *testing.T) *tls.Conn {
		conn, err := tls.Dial("tcp", host, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		// Well above the configured timeouts (0.2 s, 0.4 s) yet below the
		// defaults (5 s, 15 s): a connection still open at this deadline
		// means the configured limits were not enforced.
		_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
		return conn
	}
	for _, tc := range []struct {
		name, sent string
	}{
		{"headers never finish", "POST " + refop.PathToken + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/x-www-form-urlencoded\r\n"},
		{"body stalls", "POST " + refop.PathToken + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := dial(t)
			start := time.Now()
			if _, err := io.WriteString(conn, tc.sent); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				t.Fatalf("the OP still held the connection after %v", time.Since(start))
			case err != nil:
				// Dropped: the intended answer to a client that stalls.
			default:
				resp.Body.Close()
				if resp.StatusCode < 400 || resp.StatusCode >= 500 {
					t.Fatalf("stalled request answered %d, want a 4xx or a dropped connection", resp.StatusCode)
				}
			}
		})
	}
	c := w.client("poll-mtls")
	w.authenticate(c, w.params(c, "carol"))
}
