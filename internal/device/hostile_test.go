package device

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/mockdevice"
)

func TestSplitCommand(t *testing.T) {
	req := Request{AuthReqID: "ID.1-_z", User: &target.User{Name: "u", LoginHint: `o'brien "x" $HOME`}}
	tests := []struct {
		tmpl    string
		want    []string
		wantErr string
	}{
		{tmpl: "./a.sh {auth_req_id} {login_hint} {action}", want: []string{"./a.sh", "ID.1-_z", `o'brien "x" $HOME`, "allow"}},
		{tmpl: `./a.sh "{auth_req_id}" '{login_hint}'`, want: []string{"./a.sh", "ID.1-_z", `o'brien "x" $HOME`}},
		{tmpl: `./a.sh --id={auth_req_id} "hint: {login_hint}!" 'act {action}'`, want: []string{"./a.sh", "--id=ID.1-_z", `hint: o'brien "x" $HOME!`, "act allow"}},
		{tmpl: `curl -X POST 'https://op.example/a?x=1&y=$2' {auth_req_id}`, want: []string{"curl", "-X", "POST", "https://op.example/a?x=1&y=$2", "ID.1-_z"}},
		{tmpl: `  tool  a\ b "c\"d\\e" '' {auth_req_id}  `, want: []string{"tool", "a b", `c"d\e`, "", "ID.1-_z"}},
		{tmpl: `bash ./decide.sh {auth_req_id}`, want: []string{"bash", "./decide.sh", "ID.1-_z"}},
		{tmpl: `sh -c 'approve "$CIBA_CHECK_AUTH_REQ_ID"' approve {auth_req_id}`, want: []string{"sh", "-c", `approve "$CIBA_CHECK_AUTH_REQ_ID"`, "approve", "ID.1-_z"}},
		// interop's command device.
		{tmpl: "curl -sS --cacert ca.pem -X POST -G --data-urlencode auth_req_id={auth_req_id} --data-urlencode action={action} " + ShellQuote("https://127.0.0.1:9/ciba-sim"),
			want: []string{"curl", "-sS", "--cacert", "ca.pem", "-X", "POST", "-G", "--data-urlencode", "auth_req_id=ID.1-_z", "--data-urlencode", "action=allow", "https://127.0.0.1:9/ciba-sim"}},
		{tmpl: "./a.sh {auth_req_id} | tee log", wantErr: `'|' is shell syntax`},
		{tmpl: "./a.sh {auth_req_id}; rm x", wantErr: `';' is shell syntax`},
		{tmpl: "./a.sh {auth_req_id} > out", wantErr: `'>' is shell syntax`},
		{tmpl: "./a.sh $HOME {auth_req_id}", wantErr: `'$' is shell syntax`},
		{tmpl: "./a.sh `id` {auth_req_id}", wantErr: "'`' is shell syntax"},
		{tmpl: "./a.sh {auth_req_id}\nrm x", wantErr: "a line break is shell syntax"},
		{tmpl: `./a.sh "$HOME" {auth_req_id}`, want: nil, wantErr: "inside double quotes"},
		{tmpl: `./a.sh '{auth_req_id}`, wantErr: "not closed"},
		{tmpl: `{auth_req_id} x`, wantErr: "program name cannot be a placeholder"},
		{tmpl: `sh -c './approve {auth_req_id}'`, wantErr: "inside the script of sh -c"},
		{tmpl: `/bin/bash -ec "approve '{auth_req_id}'"`, wantErr: "inside the script of /bin/bash -c"},
	}
	for _, tt := range tests {
		c, err := NewCommand(tt.tmpl, "", 0)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NewCommand(%q) = %v, want an error containing %q", tt.tmpl, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("NewCommand(%q): %v", tt.tmpl, err)
			continue
		}
		got := c.Args(req, ActionAllow)
		if strings.Join(got, "\x00") != strings.Join(tt.want, "\x00") || len(got) != len(tt.want) {
			t.Errorf("NewCommand(%q).Args = %q, want %q", tt.tmpl, got, tt.want)
		}
	}
}

// hostileAuthReqIDs are auth_req_ids a hostile OP may send to make a
// shell run `touch FILE`, whatever quotes a template puts around the
// placeholder.
func hostileAuthReqIDs(file string) []string {
	return []string{
		"$(touch " + file + ")",
		"`touch " + file + "`",
		"x; touch " + file,
		"x' ; touch " + file + " ; '",
		`x" ; touch ` + file + ` ; "`,
		"x\ntouch " + file,
		"x&&touch " + file,
		"x|touch " + file,
	}
}

