package refop

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Allowance is one behaviour the specifications permit that the strict
// reference OP does not show by default, but real OPs choose. Switching
// it on must not make any conformance check fail: the allowance matrix
// (suites/conformance) proves the suite never fails a compliant OP. It is
// the mirror of Fault.
type Allowance struct {
	// Name is what Config.Allowances and the CLI use.
	Name string
	// Permits says in one line what the OP then does.
	Permits string
	// Basis is the section and the verbatim sentence that permits it.
	Basis string
	// Departs is "" when the behaviour is purely MAY-level; otherwise the
	// SHOULD it departs from, which the suite may answer with a warning.
	Departs string
	// Exclusive names the allowances it cannot be combined with.
	Exclusive []string
	// bend is how the allowance bends the strict OP at its seams
	// (hooks.go); every allowance has one.
	bend func(*hooks)
}

// Allowance names. Each is tested in allowances_test.go to be off by
// default and to change behaviour when on.
const (
	AllowACRAlways                = "acr-always"
	AllowACRUnsupported           = "acr-unsupported"
	AllowAuthReqID128Bits         = "auth-req-id-128-bits"
	AllowBindingMessageRestricted = "binding-message-restricted"
	AllowCacheControlExtra        = "cache-control-extra-directives"
	AllowCacheControlMixedCase    = "cache-control-mixed-case"
	AllowDiscoveryExtraMetadata   = "discovery-extra-metadata"
	AllowErrorExtraMembers        = "error-extra-members"
	AllowGenericErrorDescription  = "generic-error-description"
	AllowIDTokenAudArray          = "id-token-aud-array"
	AllowIDTokenAuthReqIDClaim    = "id-token-auth-req-id-claim"
	AllowIDTokenES256Only         = "id-token-es256-only"
	AllowIDTokenWithoutATHash     = "id-token-without-at-hash"
	AllowIDTokenWithoutAuthTime   = "id-token-without-auth-time"
	AllowIntervalAbsent           = "interval-absent"
	AllowIntrospectionAbsent      = "introspection-absent"
	AllowIntrospectionRefused     = "introspection-refused"
	AllowInvalidClient400         = "invalid-client-400"
	AllowJWKSMixedKeys            = "jwks-mixed-keys"
	AllowJWTAccessTokens          = "jwt-access-tokens"
	AllowNeverSlowDown            = "never-slow-down"
	AllowNoErrorDescription       = "no-error-description"
	AllowNoRefreshTokens          = "no-refresh-tokens"
	AllowPingRetry4xx             = "ping-retry-4xx"
	AllowRefreshOfflineAccessOnly = "refresh-token-offline-access-only"
	AllowRefreshTokenRotation     = "refresh-token-rotation"
	AllowRefreshWithoutIDToken    = "refresh-without-id-token"
	AllowRefreshWiderScopeIgnored = "refresh-wider-scope-ignored"
	AllowReplayRevokesTokens      = "replay-revokes-tokens"
	AllowRequestObjectReplay      = "request-object-replay-accepted"
	AllowRequestURINotSupported   = "request-uri-not-supported"
	AllowRequestedExpiryIgnored   = "requested-expiry-ignored"
	AllowSingleKeyWithoutKid      = "single-key-without-kid"
	AllowSlowDevice               = "slow-device"
	AllowTLS13Only                = "tls13-only"
	AllowTokenExpiresInAbsent     = "token-expires-in-absent"
	AllowTokenScopeOmitted        = "token-scope-omitted"
	AllowTokenTypeLowercase       = "token-type-lowercase"
)

// Values the allowances use.
const (
	// fixedExpiry is expires_in under requested-expiry-ignored.
	fixedExpiry = 120 * time.Second
	// slowDeviceDelay is how long after accepting a request the OP
	// reaches the authentication device under slow-device.
	slowDeviceDelay = 7 * time.Second
	// genericErrorDescription is every error_description under
	// generic-error-description.
	genericErrorDescription = "the request was refused"
	// scopeOfflineAccess asks for a refresh token (OIDC Core 11).
	scopeOfflineAccess = "offline_access"
)

// Allowances returns the catalogue, sorted by name, with Exclusive made
// symmetric. It is a fresh slice each call so callers may modify it.
func Allowances() []Allowance {
	as := allowanceCatalogue()
	index := map[string]int{}
	for i, a := range as {
		index[a.Name] = i
	}
	for _, a := range slices.Clone(as) {
		for _, other := range a.Exclusive {
			if j, ok := index[other]; ok && !slices.Contains(as[j].Exclusive, a.Name) {
				as[j].Exclusive = append(as[j].Exclusive, a.Name)
			}
		}
	}
	for i := range as {
		as[i].Exclusive = slices.Clone(as[i].Exclusive)
		sort.Strings(as[i].Exclusive)
	}
	sort.Slice(as, func(i, j int) bool { return as[i].Name < as[j].Name })
	return as
}

// allowanceSet is the immutable set of enabled allowances of one OP.
type allowanceSet map[string]bool

// newAllowanceSet validates names: each must be in the catalogue and no
// two may exclude each other.
func newAllowanceSet(names []string) (allowanceSet, error) {
	if err := ValidateAllowances(names, Allowances()); err != nil {
		return nil, err
	}
	set := allowanceSet{}
	for _, n := range names {
		set[n] = true
	}
	return set, nil
}

// ValidateAllowances checks names against catalogue: every name known,
// no two exclusive of each other. Environments with allowances of their
// own (devenv) pass their wider catalogue.
func ValidateAllowances(names []string, catalogue []Allowance) error {
	byName := map[string]Allowance{}
	var valid []string
	for _, a := range catalogue {
		byName[a.Name] = a
		valid = append(valid, a.Name)
	}
	for i, n := range names {
		a, ok := byName[n]
		if !ok {
			return fmt.Errorf("unknown allowance %q; valid allowances: %s", n, strings.Join(valid, ", "))
		}
		for _, other := range names[:i] {
			if slices.Contains(a.Exclusive, other) {
				return fmt.Errorf("allowances %q and %q exclude each other", other, n)
			}
		}
	}
	return nil
}

func (s allowanceSet) on(name string) bool { return s[name] }
