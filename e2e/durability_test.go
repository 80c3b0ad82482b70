package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/mockdevice"
)

// binaryEnv names a prebuilt ciba-check binary to run instead of building
// one (.ci/run builds it before the tests).
const binaryEnv = "CIBA_CHECK_BIN"

// longBinaryTest skips t under -short, saying why (what it runs), and
// returns the ciba-check binary it runs.
func longBinaryTest(t *testing.T, why string) string {
	t.Helper()
	if testing.Short() {
		t.Skip(why)
	}
	return ciBinary(t)
}

// ciBinary returns a ciba-check binary: $CIBA_CHECK_BIN, or one built
// from this checkout into a temporary directory.
func ciBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv(binaryEnv); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "ciba-check")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/ciba-check/ciba-check/cmd/ciba-check")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building ciba-check: %v\n%s", err, out)
	}
	return bin
}

// freeAddr returns a loopback address with a port free right now; the
// server binds it later, and again after a restart.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serveProcess is `ciba-check serve` running as a child process.
type serveProcess struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer // guarded by mu until the process ended
	stderr bytes.Buffer
	mu     sync.Mutex
	done   chan error
}

// startServe runs the binary with args and waits until it says it serves.
func startServe(t *testing.T, bin string, args ...string) *serveProcess {
	t.Helper()
	p := &serveProcess{cmd: exec.Command(bin, append([]string{"serve"}, args...)...), done: make(chan error, 1)}
	pr, pw := io.Pipe()
	p.cmd.Stdout = pw
	p.cmd.Stderr = &lockedWriter{mu: &p.mu, w: &p.stderr}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		pw.Close()
		p.done <- err
	}()
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		signalled := false
		for sc.Scan() {
			p.mu.Lock()
			p.stdout.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if !signalled && strings.HasPrefix(sc.Text(), "serving") {
				close(ready)
				signalled = true
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	t.Cleanup(func() { p.kill(t) })
	select {
	case <-ready:
	case err := <-p.done:
		p.done <- err
		t.Fatalf("serve exited before serving: %v\nstdout:\n%s\nstderr:\n%s", err, p.out(), p.errOut())
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not start:\nstdout:\n%s\nstderr:\n%s", p.out(), p.errOut())
	}
	return p
}

func (p *serveProcess) out() string    { p.mu.Lock(); defer p.mu.Unlock(); return p.stdout.String() }
func (p *serveProcess) errOut() string { p.mu.Lock(); defer p.mu.Unlock(); return p.stderr.String() }

// kill sends SIGKILL (no shutdown code runs) and reaps the process.
func (p *serveProcess) kill(t *testing.T) {
	t.Helper()
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case err := <-p.done:
		p.done <- err
	case <-time.After(10 * time.Second):
		t.Errorf("serve did not die after SIGKILL")
	}
}

// stop interrupts the process as Ctrl-C does and expects a clean exit.
func (p *serveProcess) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Errorf("serve exited with %v after an interrupt\nstderr:\n%s", err, p.errOut())
		}
	case <-time.After(20 * time.Second):
		t.Errorf("serve did not stop after an interrupt")
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// realClients builds the CIBA clients of target.yaml on the real clock.
func realClients(t *testing.T, tgt *target.Target, md *ciba.ProviderMetadata, ids ...string) map[string]*client.Client {
	t.Helper()
	roots := targetRoots(t, tgt)
	out := map[string]*client.Client{}
	for _, id := range ids {
		tc, ok := tgt.Client(id)
		if !ok {
			t.Fatalf("no client %q in target.yaml", id)
		}
		key, err := tc.LoadSigningKey()
		if err != nil {
			t.Fatal(err)
		}
		cert, err := tc.LoadTLSCertificate()
		if err != nil {
			t.Fatal(err)
		}
		c, err := client.New(client.Config{ClientID: tc.ID, AuthMethod: tc.Auth, Mode: tc.Mode,
			SigningKey: key, TLSCert: cert, RootCAs: roots, Metadata: md})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.CloseIdleConnections)
		out[id] = c
	}
	return out
}

