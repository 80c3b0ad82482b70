package device

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
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

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var alice = &target.User{Name: "alice", LoginHint: "alice@example.com", Outcome: ciba.OutcomeApprove}

// errorWanted reports whether a case expects an error (want not empty),
// failing t when err does not contain want; a case that expects none
// fails t on any error.
func errorWanted(t *testing.T, err error, want string) bool {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatal(err)
		}
		return false
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want one containing %q", err, want)
	}
	return true
}

func TestApprovalURL(t *testing.T) {
	type seen struct {
		method, path, rawQuery, accept, body string
	}
	tests := []struct {
		name      string
		template  string
		status    int
		action    Action
		req       Request
		wantPath  string
		wantQuery string
		wantErr   string
	}{
		{name: "allow in query", template: "/action?token={auth_req_id}&type={action}", status: 200, action: ActionAllow,
			req: Request{AuthReqID: "abc", User: alice}, wantPath: "/action", wantQuery: "token=abc&type=allow"},
		{name: "deny with escaping", template: "/a/{login_hint}/x?id={auth_req_id}&do={action}", status: 204, action: ActionDeny,
			req:      Request{AuthReqID: "a.b-c_D9", User: &target.User{Name: "u", LoginHint: "x/y z&k=v"}},
			wantPath: "/a/x/y z&k=v/x", wantQuery: "id=a.b-c_D9&do=deny"},
		{name: "login_hint escaped in the query", template: "/a?h={login_hint}&id={auth_req_id}", status: 200, action: ActionAllow,
			req:      Request{AuthReqID: "abc", User: &target.User{Name: "u", LoginHint: "a&b=c d#e"}},
			wantPath: "/a", wantQuery: "h=a%26b%3Dc+d%23e&id=abc"},
		{name: "non-2xx fails", template: "/action?token={auth_req_id}&type={action}", status: 409, action: ActionAllow,
			req: Request{AuthReqID: "abc"}, wantPath: "/action", wantQuery: "token=abc&type=allow", wantErr: "HTTP 409"},
		{name: "bad action", template: "/action?token={auth_req_id}", status: 200, action: "maybe",
			req: Request{AuthReqID: "abc"}, wantErr: "not allow or deny"},
		{name: "no auth_req_id", template: "/action?token={auth_req_id}", status: 200, action: ActionAllow,
			req: Request{}, wantErr: "no auth_req_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var got []seen
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				got = append(got, seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Accept"), string(b)})
				mu.Unlock()
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, `{"error":"already_decided"}`)
			}))
			defer srv.Close()
			d, err := NewApprovalURL(srv.URL+tt.template, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			d.RetryFor = 0
			err = d.Decide(testCtx(t), tt.req, tt.action)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if tt.wantPath == "" {
				if len(got) != 0 {
					t.Fatalf("the URL was called: %+v", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("calls = %d, want 1", len(got))
			}
			g := got[0]
			if g.method != http.MethodPost || g.path != tt.wantPath || g.rawQuery != tt.wantQuery || g.accept != "application/json" || g.body != "" {
				t.Errorf("got %+v, want POST %s?%s, Accept application/json, empty body", g, tt.wantPath, tt.wantQuery)
			}
		})
	}
}

func TestApprovalURLRetriesUntilTheDeviceKnowsTheRequest(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int // answered in turn; the last one repeats
		retryFor time.Duration
		calls    int
		wantErr  string
	}{
		{name: "404 then 200", statuses: []int{404, 404, 200}, retryFor: 5 * time.Second, calls: 3},
		{name: "503 then 204", statuses: []int{503, 204}, retryFor: 5 * time.Second, calls: 2},
		{name: "409 is final", statuses: []int{409, 200}, retryFor: 5 * time.Second, calls: 1, wantErr: "HTTP 409"},
		{name: "no retries", statuses: []int{404, 200}, calls: 1, wantErr: "HTTP 404"},
		{name: "gives up", statuses: []int{404}, retryFor: 250 * time.Millisecond, calls: 2, wantErr: "HTTP 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			calls := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				st := tt.statuses[min(calls, len(tt.statuses)-1)]
				calls++
				mu.Unlock()
				w.WriteHeader(st)
			}))
			defer srv.Close()
			d, err := NewApprovalURL(srv.URL+"/a?t={auth_req_id}&a={action}", srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			d.RetryFor = tt.retryFor
			err = d.Decide(testCtx(t), Request{AuthReqID: "r"}, ActionAllow)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if calls != tt.calls {
				t.Errorf("calls = %d, want %d", calls, tt.calls)
			}
		})
	}
}

