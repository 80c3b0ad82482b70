package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/devenv"
	"github.com/ciba-check/ciba-check/reports"
	"github.com/ciba-check/ciba-check/suites/load"
)

func TestNewCmdLoadFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, o *LoadOptions)
		wantErr string
	}{
		{name: "poll defaults", args: []string{"poll"}, check: func(t *testing.T, o *LoadOptions) {
			if !o.Rate.Max || o.Pending != 500 || o.Duration != 30*time.Second || o.Shard.Count != 1 || o.Auth != authAny || o.Quiet ||
				o.MaxInFlight != 0 || o.MaxConns != 0 || o.MaxStreams != load.DefaultStreamsPerConn || o.MaxBody != load.DefaultMaxBody || o.KeepSecrets || o.SeqHeader {
				t.Fatalf("%+v", o)
			}
		}},
		{name: "poll all flags", args: []string{"poll", "--target", "t.yaml", "--rate", "2000/s", "--duration", "1m", "--pending", "50",
			"--workers", "8", "--threshold", "p(99)<50ms", "--threshold", "errors<0.001", "--abort-on-fail", "-q",
			"--output", "r.bin", "--json", "s.json", "--shard", "1/2", "--start-at", "2026-11-25T17:00:00Z",
			"--no-keepalive", "--http1", "--client", "poll-mtls"},
			check: func(t *testing.T, o *LoadOptions) {
				if o.Rate != (load.Rate{Freq: 2000, Per: time.Second}) || o.Duration != time.Minute || o.Pending != 50 || o.Workers != 8 || o.MaxInFlight != 8 ||
					len(o.Thresholds) != 2 || o.Thresholds[0].Percentile != 99 || !o.AbortOnFail || !o.Quiet ||
					o.Output != "r.bin" || o.JSONPath != "s.json" || o.Shard != (load.Shard{Index: 1, Count: 2}) ||
					!o.StartAt.Equal(time.Date(2026, 11, 25, 17, 0, 0, 0, time.UTC)) || !o.NoKeepAlive || !o.HTTP1 ||
					o.ClientID != "poll-mtls" || o.TargetPath != "t.yaml" {
					t.Fatalf("%+v", o)
				}
			}},
		{name: "poll caps and secrets", args: []string{"poll", "--rate", "8000/s", "--max-inflight", "64", "--max-conns", "2", "--max-streams", "32", "--max-body", "1024", "--keep-secrets", "--seq-header"},
			check: func(t *testing.T, o *LoadOptions) {
				if o.MaxInFlight != 64 || o.MaxConns != 2 || o.MaxStreams != 32 || o.MaxBody != 1024 || !o.KeepSecrets || !o.SeqHeader {
					t.Fatalf("%+v", o)
				}
			}},
		{name: "shard from JOB_COMPLETION_INDEX", args: []string{"poll", "--shard", "/3"}, env: map[string]string{"JOB_COMPLETION_INDEX": "2"},
			check: func(t *testing.T, o *LoadOptions) {
				if o.Shard != (load.Shard{Index: 2, Count: 3}) {
					t.Fatalf("shard %+v", o.Shard)
				}
			}},
		{name: "flow defaults", args: []string{"flow"}, check: func(t *testing.T, o *LoadOptions) {
			if o.Mode != flowModeBoth || o.Rate != (load.Rate{Freq: 10, Per: time.Second}) || o.ApproveDelay != 500*time.Millisecond || o.MaxInFlight != load.DefaultMaxFlowsInFlight || o.MaxBody != load.DefaultMaxBody || o.KeepSecrets {
				t.Fatalf("%+v", o)
			}
		}},
		{name: "flow ping", args: []string{"flow", "--mode", "ping", "--rate", "50/s", "--approve-delay", "2s"}, check: func(t *testing.T, o *LoadOptions) {
			if o.Mode != flowModePing || o.Rate.Freq != 50 || o.ApproveDelay != 2*time.Second {
				t.Fatalf("%+v", o)
			}
		}},
		{name: "merge", args: []string{"merge", "a.bin", "b.bin", "--threshold", "rate>10", "--json", "m.json"}, check: func(t *testing.T, o *LoadOptions) {
			if strings.Join(o.Inputs, ",") != "a.bin,b.bin" || len(o.Thresholds) != 1 || o.JSONPath != "m.json" {
				t.Fatalf("%+v", o)
			}
		}},
		{name: "bad rate", args: []string{"poll", "--rate", "fast"}, wantErr: "--rate"},
		{name: "bad threshold", args: []string{"poll", "--threshold", "p99 < soon"}, wantErr: "--threshold"},
		{name: "unknown aggregation", args: []string{"flow", "--threshold", "count>3"}, wantErr: "--threshold"},
		{name: "bad merge threshold", args: []string{"merge", "a.bin", "--threshold", "p(200)<1ms"}, wantErr: "--threshold"},
		{name: "bad shard", args: []string{"poll", "--shard", "2/2"}, wantErr: "--shard"},
		{name: "shard without index", args: []string{"poll", "--shard", "/2"}, wantErr: "JOB_COMPLETION_INDEX"},
		{name: "bad start", args: []string{"poll", "--start-at", "tomorrow"}, wantErr: "--start-at"},
		{name: "zero duration", args: []string{"poll", "--duration", "0s"}, wantErr: "--duration"},
		{name: "negative in-flight cap", args: []string{"poll", "--max-in-flight", "-1"}, wantErr: "--max-in-flight"},
		{name: "workers and cap disagree", args: []string{"poll", "--max-in-flight", "4", "--workers", "8"}, wantErr: "--workers"},
		{name: "zero body cap", args: []string{"flow", "--max-body", "0"}, wantErr: "--max-body"},
		{name: "negative connection cap", args: []string{"poll", "--max-conns", "-1"}, wantErr: "--max-conns"},
		{name: "no streams a connection", args: []string{"poll", "--max-streams", "0"}, wantErr: "--max-streams"},
		{name: "zero pending", args: []string{"poll", "--pending", "0"}, wantErr: "--pending"},
		{name: "more shards than pending", args: []string{"poll", "--pending", "2", "--shard", "0/3"}, wantErr: "fewer than"},
		{name: "bad auth", args: []string{"poll", "--auth", "secret"}, wantErr: "--auth"},
		{name: "flow push without FAPI", args: []string{"flow", "--mode", "push", "--no-fapi", "--auth", "client_secret"}, check: func(t *testing.T, o *LoadOptions) {
			if o.Mode != flowModePush || !o.NoFAPI || o.Auth != authSecret {
				t.Fatalf("%+v", o)
			}
		}},
		{name: "flow all against a target", args: []string{"flow", "--mode", "all", "--target", "t.yaml"}, check: func(t *testing.T, o *LoadOptions) {
			if o.Mode != flowModeAll || o.NoFAPI {
				t.Fatalf("%+v", o)
			}
		}},
		{name: "poll without FAPI", args: []string{"poll", "--no-fapi", "--auth", "client_secret_basic"}, check: func(t *testing.T, o *LoadOptions) {
			if !o.NoFAPI || o.Auth != string(ciba.AuthClientSecretBasic) {
				t.Fatalf("%+v", o)
			}
		}},
		{name: "bad mode", args: []string{"flow", "--mode", "fax"}, wantErr: "--mode"},
		// Push exists only outside FAPI (FAPI-CIBA 5.2.2-3): the embedded
		// OP is FAPI-CIBA unless --no-fapi.
		{name: "push under FAPI", args: []string{"flow", "--mode", "push"}, wantErr: "forbids push (FAPI-CIBA 5.2.2-3); add --no-fapi"},
		{name: "all under FAPI", args: []string{"flow", "--mode", "all"}, wantErr: "--mode all: the embedded reference OP is FAPI-CIBA"},
		{name: "no-fapi with target", args: []string{"flow", "--no-fapi", "--target", "t.yaml"}, wantErr: "set fapi: false in target.yaml"},
		{name: "client with all", args: []string{"flow", "--mode", "all", "--no-fapi", "--client", "push-pkjwt-es256"}, wantErr: "--client"},
		{name: "client with both", args: []string{"flow", "--client", "ping-mtls"}, wantErr: "--client"},
		{name: "merge without files", args: []string{"merge"}, wantErr: "requires at least 1 arg"},
		{name: "poll takes no args", args: []string{"poll", "extra"}, wantErr: "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(load.EnvJobCompletionIndex, tt.env[load.EnvJobCompletionIndex])
			ios, _, _, _ := TestStreams()
			var got *LoadOptions
			cmd := NewCmdLoad(&Factory{IO: ios}, func(_ context.Context, o *LoadOptions) error { got = o; return nil })
			err := executeFlags(t, cmd, tt.args, tt.wantErr)
			if tt.wantErr != "" {
				if tt.wantErr != "requires at least 1 arg" && tt.wantErr != "unknown command" {
					var ue *UsageError
					if !errors.As(err, &ue) {
						t.Fatalf("error %T %v is not a usage error (exit 2)", err, err)
					}
				}
				return
			}
			tt.check(t, got)
		})
	}
}