// flowAtKill is one authentication request started before the kill.
type flowAtKill struct {
	c      *client.Client
	ack    *ciba.AuthenticationResponse
	notify string // client_notification_token of a ping request
	deny   bool   // the device denies it after the restart
}

// TestKillAndRestart runs `ciba-check serve --store` as a real process,
// SIGKILLs it in the middle of flows, restarts it on the same store, dir
// and ports, and checks that nothing the OP acknowledged was lost: pending
// requests complete exactly once, redeemed ones stay redeemed, issued
// tokens still work, and used jtis are still refused.
//
// The mock device lives in the same process and keeps its requests in
// memory, so the restart loses them on the device side; the OP re-offers
// every pending request to the device when it starts (refop.OP.Resume),
// and the test then decides them through the device's HTTP API, as a user
// would on a real device that had stayed up.
func TestKillAndRestart(t *testing.T) {
	bin := longBinaryTest(t, "runs a child process")
	dir := t.TempDir()
	copyMaterial(t, dir)
	store := filepath.Join(dir, "op.db")
	opAddr, deviceAddr, notifyAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	args := []string{"--dir", dir, "--store", store, "--op-addr", opAddr, "--device-addr", deviceAddr,
		"--notify-addr", notifyAddr, "--interval", "1", "--verbose"}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()

	first := startServe(t, bin, args...)
	tgt, err := target.Load(filepath.Join(dir, "target.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	hc := trustingClient(t, tgt)
	md, err := client.Discover(ctx, hc, tgt.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	clients := realClients(t, tgt, md, "poll-pkjwt-es256", "poll-mtls", "ping-pkjwt-ps256")
	pkjwt, mtls, ping := clients["poll-pkjwt-es256"], clients["poll-mtls"], clients["ping-pkjwt-ps256"]

	// The ping client's notification endpoint lives in the test process,
	// so it outlives the OP.
	pingTarget, _ := tgt.Client("ping-pkjwt-ps256")
	receiverCert, err := pingTarget.Notification.LoadTLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	receiver, err := client.NewNotificationReceiver(client.ReceiverConfig{Listen: notifyAddr, TLSCert: *receiverCert, Path: "/notify"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := receiver.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = receiver.Close() })

	// Before the kill: carol's requests stay pending (her device never
	// answers); one of alice's is redeemed, one approved but not redeemed.
	var pending []flowAtKill
	for i := range 8 {
		c := []*client.Client{pkjwt, mtls}[i%2]
		ack, ex, err := c.Authenticate(ctx, client.AuthParams{Scope: "openid profile", LoginHint: "carol", BindingMessage: "1234"})
		wantOK(t, ex, err, "backchannel for carol")
		pending = append(pending, flowAtKill{c: c, ack: ack, deny: i%4 == 3})
	}
	notifyToken := "durable-" + randomSuffix(t)
	ack, ex, err := ping.Authenticate(ctx, client.AuthParams{Scope: "openid", LoginHint: "carol", BindingMessage: "1234", ClientNotificationToken: notifyToken})
	wantOK(t, ex, err, "ping backchannel for carol")
	pending = append(pending, flowAtKill{c: ping, ack: ack, notify: notifyToken})

	redeemedAck, ex, err := pkjwt.Authenticate(ctx, client.AuthParams{Scope: "openid profile", LoginHint: "alice", BindingMessage: "1234"})
	wantOK(t, ex, err, "backchannel for alice")
	tokens, err := pkjwt.Poll(ctx, redeemedAck)
	if err != nil {
		t.Fatalf("redeeming alice's request: %v", err)
	}
	approvedAck, ex, err := mtls.Authenticate(ctx, client.AuthParams{Scope: "openid profile", LoginHint: "alice", BindingMessage: "1234"})
	wantOK(t, ex, err, "backchannel for alice")
	device, err := mockdevice.NewClient(tgt.Device.URL, hc)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := device.WaitSettled(ctx, approvedAck.AuthReqID); err != nil || r.State != mockdevice.StateApproved {
		t.Fatalf("alice's approval before the kill: %+v %v", r, err)
	}
	// A request object and a client assertion used before the kill.
	usedRequest, err := pkjwt.RequestObject(client.AuthParams{Scope: "openid", LoginHint: "carol", BindingMessage: "1234"})
	if err != nil {
		t.Fatal(err)
	}
	ack, ex, err = pkjwt.Authenticate(ctx, client.AuthParams{}, client.CallRequestObjectJWT(usedRequest))
	wantOK(t, ex, err, "backchannel with the request object")
	pending = append(pending, flowAtKill{c: pkjwt, ack: ack})
	usedAssertion, err := pkjwt.ClientAssertion(md.TokenEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	_, ex, err = pkjwt.Token(ctx, pending[0].ack.AuthReqID, client.WithAuth(client.AuthAssertion(usedAssertion)))
	wantOAuthError(t, ex, err, "authorization_pending")

	// Writes in flight at the moment of the kill: a few requests of their
	// own polled as fast as the connection allows (each poll is a store
	// write), until the process dies under them.
	var hammered []string
	for range 3 {
		ack, ex, err := mtls.Authenticate(ctx, client.AuthParams{Scope: "openid", LoginHint: "carol", BindingMessage: "1234"})
		wantOK(t, ex, err, "backchannel for carol")
		hammered = append(hammered, ack.AuthReqID)
	}
	stopHammer, warmedUp := make(chan struct{}), make(chan struct{}, len(hammered))
	var hammerWG sync.WaitGroup
	var hammerPolls atomic.Int64
	for _, id := range hammered {
		hammerWG.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stopHammer:
					return
				default:
				}
				if _, ex, _ := mtls.Token(ctx, id); ex != nil {
					hammerPolls.Add(1)
				}
				if n == 10 {
					warmedUp <- struct{}{}
				}
			}
		})
	}
	for range hammered {
		<-warmedUp
	}

	first.kill(t)
	close(stopHammer)
	hammerWG.Wait()
	if strings.Contains(first.out(), "shutting down") {
		t.Fatal("the first process shut down cleanly; it was meant to be killed")
	}
	for _, c := range clients {
		c.CloseIdleConnections() // their connections died with the process
	}
	hc.CloseIdleConnections()

	second := startServe(t, bin, args...)
	if want := fmt.Sprintf("resumed %d pending", len(pending)+len(hammered)); !strings.Contains(second.out(), want) {
		t.Errorf("restart output lacks %q:\n%s", want, second.out())
	}

	t.Run("requests written to at the kill are intact", func(t *testing.T) {
		for _, id := range hammered {
			_, ex, err := mtls.Token(ctx, id)
			if ex == nil || ex.OAuthError() == nil || (ex.OAuthError().Code != "authorization_pending" && ex.OAuthError().Code != "slow_down") {
				t.Errorf("poll of a request hammered at the kill: %v %s", err, dump(ex))
			}
		}
	})
	t.Run("redeemed stays redeemed", func(t *testing.T) {
		_, ex, err := pkjwt.Token(ctx, redeemedAck.AuthReqID)
		wantOAuthError(t, ex, err, "invalid_grant")
		// Known and redeemed, not merely unknown to a fresh process.
		if oe := ex.OAuthError(); oe == nil || !strings.Contains(oe.Description, "redeemed") {
			t.Errorf("want the reference OP's 'already redeemed', got %s", dump(ex))
		}
	})
	t.Run("issued tokens still work", func(t *testing.T) {
		claims, ex, err := pkjwt.UserInfo(ctx, tokens.AccessToken)
		wantOK(t, ex, err, "userinfo with a token issued before the kill")
		if claims["sub"] != "user-alice" {
			t.Errorf("userinfo sub %v", claims["sub"])
		}
		refreshed, ex, err := pkjwt.Refresh(ctx, tokens.RefreshToken, "")
		wantOK(t, ex, err, "refresh with a token issued before the kill")
		if refreshed.AccessToken == "" || refreshed.AccessToken == tokens.AccessToken {
			t.Errorf("refresh issued no new access token")
		}
	})
	t.Run("approved before the kill redeems once", func(t *testing.T) {
		_, ex, err := mtls.Token(ctx, approvedAck.AuthReqID)
		wantOK(t, ex, err, "redeeming a request approved before the kill")
		_, ex, err = mtls.Token(ctx, approvedAck.AuthReqID)
		wantOAuthError(t, ex, err, "invalid_grant")
	})
	t.Run("used jtis are still refused", func(t *testing.T) {
		_, ex, err := pkjwt.Authenticate(ctx, client.AuthParams{}, client.CallRequestObjectJWT(usedRequest))
		wantOAuthError(t, ex, err, "invalid_request")
		_, ex, err = pkjwt.Token(ctx, pending[0].ack.AuthReqID, client.WithAuth(client.AuthAssertion(usedAssertion)))
		wantOAuthError(t, ex, err, "invalid_client", http.StatusUnauthorized)
	})

	// Every request pending at the kill: the device learns it again, the
	// user decides, the client polls to a final answer exactly once.
	type outcome struct {
		id     string
		tokens bool
		err    error
		second error
	}
	results := make(chan outcome, len(pending))
	var wg sync.WaitGroup
	for _, f := range pending {
		wg.Go(func() {
			id := f.ack.AuthReqID
			o := outcome{id: id}
			var expect <-chan client.Notification
			if f.notify != "" {
				expect = receiver.Expect(id, f.notify)
			}
			if _, err := device.Wait(ctx, id); err != nil {
				o.err = fmt.Errorf("the restarted device never got %s: %w", id, err)
				results <- o
				return
			}
			status := ciba.DeviceSucceed
			if f.deny {
				status = ciba.DeviceUnauthorized
			}
			if r, err := device.Decide(ctx, id, status); err != nil || r.CallbackStatus != http.StatusOK {
				o.err = fmt.Errorf("deciding %s: callback %d, %v", id, r.CallbackStatus, err)
				results <- o
				return
			}
			if expect != nil {
				select {
				case <-expect:
				case <-ctx.Done():
					o.err = fmt.Errorf("no ping for %s after the restart", id)
					results <- o
					return
				}
			}
			tr, err := f.c.Poll(ctx, f.ack)
			o.tokens, o.err = tr != nil && tr.AccessToken != "", err
			_, _, o.second = f.c.Token(ctx, id)
			results <- o
		})
	}
	wg.Wait()
	close(results)
	issued, denied := 0, 0
	for o := range results {
		switch {
		case o.tokens && errors.Is(o.second, ciba.ErrInvalidGrant):
			issued++
		case errors.Is(o.err, ciba.ErrAccessDenied) && errors.Is(o.second, ciba.ErrAccessDenied):
			denied++
		default:
			t.Errorf("%s: tokens=%v err=%v, then %v", o.id, o.tokens, o.err, o.second)
		}
	}
	wantDenied := 0
	for _, f := range pending {
		if f.deny {
			wantDenied++
		}
	}
	if issued != len(pending)-wantDenied || denied != wantDenied {
		t.Errorf("after the restart: %d issued once, %d denied; want %d and %d", issued, denied, len(pending)-wantDenied, wantDenied)
	}
	t.Logf("killed with %d pending requests (1 ping, %d to be denied) and %d more polled %d times around the kill; after restart %d issued exactly once, %d denied",
		len(pending), wantDenied, len(hammered), hammerPolls.Load(), issued, denied)

	second.stop(t)
	// Console output and logs (--verbose) of both processes hold no
	// secret of this run in clear.
	secrets := secretSet{}
	secrets.add("access token", tokens.AccessToken)
	secrets.add("refresh token", tokens.RefreshToken)
	secrets.add("client_notification_token", notifyToken)
	secrets.add("client assertion", usedAssertion)
	for _, p := range []*serveProcess{first, second} {
		secrets.scan(t, "serve output", p.out()+p.errOut())
	}
	if t.Failed() {
		t.Logf("first process stderr:\n%s\nsecond process stderr:\n%s", first.errOut(), second.errOut())
	}
}
