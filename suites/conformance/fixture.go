package conformance

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/device"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/internal/targetclient"
)

// AnyMode and AnyAuth match every client in Fixture.Client.
const (
	AnyMode ciba.DeliveryMode = ""
	AnyAuth ciba.AuthMethod   = ""
)

// Fixture is one check's world: fresh clients built from the target, the
// device driver, the notification receivers, and helpers that fail the
// check with expected-versus-got and the quoted exchange.
type Fixture struct {
	env     *Env
	ctx     context.Context
	clients map[string]*client.Client
	// should is set for checks decorated Should (and Cert, outside the
	// certification profile): an unmet expectation is then a warning
	// (see Failf).
	should bool
	// basis is the check's level, duty and quoted sentence, printed
	// under every failure and warning.
	basis string
	// certFails is set under the certification profile: a CERT-level
	// expectation then fails (ExpectCert).
	certFails bool
	// deadline is when the check times out (its NodeTimeout): Ginkgo's
	// spec context does not always carry it.
	deadline time.Time
	// runDeadline is when the run ends (zero: never), set as runLimit
	// says.
	runDeadline time.Time
	runLimit    string
	// claimsFlow is set by checks whose claim is the flow itself
	// (ClaimFlow): there a refused valid request or a missing token is
	// the failure; elsewhere it is a preparation failure, a skip.
	claimsFlow bool
	// rec, when set, records how the check ends instead of telling
	// Ginkgo: the check runs ahead of Ginkgo in a worker of the
	// parallel scheduler, and its spec replays the record (schedule.go).
	rec *recorder
	// run is the run's shared state (shared flows, user leases); nil
	// outside Run.
	run *runState
	// worker is set for a check running in a scheduler worker: it gives
	// up (and Ginkgo runs it later) rather than wait for a test user
	// while holding another.
	worker bool
	// leased are the test users this check holds (released at cleanup).
	leased []*target.User
}

// TimeLeft is how long the running check may still take before it times
// out.
func (f *Fixture) TimeLeft() time.Duration {
	left := time.Until(f.deadline)
	if dl, ok := f.ctx.Deadline(); ok && time.Until(dl) < left {
		left = time.Until(dl)
	}
	return left
}

// ClaimFlow marks the running check as one whose claim is the whole
// flow (acknowledgement, approval, tokens): Start and Tokens then fail it
// when the OP refuses the valid request or withholds the tokens. In every
// other check that is preparation failing for a reason outside its
// claim, and the check is skipped with the reason, never failed.
func (f *Fixture) ClaimFlow() { f.claimsFlow = true }

// preparationFailed ends a check whose preparation (a valid request it
// builds on) did not succeed: undetermined without a response, a failure
// in a check that claims the flow, else a skip with the reason.
func (f *Fixture) preparationFailed(ex *client.Exchange, err error, format string, args ...any) {
	ginkgo.GinkgoHelper()
	if err != nil && !hadResponse(ex) && !errors.Is(err, errNoNotification) {
		f.Undetermined(ex, format+": %v", append(args, err)...)
	}
	if f.claimsFlow {
		f.Failf(ex, format+": %v", append(args, err)...)
	}
	msg := PreparationFailed + fmt.Sprintf(format+": %v", append(args, err)...)
	if ex != nil {
		msg += "\n" + quote(ex)
	}
	f.skip(msg)
}

// errNoNotification is the ping that did not come: the OP's doing, not a
// transport failure of the tool.
var errNoNotification = errors.New("no ping notification for the request arrived")

// PreparationFailed starts the skip reason of a check whose valid
// preparation the OP refused (the flow checks report that refusal).
const PreparationFailed = "preparation failed: "

func newFixture(env *Env) *Fixture {
	return &Fixture{env: env, ctx: context.Background(), clients: map[string]*client.Client{}}
}

func (f *Fixture) cleanup() {
	if f.run != nil {
		f.run.leases.release(f.leased)
	}
	f.leased = nil
	for _, c := range f.clients {
		c.CloseIdleConnections()
	}
	f.clients = nil
}

// Env is the run's shared environment.
func (f *Fixture) Env() *Env { return f.env }

// Metadata is the OP's discovery document (with target.yaml overrides).
func (f *Fixture) Metadata() *ciba.ProviderMetadata { return f.env.Metadata }

