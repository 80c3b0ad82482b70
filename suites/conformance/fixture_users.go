package conformance

import (
	"fmt"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/device"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/internal/targetclient"
)

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
	p, err := targetclient.AuthRequest(c, u, scope, tc != nil && tc.UserCodeParameter)
	p.BindingMessage = "1234"
	return p, err
}
