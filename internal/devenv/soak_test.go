package devenv_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/devenv"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/internal/targetclient"
	"github.com/ciba-check/ciba-check/mockdevice"
	refop "github.com/ciba-check/ciba-check/reference-op"
	"github.com/ciba-check/ciba-check/reports"
	"github.com/ciba-check/ciba-check/suites/load"
)

// The soak benchmark (issue 14 item 3): one serve, many load runs; do the
// OP and the device stay as fast and as small as they started? It is
// slow and loads the machine, so it runs only when asked:
//
//	CIBA_CHECK_SOAK=1 go test ./internal/devenv -run TestSoakServe -v -timeout 30m
//
// CIBA_CHECK_SOAK_RUNS (default 20) and CIBA_CHECK_SOAK_SECONDS (default
// 2.5, each phase of a run) tune it; CIBA_CHECK_SOAK_PROFILE=DIR makes the
// serve process write DIR/cpu.pprof and, after run N, DIR/heap-N.pprof
// (after a forced GC, which makes the RSS figures of that mode
// optimistic).
const (
	soakEnv      = "CIBA_CHECK_SOAK"
	soakChildEnv = "CIBA_CHECK_SOAK_CHILD" // the serve side, in a child process
)

// soak parameters of one run, as `ciba-check load` runs them:
//
//	load flow --mode both --auth mtls --rate 20/s   (--approve-delay 500ms, its default)
//	load poll --client poll-pkjwt-es256 --rate 500/s --pending 500
//
// each for CIBA_CHECK_SOAK_SECONDS; the poll run's pending requests are
// left behind, as every `load poll` leaves them (for load.PendingMargin
// after the run).
const (
	soakFlowRate   = 20
	soakPollRate   = 500
	soakPending    = 500
	soakApprove    = 500 * time.Millisecond
	soakAimRatio   = 1.2
	soakPollClient = "poll-pkjwt-es256"
)