// Skipf skips the check with a reason: the target cannot exercise it.
func (f *Fixture) Skipf(format string, args ...any) {
	ginkgo.GinkgoHelper()
	f.skip(fmt.Sprintf(format, args...))
}

// Failf fails the check; ex, when not nil, is quoted below the message.
// In a check decorated Should it records the message as a warning
// instead and ends the check there (outcome "warning").
func (f *Fixture) Failf(ex *client.Exchange, format string, args ...any) {
	ginkgo.GinkgoHelper()
	f.failf(Detail{}, ex, format, args...)
}

// failf is Failf recording d (expected, got) and ex as the structured
// evidence beside the message.
func (f *Fixture) failf(d Detail, ex *client.Exchange, format string, args ...any) {
	ginkgo.GinkgoHelper()
	msg := f.expectationMessage(ex, format, args...)
	d.Warning = f.should
	f.detail(d, ex)
	if f.should {
		f.warn(msg)
		panic(warningStop{})
	}
	f.fail(msg)
}

// ExpectShould records a warning and lets the check go on unless ok: a
// SHOULD-level expectation inside a check whose other expectations are
// MUSTs (e.g. expires_in beside token_type Bearer). The check's outcome
// is then "warning" unless a MUST expectation fails it.
func (f *Fixture) ExpectShould(ok bool, ex *client.Exchange, format string, args ...any) {
	ginkgo.GinkgoHelper()
	if !ok {
		msg := f.expectationMessage(ex, format, args...)
		f.detail(Detail{Warning: true}, ex)
		f.warn(msg)
	}
}

// ExpectCert is an expectation that only the OIDF certification suite
// demands, inside a check of a higher level: a failure under --profile
// oidf-cert, a warning otherwise.
func (f *Fixture) ExpectCert(ok bool, ex *client.Exchange, format string, args ...any) {
	ginkgo.GinkgoHelper()
	if f.certFails {
		f.Expect(ok, ex, format, args...)
		return
	}
	f.ExpectShould(ok, ex, CertWarning+format, args...)
}

// CertWarning starts the message of a warning that only the OIDF
// certification suite's demand raised (ExpectCert): a spec-compliant OP
// may get it.
const CertWarning = "CERT (OIDF certification only): "

// WarningEntry names the Ginkgo report entries that carry warnings; a
// passed spec with one has the outcome "warning".
const WarningEntry = "ciba-check/warning"

// expectationMessage is the message of an unmet expectation, with ex
// quoted below it. An exchange without any response aborts the run when
// the OP is gone.
func (f *Fixture) expectationMessage(ex *client.Exchange, format string, args ...any) string {
	ginkgo.GinkgoHelper()
	msg := fmt.Sprintf(format, args...)
	if f.basis != "" {
		msg += "\n" + f.basis
	}
	if ex != nil {
		if ex.Status == 0 && !f.runDeadline.IsZero() && !time.Now().Before(f.runDeadline) {
			// No answer because the run ran out of time: nothing the OP
			// can be judged by.
			f.skip(DeadlineReached + f.runLimit + " while this check waited: " + msg + "\n" + quote(ex))
		}
		if ex.Status == 0 && f.env != nil {
			if err := f.env.probe(f.ctx); err != nil {
				// Nothing after this can pass or fail for a reason
				// about the OP: stop the run (reported as exit 2).
				f.abort(err.Error())
			}
		}
		msg += "\n" + quote(ex)
	}
	return msg
}

// EnsureReachable aborts the run when the OP can no longer be reached,
// so that a refusal a check expects (a failed TLS handshake) is never
// mistaken for a vanished target.
func (f *Fixture) EnsureReachable() {
	ginkgo.GinkgoHelper()
	if err := f.env.probe(f.ctx); err != nil {
		f.abort(err.Error())
	}
}

// Expect fails the check with the message unless ok.
func (f *Fixture) Expect(ok bool, ex *client.Exchange, format string, args ...any) {
	ginkgo.GinkgoHelper()
	if !ok {
		f.Failf(ex, format, args...)
	}
}

