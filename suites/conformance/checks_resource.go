package conformance

import (
	"context"
	"fmt"
	"net/http"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
)

// protectedResource is where the FAPI-R 6.2.1 checks present an access
// token: target.yaml's resource, the FAPI endpoint of a resource server
// that accepts it; else the userinfo endpoint as a stand-in, whose
// findings are only warnings: FAPI-R 6.2.1 binds "the resource server
// with the FAPI endpoints", and OIDC Core 5.3.1 lets userinfo take the
// token by any method of RFC 6750 section 2.
type protectedResource struct {
	f       *Fixture
	url     string // "" means the userinfo endpoint
	standIn bool
}

// standInNote ends every finding made at userinfo.
const standInNote = " (at userinfo as a stand-in: target.yaml names no resource, and FAPI-R 6.2.1 binds the resource server, so this is a warning)"

func resourceOf(f *Fixture) *protectedResource {
	ginkgo.GinkgoHelper()
	if r := f.Env().Target.Resource; r != "" {
		return &protectedResource{f: f, url: r}
	}
	if f.Metadata().UserinfoEndpoint == "" {
		f.Skipf("target.yaml names no resource and the OP publishes no userinfo_endpoint to call as a stand-in")
	}
	return &protectedResource{f: f, standIn: true}
}

// name is the resource for messages.
func (r *protectedResource) name() string {
	if r.standIn {
		return "userinfo"
	}
	return "the resource " + r.url
}

// get calls the resource with GET, the access token in the Authorization
// header (RFC 6750 2.1) and c's certificate; opts change the call.
func (r *protectedResource) get(ctx context.Context, c *client.Client, token string, opts ...client.CallOption) *client.Exchange {
	if r.url != "" {
		opts = append([]client.CallOption{client.CallEndpoint(r.url)}, opts...)
	}
	_, ex, _ := c.UserInfo(ctx, token, opts...)
	return ex
}

// expect fails the check unless ok, or at the userinfo stand-in records
// a warning (and the check goes on).
func (r *protectedResource) expect(ok bool, ex *client.Exchange, format string, args ...any) {
	ginkgo.GinkgoHelper()
	if r.standIn {
		r.f.ExpectShould(ok, ex, format+standInNote, args...)
		return
	}
	r.f.Expect(ok, ex, format, args...)
}

func success(ex *client.Exchange) bool { return hadResponse(ex) && ex.Status >= 200 && ex.Status < 300 }

// approvedToken runs an approved flow and returns its client and access
// token.
func approvedToken(f *Fixture) (*client.Client, *ciba.TokenResponse) {
	ginkgo.GinkgoHelper()
	c := f.Client(AnyMode, AnyAuth)
	tr, _, _ := f.Approved(c)
	return c, tr
}

// resourceHeaderChecks registers the check of the protected resource's
// response headers (FAPI-R 6.2.1).
func resourceHeaderChecks(fw *Framework) {
	// Testname: Resource echoes x-fapi-interaction-id and sends Date
	// Spec: FAPI-R-6.2.1
	// Description: The FAPI resource (target.yaml resource) called with
	// a certificate-bound token MUST answer with the request's
	// x-fapi-interaction-id echoed and a Date header. Without a
	// resource in target.yaml the check calls userinfo instead, and an
	// unmet expectation there is a warning, not a failure.
	// Quote: FAPI-R-6.2.1: "The resource server with the FAPI endpoints" ... "shall send the server date in HTTP Date header as in section 7.1.1.2 of [RFC7231];" "shall set the response header x-fapi-interaction-id to the value received from the corresponding fapi client request header or to a [RFC4122] UUID value if the request header was not provided to track the interaction"
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("echoes x-fapi-interaction-id and sends a Date header at the protected resource", func(ctx context.Context, f *Fixture) {
		r := resourceOf(f)
		c := f.Client(AnyMode, AnyAuth)
		tr, _, _ := f.SharedApproved(c)
		const id = "c0ffee00-1234-4abc-8def-0123456789ab"
		ex := r.get(ctx, c, tr.AccessToken, client.CallHeader("x-fapi-interaction-id", id))
		if !hadResponse(ex) {
			f.Undetermined(ex, "%s gave no answer", r.name())
		}
		if !success(ex) {
			// The headers are judged on the answer to a valid call; a
			// refusal of the fresh token is outside this claim.
			f.Skipf("%s refused the access token of an approved flow (HTTP %d); the check needs a resource that accepts it\n%s", r.name(), ex.Status, quote(ex))
		}
		r.expect(ex.ResponseHeader.Get("x-fapi-interaction-id") == id, ex, "expected x-fapi-interaction-id %q echoed by %s, got %q", id, r.name(), ex.ResponseHeader.Get("x-fapi-interaction-id"))
		_, derr := http.ParseTime(ex.ResponseHeader.Get("Date"))
		r.expect(derr == nil, ex, "expected an HTTP Date header from %s, got %q", r.name(), ex.ResponseHeader.Get("Date"))
	}, Refs("FAPI-R-6.2.1"), OIDF(ModHappy), SharesFlow)
}

// resourceTokenTransportChecks registers the check that an access token is
// taken only from the Authorization header (FAPI-R 6.2.1).
func resourceTokenTransportChecks(fw *Framework) {
	// Testname: Resource refuses the access token in the query
	// Spec: FAPI-R-6.2.1
	// Description: The FAPI resource (target.yaml resource) MUST NOT
	// accept the access token in the query string, only in the
	// Authorization header. Positive controls first: the same token in
	// the header must be accepted, and a call with no token at all
	// refused; only an accepted (2xx) query-string call fails, a 4xx
	// passes, anything else is undetermined. Without a resource in
	// target.yaml the check calls userinfo, where OIDC Core 5.3.1
	// allows every RFC 6750 section 2 method, so a finding there is a
	// warning.
	// Quote: FAPI-R-6.2.1: "The resource server with the FAPI endpoints" ... "shall not accept access tokens in the query parameters stated in Section 2.3 of OAuth 2.0 Bearer Token Usage [RFC6750];"
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses an access token sent in the query string at the protected resource", func(ctx context.Context, f *Fixture) {
		r := resourceOf(f)
		c, tr := approvedToken(f)
		ex := r.get(ctx, c, tr.AccessToken)
		f.Control(success(ex), ex, "%s did not accept the access token in the Authorization header", r.name())
		ex = r.get(ctx, c, "", client.CallWithoutHeader("Authorization"))
		f.Control(hadResponse(ex) && ex.Status >= 400 && ex.Status < 500, ex, "%s did not refuse a call without any access token", r.name())

		ex = r.get(ctx, c, "", client.CallWithoutHeader("Authorization"), client.CallForm("access_token", tr.AccessToken))
		switch {
		case !hadResponse(ex):
			f.Undetermined(ex, "%s gave no answer to the token in the query string", r.name())
		case ex.Status >= 400 && ex.Status < 500:
			return
		case !success(ex):
			f.Undetermined(ex, "%s answered HTTP %d, neither a refusal (4xx) nor an acceptance (2xx)", r.name(), ex.Status)
		}
		r.expect(false, ex, "expected %s to refuse the access token in the query string with a 4xx answer, got %s", r.name(), fmt.Sprintf("HTTP %d", ex.Status))
	}, Refs("FAPI-R-6.2.1"), Negative)
}
