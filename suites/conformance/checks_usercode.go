package conformance

import (
	"context"
	"slices"
	"strings"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/target"
)

// userCodeUser returns a user target.yaml gives a user_code, when the OP
// advertises user_code support (CIBA 7.1.2), or skips.
func userCodeUser(f *Fixture) *target.User {
	ginkgo.GinkgoHelper()
	if !f.Metadata().BackchannelUserCodeParameterSupported {
		f.Skipf("the OP does not advertise backchannel_user_code_parameter_supported")
	}
	for i := range f.Env().Target.Users {
		if u := &f.Env().Target.Users[i]; u.UserCode != "" {
			return u
		}
	}
	f.Skipf("target.yaml has no user with a user_code")
	return nil
}

func describeUserCodeACR(fw *Framework) {
	fw.Describe("User code and authentication context", func() {
		// Testname: Missing user_code refused
		// Spec: CIBA-7.1.2, CIBA-13
		// Description: For a user who must present a user_code, a request
		// without one MUST be refused with HTTP 400 missing_user_code.
		fw.ConformanceIt("refuses a request without the user's user_code with missing_user_code", func(ctx context.Context, f *Fixture) {
			u := userCodeUser(f)
			c := f.Client(AnyMode, AnyAuth)
			p := f.Params(c, u)
			p.UserCode = ""
			_, ex, err := c.Authenticate(ctx, p)
			f.ExpectOAuthError(ex, err, Status400, "missing_user_code")
		}, Refs("CIBA-7.1.2", "CIBA-13"), Negative)

		// Testname: Wrong user_code refused
		// Spec: CIBA-7.1.2, CIBA-13
		// Description: A request with a wrong user_code MUST be refused
		// with HTTP 400 invalid_user_code.
		fw.ConformanceIt("refuses a request with a wrong user_code with invalid_user_code", func(ctx context.Context, f *Fixture) {
			u := userCodeUser(f)
			c := f.Client(AnyMode, AnyAuth)
			p := f.Params(c, u)
			p.UserCode = u.UserCode + "0"
			_, ex, err := c.Authenticate(ctx, p)
			f.ExpectOAuthError(ex, err, Status400, "invalid_user_code")
		}, Refs("CIBA-7.1.2", "CIBA-13"), Negative)

		// Testname: Correct user_code accepted
		// Spec: CIBA-7.1.2
		// Description: A request with the user's correct user_code MUST be
		// acknowledged.
		fw.ConformanceIt("accepts a request with the user's user_code", func(ctx context.Context, f *Fixture) {
			u := userCodeUser(f)
			c := f.Client(AnyMode, AnyAuth)
			f.Start(c, f.Params(c, u))
		}, Refs("CIBA-7.1.2"))

		// Testname: Requested acr returned in the ID token
		// Spec: FAPI-CIBA-5.2.2-8
		// Description: When the OP supports acr values and the client asks
		// for one with acr_values, the ID token MUST carry an acr claim
		// that is one of the requested values.
		fw.ConformanceIt("returns a requested acr in the ID token", func(ctx context.Context, f *Fixture) {
			supported := f.Metadata().ACRValuesSupported
			if len(supported) == 0 {
				f.Skipf("the OP publishes no acr_values_supported")
			}
			c := f.Client(AnyMode, AnyAuth)
			requested := supported[0]
			tr, ex, _ := f.Approved(c, func(p *client.AuthParams) { p.ACRValues = requested })
			t := f.ParseIDToken(tr.IDToken, ex)
			acr, _ := t.Claims["acr"].(string)
			f.Expect(slices.Contains(strings.Fields(requested), acr), ex, "expected acr %q in the ID token, got %v", requested, t.Claims["acr"])
		}, Refs("FAPI-CIBA-5.2.2-8"), OIDF(ModHappy))
	})
}