// Undetermined ends the check as skipped with "could not determine" and
// the reason: the OP gave no answer the sentence under test can be judged
// by (a timeout, a reset, a name mismatch or another transport error). It
// is never a pass, and never the OP's failure; when the OP is gone
// altogether, the run stops instead (exit 2).
func (f *Fixture) Undetermined(ex *client.Exchange, format string, args ...any) {
	ginkgo.GinkgoHelper()
	if f.env != nil {
		if err := f.env.probe(f.ctx); err != nil {
			f.abort(err.Error())
		}
	}
	msg := CouldNotDetermine + fmt.Sprintf(format, args...)
	if ex != nil {
		msg += "\n" + quote(ex)
	}
	f.skip(msg)
}

// CouldNotDetermine starts the skip reason of a check whose answer could
// not be judged.
const CouldNotDetermine = "could not determine: "

// ControlRefused starts the skip reason of a negative check whose
// positive control failed.
const ControlRefused = "the OP refused the valid request too: "

// Control is the positive control of a negative check: the same client
// making the same request, valid. Unless ok (the valid request
// succeeded), the check is skipped with "the OP refused the valid request
// too", never passed: a refusal of the bad request then proves nothing.
func (f *Fixture) Control(ok bool, ex *client.Exchange, format string, args ...any) {
	ginkgo.GinkgoHelper()
	if ok {
		return
	}
	msg := ControlRefused + fmt.Sprintf(format, args...)
	if ex != nil {
		msg += "\n" + quote(ex)
	}
	f.skip(msg)
}

// ControlAck is Control for a backchannel request: it sends p for c
// (with opts) and skips the check unless the OP acknowledges it. The
// acknowledged request is left to expire.
func (f *Fixture) ControlAck(c *client.Client, p client.AuthParams, opts ...client.CallOption) *ciba.AuthenticationResponse {
	ginkgo.GinkgoHelper()
	ack, ex, err := c.Authenticate(f.ctx, p, opts...)
	if err == nil && !hadResponse(ex) {
		err = errors.New("no response")
	}
	f.Control(err == nil && ack != nil && ack.AuthReqID != "", ex, "the valid backchannel request of %s was not acknowledged: %v", c.ClientID(), err)
	return ack
}

// clientFor returns the (cached) client registered as tc.
func (f *Fixture) clientFor(tc *target.Client) *client.Client {
	ginkgo.GinkgoHelper()
	if c, ok := f.clients[tc.ID]; ok {
		return c
	}
	cfgClient, err := newTargetClient(f.env, tc)
	if err != nil {
		f.fail(fmt.Sprintf("building client %q from target.yaml: %v", tc.ID, err))
	}
	f.clients[tc.ID] = cfgClient
	return cfgClient
}

// modePreference orders clients for AnyMode: poll first (the simplest
// flow), then ping; push only when asked for by name.
func modeRank(m ciba.DeliveryMode) int {
	switch m {
	case ciba.ModePoll:
		return 0
	case ciba.ModePing:
		return 1
	}
	return 2
}

// Clients returns every registered client matching mode and auth (Any*
// match all; AnyMode leaves push clients out), poll clients first.
func (f *Fixture) Clients(mode ciba.DeliveryMode, auth ciba.AuthMethod) []*target.Client {
	return clientsOf(f.env.Target, mode, auth)
}

// clientsOf is Clients for target t.
func clientsOf(t *target.Target, mode ciba.DeliveryMode, auth ciba.AuthMethod) []*target.Client {
	var out []*target.Client
	for i := range t.Clients {
		tc := &t.Clients[i]
		if mode == AnyMode && tc.Mode == ciba.ModePush {
			continue
		}
		if (mode == AnyMode || tc.Mode == mode) && (auth == AnyAuth || tc.Auth == auth) {
			out = append(out, tc)
		}
	}
	slices.SortStableFunc(out, func(a, b *target.Client) int { return modeRank(a.Mode) - modeRank(b.Mode) })
	return out
}

// Client returns a client registered with mode and auth, or skips the
// check when the target has none.
func (f *Fixture) Client(mode ciba.DeliveryMode, auth ciba.AuthMethod) *client.Client {
	ginkgo.GinkgoHelper()
	cs := f.Clients(mode, auth)
	if len(cs) == 0 {
		f.Skipf("target.yaml has no client with mode %s and auth %s", orAny(string(mode)), orAny(string(auth)))
	}
	return f.clientFor(cs[0])
}