func TestLoadPollExitCodes(t *testing.T) {
	dir := t.TempDir()
	base := []string{"load", "poll", "--rate", "100/s", "--duration", "300ms", "--pending", "3", "--auth", "mtls"}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
		wantErr  string
	}{
		{name: "thresholds hold", args: []string{"--threshold", "errors==0", "--threshold", "p(99)<10s", "--output", filepath.Join(dir, "r.bin"), "--json", filepath.Join(dir, "s.json"), "--html", filepath.Join(dir, "poll.html")},
			wantCode: ExitOK, wantOut: []string{"scenario      poll (client poll-mtls)", "✓ errors==0", "✓ p(99)<10s", "oauth errors  slow_down×", "in flight     peak "},
			wantErr: "starting 3 pending requests"},
		{name: "threshold breached", args: []string{"-q", "--threshold", "rate>1000000"},
			wantCode: ExitFailed, wantOut: []string{"✗ rate>1000000"}},
		{name: "malformed threshold", args: []string{"--threshold", "p99<<5"}, wantCode: ExitUsage, wantErr: "--threshold"},
		{name: "missing target", args: []string{"--target", filepath.Join(dir, "nope.yaml")}, wantCode: ExitUsage, wantErr: "nope.yaml"},
		{name: "unknown client", args: []string{"-q", "--client", "nobody"}, wantCode: ExitUsage, wantErr: `--client "nobody" is not in the target`},
		// The embedded OP without FAPI has client-secret clients.
		{name: "secret client without FAPI", args: []string{"-q", "--no-fapi", "--auth", "client_secret_basic", "--threshold", "errors==0"},
			wantCode: ExitOK, wantOut: []string{"scenario      poll (client poll-secret-basic)", "✓ errors==0"}},
		{name: "no secret client under FAPI", args: []string{"-q", "--auth", "client_secret"}, wantCode: ExitUsage, wantErr: "the target has no poll client with --auth client_secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, out, errOut := TestStreams()
			code := Run(t.Context(), append(append([]string{}, base...), tt.args...), &Factory{IO: ios, Version: "test"})
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out, errOut)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Fatalf("stdout lacks %q:\n%s", w, out)
				}
			}
			if tt.wantErr != "" && !strings.Contains(errOut.String(), tt.wantErr) {
				t.Fatalf("stderr lacks %q:\n%s", tt.wantErr, errOut)
			}
		})
	}
	// The files of the first run: a v1 summary, and results vegeta reads.
	m := readLoadSummary(t, filepath.Join(dir, "s.json"))
	sum := &m.Load[0]
	if sum.Requests.Sent == 0 || !sum.Passed || sum.Target == "" || m.ToolVersion != "test" || sum.CPU == nil || !sum.CPU.IncludesTarget {
		t.Fatalf("summary %+v", sum)
	}
	if len(sum.Series) == 0 || len(sum.Histogram) == 0 {
		t.Fatalf("summary has %d series points and %d histogram bins", len(sum.Series), len(sum.Histogram))
	}
	// The in-flight cap was sized from warm-up polls; the attack's own
	// connections were counted.
	if g := sum.Generator; g == nil || g.WarmUpMS <= 0 || g.MaxInFlight < 64 || g.Connections == nil || g.Connections.Opened == 0 {
		t.Fatalf("generator %+v", sum.Generator)
	}
	if st, err := os.Stat(filepath.Join(dir, "r.bin")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("results file: %v, mode %v, want 0600", err, st.Mode().Perm())
	}
	assertOverTimeCharts(t, filepath.Join(dir, "poll.html"), 1)
	ios, _, out, errOut := TestStreams()
	if code := Run(t.Context(), []string{"load", "merge", filepath.Join(dir, "r.bin")}, &Factory{IO: ios}); code != ExitOK {
		t.Fatalf("merge of one run: exit %d\n%s%s", code, out, errOut)
	}
}

