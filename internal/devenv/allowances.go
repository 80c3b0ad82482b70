package devenv

import (
	"slices"
	"sort"

	refop "github.com/ciba-check/ciba-check/reference-op"
)

// Allowances of the environment itself: spec-permitted choices that live
// in how clients are registered rather than in the OP's behaviour.
const (
	// AllowUserCodePerClient registers backchannel_user_code_parameter
	// for one client only (UserCodeClient); the others send no user_code
	// and are not asked for one.
	AllowUserCodePerClient = "user-code-per-client"
)

// UserCodeClient is the one client registered with
// backchannel_user_code_parameter under user-code-per-client.
const UserCodeClient = "poll-pkjwt-es256"

// envAllowances are the allowances devenv implements itself.
func envAllowances() []refop.Allowance {
	return []refop.Allowance{
		{
			Name:    AllowUserCodePerClient,
			Permits: "only " + UserCodeClient + " is registered with backchannel_user_code_parameter; the other clients are not asked for user_code",
			Basis:   `CIBA-7.1: "user_code OPTIONAL. ... This parameter should only be present if the client registration parameter backchannel_user_code_parameter indicates support for the user code."; CIBA-4: "backchannel_user_code_parameter OPTIONAL. Boolean value specifying whether the Client supports the user_code parameter. If omitted, the default value is false."`,
		},
	}
}

// Allowances is the catalogue Options.Allowances takes, sorted by name:
// the reference OP's and the environment's own.
func Allowances() []refop.Allowance {
	as := append(refop.Allowances(), envAllowances()...)
	sort.Slice(as, func(i, j int) bool { return as[i].Name < as[j].Name })
	return as
}

// opAllowances are the names among allowances the reference OP implements.
func opAllowances(allowances []string) []string {
	env := envAllowances()
	var out []string
	for _, a := range allowances {
		if !slices.ContainsFunc(env, func(e refop.Allowance) bool { return e.Name == a }) {
			out = append(out, a)
		}
	}
	return out
}

// registersUserCode says whether client id registers
// backchannel_user_code_parameter (CIBA 4): every client by default, only
// UserCodeClient under user-code-per-client.
func registersUserCode(id string, allowances []string) bool {
	return !slices.Contains(allowances, AllowUserCodePerClient) || id == UserCodeClient
}