// ClientWhere returns the first client (poll first) for which ok holds,
// or skips with "target.yaml has no <what>".
func (f *Fixture) ClientWhere(what string, ok func(*target.Client) bool) *client.Client {
	ginkgo.GinkgoHelper()
	for _, tc := range f.Clients(AnyMode, AnyAuth) {
		if ok(tc) {
			return f.clientFor(tc)
		}
	}
	f.Skipf("target.yaml has no %s", what)
	return nil
}

// OtherClient returns a second client, other than c; with sameAuth its
// authentication method must be c's (CIBA.md pitfall 7: the mix-up
// probes need two clients).
func (f *Fixture) OtherClient(c *client.Client, sameAuth bool) *client.Client {
	ginkgo.GinkgoHelper()
	for _, tc := range f.Clients(AnyMode, AnyAuth) {
		if tc.ID == c.ClientID() || (sameAuth && tc.Auth != c.AuthMethod()) {
			continue
		}
		return f.clientFor(tc)
	}
	if sameAuth {
		f.Skipf("target.yaml has no second client with auth %s", c.AuthMethod())
	}
	f.Skipf("target.yaml has only one client")
	return nil
}

// TargetClient is c's entry in target.yaml.
func (f *Fixture) TargetClient(c *client.Client) *target.Client {
	tc, _ := f.env.Target.Client(c.ClientID())
	return tc
}

// SigningKey is the private signing key of client c (for probes that sign
// with another client's key).
func (f *Fixture) SigningKey(c *client.Client) jose.JSONWebKey {
	ginkgo.GinkgoHelper()
	k, err := f.TargetClient(c).LoadSigningKey()
	if err != nil {
		f.fail(err.Error())
	}
	return k
}

// TLSCert is client c's TLS certificate, or skips when it has none.
func (f *Fixture) TLSCert(c *client.Client) *tls.Certificate {
	ginkgo.GinkgoHelper()
	cert, err := f.TargetClient(c).LoadTLSCertificate()
	if err != nil {
		f.fail(err.Error())
	}
	if cert == nil {
		f.Skipf("client %s has no TLS certificate in target.yaml", c.ClientID())
	}
	return cert
}

func orAny(s string) string {
	if s == "" {
		return "any"
	}
	return s
}

func outcomeOf(u *target.User) ciba.Outcome {
	if u.Outcome == "" {
		return ciba.OutcomeApprove
	}
	return u.Outcome
}

// UserFor returns a user the driver can make take action, or skips.
// Users whose device never answers by itself are preferred when the
// driver can hold requests and decide them on demand; then users whose
// scripted outcome is the action (without delay first); then, with
// drivers that only act when told, any user. In a parallel run the check
// is given a free peer of that user (lease).
func (f *Fixture) UserFor(action device.Action) *target.User {
	ginkgo.GinkgoHelper()
	u, reason := userFor(f.env, action)
	if u == nil {
		f.Skipf("%s", reason)
	}
	return f.lease(u)
}

// userFor is UserFor's choice without a fixture: the user, or nil and why
// not.
func userFor(env *Env, action device.Action) (*target.User, string) {
	caps := env.Driver.Capabilities()
	if (action == device.ActionAllow && !caps.Approve) || (action == device.ActionDeny && !caps.Deny) {
		return nil, fmt.Sprintf("the %s device driver cannot make a user %s", env.Driver.Kind(), action)
	}
	users := env.Target.Users
	if caps.Hold {
		for i := range users {
			if outcomeOf(&users[i]) == ciba.OutcomeNever {
				return &users[i], ""
			}
		}
	}
	want := ciba.OutcomeApprove
	if action == device.ActionDeny {
		want = ciba.OutcomeDeny
	}
	var delayed *target.User
	for i := range users {
		if outcomeOf(&users[i]) == want {
			if users[i].Delay == 0 {
				return &users[i], ""
			}
			if delayed == nil {
				delayed = &users[i]
			}
		}
	}
	if delayed != nil {
		return delayed, ""
	}
	if !caps.FollowsUserOutcomes && len(users) > 0 {
		return &users[0], ""
	}
	return nil, fmt.Sprintf("target.yaml has no user the %s driver can make %s", env.Driver.Kind(), action)
}

