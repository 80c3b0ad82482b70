package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/internal/targetclient"
	"github.com/ciba-check/ciba-check/reports"
)

// Plan is what one load run does; `ciba-check load poll|flow` maps its
// flags to one and Run carries it out against a session.
type Plan struct {
	// Poll polls the token endpoint for pending requests (RunPoll);
	// otherwise whole flows run (RunFlows), one run per mode of Modes,
	// all at once.
	Poll  bool
	Modes []ciba.DeliveryMode

	// ClientID names the client; empty: the first client of the mode
	// whose authentication fits Auth (AuthAny, AuthMTLS, AuthSecret or a
	// method name).
	ClientID string
	Auth     string
	// User names the user; empty: targetclient.PendingUser.
	User string

	Rate     Rate
	Duration time.Duration
	// Pending is how many requests a poll run polls (before the shard's
	// split).
	Pending int
	// ApproveDelay is how long the user of a flow takes to approve.
	ApproveDelay time.Duration
	// MaxInFlight caps polls or flows in flight; 0 for a poll run sizes
	// it from the rate and a warm-up (DefaultMaxInFlight).
	MaxInFlight int
	// Transport shapes the HTTP clients (its MaxInFlight and Stats are
	// set by Run).
	Transport TransportOptions

	Shard       Shard
	Thresholds  []Threshold
	AbortOnFail bool
	KeepSecrets bool
	// StartAt holds the run until then (shards begin together).
	StartAt time.Time
	// Output is the results file (vegeta gob, mode 0600); with several
	// modes each gets "-MODE" before its extension (Suffixed).
	Output string

	// Log receives one-line notes (nil: quiet); Progress draws live state.
	Log      io.Writer
	Progress *Progress
	// IncludesTarget says the OP runs in this process (its CPU is in the
	// figures).
	IncludesTarget bool
}

// Choices of Plan.Auth besides a method name.
const (
	AuthAny    = "any"
	AuthMTLS   = "mtls"
	AuthSecret = "client_secret" // any of the three secret methods
)

// SessionOptions says what the plan needs of its session: flows need
// the device driver, ping and push flows the notification receivers.
func (p *Plan) SessionOptions(in io.Reader, out io.Writer) targetclient.SessionOptions {
	o := targetclient.SessionOptions{In: in, Out: out}
	if !p.Poll {
		o.Device = true
		for _, m := range p.Modes {
			o.Receivers = o.Receivers || m == ciba.ModePing || m == ciba.ModePush
		}
	}
	return o
}

// Run carries out the plan against s and returns one summary per run
// (poll: one; flows: one per mode, a nil entry for a run that failed).
// Nil summaries with an error: the run could not start (a client, user
// or device the target lacks, an output file), a target error.
func Run(ctx context.Context, s *targetclient.Session, p Plan) ([]*reports.LoadRun, error) {
	if p.Poll {
		sum, err := runPollPlan(ctx, s, &p)
		if sum == nil && err != nil {
			return nil, err
		}
		return []*reports.LoadRun{sum}, err
	}
	return runFlowPlan(ctx, s, &p)
}

func (p *Plan) logf(format string, args ...any) {
	if p.Log != nil {
		fmt.Fprintf(p.Log, format+"\n", args...)
	}
}

// pickClient returns the client named by ClientID, or the first client
// in mode whose authentication fits Auth. Push runs only outside FAPI
// (FAPI-CIBA 5.2.2-3 forbids push), with a push client.
func (p *Plan) pickClient(t *target.Target, mode ciba.DeliveryMode) (*target.Client, error) {
	if mode == ciba.ModePush && t.FAPI {
		return nil, errors.New("push flows need a CIBA Core OP, and this target is FAPI-CIBA, which forbids push (FAPI-CIBA 5.2.2-3): give --no-fapi for the embedded reference OP, or a target.yaml with fapi: false and a push client")
	}
	if p.ClientID != "" {
		tc, ok := t.Client(p.ClientID)
		if !ok {
			return nil, fmt.Errorf("--client %q is not in the target (clients: %s)", p.ClientID, clientIDs(t))
		}
		switch {
		case mode == ciba.ModePush && tc.Mode != ciba.ModePush:
			return nil, fmt.Errorf("--client %q is a %s client; --mode push needs a push client (clients: %s)", p.ClientID, tc.Mode, clientIDs(t))
		case mode != ciba.ModePush && tc.Mode != ciba.ModePoll && tc.Mode != ciba.ModePing:
			return nil, fmt.Errorf("--client %q is a %s client; load poll and poll or ping flows use poll or ping clients (push: load flow --mode push)", p.ClientID, tc.Mode)
		}
		return tc, nil
	}
	for i := range t.Clients {
		if tc := &t.Clients[i]; tc.Mode == mode && authMatches(p.Auth, tc.Auth) {
			return tc, nil
		}
	}
	if mode == ciba.ModePush {
		return nil, fmt.Errorf("the target has no push client with --auth %s (clients: %s): register one in target.yaml, or pick another --auth", p.Auth, clientIDs(t))
	}
	return nil, fmt.Errorf("the target has no %s client with --auth %s (clients: %s)", mode, p.Auth, clientIDs(t))
}

