package e2e

// A hostile OP aimed at the tool itself, not at the verdicts: its
// discovery document (or target.yaml) sends the tool to plain-HTTP
// endpoints. `run`, `load poll` and `target check` must refuse before the
// first credential leaves: a target error (exit 2; target check: a ✗ item)
// naming the URL and where it came from, and not one connection to the
// plain-HTTP listener.

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/devenv"
	"github.com/ciba-check/ciba-check/internal/pki"
	"github.com/ciba-check/ciba-check/internal/target"
)

// plainListener is the plain-HTTP side of the hostile OP. It counts
// every connection and every request carrying a credential: a client
// assertion, a request object, an Authorization header (a client
// certificate cannot arrive without TLS; any connection at all is
// counted instead).
type plainListener struct {
	srv                          *httptest.Server
	conns, requests, credentials atomic.Int64
}

func startPlainListener(t *testing.T) *plainListener {
	t.Helper()
	p := &plainListener{}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		form, _ := url.ParseQuery(string(body))
		if form.Get(ciba.ParamClientAssertion) != "" || form.Get(ciba.ParamRequest) != "" || r.Header.Get("Authorization") != "" {
			p.credentials.Add(1)
		}
		w.WriteHeader(http.StatusBadRequest)
	}))
	p.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			p.conns.Add(1)
		}
	}
	p.srv.Start()
	t.Cleanup(p.srv.Close)
	return p
}

// insecureFront is the HTTPS side: the reference OP's discovery document
// and JWKS served under its own name, edited by the scenario; every other
// request is refused.
type insecureFront struct {
	srv       *httptest.Server
	discovery []byte
	jwks      []byte
}

func startInsecureFront(t *testing.T, env *devenv.Env, dir string, edit func(doc map[string]any, front string)) *insecureFront {
	return startFront(t, env, dir, edit, nil)
}

