package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/clock"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/device"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/reports"
)

// FlowConfig configures RunFlows.
type FlowConfig struct {
	RunOptions
	// Client is a poll, ping or push client; its mode picks the scenario.
	Client *client.Client
	// Receiver gets the ping notifications (CIBA 10.2) or the pushed
	// tokens (CIBA 10.3); ping and push only.
	Receiver *client.NotificationReceiver
	// Device makes User approve after ApproveDelay; User must be one the
	// device holds pending until told (outcome "never").
	Device       device.Driver
	User         *target.User
	Scope        string
	ApproveDelay time.Duration
	// MaxInFlight caps concurrent flows; a flow due while all are busy is
	// dropped (counted). With a Max rate a new flow starts as one ends.
	MaxInFlight int
	// FlowTimeout bounds one flow (default ApproveDelay + 60 s).
	FlowTimeout time.Duration
}

// DefaultMaxFlowsInFlight caps concurrent flows when FlowConfig says nothing.
const DefaultMaxFlowsInFlight = 1000

func (cfg *FlowConfig) scenario() (Scenario, error) {
	if cfg.Client == nil {
		return "", errors.New("load: FlowConfig.Client is nil")
	}
	switch cfg.Client.Mode() {
	case ciba.ModePoll:
		return ScenarioFlowPoll, nil
	case ciba.ModePing:
		if cfg.Receiver == nil {
			return "", errors.New("load: a ping flow needs a notification receiver")
		}
		return ScenarioFlowPing, nil
	case ciba.ModePush:
		if cfg.Receiver == nil {
			return "", errors.New("load: a push flow needs a notification receiver")
		}
		return ScenarioFlowPush, nil
	}
	return "", fmt.Errorf("load: flows run with poll, ping or push clients, not %s", cfg.Client.Mode())
}

// RunFlows runs complete CIBA flows at the rate for the duration: a
// backchannel request (CIBA 7.1), the device's approval after
// ApproveDelay, then the tokens by polling at the OP's interval (CIBA 7.3,
// 10.1), on the ping (CIBA 10.2) or pushed by the OP (CIBA 10.3). Each flow is one result: latency end to
// end, and the approval-to-token time in HeaderApprovalToToken.
func RunFlows(ctx context.Context, cfg FlowConfig) (*reports.LoadRun, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	scenario, err := cfg.scenario()
	if err != nil {
		return nil, err
	}
	if cfg.Device == nil || cfg.User == nil {
		return nil, errors.New("load: flows need a device driver and a user to approve")
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxFlowsInFlight
	}
	if cfg.FlowTimeout <= 0 {
		cfg.FlowTimeout = cfg.ApproveDelay + time.Minute
	}
	if cfg.Scope == "" {
		cfg.Scope = "openid"
	}
	// Labelled with the scenario, as is every goroutine the run starts,
	// so that the CPU of modes running at once can be told apart
	// (cpu_attr.go).
	var sum *reports.LoadRun
	withScenarioLabel(ctx, scenario, func(ctx context.Context) { sum, err = cfg.run(ctx, scenario) })
	return sum, err
}

