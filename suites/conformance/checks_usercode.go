package conformance

import (
	"context"
	"slices"
	"strings"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/device"
	"github.com/ciba-check/ciba-check/internal/target"
)

// userCodeFlow returns a client that registered
// backchannel_user_code_parameter (target.yaml user_code_parameter: true)
// and a user target.yaml gives a user_code, when the OP advertises
// user_code support (CIBA 4), or skips. A user_code means something only
// between such a client and such a user: CIBA 7.1 says it "should only be
// present if the client registration parameter
// backchannel_user_code_parameter indicates support", and CIBA 4 defaults
// that parameter to false.
func userCodeFlow(f *Fixture) (*client.Client, *target.User) {
	ginkgo.GinkgoHelper()
	if !f.Metadata().BackchannelUserCodeParameterSupported {
		f.Skipf("the OP does not advertise backchannel_user_code_parameter_supported")
	}
	var u *target.User
	for i := range f.Env().Target.Users {
		if f.Env().Target.Users[i].UserCode != "" {
			u = &f.Env().Target.Users[i]
			break
		}
	}
	if u == nil {
		f.Skipf("target.yaml has no user with a user_code")
	}
	c := f.ClientWhere("client with user_code_parameter: true (registered with backchannel_user_code_parameter, CIBA 4)",
		func(tc *target.Client) bool { return tc.UserCodeParameter })
	return c, f.lease(u)
}

// acrRequest is what the acr check asks for and why: target.yaml's acr,
// else every value of the OP's acr_values_supported in its order; ""
// when neither names one.
func acrRequest(t *target.Target, md *ciba.ProviderMetadata) (values, source string) {
	if v := strings.Join(strings.Fields(t.ACR), " "); v != "" {
		return v, "target.yaml acr"
	}
	if len(md.ACRValuesSupported) > 0 {
		return strings.Join(md.ACRValuesSupported, " "), "acr_values_supported"
	}
	return "", ""
}

// userCodeChecks registers the checks of user_code where the OP supports
// it: missing, wrong and right (CIBA 7.1, 13).
func userCodeChecks(fw *Framework) {
	// Testname: Missing user_code refused
	// Spec: CIBA-7.1.2, CIBA-13
	// Description: For a user who must present a user_code, a request
	// from a client registered with backchannel_user_code_parameter
	// that carries none MUST be refused with HTTP 400
	// missing_user_code. Only such clients are used (target.yaml
	// user_code_parameter: true); the same request with the user_code
	// must be acknowledged first (positive control).
	// Quote: CIBA-13: "missing_user_code User code is required but was missing from the request." CIBA-7.2: "If the OpenID Provider encounters any error, it MUST return an error response, per Section 13."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses a request without the user's user_code with missing_user_code", func(ctx context.Context, f *Fixture) {
		c, u := userCodeFlow(f)
		p := f.Params(c, u)
		f.ControlAck(c, p)
		p.UserCode = ""
		_, ex, err := c.Authenticate(ctx, p)
		f.ExpectOAuthError(ex, err, Status400, ciba.ErrMissingUserCode)
	}, Refs("CIBA-7.1.2", "CIBA-13"), Negative)

	// Testname: Wrong user_code refused
	// Spec: CIBA-7.1.2, CIBA-13
	// Description: A request from a client registered with
	// backchannel_user_code_parameter carrying a wrong user_code MUST
	// be refused with HTTP 400 invalid_user_code; the same request with
	// the right user_code must be acknowledged first (positive
	// control).
	// Quote: CIBA-13: "invalid_user_code User code was invalid." CIBA-7.2: "If the OpenID Provider encounters any error, it MUST return an error response, per Section 13."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses a request with a wrong user_code with invalid_user_code", func(ctx context.Context, f *Fixture) {
		c, u := userCodeFlow(f)
		p := f.Params(c, u)
		f.ControlAck(c, p)
		p.UserCode = u.UserCode + "0"
		_, ex, err := c.Authenticate(ctx, p)
		f.ExpectOAuthError(ex, err, Status400, ciba.ErrInvalidUserCode)
	}, Refs("CIBA-7.1.2", "CIBA-13"), Negative)

	// Testname: Correct user_code accepted
	// Spec: CIBA-7.1.2
	// Description: A valid request from a client registered with
	// backchannel_user_code_parameter carrying the user's correct
	// user_code MUST be acknowledged with an auth_req_id.
	// Quote: CIBA-7.3: "auth_req_id REQUIRED. This is a unique identifier to identify the authentication request made by the Client."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("accepts a request with the user's user_code", func(ctx context.Context, f *Fixture) {
		c, u := userCodeFlow(f)
		f.Start(c, f.Params(c, u))
	}, Refs("CIBA-7.1.2"))
}

// acrChecks registers the check that a requested acr comes back in the ID
// token (CIBA 7.1, OIDC Core 2).
func acrChecks(fw *Framework) {
	// Testname: Requested acr returned in the ID token
	// Spec: FAPI-CIBA-5.2.2-8
	// Description: When the OP supports acr and the client asks for
	// acr with acr_values (target.yaml acr, else the OP's
	// acr_values_supported), the ID token MUST carry an acr claim. The
	// acr is at the OP's discretion (CIBA 7.1: acr_values is a request
	// and "the actual means of authenticating the end-user ... are
	// ultimately at the discretion of the OP"), so an acr other than
	// the requested values is only a warning (SHOULD).
	// Quote: FAPI-CIBA-5.2.2-8: "shall, if it supports the acr claim and the client has requested acr, return an 'acr' claim in the resulting ID token;"
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("returns an acr claim in the ID token when acr is requested", func(ctx context.Context, f *Fixture) {
		requested, source := acrRequest(f.Env().Target, f.Metadata())
		if requested == "" {
			f.Skipf("neither target.yaml (acr) nor the OP (acr_values_supported) names an acr to request")
		}
		c := f.Client(AnyMode, AnyAuth)
		u := f.UserFor(device.ActionAllow)
		p := f.Params(c, u)
		p.ACRValues = requested
		ack, _, err := c.Authenticate(ctx, p)
		if err != nil || ack == nil || ack.AuthReqID == "" {
			// A refusal of acr_values is no answer about the acr claim.
			f.Skipf("the OP did not acknowledge the request with acr_values %q (from %s): %v", requested, source, err)
		}
		f.Decide(c, ack, u, p, device.ActionAllow)
		tr, ex := f.Tokens(c, ack)
		t := f.ParseIDToken(tr.IDToken, ex)
		acr, isString := t.Claims["acr"].(string)
		f.Expect(isString && acr != "", ex, "expected an acr claim in the ID token after acr_values %q (from %s), got %v", requested, source, t.Claims["acr"])
		f.ExpectShould(slices.Contains(strings.Fields(requested), acr), ex,
			"the ID token's acr %q is none of the requested acr_values %q (from %s); the OP may choose another (CIBA 7.1), so this is a warning", acr, requested, source)
	}, Refs("FAPI-CIBA-5.2.2-8"), OIDF(ModHappy))
}