func TestNewApprovalURLRejects(t *testing.T) {
	for _, tmpl := range []string{"https://op.example/action", "not a url {auth_req_id}", "ftp://x/{auth_req_id}"} {
		if _, err := NewApprovalURL(tmpl, nil); err == nil {
			t.Errorf("NewApprovalURL(%q) accepted it", tmpl)
		}
	}
}

func TestHints(t *testing.T) {
	users := []target.User{
		{Name: "alice", LoginHint: "alice"},
		{Name: "bob", LoginHint: "bob", Outcome: ciba.OutcomeDeny},
		{Name: "carol", LoginHint: "carol", Outcome: ciba.OutcomeNever},
	}
	h := NewHints(users)
	if c := h.Capabilities(); !c.Approve || !c.Deny || c.Hold || !c.FollowsUserOutcomes {
		t.Errorf("capabilities = %+v", c)
	}
	if c := NewHints(users[:1]).Capabilities(); !c.Approve || c.Deny {
		t.Errorf("approve-only capabilities = %+v", c)
	}
	tests := []struct {
		user   *target.User
		action Action
		ok     bool
	}{
		{&users[0], ActionAllow, true},
		{&users[0], ActionDeny, false},
		{&users[1], ActionDeny, true},
		{&users[1], ActionAllow, false},
		{&users[2], ActionAllow, false},
		{nil, ActionAllow, false},
	}
	for _, tt := range tests {
		err := h.Decide(testCtx(t), Request{AuthReqID: "id", User: tt.user}, tt.action)
		if (err == nil) != tt.ok {
			t.Errorf("Decide(%v, %s) = %v, want ok=%v", tt.user, tt.action, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrUnsupported) {
			t.Errorf("error %v does not wrap ErrUnsupported", err)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"": "''", "a b": "'a b'", "it's": `'it'\''s'`, "$(x)": "'$(x)'"} {
		if got := ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestCommand(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "decide.sh")
	// The script records its arguments and working directory, and fails
	// for the login hint "fail" and sleeps for "slow".
	body := `#!/bin/sh
printf '%s|%s|%s|%s\n' "$1" "$2" "$3" "$(pwd)" >> calls.log
case "$2" in
fail) echo "nope" >&2; exit 3 ;;
slow) sleep 5 ;;
esac
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, hint string
		action     Action
		wantErr    string
		wantLog    string
	}{
		{name: "allow", hint: "alice", action: ActionAllow, wantLog: "id.1-x_Y|alice|allow|" + dir},
		{name: "deny with quote", hint: "o'brien $HOME; $(id)", action: ActionDeny, wantLog: "id.1-x_Y|o'brien $HOME; $(id)|deny|" + dir},
		{name: "exit status", hint: "fail", action: ActionAllow, wantErr: "nope"},
		{name: "timeout", hint: "slow", action: ActionAllow, wantErr: "did not finish"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(filepath.Join(dir, "calls.log"))
			c, err := NewCommand("./decide.sh {auth_req_id} {login_hint} {action}", dir, 500*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Decide(testCtx(t), Request{AuthReqID: "id.1-x_Y", User: &target.User{Name: "u", LoginHint: tt.hint}}, tt.action)
			if errorWanted(t, err, tt.wantErr) {
				return
			}
			log, err := os.ReadFile(filepath.Join(dir, "calls.log"))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(string(log)); got != tt.wantLog {
				t.Errorf("script saw %q, want %q", got, tt.wantLog)
			}
		})
	}
	if _, err := NewCommand("./decide.sh", dir, 0); err == nil {
		t.Error("a command without {auth_req_id} was accepted")
	}
}

func TestManual(t *testing.T) {
	tests := []struct {
		name, input string
		action      Action
		wantErr     string
	}{
		{name: "approve", input: "approve\n", action: ActionAllow},
		{name: "deny after junk", input: "\nwhat?\nDENY\n", action: ActionDeny},
		{name: "wrong answer", input: "deny\n", action: ActionAllow, wantErr: "operator denied"},
		{name: "input ends", input: "", action: ActionAllow, wantErr: "input ended"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			m := NewManual(strings.NewReader(tt.input), &out)
			err := m.Decide(testCtx(t), Request{AuthReqID: "req-1", User: alice, ClientID: "c1", BindingMessage: "1234"}, tt.action)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"req-1", "alice@example.com", "c1", `"1234"`} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("prompt %q does not show %q", out.String(), want)
				}
			}
		})
	}
	t.Run("context ends", func(t *testing.T) {
		pr, pw := io.Pipe()
		defer pw.Close()
		m := NewManual(pr, io.Discard)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := m.Decide(ctx, Request{AuthReqID: "x"}, ActionAllow); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

// fakeMockDevice serves the parts of the mock device API the driver uses.
type fakeMockDevice struct {
	mu       sync.Mutex
	requests map[string]*mockdevice.Request
	decided  []string
}

func (f *fakeMockDevice) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, mockdevice.PathRequests+"/"), "/")
	req, ok := f.requests[parts[0]]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error":"unknown_request"}`)
		return
	}
	if r.Method == http.MethodPost && len(parts) == 2 {
		f.decided = append(f.decided, parts[0]+"/"+parts[1])
		if req.State != mockdevice.StatePending {
			w.WriteHeader(http.StatusConflict)
			_, _ = io.WriteString(w, `{"error":"already_decided"}`)
			return
		}
		switch parts[1] {
		case "approve":
			req.State = mockdevice.StateApproved
		case "deny":
			req.State = mockdevice.StateDenied
		}
		req.CallbackStatus = http.StatusOK
		req.CalledBackAt = time.Now()
	}
	_ = json.NewEncoder(w).Encode(req)
}

func TestMockDevice(t *testing.T) {
	tests := []struct {
		name        string
		state       mockdevice.State
		action      Action
		wantDecided bool
		wantErr     string
	}{
		{name: "pending approved", state: mockdevice.StatePending, action: ActionAllow, wantDecided: true},
		{name: "pending denied", state: mockdevice.StatePending, action: ActionDeny, wantDecided: true},
		{name: "policy already approved", state: mockdevice.StateApproved, action: ActionAllow},
		{name: "policy denied, wanted approval", state: mockdevice.StateDenied, action: ActionAllow, wantErr: "was denied"},
		{name: "unknown request", action: ActionAllow, wantErr: "never reached"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeMockDevice{requests: map[string]*mockdevice.Request{}}
			if tt.state != "" {
				r := &mockdevice.Request{ID: "r1", LoginHint: "alice", BindingMessage: "1234", State: tt.state, Policy: mockdevice.Policy{Outcome: ciba.OutcomeNever}}
				if tt.state != mockdevice.StatePending {
					r.CallbackStatus, r.CalledBackAt = http.StatusOK, time.Now()
				}
				fake.requests["r1"] = r
			}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			d, err := NewMockDevice(srv.URL, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			ctx := testCtx(t)
			if tt.name == "unknown request" {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, 200*time.Millisecond)
				defer cancel()
			}
			err = d.Decide(ctx, Request{AuthReqID: "r1", User: alice}, tt.action)
			if errorWanted(t, err, tt.wantErr) {
				return
			}
			if got := len(fake.decided) > 0; got != tt.wantDecided {
				t.Errorf("decided by hand = %v (%v), want %v", got, fake.decided, tt.wantDecided)
			}
			if tt.wantDecided {
				shown, err := d.Shown(testCtx(t), "r1")
				if err != nil || shown.BindingMessage != "1234" || shown.LoginHint != "alice" {
					t.Errorf("Shown = %+v, %v", shown, err)
				}
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		dev     target.Device
		opts    Options
		want    target.DeviceKind
		wantErr bool
	}{
		{dev: target.Device{Kind: target.DeviceMock, URL: "https://127.0.0.1:1"}, want: target.DeviceMock},
		{dev: target.Device{Kind: target.DeviceApprovalURL, ApprovalURL: "https://x/a?t={auth_req_id}&a={action}"}, want: target.DeviceApprovalURL},
		{dev: target.Device{Kind: target.DeviceHints}, want: target.DeviceHints},
		{dev: target.Device{Kind: target.DeviceCommand, Command: "true {auth_req_id}"}, want: target.DeviceCommand},
		{dev: target.Device{Kind: target.DeviceManual}, opts: Options{In: strings.NewReader(""), Out: io.Discard}, want: target.DeviceManual},
		{dev: target.Device{Kind: target.DeviceManual}, wantErr: true},
		{dev: target.Device{Kind: "phone"}, wantErr: true},
		{dev: target.Device{Kind: target.DeviceMock, URL: "nope"}, wantErr: true},
	}
	for _, tt := range tests {
		d, err := New(&target.Target{Device: tt.dev, Users: []target.User{*alice}}, tt.opts)
		if tt.wantErr {
			if err == nil {
				t.Errorf("New(%+v) accepted it", tt.dev)
			}
			continue
		}
		if err != nil {
			t.Errorf("New(%+v): %v", tt.dev, err)
			continue
		}
		if d.Kind() != tt.want {
			t.Errorf("New(%+v).Kind() = %s", tt.dev, d.Kind())
		}
	}
}
