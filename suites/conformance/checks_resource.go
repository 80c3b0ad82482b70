package conformance

import (
	"context"
	"net/http"

	"github.com/ciba-check/ciba-check/internal/client"
)

func describeResource(fw *Framework) {
	fw.Describe("Protected resource", func() {
		// Testname: Resource echoes x-fapi-interaction-id and sends Date
		// Spec: FAPI-R-6.2.1
		// Description: A protected resource (userinfo) called with a
		// certificate-bound token MUST answer with the request's
		// x-fapi-interaction-id echoed and a Date header.
		fw.ConformanceIt("echoes x-fapi-interaction-id and sends a Date header at userinfo", func(ctx context.Context, f *Fixture) {
			if f.Metadata().UserinfoEndpoint == "" {
				f.Skipf("the OP publishes no userinfo_endpoint to call as a protected resource")
			}
			c := f.Client(AnyMode, AnyAuth)
			tr, _, _ := f.Approved(c)
			const id = "c0ffee00-1234-4abc-8def-0123456789ab"
			_, ex, err := c.UserInfo(ctx, tr.AccessToken, client.CallHeader("x-fapi-interaction-id", id))
			f.Expect(err == nil, ex, "expected userinfo to answer, got: %v", err)
			f.Expect(ex.ResponseHeader.Get("x-fapi-interaction-id") == id, ex, "expected x-fapi-interaction-id %q echoed, got %q", id, ex.ResponseHeader.Get("x-fapi-interaction-id"))
			_, derr := http.ParseTime(ex.ResponseHeader.Get("Date"))
			f.Expect(derr == nil, ex, "expected an HTTP Date header, got %q", ex.ResponseHeader.Get("Date"))
		}, Refs("FAPI-R-6.2.1"), OIDF(ModHappy))

		// Testname: Resource refuses the access token in the query
		// Spec: FAPI-R-6.2.1
		// Description: A protected resource MUST NOT accept the access
		// token in the query string (only the Authorization header).
		fw.ConformanceIt("refuses an access token sent in the query string at userinfo", func(ctx context.Context, f *Fixture) {
			if f.Metadata().UserinfoEndpoint == "" {
				f.Skipf("the OP publishes no userinfo_endpoint to call as a protected resource")
			}
			c := f.Client(AnyMode, AnyAuth)
			tr, _, _ := f.Approved(c)
			_, ex, err := c.UserInfo(ctx, "", client.CallWithoutHeader("Authorization"), client.CallForm("access_token", tr.AccessToken))
			f.Expect(err != nil && ex != nil && ex.Status >= 400 && ex.Status < 500, ex, "expected a 4xx refusal, got HTTP %d (%v)", statusOf(ex), err)
		}, Refs("FAPI-R-6.2.1"), Negative)
	})
}