// startFront is startInsecureFront with answer deciding every request but
// discovery and JWKS (nil: refuse them all).
func startFront(t *testing.T, env *devenv.Env, dir string, edit func(doc map[string]any, front string), answer http.HandlerFunc) *insecureFront {
	t.Helper()
	cert, err := pki.LoadCertificate(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	f := &insecureFront{}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case ciba.DiscoveryPath:
			writeJSON(w, http.StatusOK, f.discovery)
		case "/jwks":
			writeJSON(w, http.StatusOK, f.jwks)
		default:
			if answer != nil {
				answer(w, r)
				return
			}
			writeJSON(w, http.StatusBadRequest, []byte(`{"error":"invalid_request"}`))
		}
	}))
	f.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	front := f.srv.URL

	get := func(u string) []byte { t.Helper(); return getReference(t, env, u) }
	var doc map[string]any
	if err := json.Unmarshal(get(env.Issuer+ciba.DiscoveryPath), &doc); err != nil {
		t.Fatal(err)
	}
	f.jwks = get(doc["jwks_uri"].(string))
	for k, v := range doc {
		if s, ok := v.(string); ok && strings.HasPrefix(s, env.Issuer) {
			doc[k] = front + strings.TrimPrefix(s, env.Issuer)
		}
	}
	doc["issuer"], doc["jwks_uri"] = front, front+"/jwks"
	edit(doc, front)
	if f.discovery, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestNoCredentialToPlainHTTP(t *testing.T) {
	bin := longBinaryTest(t, "runs the binary against hostile OPs")
	env, dir := startCopiedEnv(t)

	type scenario struct {
		name string
		// edit changes the discovery document; plain is the plain-HTTP
		// base URL.
		edit func(doc map[string]any, front, plain string)
		// override sets target.yaml's endpoints.token.
		override bool
		// wantURL is the path of the refused URL on the plain listener;
		// wantFrom says where the message must say it came from.
		wantURL, wantFrom string
	}
	scenarios := []scenario{
		{name: "token_endpoint in discovery", wantURL: "/token", wantFrom: "token_endpoint",
			edit: func(doc map[string]any, _, plain string) { doc["token_endpoint"] = plain + "/token" }},
		{name: "backchannel endpoint in discovery", wantURL: "/bc", wantFrom: "backchannel_authentication_endpoint",
			edit: func(doc map[string]any, _, plain string) { doc["backchannel_authentication_endpoint"] = plain + "/bc" }},
		{name: "mtls_endpoint_aliases", wantURL: "/mtls/token", wantFrom: "mtls_endpoint_aliases.token_endpoint",
			edit: func(doc map[string]any, front, plain string) {
				doc["mtls_endpoint_aliases"] = map[string]any{"token_endpoint": plain + "/mtls/token", "backchannel_authentication_endpoint": front + "/backchannel"}
			}},
		{name: "userinfo alias", wantURL: "/mtls/userinfo", wantFrom: "mtls_endpoint_aliases.userinfo_endpoint",
			edit: func(doc map[string]any, _, plain string) {
				doc["mtls_endpoint_aliases"] = map[string]any{"userinfo_endpoint": plain + "/mtls/userinfo"}
			}},
		{name: "override in target.yaml", override: true, wantURL: "/token", wantFrom: "endpoints.token",
			edit: func(map[string]any, string, string) {}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			plain := startPlainListener(t)
			front := startInsecureFront(t, env, dir, func(doc map[string]any, front string) { sc.edit(doc, front, plain.srv.URL) })
			tgt := *env.Target
			tgt.Issuer = front.srv.URL
			if sc.override {
				tgt.Endpoints.Token = plain.srv.URL + "/token"
			}
			targetPath := filepath.Join(t.TempDir(), "target.yaml")
			if err := tgt.Write(targetPath); err != nil {
				t.Fatal(err)
			}
			refused := plain.srv.URL + sc.wantURL
			commands := []struct {
				args     []string
				wantExit int
				// wantLine is in the output: one line naming the URL and
				// where it came from.
				wantLine []string
			}{
				{args: []string{"run", "--target", targetPath}, wantExit: 2,
					wantLine: []string{refused, sc.wantFrom, "refuse"}},
				{args: []string{"load", "poll", "--target", targetPath, "--duration", "2s", "--rate", "10/s", "--pending", "2", "--quiet"}, wantExit: 2,
					wantLine: []string{refused, sc.wantFrom, "refuse"}},
				{args: []string{"target", "check", targetPath}, wantExit: 1,
					wantLine: []string{"✗ ", refused, sc.wantFrom, "refuse"}},
			}
			if sc.override {
				// target.yaml itself is invalid: exit 2 with FILE:LINE:COL.
				commands[2].wantExit, commands[2].wantLine = 2, []string{targetPath, "endpoints.token", refused, "https"}
				commands[0].wantLine = commands[2].wantLine
				commands[1].wantLine = commands[2].wantLine
			}
			for _, c := range commands {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				cmd := exec.CommandContext(ctx, bin, c.args...)
				cmd.Dir = dir
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				err := cmd.Run()
				cancel()
				code := 0
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					code = ee.ExitCode()
				} else if err != nil {
					t.Fatalf("%v: %v", c.args, err)
				}
				t.Logf("%v: exit %d\n%s", c.args[:2], code, tail(out.String(), 12))
				if code != c.wantExit {
					t.Errorf("%v: exit %d, want %d\n%s", c.args, code, c.wantExit, tail(out.String(), 30))
				}
				if !hasLineWithAll(out.String(), c.wantLine) {
					t.Errorf("%v: no output line says all of %q:\n%s", c.args, c.wantLine, tail(out.String(), 30))
				}
				if strings.Contains(out.String(), "TLS: handshake") && strings.Contains(sc.wantFrom, "token_endpoint") {
					t.Errorf("%v: claims a TLS handshake with a plain-HTTP token endpoint:\n%s", c.args, out.String())
				}
			}
			if n, r, cr := plain.conns.Load(), plain.requests.Load(), plain.credentials.Load(); n+r+cr != 0 {
				t.Errorf("the plain-HTTP listener got %d connections, %d requests, %d carrying a credential; want none", n, r, cr)
			}
		})
	}
}