// PendingUser returns a user whose request stays pending until the
// driver acts or it expires, or skips.
func (f *Fixture) PendingUser() *target.User {
	ginkgo.GinkgoHelper()
	if u := targetclient.PendingUser(f.env.Target); u != nil {
		return f.lease(u)
	}
	users := f.env.Target.Users
	if !f.env.Driver.Capabilities().FollowsUserOutcomes && len(users) > 0 {
		return f.lease(&users[0])
	}
	f.Skipf("target.yaml has no user whose request stays pending (outcome: never)")
	return nil
}

// PendingUserOrAny is the user for requests whose outcome does not
// matter (refused probes, acknowledgement checks): a pending one when the
// target has one, so an OP that wrongly accepts starts nothing, else the
// first user.
func (f *Fixture) PendingUserOrAny() *target.User {
	ginkgo.GinkgoHelper()
	return f.lease(PreflightUser(f.env.Target))
}

// Params is a valid authentication request of c for user u: the client's
// scope, the user's hint, binding_message "1234" as the OIDF suite sends
// (FAPI-CIBA 5.2.2-2), the user's user_code only when the client
// registered backchannel_user_code_parameter (CIBA 7.1: it "should only be
// present if the client registration parameter
// backchannel_user_code_parameter indicates support"), and for ping and
// push clients a fresh client_notification_token of 192 bits (CIBA 7.1).
func (f *Fixture) Params(c *client.Client, u *target.User) client.AuthParams {
	ginkgo.GinkgoHelper()
	p, err := validParams(c, f.TargetClient(c), u)
	if err != nil {
		f.fail(err.Error())
	}
	return p
}

// validParams is Params for client c, registered as tc (nil: defaults),
// and user u, with an error instead of a failed check (the preflight
// sends it before any check runs).
func validParams(c *client.Client, tc *target.Client, u *target.User) (client.AuthParams, error) {
	scope := "openid"
	if tc != nil && tc.Scope != "" {
		scope = tc.Scope
	}
	param, hint := u.Hint()
	p := withHint(client.AuthParams{Scope: scope, BindingMessage: "1234"}, param, hint)
	if u.UserCode != "" && tc != nil && tc.UserCodeParameter {
		p.UserCode = u.UserCode
	}
	if c.Mode() != ciba.ModePoll {
		tok, err := c.NewJTI()
		if err != nil {
			return p, err
		}
		p.ClientNotificationToken = tok
	}
	return p, nil
}

// Start sends a backchannel request and fails the check unless the OP
// acknowledges it (CIBA 7.3).
func (f *Fixture) Start(c *client.Client, p client.AuthParams, opts ...client.CallOption) *ciba.AuthenticationResponse {
	ginkgo.GinkgoHelper()
	ack, ex, err := c.Authenticate(f.ctx, p, opts...)
	if err != nil {
		f.preparationFailed(ex, err, "expected the valid backchannel request of %s to be acknowledged (CIBA 7.3)", c.ClientID())
	}
	if ack.AuthReqID == "" {
		f.Failf(ex, "expected an auth_req_id in the acknowledgement (CIBA 7.3), got none")
	}
	// Watched from the ack: its ping or push stays out of reach of a
	// flood even if it arrives before the check waits for it.
	f.env.Receivers.For(c.ClientID()).Watch(ack.AuthReqID)
	return ack
}

// Decide makes the user approve or deny the request through the driver;
// it skips when the driver cannot and fails when the device errs.
func (f *Fixture) Decide(c *client.Client, ack *ciba.AuthenticationResponse, u *target.User, p client.AuthParams, action device.Action) {
	ginkgo.GinkgoHelper()
	err := f.env.Driver.Decide(f.ctx, device.Request{AuthReqID: ack.AuthReqID, User: u, ClientID: c.ClientID(), BindingMessage: p.BindingMessage}, action)
	if err != nil {
		f.decideFailed(err, action)
	}
}

