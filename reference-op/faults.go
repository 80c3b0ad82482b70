package refop

import (
	"crypto/tls"
	"fmt"
	"sort"
	"strings"

	"github.com/ciba-check/ciba-check/ciba"
)

// Fault is one deliberate deviation of the reference OP. Switching it on
// must make exactly the conformance checks Trips names not pass (fail, or
// warn for a SHOULD); every other check still passes. The fault matrix
// (suites/conformance TestFaultMatrix) reads Trips from here: it is the
// one place a fault's tripped checks are named.
type Fault struct {
	// Name is what Config.Faults and the CLI use.
	Name string
	// Breaks says in one line what the OP then does wrong.
	Breaks string
	// Trips are the exact names of the conformance checks the fault
	// trips (TestFaultTripsNameChecks proves each is a check).
	Trips []string
	// NoFAPI: the fault shows only against an OP with fapi: false (push
	// mode, client secrets), so the fault matrix runs it there.
	NoFAPI bool
	// bend is how the fault bends the strict OP at its seams (hooks.go);
	// every fault has one.
	bend func(*hooks)
}

// Fault names. Each is tested in faults_test.go to change behaviour.
const (
	FaultAcceptAlgNone              = "accept-alg-none"
	FaultAcceptRS256                = "accept-rs256"
	FaultAllowUnsignedRequest       = "allow-unsigned-request"
	FaultIgnoreRequestObjectExp     = "ignore-request-object-exp"
	FaultInvalidRequestObjectCode   = "invalid-request-object-code"
	FaultIssueTokenTwice            = "issue-token-twice"
	FaultCrossClientAuthReqID       = "cross-client-auth-req-id"
	FaultAcceptExpiredToken         = "accept-expired-token"
	FaultUnboundAccessToken         = "unbound-access-token"
	FaultWrongIDTokenAud            = "wrong-id-token-aud"
	FaultMissingAtHash              = "missing-at-hash"
	FaultPushUnderFAPI              = "push-under-fapi"
	FaultTLSWeakCiphers             = "tls-weak-ciphers"
	FaultNoPingOnDeny               = "no-ping-on-deny"
	FaultPingRetryAfter4xx          = "ping-retry-after-4xx"
	FaultFollowNotificationRedirect = "follow-notification-redirect"
	FaultNoCNFInIntrospection       = "no-cnf-in-introspection"
	FaultShortAuthReqID             = "short-auth-req-id"
	FaultRefreshCrossClient         = "refresh-cross-client"
)

// Faults returns the catalogue, sorted by name. It is a fresh slice each
// call so callers may modify it.
func Faults() []Fault {
	fs := coreFaults()
	// Each area keeps its faults in its own file (faults_*.go).
	fs = append(fs, backchannelFaults()...)
	fs = append(fs, assertionFaults()...)
	fs = append(fs, discoveryFaults()...)
	fs = append(fs, tokenFaults()...)
	fs = append(fs, pingResourceTLSFaults()...)
	fs = append(fs, clientAuthFaults()...)
	fs = append(fs, pushFaults()...)
	sort.Slice(fs, func(i, j int) bool { return fs[i].Name < fs[j].Name })
	return fs
}