// hasLineWithAll reports whether one line of out contains every want.
func hasLineWithAll(out string, want []string) bool {
	for _, line := range strings.Split(out, "\n") {
		all := true
		for _, w := range want {
			if !strings.Contains(line, w) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// TestHostileAuthReqIDNeverReachesAShell: an OP acknowledging with an
// auth_req_id built to run `touch FILE` through a shell, and a command
// device whose template quotes the placeholder every natural way. The
// run fails the auth_req_id format check citing CIBA 7.3, skips what
// needs the device, and runs neither the command nor FILE's touch.
func TestHostileAuthReqIDNeverReachesAShell(t *testing.T) {
	bin := longBinaryTest(t, "runs the binary against a hostile OP")
	env, dir := startCopiedEnv(t)
	pwned := filepath.Join(dir, "pwned")
	ran := filepath.Join(dir, "approve-ran")
	if err := os.WriteFile(filepath.Join(dir, "approve.sh"), []byte("#!/bin/sh\ntouch "+ran+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	hostile := "$(touch " + pwned + ")`touch " + pwned + "`;touch " + pwned
	ack, err := json.Marshal(map[string]any{"auth_req_id": hostile, "expires_in": 30, "interval": 1})
	if err != nil {
		t.Fatal(err)
	}
	answer := func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		switch {
		case strings.HasSuffix(r.URL.Path, "/backchannel"):
			writeJSON(w, http.StatusOK, ack)
		case strings.HasSuffix(r.URL.Path, "/token"):
			writeJSON(w, http.StatusBadRequest, []byte(`{"error":"authorization_pending"}`))
		default:
			writeJSON(w, http.StatusBadRequest, []byte(`{"error":"invalid_request"}`))
		}
	}
	front := startFront(t, env, dir, func(map[string]any, string) {}, answer)
	const formatCheck = "acknowledges with JSON and an auth_req_id of A-Z a-z 0-9 . - _"
	const deviceCheck = "accepts requested_expiry as a JSON string"
	for _, tmpl := range []string{
		`./approve.sh {auth_req_id} {action}`,
		`./approve.sh "{auth_req_id}" {action}`,
		`./approve.sh '{auth_req_id}' {action}`,
	} {
		tgt := *env.Target
		tgt.Issuer = front.srv.URL
		tgt.Device = target.Device{Kind: target.DeviceCommand, Command: tmpl}
		targetPath := filepath.Join(dir, "hostile-id-target.yaml")
		if err := tgt.Write(targetPath); err != nil {
			t.Fatal(err)
		}
		report := filepath.Join(t.TempDir(), "report.json")
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		cmd := exec.CommandContext(ctx, bin, "run", "--target", targetPath, "--json", report,
			"--focus", regexp.QuoteMeta(formatCheck), "--focus", regexp.QuoteMeta(deviceCheck))
		cmd.Dir = dir
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		cancel()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("%s: run ended %v, want exit 1 (the format check fails)\n%s", tmpl, err, tail(out.String(), 30))
		}
		for _, f := range []string{pwned, ran} {
			if _, err := os.Stat(f); err == nil {
				t.Fatalf("%s: %s exists: the hostile auth_req_id reached a command\n%s", tmpl, f, tail(out.String(), 30))
			}
		}
		data, err := os.ReadFile(report)
		if err != nil {
			t.Fatal(err)
		}
		var rep struct {
			Checks []struct {
				Name, Outcome, Quote string
				SkipReason           string `json:"skip_reason"`
				Failure              *struct{ Message string }
			}
		}
		if err := json.Unmarshal(data, &rep); err != nil {
			t.Fatal(err)
		}
		seen := 0
		for _, c := range rep.Checks {
			switch c.Name {
			case formatCheck:
				seen++
				if c.Outcome != "failed" || c.Failure == nil || !strings.Contains(c.Failure.Message, "touch") ||
					!strings.Contains(c.Quote, "The OpenID Provider MUST restrict the characters used to 'A'-'Z', 'a'-'z', '0'-'9', '.', '-' and '_'") {
					t.Errorf("%s: %q ended %s (%+v), want failed citing CIBA 7.3", tmpl, c.Name, c.Outcome, c.Failure)
				}
			case deviceCheck:
				seen++
				if c.Outcome != "skipped" || !strings.Contains(c.SkipReason, "does not pass it to the device") {
					t.Errorf("%s: %q ended %s (%q), want skipped because the device was not given the value", tmpl, c.Name, c.Outcome, c.SkipReason)
				}
			}
		}
		if seen != 2 {
			t.Errorf("%s: the report has %d of the 2 focused checks:\n%s", tmpl, seen, data)
		}
	}
}

// TestRedirectsAreNotFollowedWithCredentials: an OP that answers every
// credentialed request (backchannel, token, userinfo...) with a 307 or
// 308 redirect, which tells a client to repeat the POST, body and all,
// at the new address: once to a plain-HTTP listener, once to another
// HTTPS server. The tool reports the redirect and follows neither, so no
// client assertion or request object reaches either listener.
func TestRedirectsAreNotFollowedWithCredentials(t *testing.T) {
	bin := longBinaryTest(t, "runs the binary against hostile OPs")
	env, dir := startCopiedEnv(t)
	for _, status := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		for _, dest := range []string{"plain", "https"} {
			t.Run(fmt.Sprintf("%d to %s", status, dest), func(t *testing.T) {
				plain := startPlainListener(t)
				// The HTTPS thief: any credential it sees was handed over.
				var thiefConns, thiefCredentials atomic.Int64
				thief := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
					form, _ := url.ParseQuery(string(body))
					if form.Get(ciba.ParamClientAssertion) != "" || form.Get(ciba.ParamRequest) != "" || r.Header.Get("Authorization") != "" {
						thiefCredentials.Add(1)
					}
					w.WriteHeader(http.StatusBadRequest)
				}))
				thief.Config.ConnState = func(_ net.Conn, s http.ConnState) {
					if s == http.StateNew {
						thiefConns.Add(1)
					}
				}
				thief.StartTLS()
				t.Cleanup(thief.Close)
				to := plain.srv.URL
				if dest == "https" {
					to = thief.URL
				}
				front := startFront(t, env, dir, func(map[string]any, string) {}, func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, to+r.URL.Path, status)
				})
				tgt := *env.Target
				tgt.Issuer = front.srv.URL
				targetPath := filepath.Join(t.TempDir(), "target.yaml")
				if err := tgt.Write(targetPath); err != nil {
					t.Fatal(err)
				}
				// target check runs too, for the credentials it sends; it leaves
				// judging the answers to the suite, so its exit is not asserted.
				for _, args := range [][]string{
					{"run", "--target", targetPath, "--timeout", "2m"},
					{"load", "poll", "--target", targetPath, "--duration", "2s", "--rate", "10/s", "--pending", "2", "--quiet"},
					{"target", "check", targetPath},
				} {
					ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
					cmd := exec.CommandContext(ctx, bin, args...)
					cmd.Dir = dir
					var out bytes.Buffer
					cmd.Stdout, cmd.Stderr = &out, &out
					err := cmd.Run()
					cancel()
					var ee *exec.ExitError
					if args[0] != "target" && !errors.As(err, &ee) {
						t.Errorf("%v: %v, want a non-zero exit (the OP answers nothing but redirects)\n%s", args[:2], err, tail(out.String(), 40))
					}
				}
				if n, r, cr := plain.conns.Load(), plain.requests.Load(), plain.credentials.Load(); n+r+cr != 0 {
					t.Errorf("the plain-HTTP listener got %d connections, %d requests, %d carrying a credential; want none", n, r, cr)
				}
				if n, cr := thiefConns.Load(), thiefCredentials.Load(); n+cr != 0 {
					t.Errorf("the HTTPS server redirected to got %d connections, %d requests carrying a credential; want none", n, cr)
				}
			})
		}
	}
}