// decideFailed ends a check whose device could not take action: a skip
// when the driver cannot, the run's end when the device is gone, else a
// failure of a flow check and a preparation failure elsewhere.
func (f *Fixture) decideFailed(err error, action device.Action) {
	ginkgo.GinkgoHelper()
	if errors.Is(err, device.ErrUnsupported) {
		f.Skipf("%v", err)
	}
	// An auth_req_id outside the CIBA 7.3 character set is never passed
	// to the device: the OP fails the auth_req_id format check for it,
	// and what needs the device cannot be tested here.
	var unsafe *device.UnsafeValueError
	if errors.As(err, &unsafe) {
		f.skip(fmt.Sprintf("%s%v", PreparationFailed, err))
	}
	f.EnsureReachable()
	if lost := f.env.probeDevice(f.ctx); lost != nil {
		f.abort(lost.Error())
	}
	// The device could not act: the OP may never have reached it (a
	// failure of the flow checks) or the device refused; elsewhere it
	// is preparation failing outside the check's claim.
	if f.claimsFlow {
		f.fail(fmt.Sprintf("the device could not %s the request: %v", action, err))
	}
	f.skip(fmt.Sprintf("%sthe device could not %s the request: %v", PreparationFailed, action, err))
}

// lastExchange records the latest exchange of a call that makes many.
type lastExchange struct{ ex *client.Exchange }

func (l *lastExchange) option() client.CallOption {
	return client.OnExchange(func(ex *client.Exchange) { l.ex = ex })
}

// Outcome polls (or, for ping clients, waits for the notification and
// then calls) the token endpoint until a terminal answer: tokens or an
// error other than authorization_pending/slow_down. The first call is
// made at once, as the OIDF suite does; then the OP's interval is obeyed.
func (f *Fixture) Outcome(c *client.Client, ack *ciba.AuthenticationResponse) (*ciba.TokenResponse, *client.Exchange, error) {
	ginkgo.GinkgoHelper()
	if c.Mode() == ciba.ModePing && f.env.Receivers.For(c.ClientID()) == nil {
		f.fail(noReceiver(c.ClientID()))
	}
	ctx, cancel := context.WithTimeout(f.ctx, time.Duration(ack.ExpiresIn+5)*time.Second)
	defer cancel()
	return outcome(ctx, f.env, c, ack)
}

// outcome is Outcome without a fixture (a shared flow runs it); a ping
// client must have a receiver.
func outcome(ctx context.Context, env *Env, c *client.Client, ack *ciba.AuthenticationResponse) (*ciba.TokenResponse, *client.Exchange, error) {
	var last lastExchange
	if c.Mode() == ciba.ModePing {
		// CIBA 10.2 sets no time limit on the ping: wait for it as long
		// as the request lives.
		if _, err := env.Receivers.For(c.ClientID()).Wait(ctx, ack.AuthReqID); err != nil {
			return nil, last.ex, fmt.Errorf("%w (CIBA 10.2): %w", errNoNotification, err)
		}
		return c.Token(ctx, ack.AuthReqID)
	}
	tr, ex, err := c.Token(ctx, ack.AuthReqID)
	if err == nil || !(errors.Is(err, ciba.ErrAuthorizationPending) || errors.Is(err, ciba.ErrSlowDown)) {
		return tr, ex, err
	}
	wait := *ack
	if errors.Is(err, ciba.ErrSlowDown) {
		wait.Interval = max(wait.Interval, ciba.DefaultPollInterval) + ciba.SlowDownIncrement
	}
	tr, err = c.Poll(ctx, &wait, last.option())
	return tr, last.ex, err
}

// noReceiver is the failure of a ping check whose client has no receiver.
func noReceiver(clientID string) string {
	return fmt.Sprintf("client %s has no notification receiver (notification missing in target.yaml)", clientID)
}

// Notification waits for the ping notification of ack's request on c's
// receiver and returns it; it fails when c has no receiver.
func (f *Fixture) Notification(ctx context.Context, c *client.Client, ack *ciba.AuthenticationResponse) (client.Notification, error) {
	ginkgo.GinkgoHelper()
	r := f.env.Receivers.For(c.ClientID())
	if r == nil {
		f.fail(noReceiver(c.ClientID()))
	}
	n, err := r.Wait(ctx, ack.AuthReqID)
	if err != nil {
		return n, fmt.Errorf("%w (CIBA 10.2): %w", errNoNotification, err)
	}
	return n, nil
}

// Tokens fails the check unless Outcome gives tokens.
func (f *Fixture) Tokens(c *client.Client, ack *ciba.AuthenticationResponse) (*ciba.TokenResponse, *client.Exchange) {
	ginkgo.GinkgoHelper()
	tr, ex, err := f.Outcome(c, ack)
	if err != nil {
		f.preparationFailed(ex, err, "expected tokens for the approved request of %s (CIBA 10.1.1)", c.ClientID())
	}
	return tr, ex
}

