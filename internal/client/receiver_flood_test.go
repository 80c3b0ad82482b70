package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// floodChildEnv makes the test binary run the receiver side of
// TestReceiverPeakMemoryUnderPingFlood.
const floodChildEnv = "CIBA_CHECK_RECEIVER_FLOOD_CHILD"

// Flood parameters (issue 12): 4,000 pings of 120 KB (truncated to
// MaxNotificationBody, so not JSON), then 2,000 of 60 KB that parse, for
// unknown auth_req_ids; one ping in the middle is for a request a check
// waits on.
const (
	floodPings      = 4000
	floodBody       = 120 << 10
	floodParsed     = 2000
	floodParsedBody = 60 << 10
	floodLimitBytes = 100 << 20
	floodWatchedID  = "watched-request"
)

// TestReceiverPeakMemoryUnderPingFlood runs a receiver with the default
// bounds in a child process, floods it over HTTPS, and reads the child's
// peak RSS (VmHWM): it must stay under 100 MB, and the ping a waiter
// waits for must reach it.
func TestReceiverPeakMemoryUnderPingFlood(t *testing.T) {
	if os.Getenv(floodChildEnv) == "1" {
		floodChild(t)
		return
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/PID/status")
	}
	if testing.Short() {
		t.Skip("sends 600 MB over loopback")
	}
	if raceEnabled {
		t.Skip("the race detector multiplies memory use")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestReceiverPeakMemoryUnderPingFlood$", "-test.count=1")
	cmd.Env = append(os.Environ(), floodChildEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 64<<10)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func(prefix string) string {
		t.Helper()
		timeout := time.NewTimer(2 * time.Minute) // failure deadline
		defer timeout.Stop()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("child ended before printing %s", prefix)
				}
				if rest, found := strings.CutPrefix(l, prefix+" "); found {
					return rest
				}
			case <-timeout.C:
				t.Fatalf("child printed no %s", prefix)
			}
		}
	}
	addr := next("ADDR")
	der, err := base64.StdEncoding.DecodeString(next("CERT"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	url := "https://" + addr + "/cb"

	send := func(id string, size int) error {
		head := `{"auth_req_id":"` + id + `","pad":"`
		body := head + strings.Repeat("x", max(size-len(head)-2, 0)) + `"}`
		resp, err := hc.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return fmt.Errorf("ping %s answered %d", id, resp.StatusCode)
		}
		return nil
	}
	jobs := make(chan func() error)
	var wg sync.WaitGroup
	var errOnce sync.Once
	var firstErr error
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range jobs {
				if err := job(); err != nil {
					errOnce.Do(func() { firstErr = err })
				}
			}
		}()
	}
	for i := range floodPings + floodParsed {
		id, size := fmt.Sprintf("flood-%d", i), floodBody
		if i >= floodPings {
			size = floodParsedBody
		}
		jobs <- func() error { return send(id, size) }
		if i == floodPings/2 {
			jobs <- func() error { return send(floodWatchedID, 100) }
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	if got := next("DELIVERED"); got != floodWatchedID {
		t.Fatalf("the waiter got %q", got)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	hwm := vmHWM(t, status)
	_ = stdin.Close()
	stats := next("STATS")
	t.Logf("receiver peak RSS %.1f MB after %d pings of %d KB and %d of %d KB; %s",
		float64(hwm)/(1<<20), floodPings, floodBody>>10, floodParsed, floodParsedBody>>10, stats)
	if hwm >= floodLimitBytes {
		t.Fatalf("receiver peak RSS %d bytes, want < %d", hwm, floodLimitBytes)
	}
	if !strings.Contains(stats, "watched=1") {
		t.Fatalf("the watched ping was not kept: %s", stats)
	}
}

// vmHWM reads the peak resident set size from /proc/PID/status.
func vmHWM(t *testing.T, status []byte) int64 {
	t.Helper()
	for _, line := range bytes.Split(status, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(string(rest)), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/PID/status")
	return 0
}

// floodChild serves a receiver with the default bounds until stdin closes.
func floodChild(t *testing.T) {
	cert, leaf := selfSignedCert(t, "receiver")
	r, err := NewNotificationReceiver(ReceiverConfig{Listen: "127.0.0.1:0", TLSCert: cert, Path: "/cb"})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := r.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	watched := r.Expect(floodWatchedID, "")
	fmt.Printf("ADDR %s\nCERT %s\n", addr, base64.StdEncoding.EncodeToString(leaf.Raw))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case n := <-watched:
			fmt.Printf("DELIVERED %s\n", n.AuthReqID)
		case <-ctx.Done():
		}
	}()
	_, _ = io.Copy(io.Discard, os.Stdin)
	st := r.Stats()
	fmt.Printf("STATS kept=%d kept_bytes=%d evicted=%d watched=%d\n",
		st.Kept, st.KeptBytes, st.Evicted, len(r.NotificationsFor(floodWatchedID)))
}