// TestHostileAuthReqIDEveryDriver runs auth_req_ids built to execute
// code through every device kind: none runs anything, the drivers that
// would substitute the value (command, approval_url, manual) refuse it
// with an UnsafeValueError, the mock device gets it only as one escaped
// path segment of its own API, and hints never uses it.
func TestHostileAuthReqIDEveryDriver(t *testing.T) {
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	script := filepath.Join(dir, "decide.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" >> calls.log\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var approvalCalls int
	approval := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		approvalCalls++
		mu.Unlock()
	}))
	defer approval.Close()
	var devicePaths []string
	mock := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		devicePaths = append(devicePaths, r.URL.EscapedPath())
		mu.Unlock()
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":"unknown_request"}`))
	}))
	defer mock.Close()

	user := &target.User{Name: "alice", LoginHint: "alice", Outcome: ciba.OutcomeApprove}
	type driverCase struct {
		name       string
		driver     Driver
		wantUnsafe bool
		out        *bytes.Buffer
	}
	var cases []driverCase
	for _, tmpl := range []string{
		"./decide.sh {auth_req_id} {action}",
		`./decide.sh "{auth_req_id}" {action}`,
		`./decide.sh '{auth_req_id}' {action}`,
		`./decide.sh --id={auth_req_id}`,
		`sh -c './decide.sh "$CIBA_CHECK_AUTH_REQ_ID"' decide {auth_req_id}`,
	} {
		c, err := NewCommand(tmpl, dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, driverCase{name: "command " + tmpl, driver: c, wantUnsafe: true})
	}
	for _, tmpl := range []string{"/approve/{auth_req_id}?a={action}", "/approve?id={auth_req_id}&a={action}"} {
		a, err := NewApprovalURL(approval.URL+tmpl, approval.Client())
		if err != nil {
			t.Fatal(err)
		}
		a.RetryFor = 0
		cases = append(cases, driverCase{name: "approval_url " + tmpl, driver: a, wantUnsafe: true})
	}
	var manualOut bytes.Buffer
	cases = append(cases, driverCase{name: "manual", driver: NewManual(strings.NewReader("approve\n"), &manualOut), wantUnsafe: true, out: &manualOut})
	md, err := NewMockDevice(mock.URL, mock.Client())
	if err != nil {
		t.Fatal(err)
	}
	cases = append(cases, driverCase{name: "mockdevice", driver: md})
	cases = append(cases, driverCase{name: "hints", driver: NewHints([]target.User{*user})})

	for _, dc := range cases {
		for _, id := range hostileAuthReqIDs(pwned) {
			ctx := testCtx(t)
			if dc.name == "mockdevice" {
				// The fake device never knows the request: bound the wait.
				var cancel func()
				ctx, cancel = contextWithShortTimeout(ctx)
				defer cancel()
			}
			err := dc.driver.Decide(ctx, Request{AuthReqID: id, User: user}, ActionAllow)
			var unsafe *UnsafeValueError
			switch {
			case dc.wantUnsafe && !errors.As(err, &unsafe):
				t.Errorf("%s: Decide(%q) = %v, want an UnsafeValueError", dc.name, id, err)
			case dc.wantUnsafe:
				msg := err.Error()
				for _, want := range []string{"auth_req_id", "CIBA 7.3", "does not pass it"} {
					if !strings.Contains(msg, want) {
						t.Errorf("%s: error %q does not say %q", dc.name, msg, want)
					}
				}
				if strings.ContainsAny(msg, "\n\r") {
					t.Errorf("%s: error %q is not one line", dc.name, msg)
				}
			}
			if _, err := os.Stat(pwned); err == nil {
				t.Fatalf("%s: auth_req_id %q ran code: %s exists", dc.name, id, pwned)
			}
		}
		if dc.out != nil && strings.Contains(dc.out.String(), "touch") {
			t.Errorf("%s: the hostile value reached the operator's terminal: %q", dc.name, dc.out.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "calls.log")); err == nil {
		t.Error("the command ran for a hostile auth_req_id")
	}
	mu.Lock()
	defer mu.Unlock()
	if approvalCalls != 0 {
		t.Errorf("the approval URL was called %d times with hostile auth_req_ids", approvalCalls)
	}
	// The mock device is ciba-check's own API: the value travels as one
	// path segment, escaped, never as path structure.
	ids := map[string]bool{}
	for _, id := range hostileAuthReqIDs(pwned) {
		ids[id] = true
	}
	if len(devicePaths) == 0 {
		t.Error("the mock device driver never asked the device")
	}
	for _, p := range devicePaths {
		rest, ok := strings.CutPrefix(p, mockdevice.PathRequests+"/")
		seg, err := url.PathUnescape(rest)
		if !ok || err != nil || strings.ContainsAny(rest, "/ \n'\"`;") || !ids[seg] {
			t.Errorf("mockdevice: request path %q is not one escaped segment holding the auth_req_id", p)
		}
	}
}

// TestCommandQuotedPlaceholdersAreData is the second line of defence: a
// hostile value that passes no character check (a login_hint) is one
// argument, whatever the quotes around its placeholder, and runs nothing.
func TestCommandQuotedPlaceholdersAreData(t *testing.T) {
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	script := filepath.Join(dir, "argv.sh")
	// One line per run: the argument count, then each argument.
	if err := os.WriteFile(script, []byte("#!/bin/sh\nprintf '%s' \"$#\" >> argv.log\nfor a in \"$@\"; do printf '|%s' \"$a\" >> argv.log; done\necho >> argv.log\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	hostile := "$(touch " + pwned + ") `touch " + pwned + "`; touch " + pwned + " ' \""
	for _, tmpl := range []string{
		"./argv.sh {login_hint} {auth_req_id}",
		`./argv.sh "{login_hint}" {auth_req_id}`,
		`./argv.sh '{login_hint}' {auth_req_id}`,
	} {
		os.Remove(filepath.Join(dir, "argv.log"))
		c, err := NewCommand(tmpl, dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Decide(testCtx(t), Request{AuthReqID: "abc", User: &target.User{Name: "m", LoginHint: hostile}}, ActionAllow); err != nil {
			t.Fatalf("%s: %v", tmpl, err)
		}
		got, err := os.ReadFile(filepath.Join(dir, "argv.log"))
		if err != nil {
			t.Fatal(err)
		}
		if want := "2|" + hostile + "|abc\n"; string(got) != want {
			t.Errorf("%s: the script saw %q, want %q", tmpl, got, want)
		}
		if _, err := os.Stat(pwned); err == nil {
			t.Fatalf("%s ran code from a value", tmpl)
		}
	}
}

// contextWithShortTimeout bounds a wait the test expects to end without
// an answer.
func contextWithShortTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 100*time.Millisecond)
}