// run is RunFlows once its configuration is checked.
func (cfg FlowConfig) run(ctx context.Context, scenario Scenario) (*reports.LoadRun, error) {
	flowCtx, cancelFlows := context.WithCancel(ctx)
	defer cancelFlows()
	stopCh := make(chan struct{})
	var stopOnce sync.Once
	stop := func() { stopOnce.Do(func() { close(stopCh) }) }

	var enc vegeta.Encoder
	if cfg.Output != nil {
		enc = vegeta.NewEncoder(cfg.Output)
	}
	pacer := NewPacer(cfg.Rate, PacerOptions{End: cfg.Duration})
	var busyDropped atomic.Uint64
	col := &collector{
		opts: &cfg.RunOptions, rec: NewRecorder(scenario), enc: enc,
		stop:    stop,
		dropped: func() uint64 { return pacer.Dropped() + busyDropped.Load() },
	}
	name := AttackName(scenario, cfg.Shard, cfg.Rate, cfg.Duration, cfg.Info.Target)
	results := make(chan *vegeta.Result, 256)
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for res := range results {
			col.add(res)
		}
	}()

	cpu0, cpuOK := processCPU()
	conns0 := cfg.Conns.Counts()
	col.started = cfg.Clock.Now()
	done := make(chan struct{})
	wg := col.watch(ctx, done)
	// An interrupt or a breached threshold also ends the flows in flight.
	go func() {
		select {
		case <-stopCh:
			cancelFlows()
		case <-done:
		}
	}()

	slots := make(chan struct{}, cfg.MaxInFlight)
	var peak int
	var flows sync.WaitGroup
	var seq uint64
	for {
		elapsed := cfg.Clock.Now().Sub(col.started)
		if elapsed >= cfg.Duration {
			break
		}
		wait, stop := pacer.Pace(elapsed, seq+busyDropped.Load())
		if stop {
			break // the next flow is due at or after the end
		}
		if wait > 0 && !sleepOn(cfg.Clock, stopCh, min(wait, cfg.Duration-elapsed)) {
			break
		}
		if cfg.Clock.Now().Sub(col.started) >= cfg.Duration {
			break
		}
		acquired := false
		if cfg.Rate.Max {
			select {
			case slots <- struct{}{}:
				acquired = true
			case <-stopCh:
			}
		} else {
			select {
			case slots <- struct{}{}:
				acquired = true
			default:
				busyDropped.Add(1)
				continue
			}
		}
		if !acquired || isClosed(stopCh) || cfg.Clock.Now().Sub(col.started) >= cfg.Duration {
			// Stopped, or a Max-rate wait for a free slot ran past the end.
			if acquired {
				<-slots
			}
			break
		}
		peak = max(peak, len(slots))
		flows.Add(1)
		go func(seq uint64) {
			defer flows.Done()
			defer func() { <-slots }()
			res := cfg.one(flowCtx, name, seq)
			if flowCtx.Err() != nil && res.Code != http.StatusOK {
				return // cut short by the stop: not a measurement
			}
			results <- res
		}(seq)
		seq++
	}
	flows.Wait()
	close(results)
	<-collected
	elapsed := col.elapsed()
	close(done)
	wg.Wait()

	info := cfg.Info
	info.Rate, info.Planned, info.Elapsed = cfg.Rate, cfg.Duration, elapsed
	info.Thresholds = cfg.Thresholds
	info.Dropped = pacer.Dropped() + busyDropped.Load()
	if cfg.Rate.Max {
		info.Intended = seq
	} else {
		info.Intended = pacer.Intended(min(elapsed, cfg.Duration))
	}
	if cfg.Shard.Count > 1 {
		info.Shards = []string{cfg.Shard.String()}
	}
	info.CPU = cpuSince(cpu0, cpuOK, info.CPU)
	gen := &GeneratorSummary{MaxInFlight: cfg.MaxInFlight, PeakInFlight: uint64(peak),
		DroppedAtCap: busyDropped.Load(), DroppedLate: pacer.DroppedLate()}
	gen.setConns(cfg.Conns, conns0)
	info.Generator = gen
	col.mu.Lock()
	info.Aborted = col.aborted
	col.mu.Unlock()
	return col.rec.Summary(info), col.encodeEr
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// sleepOn waits d on clk; false when stop closed first.
func sleepOn(clk clock.Clock, stop <-chan struct{}, d time.Duration) bool {
	tick := make(chan struct{})
	t := clk.AfterFunc(d, func() { close(tick) })
	select {
	case <-tick:
		return true
	case <-stop:
		t.Stop()
		return false
	}
}

