package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/suites/load"
)

// LoadOptions are the inputs of `ciba-check load poll|flow|merge`.
type LoadOptions struct {
	IO      *IOStreams
	Version string
	// Getenv reads JOB_COMPLETION_INDEX for --shard /n (os.Getenv).
	Getenv func(string) string

	// Subcommand is "poll", "flow" or "merge" (not a load.Scenario:
	// flow runs the flow-poll, flow-ping or flow-push scenario).
	Subcommand string

	TargetPath string
	// NoFAPI starts the embedded reference OP as a plain CIBA Core OP
	// (fapi: false), with its push and client-secret clients.
	NoFAPI       bool
	ClientID     string
	Auth         string
	User         string
	Interval     int
	RateText     string
	Duration     time.Duration
	Pending      int
	Workers      int
	Mode         string
	ApproveDelay time.Duration
	MaxInFlight  int
	MaxConns     int
	MaxStreams   int
	MaxBody      int64
	KeepSecrets  bool
	SeqHeader    bool
	NoKeepAlive  bool
	HTTP1        bool
	Timeout      time.Duration

	ThresholdExprs []string
	AbortOnFail    bool
	Quiet          bool
	Output         string
	JSONPath       string
	HTMLPath       string
	MDPath         string
	ShardText      string
	StartAtText    string

	// Inputs are merge's results files.
	Inputs []string

	// Parsed from the text flags by the command.
	Rate       load.Rate
	Thresholds []load.Threshold
	Shard      load.Shard
	StartAt    time.Time
}

// Flow modes of `load flow --mode`.
const (
	flowModePoll = "poll"
	flowModePing = "ping"
	flowModePush = "push"
	flowModeBoth = "both" // poll and ping
	flowModeAll  = "all"  // poll, ping and push
)

// flowModes are the modes --mode names, in the order their runs and
// files come.
func flowModes(mode string) []ciba.DeliveryMode {
	switch mode {
	case flowModeBoth:
		return []ciba.DeliveryMode{ciba.ModePoll, ciba.ModePing}
	case flowModeAll:
		return []ciba.DeliveryMode{ciba.ModePoll, ciba.ModePing, ciba.ModePush}
	case "":
		return nil
	}
	return []ciba.DeliveryMode{ciba.DeliveryMode(mode)}
}

// Client authentication choices of --auth.
const (
	authAny    = load.AuthAny
	authJWT    = string(ciba.AuthPrivateKeyJWT)
	authMTLS   = load.AuthMTLS
	authSecret = load.AuthSecret // any of the three secret methods
)

// authChoices are the values of --auth besides any and mtls: a method
// name picks clients registered with exactly it.
var authChoices = []string{authJWT, authMTLS, authSecret, string(ciba.AuthClientSecretBasic), string(ciba.AuthClientSecretPost), string(ciba.AuthClientSecretJWT), authAny}

// NewCmdLoad builds `ciba-check load` and its subcommands. runF, when
// set, receives the checked options instead of running (flag tests).
func NewCmdLoad(f *Factory, runF func(context.Context, *LoadOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "load",
		Short: "Measure token-endpoint polling throughput and poll vs ping flow latency",
		Long: `Load-test an OP's CIBA token endpoint with vegeta (as a library).

  load poll    polls the token endpoint for pending requests whose user never
               answers, at --rate or as fast as the OP allows (--rate max)
  load flow    complete flows (request, approval after --approve-delay,
               tokens by polling, on the ping or pushed),
               --mode poll|ping|push|both|all
  load merge   merges the --output files of shards and applies thresholds

Without --target the embedded reference OP and mock device run in-process,
as FAPI-CIBA; --no-fapi makes it a plain CIBA Core OP with push and
client-secret clients.

Thresholds use k6's grammar: --threshold 'p(99)<50ms' --threshold
'errors<0.001' --threshold 'rate>1000' (avg, min, max, med, p(N) on latency;
rate = achieved polls or flows per second; errors = share of unexpected
answers). authorization_pending and slow_down are expected answers to a
poll, not errors. Exit codes: 0 thresholds held, 1 a threshold broke,
2 usage or target error (k6 exits 99 on a breached threshold; ciba-check
uses 1, like its other commands).`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newCmdLoadRun(f, "poll", runF), newCmdLoadRun(f, "flow", runF), newCmdLoadMerge(f, runF))
	return cmd
}