func TestLoadFlowModesSideBySide(t *testing.T) {
	tests := []struct {
		args    []string
		modes   []string
		compare string
	}{
		{args: []string{"--mode", "both"}, modes: []string{"poll", "ping"}, compare: "Poll vs ping"},
		// Push beside poll and ping: the embedded OP without FAPI.
		{args: []string{"--mode", "all", "--no-fapi"}, modes: []string{"poll", "ping", "push"}, compare: "Poll vs ping vs push"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.modes, "+"), func(t *testing.T) {
			dir := t.TempDir()
			ios, _, out, errOut := TestStreams()
			args := append([]string{"load", "flow", "--rate", "4/s", "--duration", "300ms",
				"--approve-delay", "0s", "-q", "--json", filepath.Join(dir, "s.json"), "--threshold", "errors==0",
				"--html", filepath.Join(dir, "load.html"), "--md", filepath.Join(dir, "load.md")}, tt.args...)
			code := Run(t.Context(), args, &Factory{IO: ios})
			if code != ExitOK {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			want := []string{"Approval→token p50", "✓ errors==0"}
			for _, mode := range tt.modes {
				want = append(want, "scenario      flow-"+mode)
			}
			for _, w := range append(want, tt.compare) {
				if !strings.Contains(out.String(), w) {
					t.Fatalf("stdout lacks %q:\n%s", w, out)
				}
			}
			var cpus []reports.LoadCPU
			var sum float64
			for _, mode := range tt.modes {
				run := readLoadSummary(t, filepath.Join(dir, "s-"+mode+".json")).Load[0]
				if run.Scenario != "flow-"+mode || run.Mode != mode || run.Requests.Sent == 0 || run.Requests.OK != run.Requests.Sent || run.ApprovalToTokenMS == nil {
					t.Fatalf("%s: scenario %s mode %s requests %+v approval-to-token %v", mode, run.Scenario, run.Mode, run.Requests, run.ApprovalToTokenMS)
				}
				if run.CPU == nil || run.CPU.Attribution != load.AttributionSampled || len(run.CPU.SharedWith) > 0 {
					t.Fatalf("%s: cpu %+v, want the mode's own figure (shared with none), sampled", mode, run.CPU)
				}
				cpus = append(cpus, *run.CPU)
				sum += run.CPU.Seconds
			}
			// Each mode's own CPU, of one process figure: not each mode
			// charged with the whole process.
			for _, c := range cpus {
				if p := cpus[0].ProcessSeconds; p <= 0 || c.ProcessSeconds != p || sum > p {
					t.Fatalf("cpu %+v: the modes' figures must sum to at most the process's", cpus)
				}
			}
			if !strings.Contains(out.String(), "this mode's own, sampled per mode; the process used") {
				t.Fatalf("stdout does not say the CPU figure is the mode's own:\n%s", out)
			}
			assertOverTimeCharts(t, filepath.Join(dir, "load.html"), len(tt.modes))
			// One report shows the modes side by side (issue: poll vs ping).
			for _, file := range []string{"load.html", "load.md"} {
				data, err := os.ReadFile(filepath.Join(dir, file))
				if err != nil {
					t.Fatal(err)
				}
				for _, mode := range tt.modes {
					if !strings.Contains(string(data), "flow-"+mode) {
						t.Errorf("%s does not show flow-%s:\n%.400s", file, mode, data)
					}
				}
			}
		})
	}
}

