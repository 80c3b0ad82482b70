// Package interop runs ciba-check against a real third-party OP: panva's
// oidc-provider (npm, version pinned in harness/package-lock.json),
// configured in harness/server.mjs as a FAPI 1.0 + CIBA OP on loopback
// with TLS, poll and ping, private_key_jwt, tls_client_auth and
// self_signed_tls_client_auth, certificate-bound access tokens and signed
// backchannel request objects.
//
// The package holds only tests. TestOIDCProvider installs the harness with
// `npm ci` into a cache folder keyed by the lockfile's hash
// ($CIBA_CHECK_INTEROP_CACHE, else the user cache dir), generates the keys
// and certificates with internal/pki, starts the OP, writes a target.yaml,
// drives a few flows with internal/client to prove the harness, and runs
// `ciba-check run --target` with the built binary, comparing the outcome
// with expected.json; then the same with device kinds hints and command
// (curl to the harness's approval endpoint), and a focused run with device
// kind manual in which the test answers the operator's questions. Outside
// CI (CI unset) it skips when node or npm is missing; with CI=true a
// missing toolchain is a failure.
//
// TestOIDCProviderStrictChoices starts the same harness with its second
// configuration (server.mjs CHOICES.strict: other choices the specs leave
// to the OP, each stricter), proves each choice with direct requests, and
// compares the suite's outcome (device approval_url) with
// expected-strict.json.
//
// What the run found about oidc-provider, with spec sections, is in
// docs/interop.md.
package interop
