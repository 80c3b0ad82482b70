package conformance

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/device"
	"github.com/ciba-check/ciba-check/internal/target"
)

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