// TestLoadFlowPushNeedsAPushClient: a push run the target cannot serve
// is a target error (exit 2) saying why, not failed flows.
func TestLoadFlowPushNeedsAPushClient(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "no push client with the auth", args: []string{"--mode", "push", "--no-fapi", "--auth", "client_secret_post"}, wantErr: "the target has no push client with --auth client_secret_post"},
		{name: "named client is not push", args: []string{"--mode", "push", "--no-fapi", "--client", "ping-secret-post"}, wantErr: `--client "ping-secret-post" is a ping client; --mode push needs a push client`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, out, errOut := TestStreams()
			args := append([]string{"load", "flow", "--rate", "4/s", "--duration", "200ms", "-q"}, tt.args...)
			if code := Run(t.Context(), args, &Factory{IO: ios}); code != ExitUsage {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitUsage, out, errOut)
			}
			if !strings.Contains(errOut.String(), tt.wantErr) || strings.Count(strings.TrimSpace(errOut.String()), "\n") > 0 {
				t.Fatalf("stderr is not the one line %q:\n%s", tt.wantErr, errOut)
			}
		})
	}
}

// assertOverTimeCharts checks that the HTML report at path draws the
// latency-over-time, throughput-over-time and histogram charts of each of
// its runs load runs (reports/charts.go captions them so).
func assertOverTimeCharts(t *testing.T, path string, runs int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	html := string(data)
	for _, caption := range []string{
		"Latency over time (ms): p50 and p99 latency in ",
		"Throughput over time (per second): successful and unexpected answers per second in ",
		"Latency distribution (count per bin, ms): latency histogram in ",
	} {
		if n := strings.Count(html, caption); n != runs {
			t.Errorf("%s: %d charts %q, want one for each of %d runs", filepath.Base(path), n, caption, runs)
		}
	}
	if strings.Contains(html, "No time series was recorded") {
		t.Errorf("%s says a run has no time series", filepath.Base(path))
	}
}