// TestSoakServe runs a serve (devenv.Start, as `ciba-check serve` does) in
// a child process and drives it through successive load runs from this
// one, each a load.Plan run through load.Run in its own session, as
// `ciba-check load --target` runs one. It prints, per run, the flows'
// end-to-end p99 and the serve process's RSS, and the last/first ratios.
func TestSoakServe(t *testing.T) {
	if dir := os.Getenv(soakChildEnv); dir != "" {
		serveChild(t, dir)
		return
	}
	if os.Getenv(soakEnv) != "1" {
		t.Skipf("the soak benchmark runs only with %s=1 (several minutes of load)", soakEnv)
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads the serve process's RSS from /proc")
	}
	runs := envInt(t, "CIBA_CHECK_SOAK_RUNS", 20)
	phase := time.Duration(envFloat(t, "CIBA_CHECK_SOAK_SECONDS", 2.5) * float64(time.Second))
	ctx := t.Context()
	child, tgt := startServeChild(t)
	flows := load.Plan{
		Modes: []ciba.DeliveryMode{ciba.ModePoll, ciba.ModePing}, Auth: load.AuthMTLS,
		Rate: load.Rate{Freq: soakFlowRate, Per: time.Second}, Duration: phase, ApproveDelay: soakApprove,
	}
	polls := load.Plan{
		Poll: true, ClientID: soakPollClient,
		Rate: load.Rate{Freq: soakPollRate, Per: time.Second}, Duration: phase, Pending: soakPending,
	}

	type result struct {
		pollP99, pingP99, pollRunP99 float64 // ms
		unexpected                   uint64
		rssKB, hwmKB                 int64
		mem                          serveMem
	}
	var results []result
	started := time.Now()
	t.Logf("soak: %d runs of flow (poll+ping, %d/s each, %s) then poll (%d/s, %d pending left behind, %s); machine shared, figures indicative",
		runs, soakFlowRate, phase, soakPollRate, soakPending, phase)
	for i := range runs {
		var r result
		sums, err := soakRun(ctx, tgt, flows)
		if err != nil {
			t.Fatalf("run %d: flows: %v", i+1, err)
		}
		r.pollP99, r.pingP99 = sums[0].LatencyMS.P99, sums[1].LatencyMS.P99
		r.unexpected = sums[0].Requests.Unexpected + sums[1].Requests.Unexpected
		if sums, err = soakRun(ctx, tgt, polls); err != nil {
			t.Fatalf("run %d: poll: %v", i+1, err)
		}
		r.pollRunP99 = sums[0].LatencyMS.P99
		r.unexpected += sums[0].Requests.Unexpected
		r.rssKB, r.hwmKB = procStatus(t, child.cmd.Process.Pid)
		r.mem = child.mem(t, i+1)
		results = append(results, r)
		m := r.mem
		t.Logf("run %2d at %5.0fs: flow p99 poll %7.1f ms, ping %7.1f ms; poll-run p99 %6.1f ms; unexpected %d; serve RSS %5.1f MB (peak %5.1f); heap live %5.1f, in use %5.1f, idle %5.1f (released %5.1f), goal %5.1f MB; %4d goroutines; OP store %6d requests, %6d tombstones, %6d tokens, %5d jtis; device %5d stored (%5d pending)",
			i+1, time.Since(started).Seconds(), r.pollP99, r.pingP99, r.pollRunP99, r.unexpected, float64(r.rssKB)/1024, float64(r.hwmKB)/1024,
			mb(m.HeapLive), mb(m.HeapInuse), mb(m.HeapIdle), mb(m.HeapReleased), mb(m.HeapGoal), m.Goroutines,
			m.Store.Requests, m.Store.Tombstones, m.Store.Tokens, m.Store.JTIs, m.Device.Stored, m.Device.Pending)
	}
	// Run 1 is not the steady state. Each run's state lives on after it
	// for as long as the specs or the OP's policy say: its 500 pending
	// requests until load.PendingMargin after the run (the OP retires
	// each to a tombstone a second after its expiry, and a flow's once
	// its tokens are issued; the device forgets an undecided request
	// once the OP would refuse its callback), used jtis until their exp
	// (30 s for a load run's assertions and request objects, plus the
	// OP's 10 s of clock skew), tombstones for the hour expired_token is
	// answered, refresh tokens a day, the device's settled requests as
	// history up to its cap. So the state grows for about six runs and
	// then only by tombstones, tokens and settled requests
	// (TestMemoryStoreBytesPerEntry, TestRecordBytesPerRequest). The
	// summary gives the last/first ratios, the second half's,
	// and what the growth cost per entry held.
	first, mid, last := results[0], results[len(results)/2], results[len(results)-1]
	ratio := func(a, b float64) float64 {
		if a == 0 {
			return 0
		}
		return b / a
	}
	flowP99 := func(r result) float64 { return max(r.pollP99, r.pingP99) }
	held := func(r result) int {
		return r.mem.Store.Requests + r.mem.Store.Tombstones + r.mem.Store.Tokens + r.mem.Store.JTIs + r.mem.Device.Stored
	}
	for _, p := range []struct {
		name string
		r    result
		run  int
	}{{"first", first, 1}, {"middle", mid, len(results)/2 + 1}, {"last", last, len(results)}} {
		st := p.r.mem.Store
		t.Logf("%-6s (run %2d): flow p99 %7.1f ms, serve RSS %5.1f MB, heap live %5.1f MB; held: OP %d requests, %d tombstones, %d tokens, %d jtis; device %d",
			p.name, p.run, flowP99(p.r), float64(p.r.rssKB)/1024, mb(p.r.mem.HeapLive),
			st.Requests, st.Tombstones, st.Tokens, st.JTIs, p.r.mem.Device.Stored)
	}
	t.Logf("last/first:  flow p99 %.2f, RSS %.2f, heap live %.2f (aim <= %.1f)",
		ratio(flowP99(first), flowP99(last)), ratio(float64(first.rssKB), float64(last.rssKB)),
		ratio(float64(first.mem.HeapLive), float64(last.mem.HeapLive)), soakAimRatio)
	t.Logf("last/middle: flow p99 %.2f, RSS %.2f, heap live %.2f (the second half)",
		ratio(flowP99(mid), flowP99(last)), ratio(float64(mid.rssKB), float64(last.rssKB)),
		ratio(float64(mid.mem.HeapLive), float64(last.mem.HeapLive)))
	if n := held(last) - held(first); n > 0 {
		t.Logf("growth first->last: %d more entries held, %.0f bytes of heap live and %.0f of RSS each",
			n, float64(last.mem.HeapLive-min(last.mem.HeapLive, first.mem.HeapLive))/float64(n), float64(last.rssKB-first.rssKB)*1024/float64(n))
	}
}

// soakRun is one `ciba-check load` run of p against tgt: its own session
// (discovery, device driver, receivers), then load.Run.
func soakRun(ctx context.Context, tgt *target.Target, p load.Plan) ([]*reports.LoadRun, error) {
	s, err := targetclient.Open(ctx, tgt, p.SessionOptions(nil, io.Discard))
	if err != nil {
		return nil, err
	}
	defer s.Close()
	sums, err := load.Run(ctx, s, p)
	if err == nil && slices.Contains(sums, nil) {
		err = errors.New("a run gave no summary")
	}
	return sums, err
}

