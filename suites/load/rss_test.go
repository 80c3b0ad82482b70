//go:build linux

package load

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/reports"
)

// rssHelperEnv makes the test binary run one poll attack
// (TestRSSHelperProcess) against the URL and CA it names.
const rssHelperEnv = "CIBA_CHECK_RSS_HELPER"

// hugeBody is the size of every answer of the hostile token endpoint.
const hugeBody = 100 << 20

// TestLoadPollRSSAgainstHugeBodies: an OP answering every poll with a
// 100 MB body cannot make the generator hold it: the poll attack, in its
// own process (so its peak RSS is its own), stays under 100 MB, every
// such answer counts as unexpected, and the results file stays small.
func TestLoadPollRSSAgainstHugeBodies(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a subprocess")
	}
	if raceEnabled {
		t.Skip("the race detector multiplies memory use; the bound holds for the real build")
	}
	chunk := bytes.Repeat([]byte("a"), 64<<10)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"`))
		for sent := 0; sent < hugeBody; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return // the client reset the stream: good
			}
		}
		_, _ = w.Write([]byte(`"}`))
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	results := filepath.Join(dir, "results.bin")
	for _, mode := range []string{"max", "200/s"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestRSSHelperProcess$")
			cmd.Env = append(os.Environ(), rssHelperEnv+"="+strings.Join([]string{srv.URL, ca, mode, results}, "|"))
			var out, errOut bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			if err := cmd.Run(); err != nil {
				t.Fatalf("helper: %v\n%s\n%s", err, out.String(), errOut.String())
			}
			rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024 // KiB on Linux
			m, err := reports.FromLoadJSON(&out)
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut.String())
			}
			sum := m.Load[0]
			st, err := os.Stat(results)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d polls, peak RSS %.1f MB, results file %.1f MB", mode, sum.Requests.Sent, float64(rss)/1e6, float64(st.Size())/1e6)
			if sum.Requests.Sent == 0 || sum.Requests.Unexpected != sum.Requests.Sent || sum.Requests.OK != 0 {
				t.Fatalf("requests %+v errors %+v: every 100 MB answer must count as unexpected", sum.Requests, sum.Errors)
			}
			if rss >= 100e6 {
				t.Fatalf("peak RSS %.1f MB polling an OP that answers %d MB bodies, want < 100 MB", float64(rss)/1e6, hugeBody>>20)
			}
			if max := int64(sum.Requests.Sent) * (DefaultMaxBody + 4096); st.Size() > max {
				t.Fatalf("results file %d bytes for %d polls: bodies were not capped", st.Size(), sum.Requests.Sent)
			}
		})
	}
}

func TestRSSHelperProcess(t *testing.T) {
	arg := os.Getenv(rssHelperEnv)
	if arg == "" {
		t.Skip("helper process for TestLoadPollRSSAgainstHugeBodies")
	}
	parts := strings.Split(arg, "|")
	url, caPath, rateText, resultsPath := parts[0], parts[1], parts[2], parts[3]
	pemData, err := os.ReadFile(caPath)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pemData)
	rate, err := ParseRate(rateText)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(resultsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stats := &ConnStats{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sum, err := RunPoll(ctx, PollConfig{
		RunOptions: RunOptions{Rate: rate, Duration: 2 * time.Second, Output: f, Conns: stats},
		Targets:    PollTargets{Endpoint: url + "/token", ClientID: "c", AuthMethod: ciba.AuthTLSClient, AuthReqIDs: []string{"x"}},
		// What `load poll` builds: the default body cap and connection cap.
		HTTPClient: NewHTTPClient(roots, nil, TransportOptions{Stats: stats}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := reports.WriteLoadJSON(os.Stdout, sum, ""); err != nil {
		t.Fatal(err)
	}
	os.Exit(0)
}
