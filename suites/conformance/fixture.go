package conformance

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/target"
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
