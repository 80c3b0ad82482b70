package refop

import (
	"fmt"
	"sort"
	"strings"
)

// Fault is one deliberate deviation of the reference OP. Switching it on
// must make at least one conformance check fail: Trips names it.
type Fault struct {
	// Name is what Config.Faults and the CLI use.
	Name string
	// Breaks says in one line what the OP then does wrong.
	Breaks string
	// Trips is the spec requirement / suite check the fault must trip.
	Trips string
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
	fs = append(fs, authDiscoveryFaults()...)
	fs = append(fs, tokenFaults()...)
	fs = append(fs, clientAuthFaults()...)
	fs = append(fs, pushFaults()...)
	sort.Slice(fs, func(i, j int) bool { return fs[i].Name < fs[j].Name })
	return fs
}

// coreFaults are the first faults of the catalogue, spread over the OP.
func coreFaults() []Fault {
	return []Fault{
		{FaultAcceptAlgNone, "request objects with alg none are accepted unsigned", "FAPI-CIBA-7.10 / CIBA-7.1.1: alg none request object refused (ensure-request-object-signature-algorithm-is-none-fails)"},
		{FaultAcceptRS256, "RS256-signed request objects are accepted", "FAPI-CIBA-7.10 (FAPI-RW 8.6): RS256 request object refused (ensure-request-object-signature-algorithm-is-RS256-fails)"},
		{FaultAllowUnsignedRequest, "plain form backchannel requests without a signed request object are accepted", "FAPI-CIBA-5.2.2-6: unsigned request refused (ensure-unsigned-backchannel-authorization-request-fails)"},
		{FaultIgnoreRequestObjectExp, "request object exp is not checked (missing or past exp accepted)", "CIBA-7.1.1 / FAPI-CIBA-5.2.2-9: expired or exp-less request object refused"},
		{FaultInvalidRequestObjectCode, "bad request objects are answered invalid_request_object instead of invalid_request", "CIBA-13: bad request object gives 400 invalid_request"},
		{FaultIssueTokenTwice, "an approved auth_req_id can be redeemed twice", "CIBA-10.1 / CIBA-11: redeemed auth_req_id gives invalid_grant"},
		{FaultCrossClientAuthReqID, "another client's auth_req_id is redeemable", "CIBA-11: other client's auth_req_id gives invalid_grant (ensure-wrong-auth-req-id-in-token-endpoint-request)"},
		{FaultAcceptExpiredToken, "an expired auth_req_id stays pending and redeemable: never expired_token", "CIBA-11: expired_token after expires_in (auth-req-id-expired)"},
		{FaultUnboundAccessToken, "access tokens carry no cnf and userinfo ignores the client certificate", "RFC 8705 3 / FAPI-RW 5.2.2-5: token used with another certificate refused"},
		{FaultWrongIDTokenAud, "ID tokens carry an aud that is not the client_id", "OIDC-3.1.3.7 / CIBA-10.1.1: ID token aud contains client_id"},
		{FaultMissingAtHash, "ID tokens omit at_hash (also in push, where it is required)", "CIBA-10.3.1 / OIDC-3.3.2.11: at_hash present and valid"},
		{FaultPushUnderFAPI, "push mode is advertised and push clients are accepted", "FAPI-CIBA-5.2.2-3: push not supported"},
		{FaultTLSWeakCiphers, "TLS 1.2 accepts a non-FAPI CBC cipher suite", "FAPI-RW 8.5-2: only FAPI TLS 1.2 cipher suites"},
		{FaultNoPingOnDeny, "no ping is sent when the user denies", "CIBA-10.2: ping on denial too (user-rejects-authentication, ping)"},
		{FaultPingRetryAfter4xx, "a ping answered 4xx is retried", "CIBA-10.2: no retry after 401 (ping-...-response-401-and-require-server-does-not-retry)"},
		{FaultFollowNotificationRedirect, "redirects from the notification endpoint are followed", "CIBA-10.2: redirect not followed (ping-backchannel-notification-endpoint-return-redirect-request)"},
		{FaultNoCNFInIntrospection, "introspection omits the cnf certificate thumbprint", "RFC 8705 3.2: introspection returns cnf x5t#S256"},
		{FaultShortAuthReqID, "auth_req_id has only 64 bits of entropy", "CIBA-7.3: auth_req_id with at least 128 bits of entropy"},
		{FaultRefreshCrossClient, "another client's refresh token is accepted", "RFC 6749 6 / CIBA-11: other client's refresh token gives invalid_grant (refresh-token)"},
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
