// Package conformance is ciba-check's conformance suite: Ginkgo v2 specs,
// one small named check per requirement of OpenID Connect CIBA Core 1.0
// and the FAPI-CIBA profile, run in-process against any OP described by a
// target.yaml.
//
// # Adding a check
//
// Checks live in checks_*.go, inside a describe function that receives the
// *Framework. Each is one call of Framework.ConformanceIt with a comment
// block right above it, which docs/coverage.md is generated from:
//
//	// Testname: Unsigned backchannel request refused
//	// Spec: FAPI-CIBA-5.2.2-6
//	// Description: The OP MUST refuse a backchannel authentication request
//	// whose parameters arrive as plain form fields without a signed request
//	// object, with HTTP 400 invalid_request.
//	fw.ConformanceIt("refuses an unsigned backchannel request", func(ctx context.Context, f *Fixture) {
//		c := f.Client(AnyMode, AnyAuth)
//		_, ex, err := c.Authenticate(ctx, f.Params(c, f.UserFor(device.ActionAllow)), client.CallUnsigned())
//		f.ExpectOAuthError(ex, err, Status400, ciba.ErrInvalidRequest)
//	}, Refs("FAPI-CIBA-5.2.2-6"), Negative, OIDF("fapi-ciba-id1-ensure-unsigned-backchannel-authorization-request-fails"))
//
// Refs, Modes, Auth, Negative and OIDF become Ginkgo labels (filter with
// --label-filter 'CIBA-7.1.1 && !negative'). The Fixture gives fresh
// clients per check, the device driver, the notification receivers, and
// helpers that fail with expected-versus-got and the quoted (redacted)
// HTTP exchange. A check that needs something the target lacks (a ping
// client, a driver that can deny, a second client) calls f.Skip... with
// the reason; it never passes vacuously.
//
// Run and Preview are the only entry points: Ginkgo runs specs once per
// process, so `ciba-check run` calls Run exactly once and everything else
// (the coverage table, the self-test) uses Preview or a subprocess.
package conformance