// one runs one flow and reports it as a result.
func (cfg *FlowConfig) one(ctx context.Context, name string, seq uint64) *vegeta.Result {
	ctx, cancel := context.WithTimeout(ctx, cfg.FlowTimeout)
	defer cancel()
	c := cfg.Client
	t0 := cfg.Clock.Now()
	res := &vegeta.Result{Attack: name, Seq: seq, Method: MethodFlow, URL: c.TokenEndpoint(), Timestamp: t0}
	fail := func(step string, ex *client.Exchange, err error) *vegeta.Result {
		res.Latency = cfg.Clock.Now().Sub(t0)
		res.Error = step + ": " + err.Error()
		if ex != nil {
			res.Code = uint16(ex.Status)
		}
		if oe := (*ciba.Error)(nil); errors.As(err, &oe) {
			res.Body, _ = json.Marshal(oe.Response())
		}
		return res
	}
	// The request lives as long as the flow may (CIBA 7.1 requested_expiry).
	p, err := AuthParamsFor(c, cfg.User, cfg.Scope, cfg.FlowTimeout)
	if err != nil {
		return fail("request", nil, err)
	}
	ack, ex, err := c.Authenticate(ctx, p)
	if err != nil {
		return fail("backchannel request", ex, err)
	}
	// Watched from the ack: the ping or push stays out of reach of a flood even
	// if it arrives before Wait below.
	cfg.Receiver.Watch(ack.AuthReqID)
	// Polling starts at once, as a real client's would (CIBA 7.3): the
	// user's approval then lands at a random phase of the interval.
	var pollDone chan polled
	if c.Mode() == ciba.ModePoll {
		pollDone = make(chan polled, 1)
		go func() {
			_, err := c.Poll(ctx, ack)
			pollDone <- polled{err: err, at: cfg.Clock.Now()}
		}()
	}
	if cfg.ApproveDelay > 0 {
		stop := make(chan struct{})
		go func() {
			<-ctx.Done()
			close(stop)
		}()
		if !sleepOn(cfg.Clock, stop, cfg.ApproveDelay) {
			return fail("approval delay", nil, ctx.Err())
		}
	}
	err = cfg.Device.Decide(ctx, device.Request{AuthReqID: ack.AuthReqID, User: cfg.User, ClientID: c.ClientID()}, device.ActionAllow)
	if err != nil {
		return fail("device approval", nil, err)
	}
	// Approval is taken as the moment the device reports it done (it has
	// called the OP back); a poll answered in between counts as 0.
	approved := cfg.Clock.Now()
	end, step, ex, err := cfg.tokens(ctx, ack.AuthReqID, p.ClientNotificationToken, pollDone)
	if err != nil {
		return fail(step, ex, err)
	}
	res.Code = http.StatusOK
	res.Latency = end.Sub(t0)
	res.Headers = http.Header{HeaderApprovalToToken: {strconv.FormatInt(int64(max(0, end.Sub(approved))), 10)}}
	return res
}

// polled is how a flow's polling ended.
type polled struct {
	err error
	at  time.Time
}

// tokens waits for the tokens of an approved request in the client's mode
// and returns when they were in hand, or the failed step and its error.
func (cfg *FlowConfig) tokens(ctx context.Context, authReqID, bearer string, pollDone <-chan polled) (time.Time, string, *client.Exchange, error) {
	switch cfg.Client.Mode() {
	case ciba.ModePing:
		if _, err := cfg.Receiver.Wait(ctx, authReqID); err != nil {
			return time.Time{}, "ping notification", nil, err
		}
		if _, ex, err := cfg.Client.Token(ctx, authReqID); err != nil {
			return time.Time{}, "token request", ex, err
		}
		return cfg.Clock.Now(), "", nil, nil
	case ciba.ModePush:
		n, err := cfg.Receiver.Wait(ctx, authReqID)
		if err != nil {
			return time.Time{}, "push delivery", nil, err
		}
		end := cfg.Clock.Now()
		if err := checkPush(n, authReqID, bearer); err != nil {
			return time.Time{}, "push delivery", nil, err
		}
		return end, "", nil, nil
	}
	p := <-pollDone
	if p.err != nil {
		return time.Time{}, "polling", nil, p.err
	}
	return p.at, "", nil, nil
}

// checkPush checks a push for the request authReqID: sent with the
// request's client_notification_token as bearer, and a token payload with
// the request's auth_req_id, an access token, its type and an ID token
// (CIBA 10.3.1). An error payload (CIBA 12) comes back as *ciba.Error, so
// it is counted with the OAuth errors of the other modes.
func checkPush(n client.Notification, authReqID, bearer string) error {
	if n.BearerToken != bearer {
		return errors.New("the push's bearer token is not the request's client_notification_token (CIBA 10.3)")
	}
	tok, perr, err := n.PushPayload()
	switch {
	case err != nil:
		return err
	case perr != nil:
		return &ciba.Error{Code: perr.Error, Description: perr.ErrorDescription}
	case tok.AuthReqID != authReqID:
		return errors.New("the token payload's auth_req_id is not the request's (CIBA 10.3.1)")
	case tok.AccessToken == "" || tok.TokenType == "" || tok.IDToken == "":
		return errors.New("the token payload lacks access_token, token_type or id_token (CIBA 10.3.1)")
	}
	return nil
}