// helperEnv makes the test binary act as ciba-check (TestLoadHelperProcess),
// so shard runs are separate processes as they are in a fleet.
const helperEnv = "CIBA_CHECK_LOAD_HELPER"

func TestLoadHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process for TestLoadShardsMergeAcrossProcesses")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Exit(Main(args, System()))
}

func TestLoadShardsMergeAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	env := startDevEnv(t, devenv.Options{})
	dir := t.TempDir()
	// Room for both subprocesses to start, discover and fill their pending
	// requests on a busy machine before the shared start.
	start := time.Now().Add(5 * time.Second).UTC().Format(time.RFC3339)
	var wg sync.WaitGroup
	outs := make([]bytes.Buffer, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestLoadHelperProcess$", "--",
				"load", "poll", "--target", env.TargetPath, "--client", "poll-pkjwt-es256", "--rate", "100/s", "--duration", "500ms",
				"--pending", "4", "--shard", "/2", "--start-at", start, "-q", "--output", filepath.Join(dir, "shard"+string(rune('0'+i))+".bin"))
			cmd.Env = append(os.Environ(), helperEnv+"=1", load.EnvJobCompletionIndex+"="+string(rune('0'+i)))
			cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
			errs[i] = cmd.Run()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("shard %d: %v\n%s", i, err, outs[i].String())
		}
		if !strings.Contains(outs[i].String(), "shards        "+string(rune('0'+i))+"/2") {
			t.Fatalf("shard %d output:\n%s", i, outs[i].String())
		}
	}
	ios, _, out, errOut := TestStreams()
	jsonPath := filepath.Join(dir, "merged.json")
	code := Run(t.Context(), []string{"load", "merge", filepath.Join(dir, "shard0.bin"), filepath.Join(dir, "shard1.bin"),
		"--threshold", "errors==0", "--json", jsonPath}, &Factory{IO: ios})
	if code != ExitOK {
		t.Fatalf("merge exit %d\n%s%s", code, out, errOut)
	}
	sum := readLoadSummary(t, jsonPath).Load[0]
	// Each shard polled at 50/s for 0.5 s: 2 × 25 intended, each sent or
	// dropped (a busy machine may drop some: that is accounting, not a
	// failure), none refused (unique jti prefixes: no assertion of one
	// shard replays another's).
	r := sum.Requests
	if strings.Join(sum.Shards, ",") != "0/2,1/2" || r.Intended != 50 || r.Sent+r.Dropped != r.Intended || r.Sent == 0 || r.Unexpected != 0 {
		t.Fatalf("merged %+v shards %v", sum.Requests, sum.Shards)
	}
	// The shards recorded their OP, so the merged report names it.
	if sum.Target != env.Issuer {
		t.Fatalf("merged target %q, want %q", sum.Target, env.Issuer)
	}
}