// Approved runs a whole approved flow for c: request, approval on the
// device, tokens.
func (f *Fixture) Approved(c *client.Client, edit ...func(*client.AuthParams)) (*ciba.TokenResponse, *client.Exchange, *ciba.AuthenticationResponse) {
	ginkgo.GinkgoHelper()
	u := f.UserFor(device.ActionAllow)
	p := f.Params(c, u)
	for _, e := range edit {
		e(&p)
	}
	ack := f.Start(c, p)
	f.Decide(c, ack, u, p, device.ActionAllow)
	tr, ex := f.Tokens(c, ack)
	return tr, ex, ack
}

// ExpectOAuthError fails unless the call was answered with the code of one
// of wanted and one of statuses (none given: any; the sentinels' own
// statuses are not consulted), with a well-formed error body (CIBA 13,
// RFC 6749 5.2: JSON with only error, error_description and error_uri;
// error_description in the allowed ASCII range).
func (f *Fixture) ExpectOAuthError(ex *client.Exchange, err error, statuses []int, wanted ...*ciba.Error) {
	ginkgo.GinkgoHelper()
	codes := ciba.Codes(wanted...)
	want := fmt.Sprintf("HTTP %v with error %v", statuses, codes)
	expect := Detail{Expected: want}
	if err == nil {
		expect.Got = "a success"
		f.failf(expect, ex, "expected %s, got a success", want)
	}
	if !hadResponse(ex) {
		f.Undetermined(ex, "expected %s, got no response: %v", want, err)
	}
	var ce *ciba.Error
	if !errors.As(err, &ce) {
		expect.Got = fmt.Sprintf("HTTP %d without an OAuth error body", ex.Status)
		f.failf(expect, ex, "expected %s, got a response without an OAuth error body: %v", want, err)
	}
	expect.Got = fmt.Sprintf("HTTP %d with error %q", ex.Status, ce.Code)
	if !slices.Contains(codes, ce.Code) {
		f.failf(expect, ex, "expected error %v, got %q (HTTP %d)", codes, ce.Code, ex.Status)
	}
	if len(statuses) > 0 && !slices.Contains(statuses, ex.Status) {
		f.failf(expect, ex, "expected HTTP status %v with error %q, got HTTP %d", statuses, ce.Code, ex.Status)
	}
	if msg := errorBodyProblem(ex); msg != "" {
		f.Failf(ex, "the error response is malformed (CIBA 13, RFC 6749 5.2): %s", msg)
	}
}

// WaitForPing waits for the ping of ack's request on c's receiver for as
// long as the request lives: CIBA 10.2 sets no time limit on the ping, so
// a late one is not a failure (SPEC-AUDIT: PingWait).
func (f *Fixture) WaitForPing(c *client.Client, ack *ciba.AuthenticationResponse) (client.Notification, error) {
	ginkgo.GinkgoHelper()
	ctx, cancel := context.WithTimeout(f.ctx, requestLifetime(ack))
	defer cancel()
	return f.Notification(ctx, c, ack)
}

// requestLifetime is how long a request may stay undecided: its
// expires_in (CIBA 7.3), plus a second for clocks and transit.
func requestLifetime(ack *ciba.AuthenticationResponse) time.Duration {
	return time.Duration(ack.ExpiresIn+1) * time.Second
}

// Status400 is the status nearly every OAuth error travels with.
var Status400 = []int{http.StatusBadRequest}

// StatusInvalidClient is what invalid_client may come with (RFC 6749 5.2
// names 401; the OIDF suite tolerates 400).
var StatusInvalidClient = []int{http.StatusBadRequest, http.StatusUnauthorized}

// targetClientT is a client entry of target.yaml.
type targetClientT = target.Client

// withHint returns p carrying value as its only hint, of type param
// (login_hint, login_hint_token or id_token_hint).
func withHint(p client.AuthParams, param, value string) client.AuthParams {
	p.LoginHint, p.LoginHintToken, p.IDTokenHint = "", "", ""
	switch param {
	case ciba.ParamLoginHint:
		p.LoginHint = value
	case ciba.ParamLoginHintToken:
		p.LoginHintToken = value
	default:
		p.IDTokenHint = value
	}
	return p
}