func clientIDs(t *target.Target) string {
	var ids []string
	for _, c := range t.Clients {
		ids = append(ids, c.ID+" ("+string(c.Mode)+", "+string(c.Auth)+")")
	}
	return strings.Join(ids, ", ")
}

// authMatches reports whether a client registered with m fits auth.
func authMatches(auth string, m ciba.AuthMethod) bool {
	switch auth {
	case AuthAny, "":
		return true
	case AuthMTLS:
		return m.UsesMTLS()
	case AuthSecret:
		return m.UsesSecret()
	}
	return string(m) == auth
}

// pickUser returns User or the target's pending user (CIBA: the request
// stays pending until the tool decides it).
func (p *Plan) pickUser(t *target.Target) (*target.User, error) {
	if p.User != "" {
		u, ok := t.User(p.User)
		if !ok {
			return nil, fmt.Errorf("--user %q is not in the target", p.User)
		}
		return u, nil
	}
	if u := targetclient.PendingUser(t); u != nil {
		return u, nil
	}
	return nil, errors.New("the target has no user with outcome never; name one whose requests stay pending with --user")
}

func scopeOf(tc *target.Client) string {
	if tc.Scope != "" {
		return tc.Scope
	}
	return "openid"
}

// transport is the plan's TransportOptions with a cap and stats.
func (p *Plan) transport(maxInFlight int, stats *ConnStats) TransportOptions {
	o := p.Transport
	o.MaxInFlight, o.Stats = maxInFlight, stats
	return o
}

// newClient builds the CIBA client of tc whose HTTP transport is the load
// generator's, counting its connections into stats.
func (p *Plan) newClient(s *targetclient.Session, tc *target.Client, stats *ConnStats) (*client.Client, client.Config, error) {
	cfg, err := s.Config(tc)
	if err != nil {
		return nil, cfg, fmt.Errorf("client %s: %w", tc.ID, err)
	}
	cfg.Transport = NewHTTPClient(cfg.RootCAs, cfg.TLSCert, p.transport(p.MaxInFlight, stats)).Transport
	cfg.RequestObjectLifetime, cfg.AssertionLifetime = RequestObjectLifetime, AssertionLifetime
	c, err := client.New(cfg)
	if err != nil {
		return nil, cfg, fmt.Errorf("client %s: %w", tc.ID, err)
	}
	return c, cfg, nil
}

// Lifetimes of what a load run signs. The OP remembers each request
// object's and client assertion's jti until its exp (CIBA 7.1.1, RFC 7523
// 3), so at hundreds a second its replay cache holds rate × lifetime of
// them: half a minute, not the conformance client's five minutes and one
// minute. Request objects are sent the moment they are signed; client
// assertions wait at most PoolSize's ten seconds of use in the pool, and
// one with less than AssertionMinRemaining left is discarded, not sent,
// so an OP whose clock runs ahead (or checks exp before a slow hop) still
// accepts it. Against the reference OP, in the soak (TestSoakServe), this
// cut the jtis held at the steady state from about 23,600 to 14,100.
const (
	RequestObjectLifetime = 30 * time.Second
	AssertionLifetime     = 30 * time.Second
	AssertionMinRemaining = 10 * time.Second
)

// waitStart holds the run until StartAt.
func (p *Plan) waitStart(ctx context.Context) error {
	d := time.Until(p.StartAt)
	if p.StartAt.IsZero() || d <= 0 {
		return nil
	}
	p.logf("waiting %s until %s", d.Round(time.Second), p.StartAt.Format(time.RFC3339))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (p *Plan) runOptions(s *targetclient.Session, clientID string, out io.Writer, conns *ConnStats) RunOptions {
	return RunOptions{
		Rate: p.Rate.Split(p.Shard.Count), Duration: p.Duration, Shard: p.Shard,
		Thresholds: p.Thresholds, AbortOnFail: p.AbortOnFail,
		Output: out, KeepSecrets: p.KeepSecrets, Conns: conns, Progress: p.Progress,
		Info: RunInfo{
			Target: s.Target.Issuer, ClientID: clientID,
			CPU: &reports.LoadCPU{IncludesTarget: p.IncludesTarget},
		},
	}
}