// coreFaults are the first faults of the catalogue, spread over the OP.
func coreFaults() []Fault {
	return []Fault{
		{Name: FaultAcceptAlgNone, Breaks: "request objects with alg none are accepted unsigned", Trips: []string{"refuses a request object with alg none"}, bend: acceptUnsignedRequestObjects},
		{Name: FaultAcceptRS256, Breaks: "RS256-signed request objects are accepted", Trips: []string{"refuses a request object signed with RS256"}, bend: acceptRS256RequestObjects},
		{Name: FaultAllowUnsignedRequest, Breaks: "plain form backchannel requests without a signed request object are accepted", Trips: []string{"refuses an unsigned backchannel request"}, bend: waive(ruleSignedRequestRequired)},
		{Name: FaultIgnoreRequestObjectExp, Breaks: "request object exp is not checked (missing or past exp accepted)", Trips: []string{"refuses a request object that expired an hour ago", "refuses a request object without exp"}, bend: waive(ruleRequestObjectExp)},
		{Name: FaultInvalidRequestObjectCode, Breaks: "bad request objects are answered invalid_request_object instead of invalid_request",
			Trips: []string{
				"refuses a request object signed with another client's key",
				"refuses a request object signed with RS256",
				"refuses a request object that expired an hour ago",
				"refuses a request object whose aud is another server",
				"refuses a request object whose iss is another client",
				"refuses a request object with a tampered signature",
				"refuses a request object with alg none",
				"refuses a request object with exp 70 minutes in the future",
				"refuses a request object with nbf 10 minutes in the future",
				"refuses a request object with nbf 70 minutes in the past",
				"refuses a request object without aud",
				"refuses a request object without exp",
				"refuses a request object without iat",
				"refuses a request object without iss",
				"refuses a request object without jti",
				"refuses a request object without nbf",
				"refuses an HS256 request object keyed with the client's public key",
				"refuses a malformed request object with invalid_request",
				"refuses a request object signed by a key behind a jku header",
				"refuses a request object signed by a key from its own jwk header",
				"refuses a request object signed by an unregistered key",
				"refuses a request object that contains a request claim",
				"refuses a request object whose exp is a string",
				"refuses a request object with an unknown crit header",
				"refuses a request object without kid signed by another client's key",
			}, bend: func(h *hooks) { h.badRequestObject = errInvalidRequestObject }},
		{Name: FaultIssueTokenTwice, Breaks: "an approved auth_req_id can be redeemed twice", Trips: []string{"issues tokens exactly once to concurrent token requests", "refuses a redeemed auth_req_id with invalid_grant"}, bend: func(h *hooks) { h.maxRedemptions = 2 }},
		{Name: FaultCrossClientAuthReqID, Breaks: "another client's auth_req_id is redeemable", Trips: []string{"refuses another client's auth_req_id with invalid_grant"}, bend: waive(ruleAuthReqIDOwner)},
		{Name: FaultAcceptExpiredToken, Breaks: "an expired auth_req_id stays pending and redeemable: never expired_token", Trips: []string{"answers expired_token after expires_in has passed"}, bend: waive(ruleAuthReqIDExpires)},
		{Name: FaultUnboundAccessToken, Breaks: "access tokens carry no cnf and userinfo ignores the client certificate",
			Trips: []string{
				"reports cnf x5t#S256 of the client certificate at introspection",
				"refuses the access token at userinfo over another client's certificate",
				"binds the refreshed access token to the client certificate",
			}, bend: waive(ruleAccessTokenBound)},
		{Name: FaultWrongIDTokenAud, Breaks: "ID tokens carry an aud that is not the client_id",
			Trips: []string{
				"issues an ID token with iss, aud, sub, iat and a future exp",
				"issues refresh-grant ID tokens with the original iss and sub",
			}, bend: onIDTokenClaims(issuerAsAudience)},
		{Name: FaultMissingAtHash, Breaks: "ID tokens omit at_hash (also in push, where it is required)", Trips: []string{"binds the push ID token with at_hash, rt_hash and the auth_req_id claim"}, NoFAPI: true, bend: dropClaim(ciba.ClaimATHash)},
		{Name: FaultPushUnderFAPI, Breaks: "push mode is advertised and push clients are accepted", Trips: []string{"does not list push in backchannel_token_delivery_modes_supported"}, bend: waive(ruleNoPushUnderFAPI)},
		{Name: FaultTLSWeakCiphers, Breaks: "TLS 1.2 accepts a non-FAPI CBC cipher suite", Trips: []string{"refuses a TLS 1.2 handshake offering only a non-FAPI cipher suite"}, bend: onTLS(func(c *tls.Config) { c.CipherSuites = append(c.CipherSuites, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA) })},
		{Name: FaultNoPingOnDeny, Breaks: "no ping is sent when the user denies", Trips: []string{"pings after the user denies and then answers access_denied"}, bend: noPingOnDeny},
		{Name: FaultPingRetryAfter4xx, Breaks: "a ping answered 4xx is retried", Trips: []string{"does not retry a ping the client answered with 401"}, bend: waive(ruleNoRetryAfter4xx)},
		{Name: FaultFollowNotificationRedirect, Breaks: "redirects from the notification endpoint are followed", Trips: []string{"does not follow a redirect from the notification endpoint"}, bend: waive(ruleNoRedirectsFollowed)},
		{Name: FaultNoCNFInIntrospection, Breaks: "introspection omits the cnf certificate thumbprint", Trips: []string{"reports cnf x5t#S256 of the client certificate at introspection"}, bend: waive(ruleIntrospectionCNF)},
		{Name: FaultShortAuthReqID, Breaks: "auth_req_id has only 64 bits of entropy", Trips: []string{"issues unique auth_req_ids of at least 128 bits"}, bend: func(h *hooks) { h.authReqIDBytes = 8 }},
		{Name: FaultRefreshCrossClient, Breaks: "another client's refresh token is accepted", Trips: []string{"refuses another client's refresh token with invalid_grant"}, bend: waive(ruleRefreshTokenOwner)},
	}
}

// faultSet is the immutable set of enabled faults of one OP.
type faultSet map[string]bool

func newFaultSet(names []string) (faultSet, error) {
	known := map[string]bool{}
	var valid []string
	for _, f := range Faults() {
		known[f.Name] = true
		valid = append(valid, f.Name)
	}
	set := faultSet{}
	for _, n := range names {
		if !known[n] {
			return nil, fmt.Errorf("unknown fault %q; valid faults: %s", n, strings.Join(valid, ", "))
		}
		set[n] = true
	}
	return set, nil
}

func (s faultSet) on(name string) bool { return s[name] }