func newLoadOptions(f *Factory, subcommand string) *LoadOptions {
	return &LoadOptions{IO: f.IO, Version: f.Version, Getenv: os.Getenv, Subcommand: subcommand}
}

func newCmdLoadRun(f *Factory, subcommand string, runF func(context.Context, *LoadOptions) error) *cobra.Command {
	opts := newLoadOptions(f, subcommand)
	short, long, example := loadRunHelp(subcommand)
	cmd := &cobra.Command{
		Use: subcommand, Short: short, Long: long, Example: example,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.check(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runLoad(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	addLoadRunFlags(fl, opts)
	addLoadOutputFlags(fl, opts,
		"write every result vegeta-encoded (gob, mode 0600, token values redacted) to this file, for vegeta report/plot and load merge",
		"write the summary (schema ciba-check/load/v1) to this file")
	if subcommand == "poll" {
		addLoadPollFlags(fl, opts)
	} else {
		addLoadFlowFlags(fl, opts)
	}
	// --max-inflight is the spelling k6 users reach for.
	fl.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "max-inflight" {
			name = "max-in-flight"
		}
		return pflag.NormalizedName(name)
	})
	return cmd
}

// addLoadRunFlags adds the flags poll and flow share: the target, the
// client, the traffic and the run's control.
func addLoadRunFlags(fl *pflag.FlagSet, opts *LoadOptions) {
	fl.StringVar(&opts.TargetPath, "target", "", "target.yaml of the OP (default: the embedded reference OP)")
	fl.BoolVar(&opts.NoFAPI, "no-fapi", false, "run the embedded reference OP as plain CIBA Core (fapi: false): push and client-secret clients exist (not with --target: set fapi: false in target.yaml)")
	fl.StringVar(&opts.ClientID, "client", "", "client id from the target (default: the first suitable client)")
	fl.StringVar(&opts.Auth, "auth", authAny, "client authentication when --client is not given: private_key_jwt, mtls, client_secret (any secret method), client_secret_basic, client_secret_post, client_secret_jwt or any")
	fl.StringVar(&opts.User, "user", "", "test user whose requests stay pending until approved (default: the first with outcome never)")
	fl.IntVar(&opts.Interval, "interval", 1, "poll interval in seconds of the embedded OP (ignored with --target)")
	fl.StringVar(&opts.RateText, "rate", "", "requests (poll) or flows (flow) per time unit: 2000/s, 50/1m, or max")
	fl.DurationVar(&opts.Duration, "duration", 30*time.Second, "how long to run")
	fl.IntVar(&opts.MaxConns, "max-conns", 0, "maximum connections to the OP; requests beyond them wait for one (default: 4 with HTTP/2; with --http1 or --no-keepalive the in-flight cap, at most 64)")
	fl.IntVar(&opts.MaxStreams, "max-streams", load.DefaultStreamsPerConn, "maximum requests at once on one HTTP/2 connection, and never more than the OP allows (its SETTINGS_MAX_CONCURRENT_STREAMS, read over one connection before the run); requests beyond every connection's wait in the client for a stream")
	fl.Int64Var(&opts.MaxBody, "max-body", load.DefaultMaxBody, "maximum bytes of one answer's body; a longer answer counts as unexpected and is not read further")
	fl.BoolVar(&opts.KeepSecrets, "keep-secrets", false, "keep token values (access, refresh, ID tokens) in the --output file instead of redacting them")
	fl.BoolVar(&opts.NoKeepAlive, "no-keepalive", false, "make a new connection (TCP + TLS handshake) for every request")
	fl.BoolVar(&opts.HTTP1, "http1", false, "use HTTP/1.1 only (default: HTTP/2 when the OP offers it)")
	fl.DurationVar(&opts.Timeout, "timeout", 30*time.Second, "timeout of one request")
	fl.BoolVar(&opts.AbortOnFail, "abort-on-fail", false, "stop the run as soon as a threshold breaks (checked every second after 2s)")
	fl.BoolVarP(&opts.Quiet, "quiet", "q", false, "no live progress")
	fl.StringVar(&opts.ShardText, "shard", "", "run shard i of n (i/n, 0-based; /n takes i from JOB_COMPLETION_INDEX)")
	fl.StringVar(&opts.StartAtText, "start-at", "", "wait until this RFC 3339 time before starting, so shards begin together")
}

// addLoadOutputFlags adds the thresholds and the files a run or a merge
// writes.
func addLoadOutputFlags(fl *pflag.FlagSet, opts *LoadOptions, outputHelp, jsonHelp string) {
	fl.StringArrayVar(&opts.ThresholdExprs, "threshold", nil, "pass/fail criterion in k6 grammar, e.g. 'p(99)<50ms' (repeatable)")
	fl.StringVarP(&opts.Output, "output", "o", "", outputHelp)
	fl.StringVar(&opts.JSONPath, "json", "", jsonHelp)
	fl.StringVar(&opts.HTMLPath, "html", "", "write a self-contained HTML load report to this file")
	fl.StringVar(&opts.MDPath, "md", "", "write a Markdown summary to this file (appended to $GITHUB_STEP_SUMMARY anyway when that is set)")
}

func addLoadPollFlags(fl *pflag.FlagSet, opts *LoadOptions) {
	opts.RateText = "max"
	fl.Lookup("rate").DefValue = "max"
	fl.IntVar(&opts.Pending, "pending", 500, "pending authentication requests to poll (split across shards)")
	fl.IntVar(&opts.MaxInFlight, "max-in-flight", 0, "maximum polls in flight; a poll due while the cap is full is dropped (default: 32 for --rate max, else rate × max(4 × warm-up latency, 100ms) within [64, 4096])")
	fl.IntVar(&opts.Workers, "workers", 0, "")
	_ = fl.MarkDeprecated("workers", "use --max-in-flight")
	fl.BoolVar(&opts.SeqHeader, "seq-header", false, "send vegeta's X-Vegeta-Seq header on every poll (unique per request, so HTTP/2 header compression cannot index it)")
}

func addLoadFlowFlags(fl *pflag.FlagSet, opts *LoadOptions) {
	opts.RateText = "10/s"
	fl.Lookup("rate").DefValue = "10/s"
	fl.StringVar(&opts.Mode, "mode", flowModeBoth, "token delivery: poll, ping, push (needs --no-fapi or a fapi: false target), both (poll and ping side by side) or all (poll, ping and push)")
	fl.DurationVar(&opts.ApproveDelay, "approve-delay", 500*time.Millisecond, "how long the user takes to approve on the device")
	fl.IntVar(&opts.MaxInFlight, "max-in-flight", load.DefaultMaxFlowsInFlight, "maximum concurrent flows; flows due beyond it are dropped")
}

func newCmdLoadMerge(f *Factory, runF func(context.Context, *LoadOptions) error) *cobra.Command {
	opts := newLoadOptions(f, "merge")
	cmd := &cobra.Command{
		Use:   "merge FILE...",
		Short: "Merge the results files of shards into one report and apply thresholds",
		Long: `Merge re-reads the raw results (--output files) of every shard and reports
them as one run. Thresholds are evaluated on the merged figures, not per
shard.`,
		Example: `  ciba-check load merge results/*.bin --threshold 'p(99)<50ms' --json summary.json`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Inputs = args
			if err := opts.check(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runLoadMerge(opts)
		},
	}
	addLoadOutputFlags(cmd.Flags(), opts,
		"also write all results, merged, to this file (gob, mode 0600)",
		"write the merged summary (schema ciba-check/load/v1) to this file")
	return cmd
}

// check parses and validates the flags; every problem is a usage error.
func (o *LoadOptions) check() error {
	name := "load " + o.Subcommand
	var err error
	if o.Thresholds, err = load.ParseThresholds(o.ThresholdExprs); err != nil {
		return usageErrorf("%s: --threshold: %v", name, err)
	}
	if o.Subcommand == "merge" {
		return nil
	}
	// The flags of both first: checkPoll reads the parsed --shard.
	checkMode := o.checkFlow
	if o.Subcommand == "poll" {
		checkMode = o.checkPoll
	}
	for _, check := range []func() error{o.checkRun, checkMode} {
		if err := check(); err != nil {
			return usageErrorf("%s: %v", name, err)
		}
	}
	return nil
}

// checkRun checks the flags poll and flow share.
func (o *LoadOptions) checkRun() error {
	var err error
	if o.Rate, err = load.ParseRate(o.RateText); err != nil {
		return fmt.Errorf("--rate: %v", err)
	}
	switch {
	case o.Duration <= 0:
		return fmt.Errorf("--duration must be positive, got %v", o.Duration)
	case o.Workers < 0:
		return fmt.Errorf("--workers must be >= 0, got %d", o.Workers)
	case o.MaxConns < 0:
		return fmt.Errorf("--max-conns must be >= 0, got %d", o.MaxConns)
	case o.MaxStreams < 1:
		return fmt.Errorf("--max-streams must be at least 1, got %d", o.MaxStreams)
	case o.MaxBody < 1:
		return fmt.Errorf("--max-body must be at least 1 byte, got %d", o.MaxBody)
	case o.Timeout <= 0:
		return fmt.Errorf("--timeout must be positive, got %v", o.Timeout)
	case o.Interval < 1:
		return fmt.Errorf("--interval must be a whole number of seconds >= 1, got %d", o.Interval)
	case !slices.Contains(authChoices, o.Auth):
		return fmt.Errorf("--auth %q: want one of %s", o.Auth, strings.Join(authChoices, ", "))
	case o.NoFAPI && o.TargetPath != "":
		return errors.New("--no-fapi applies only to the embedded reference OP; with --target, set fapi: false in target.yaml")
	}
	if o.Shard, err = load.ParseShard(o.ShardText, o.Getenv); err != nil {
		return fmt.Errorf("--shard: %v", err)
	}
	if o.StartAtText != "" {
		if o.StartAt, err = time.Parse(time.RFC3339, o.StartAtText); err != nil {
			return fmt.Errorf("--start-at %q is not an RFC 3339 time such as 2026-11-25T17:00:00Z", o.StartAtText)
		}
	}
	return nil
}

func (o *LoadOptions) checkPoll() error {
	switch {
	case o.Pending < 1:
		return fmt.Errorf("--pending must be >= 1, got %d", o.Pending)
	case o.Shard.Count > o.Pending:
		return fmt.Errorf("--pending %d is fewer than the %d shards", o.Pending, o.Shard.Count)
	case o.MaxInFlight < 0:
		return fmt.Errorf("--max-in-flight must be >= 0 (0: derived from the rate), got %d", o.MaxInFlight)
	case o.Workers > 0 && o.MaxInFlight > 0 && o.Workers != o.MaxInFlight:
		return errors.New("--workers (deprecated) and --max-in-flight disagree; give --max-in-flight only")
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = o.Workers
	}
	return nil
}

func (o *LoadOptions) checkFlow() error {
	switch o.Mode {
	case flowModePoll, flowModePing, flowModePush, flowModeBoth, flowModeAll:
	default:
		return fmt.Errorf("--mode %q: want poll, ping, push, both or all", o.Mode)
	}
	switch {
	case o.ApproveDelay < 0:
		return errors.New("--approve-delay must not be negative")
	case o.MaxInFlight < 1:
		return fmt.Errorf("--max-in-flight must be >= 1, got %d", o.MaxInFlight)
	case (o.Mode == flowModeBoth || o.Mode == flowModeAll) && o.ClientID != "":
		return errors.New("--client picks one client; use it with --mode poll, ping or push")
	case slices.Contains(flowModes(o.Mode), ciba.ModePush) && o.TargetPath == "" && !o.NoFAPI:
		return fmt.Errorf("--mode %s: the embedded reference OP is FAPI-CIBA, which forbids push (FAPI-CIBA 5.2.2-3); add --no-fapi", o.Mode)
	}
	return nil
}
