package conformance

import (
	"context"
	"fmt"
	"time"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/device"
	"github.com/ciba-check/ciba-check/internal/target"
)

// Shared flows. Many checks only inspect the responses of one approved
// flow (the ID token's alg, kid and claims, at_hash, the access token's
// type and size, Cache-Control, the binding message on the device, the
// resource's headers). Against an OP that sends no interval each flow
// costs the 5 s default poll wait (CIBA 7.3), so these checks share one
// approved flow per client (and so per delivery mode), obtained once, on
// first use or prefetched at the start of the run, and handed to each.
// Every check still judges and quotes that flow's exchange itself.
// Checks that change or consume the flow (replay, redemption, revocation,
// refresh rotation) and negative checks run their own (Approved).
//
// A shared flow's preparation that fails is not judged once for all: it
// records the step and the answer, and each check replays it through the
// same fixture helper a flow of its own would have failed in
// (preparationFailed, decideFailed, ...), so a check that claims the flow
// fails and the others skip, exactly as before.

// SharesFlow marks a check that takes its approved flow from
// SharedApproved: the run prefetches that flow when such a check is
// selected. It adds no label.
var SharesFlow Decorator = sharesFlow{}

type sharesFlow struct{}

func (sharesFlow) labels() []string { return nil }

// Slow marks a check that waits by design (for an expiry, for a retry
// that must not come): a parallel run starts it first, so that its wait
// overlaps the rest. It adds no label.
var Slow Decorator = slow{}

type slow struct{}

func (slow) labels() []string { return nil }

// flowStep is where a shared flow's preparation stopped.
type flowStep int

const (
	flowOK flowStep = iota
	flowParams
	flowStart
	flowNoAuthReqID
	flowDecide
	flowTokens
)

// sharedFlow is one approved flow of one client, obtained once.
type sharedFlow struct {
	done chan struct{}
	step flowStep
	tr   *ciba.TokenResponse
	ex   *client.Exchange
	ack  *ciba.AuthenticationResponse
	err  error
}

// flow returns client tc's shared flow for user u (the sequential run's
// choice; a free peer is leased), starting it when nobody has.
func (r *runState) flow(tc *target.Client, u *target.User) *sharedFlow {
	r.flowsMu.Lock()
	defer r.flowsMu.Unlock()
	if fl, ok := r.flows[tc.ID]; ok {
		return fl
	}
	fl := &sharedFlow{done: make(chan struct{})}
	r.flows[tc.ID] = fl
	r.spawn(func() {
		defer close(fl.done)
		r.runFlow(fl, tc, u)
	})
	return fl
}

// runFlow is Approved without a fixture: request, approval, tokens,
// stopping at the first step that fails.
func (r *runState) runFlow(fl *sharedFlow, tc *target.Client, u *target.User) {
	ctx, cancel := context.WithTimeout(r.ctx, r.checkTimeout)
	defer cancel()
	if !u.Shared {
		peers := peersOf(r.env.Target.Users, u)
		var err error
		if u, err = r.leases.wait(ctx, peers); err != nil {
			fl.step, fl.err = flowStart, err
			return
		}
		defer r.leases.release([]*target.User{u})
	}
	c, err := newTargetClient(r.env, tc)
	if err != nil {
		fl.step, fl.err = flowParams, fmt.Errorf("building client %q from target.yaml: %w", tc.ID, err)
		return
	}
	defer c.CloseIdleConnections()
	p, err := validParams(c, tc, u)
	if err != nil {
		fl.step, fl.err = flowParams, err
		return
	}
	ack, ex, err := c.Authenticate(ctx, p)
	if err != nil {
		fl.step, fl.ex, fl.err = flowStart, ex, err
		return
	}
	if ack.AuthReqID == "" {
		fl.step, fl.ex = flowNoAuthReqID, ex
		return
	}
	fl.ack = ack
	if err := r.env.Driver.Decide(ctx, device.Request{AuthReqID: ack.AuthReqID, User: u, ClientID: c.ClientID(), BindingMessage: p.BindingMessage}, device.ActionAllow); err != nil {
		fl.step, fl.err = flowDecide, err
		return
	}
	if c.Mode() == ciba.ModePing && r.env.Receivers.For(c.ClientID()) == nil {
		fl.step, fl.err = flowParams, fmt.Errorf("%s", noReceiver(c.ClientID()))
		return
	}
	octx, ocancel := context.WithTimeout(ctx, time.Duration(ack.ExpiresIn+5)*time.Second)
	defer ocancel()
	fl.tr, fl.ex, fl.err = outcome(octx, r.env, c, ack)
	if fl.err != nil {
		fl.step = flowTokens
	}
}

// prefetch starts the shared flow of the first client (the one checks
// that take any client get) when the driver can approve.
func (r *runState) prefetch() {
	cs := clientsOf(r.env.Target, AnyMode, AnyAuth)
	if len(cs) == 0 {
		return
	}
	if u, _ := userFor(r.env, device.ActionAllow); u != nil {
		r.flow(cs[0], u)
	}
}

// SharedApproved is Approved for a check that only inspects the approved
// flow's responses: client c's shared flow, run once for all such checks
// (see above). Call it before choosing any user.
func (f *Fixture) SharedApproved(c *client.Client) (*ciba.TokenResponse, *client.Exchange, *ciba.AuthenticationResponse) {
	ginkgo.GinkgoHelper()
	if f.run == nil || f.run.noSharing {
		return f.Approved(c)
	}
	fl := f.sharedFlow(c)
	switch fl.step {
	case flowParams:
		f.fail(fl.err.Error())
	case flowStart:
		f.preparationFailed(fl.ex, fl.err, "expected the valid backchannel request of %s to be acknowledged (CIBA 7.3)", c.ClientID())
	case flowNoAuthReqID:
		f.Failf(fl.ex, "expected an auth_req_id in the acknowledgement (CIBA 7.3), got none")
	case flowDecide:
		f.decideFailed(fl.err, device.ActionAllow)
	case flowTokens:
		f.preparationFailed(fl.ex, fl.err, "expected tokens for the approved request of %s (CIBA 10.1.1)", c.ClientID())
	}
	return fl.tr, fl.ex, fl.ack
}

// sharedFlow waits for client c's shared flow (starting it if needed)
// and returns it as it ended; a check that reports a failed step its own
// way reads fl.step.
func (f *Fixture) sharedFlow(c *client.Client) *sharedFlow {
	ginkgo.GinkgoHelper()
	u, reason := userFor(f.env, device.ActionAllow)
	if u == nil {
		f.Skipf("%s", reason)
	}
	fl := f.run.flow(f.TargetClient(c), u)
	select {
	case <-fl.done:
	case <-f.ctx.Done():
		f.fail("interrupted while waiting for the shared approved flow of " + c.ClientID())
	}
	return fl
}