// TestLoadExitCodes: an interrupted load run exits 130 (documented next to
// k6's 105), not 0, whatever its thresholds said; its JSON says so.
func TestLoadExitCodes(t *testing.T) {
	tests := []struct {
		name    string
		aborted string
		passed  bool
		want    int
	}{
		{"held", "", true, ExitOK},
		{"threshold broke", "", false, ExitFailed},
		{"interrupted", load.AbortInterrupted, false, ExitInterrupted},
		{"aborted on a threshold", "threshold", false, ExitFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, _, errOut := TestStreams()
			path := filepath.Join(t.TempDir(), "summary.json")
			sum := &reports.LoadRun{Scenario: string(load.ScenarioPoll), Aborted: tt.aborted, Passed: tt.passed}
			err := finishRun(&LoadOptions{IO: s, Subcommand: "poll"}, []*reports.LoadRun{sum}, []string{path}, nil)
			if got := exitCode(err); got != tt.want {
				t.Fatalf("exit %d, want %d (%v)", got, tt.want, err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if tt.aborted == load.AbortInterrupted {
				if !strings.Contains(string(data), `"aborted": "interrupted"`) || !strings.Contains(string(data), `"passed": false`) {
					t.Errorf("JSON does not mark the interruption:\n%s", data)
				}
				if !strings.Contains(errOut.String(), "interrupted") {
					t.Errorf("stderr does not say why the exit code: %q", errOut)
				}
			}
		})
	}
}

// TestLoadHelpExplains: `load poll --help` and `load flow --help` carry the
// README's explanation, the exit codes and examples, as `run --help` does,
// not only a one-line description.
func TestLoadHelpExplains(t *testing.T) {
	tests := []struct {
		scenario string
		want     []string
	}{
		{"poll", []string{"authorization_pending and slow_down", "--pending", "dropped", "k6", "Without a threshold nothing is judged", "130 interrupted", "Examples:", "ciba-check load poll --rate max"}},
		{"flow", []string{"--approve-delay", "--mode", "approval-to-token", "--max-in-flight", "Without a threshold nothing is judged", "130 interrupted", "Examples:", "ciba-check load flow --mode both"}},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			code, out, errOut := runCLI(t, "load", tt.scenario, "--help")
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("load %s --help lacks %q:\n%s", tt.scenario, w, out)
				}
			}
			if strings.Count(out[:strings.Index(out, "Usage:")], "\n") < 10 {
				t.Errorf("load %s --help explains in fewer than 10 lines:\n%s", tt.scenario, out)
			}
		})
	}
}

// readLoadSummary reads a load summary (--json) into a report model.
func readLoadSummary(t *testing.T, path string) *reports.Model {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := reports.FromLoadJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