// serveMem is what the serve process reports of itself: the Go heap
// (runtime/metrics, as of the last GC the runtime chose to run: the
// soak forces none unless profiling) and the live state of the OP's store
// and the mock device.
type serveMem struct {
	HeapLive     uint64            `json:"heap_live"`     // /gc/heap/live:bytes
	HeapInuse    uint64            `json:"heap_inuse"`    // MemStats.HeapInuse
	HeapIdle     uint64            `json:"heap_idle"`     // not yet returned to the OS
	HeapReleased uint64            `json:"heap_released"` // returned
	HeapGoal     uint64            `json:"heap_goal"`     // /gc/heap/goal:bytes
	Goroutines   int               `json:"goroutines"`
	Store        refop.StoreCounts `json:"store"`
	Device       mockdevice.Stats  `json:"device"`
}

// serveProc is the serve child: its process, and a way to ask it for
// serveMem.
type serveProc struct {
	cmd   *exec.Cmd
	stdin io.Writer
	lines <-chan string
}

// mem asks the child for serveMem after run (1-based); with
// CIBA_CHECK_SOAK_PROFILE set the child also writes heap-<run>.pprof.
func (p *serveProc) mem(t *testing.T, run int) serveMem {
	t.Helper()
	if _, err := fmt.Fprintf(p.stdin, "mem %d\n", run); err != nil {
		t.Fatal(err)
	}
	for l := range p.lines {
		if rest, ok := strings.CutPrefix(l, "MEM "); ok {
			var m serveMem
			if err := json.Unmarshal([]byte(rest), &m); err != nil {
				t.Fatalf("serve child: %q: %v", l, err)
			}
			return m
		}
	}
	t.Fatal("the serve child ended")
	return serveMem{}
}

// startServeChild starts this test binary as the serve process and
// returns it with the target it wrote.
func startServeChild(t *testing.T) (*serveProc, *target.Target) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSoakServe$", "-test.count=1")
	cmd.Env = append(os.Environ(), soakChildEnv+"="+t.TempDir())
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
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for l := range lines {
		if path, ok := strings.CutPrefix(l, "TARGET "); ok {
			tgt, err := target.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			return &serveProc{cmd: cmd, stdin: stdin, lines: lines}, tgt
		}
	}
	t.Fatal("the serve child printed no target")
	return nil, nil
}

// serveChild is the serve process: the embedded environment until stdin
// closes.
func serveChild(t *testing.T, dir string) {
	profiles := os.Getenv("CIBA_CHECK_SOAK_PROFILE")
	if profiles != "" {
		// A sample every 4 KB, not 512: the store's entries are small
		// and the default rate attributes the heap in 512 KB lumps.
		runtime.MemProfileRate = 4096
		f, err := os.Create(filepath.Join(profiles, "cpu.pprof"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	env, err := devenv.Start(context.Background(), devenv.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("TARGET %s\n", env.TargetPath)
	// Each line "mem N" on stdin asks for serveMem after run N; EOF
	// ends the serve. No GC is forced here (it would flatter the RSS the
	// parent reads), except to write a heap profile when asked to.
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if profiles != "" {
			runtime.GC()
			if err := writeHeapProfile(filepath.Join(profiles, "heap-"+strings.TrimPrefix(sc.Text(), "mem ")+".pprof")); err != nil {
				t.Fatal(err)
			}
		}
		m, err := serveMemOf(env)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("MEM %s\n", b)
	}
	st := env.Device.Stats()
	fmt.Fprintf(os.Stderr, "serve child: device %+v\n", st)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := env.Close(ctx); err != nil {
		t.Error(err)
	}
}

func serveMemOf(env *devenv.Env) (serveMem, error) {
	samples := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/goal:bytes"}}
	metrics.Read(samples)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	counts, err := env.StoreCounts()
	return serveMem{
		HeapLive: samples[0].Value.Uint64(), HeapGoal: samples[1].Value.Uint64(),
		HeapInuse: ms.HeapInuse, HeapIdle: ms.HeapIdle, HeapReleased: ms.HeapReleased,
		Goroutines: runtime.NumGoroutine(),
		Store:      counts,
		Device:     env.Device.Stats(),
	}, err
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// procStatus reads VmRSS and VmHWM (kB) of pid.
func procStatus(t *testing.T, pid int) (rss, hwm int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		for _, f := range []struct {
			prefix string
			v      *int64
		}{{"VmRSS:", &rss}, {"VmHWM:", &hwm}} {
			if rest, ok := bytes.CutPrefix(line, []byte(f.prefix)); ok {
				*f.v, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(string(rest)), " kB"), 10, 64)
			}
		}
	}
	return rss, hwm
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	if s := os.Getenv(name); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive integer", name, s)
		}
		return n
	}
	return def
}

func envFloat(t *testing.T, name string, def float64) float64 {
	t.Helper()
	if s := os.Getenv(name); s != "" {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f <= 0 {
			t.Fatalf("%s=%q: want a positive number", name, s)
		}
		return f
	}
	return def
}
