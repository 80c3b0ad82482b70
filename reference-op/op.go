package refop

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/clock"
)

// Endpoint paths below the issuer.
const (
	PathDiscovery      = ciba.DiscoveryPath
	PathJWKS           = "/jwks"
	PathBackchannel    = "/backchannel"
	PathToken          = "/token"
	PathUserinfo       = "/userinfo"
	PathIntrospect     = "/introspect"
	PathRevoke         = "/revoke"
	PathDeviceCallback = "/ciba/auth/callback"
)

// ACR values this OP can satisfy (FAPI-CIBA 5.2.2-8). The authentication
// device is assumed to perform multi-factor authentication.
const (
	ACRMultiFactor  = "urn:ciba-check:acr:mfa"
	ACRSingleFactor = "urn:ciba-check:acr:sfa"
)

// Defaults applied by New.
const (
	DefaultInterval             = 5
	DefaultExpiry               = 120 * time.Second
	DefaultMaxExpiry            = 10 * time.Minute
	DefaultAccessTokenLifetime  = 10 * time.Minute
	DefaultRefreshTokenLifetime = 24 * time.Hour
	// MaxBodyBytes bounds every request body.
	MaxBodyBytes = 64 << 10
	// clockSkew is the tolerance for nbf/iat in the future and exp just past.
	clockSkew = 10 * time.Second
	// expiredRetention keeps expired requests so polls see expired_token
	// rather than invalid_grant for a while.
	expiredRetention = time.Hour
	// tombstoneAfter is how long after its expiry a request is kept
	// whole; then a store that can (Retirer) keeps only what a late
	// poll's answer needs (client, state, expiry) for the rest of
	// expiredRetention. Nothing needs more once it has expired: the
	// token endpoint answers expired_token (or invalid_grant to another
	// client or after redemption) from those fields, the device callback
	// is refused (its channel token expires with the request), and what
	// is still owed to a ping or push client keeps the request whole
	// (owesNothing). The second only covers a decision or poll that read
	// the clock before the expiry and reaches the store just after it.
	tombstoneAfter = time.Second
	// purgeEvery spaces Purges: they drop what expired an hour ago, and
	// a durable store's Purge is a write transaction, too dear for every
	// request. Retiring is checked on every backchannel request instead:
	// with nothing due it is one look at the head of an expiry queue.
	purgeEvery      = time.Minute
	idTokenLifetime = 10 * time.Minute
)

// OP is the reference FAPI-CIBA OpenID Provider.
//
// Policies a client needs to know (CIBA 7.2 step 4 asks OPs to document
// them):
//   - login_hint is User.LoginHint. login_hint_token is a JWT signed by
//     the client (PS256/ES256, its registered keys) with exp and either
//     sub (a subject) or login_hint; expired -> expired_login_hint_token.
//     id_token_hint is an ID token this OP issued; it may have expired.
//   - binding_message is optional, at most MaxBindingMessageRunes runes,
//     without control or bidi-override characters.
//   - acr_values naming ACRMultiFactor or ACRSingleFactor put the first
//     such value in the ID token's acr; others are ignored.
//   - requested_expiry is clamped to Config.MaxExpiry.
//   - If the authentication device cannot be reached or does not answer
//     2xx, the request fails: the token endpoint answers access_denied,
//     ping clients are pinged, push clients get transaction_failed.
//   - Refresh tokens are not rotated; each refresh issues a new access
//     token bound to the caller's certificate, and a new ID token.
//   - Push (only with PushAllowed) delivers access tokens that are not
//     certificate-bound: no client TLS connection exists at that moment.
//   - With a durable Store (BoltStore) a restart loses nothing the OP
//     acknowledged; Resume re-offers pending requests to the device and
//     re-sends undelivered ping and push notifications within the same
//     attempt bound.
type OP struct {
	cfg Config
	// hooks are the seams where the faults and allowances of cfg bend
	// the strict OP (hooks.go).
	hooks   *hooks
	allowed allowanceState
	clients map[string]*Client
	users   []User
	store   Store
	clock   clock.Clock
	log     *slog.Logger
	// outbound makes device, ping and push calls; it never follows
	// redirects unless the follow-notification-redirect fault is on.
	outbound *http.Client
	signer   jose.JSONWebKey
	// channelSigner signs device channel tokens (Config.ChannelKeyID).
	channelSigner jose.JSONWebKey
	publics       jose.JSONWebKeySet

	randMu sync.Mutex // io.Reader implementations need not be concurrency-safe

	// chains caches successful tls_client_auth chain verifications.
	chains *chainCache

	bgCtx    context.Context
	bgCancel context.CancelFunc
	bgMu     sync.Mutex
	bgClosed bool
	bgTimers map[*timerSlot]struct{}
	bgWG     sync.WaitGroup

	purgeMu   sync.Mutex
	lastPurge time.Time
}

type timerSlot struct{ t clock.Timer }

// New validates cfg, applies defaults and returns a ready OP.
func New(cfg Config) (*OP, error) {
	faults, err := newFaultSet(cfg.Faults)
	if err != nil {
		return nil, err
	}
	allow, err := newAllowanceSet(cfg.Allowances)
	if err != nil {
		return nil, err
	}
	if cfg, err = withDefaults(cfg); err != nil {
		return nil, err
	}
	signer, publics, err := validateSigningKeys(cfg.SigningKeys)
	if err != nil {
		return nil, err
	}
	channelSigner, err := channelKey(cfg.SigningKeys, cfg.ChannelKeyID)
	if err != nil {
		return nil, err
	}
	if allow.on(AllowIDTokenES256Only) && !slices.ContainsFunc(cfg.SigningKeys, func(k jose.JSONWebKey) bool { return k.Algorithm == ciba.AlgES256 }) {
		return nil, fmt.Errorf("allowance %s needs an ES256 signing key", AllowIDTokenES256Only)
	}
	clients, err := validateClients(cfg)
	if err != nil {
		return nil, err
	}
	if err := validateUsers(cfg.Users); err != nil {
		return nil, err
	}

	base := cfg.HTTPClient
	if base == nil {
		base = &http.Client{Timeout: 10 * time.Second}
	}
	outbound := *base
	hooks := newHooks(faults, allow)
	if hooks.enforced(ruleNoRedirectsFollowed) {
		// CIBA 10.2: the OP must not follow redirects from the client.
		outbound.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}

	ctx, cancel := context.WithCancel(context.Background())
	return &OP{
		cfg:           cfg,
		hooks:         hooks,
		clients:       clients,
		users:         cfg.Users,
		store:         cfg.Store,
		clock:         cfg.Clock,
		log:           cfg.Logger,
		outbound:      &outbound,
		signer:        signer,
		publics:       publics,
		channelSigner: channelSigner,
		bgCtx:         ctx,
		bgCancel:      cancel,
		bgTimers:      map[*timerSlot]struct{}{},
		chains:        newChainCache(),
	}, nil
}

// Issuer returns the issuer identifier.
func (op *OP) Issuer() string { return trimSlash(op.cfg.Issuer) }

func trimSlash(s string) string {
	if len(s) > 0 && s[len(s)-1] == '/' {
		return s[:len(s)-1]
	}
	return s
}

func (op *OP) endpoint(path string) string { return op.Issuer() + path }

// Handler serves every endpoint of the OP.
func (op *OP) Handler() http.Handler {
	routes := map[string]struct {
		methods []string
		h       http.HandlerFunc
	}{
		PathDiscovery:      {[]string{http.MethodGet}, op.handleDiscovery},
		PathJWKS:           {[]string{http.MethodGet}, op.handleJWKS},
		PathBackchannel:    {[]string{http.MethodPost}, op.handleBackchannel},
		PathToken:          {[]string{http.MethodPost}, op.handleToken},
		PathUserinfo:       {[]string{http.MethodGet, http.MethodPost}, op.handleUserinfo},
		PathIntrospect:     {[]string{http.MethodPost}, op.handleIntrospect},
		PathRevoke:         {[]string{http.MethodPost}, op.handleRevoke},
		PathDeviceCallback: {[]string{http.MethodPost}, op.handleDeviceCallback},
	}
	if op.hooks.withoutIntrospection {
		delete(routes, PathIntrospect)
	}
	shaping := op.shapesResponses()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if shaping {
			w = shapingWriter{ResponseWriter: w, op: op, r: r}
		}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				op.log.Error("handler panic", "path", r.URL.Path, "panic", fmt.Sprint(v))
				writeError(w, ciba.ErrServerError.WithDescription("internal error"))
			}
		}()
		route, ok := routes[r.URL.Path]
		if !ok {
			writeJSONStatus(w, http.StatusNotFound, ciba.ErrorResponse{Error: "not_found", ErrorDescription: "no such endpoint"})
			return
		}
		if !slices.Contains(route.methods, r.Method) {
			w.Header().Set("Allow", joinMethods(route.methods))
			writeError(w, ciba.ErrInvalidRequest.WithStatus(http.StatusMethodNotAllowed).WithDescription("method "+r.Method+" not allowed"))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		route.h(w, r)
	})
}

func joinMethods(ms []string) string {
	out := ""
	for i, m := range ms {
		if i > 0 {
			out += ", "
		}
		out += m
	}
	return out
}

// Close stops background work (device calls, pings, pushes and their
// retries) and waits for it to finish.
func (op *OP) Close() error {
	op.bgMu.Lock()
	if op.bgClosed {
		op.bgMu.Unlock()
		return nil
	}
	op.bgClosed = true
	op.bgCancel()
	for slot := range op.bgTimers {
		if slot.t.Stop() {
			op.bgWG.Done()
		}
		delete(op.bgTimers, slot)
	}
	op.bgMu.Unlock()
	op.bgWG.Wait()
	return nil
}

// goBackground runs f in a goroutine Close waits for.
func (op *OP) goBackground(f func(ctx context.Context)) {
	op.bgMu.Lock()
	defer op.bgMu.Unlock()
	if op.bgClosed {
		return
	}
	op.bgWG.Add(1)
	go func() {
		defer op.bgWG.Done()
		f(op.bgCtx)
	}()
}

// after runs f after d on the configured clock; Close cancels it.
func (op *OP) after(d time.Duration, f func(ctx context.Context)) {
	op.bgMu.Lock()
	defer op.bgMu.Unlock()
	if op.bgClosed {
		return
	}
	op.bgWG.Add(1)
	slot := &timerSlot{}
	// Hold bgMu while arming so the callback cannot see a nil slot.t.
	slot.t = op.clock.AfterFunc(d, func() {
		defer op.bgWG.Done()
		op.bgMu.Lock()
		delete(op.bgTimers, slot)
		op.bgMu.Unlock()
		if op.bgCtx.Err() != nil {
			return
		}
		f(op.bgCtx)
	})
	op.bgTimers[slot] = struct{}{}
}

// random returns n random bytes from Config.Rand.
func (op *OP) random(n int) ([]byte, error) {
	b := make([]byte, n)
	op.randMu.Lock()
	defer op.randMu.Unlock()
	if _, err := io.ReadFull(op.cfg.Rand, b); err != nil {
		return nil, fmt.Errorf("reading randomness: %w", err)
	}
	return b, nil
}

func (op *OP) userBySubject(sub string) (User, bool) {
	for _, u := range op.users {
		if u.Subject == sub {
			return u, true
		}
	}
	return User{}, false
}

func (op *OP) userByLoginHint(hint string) (User, bool) {
	for _, u := range op.users {
		if u.LoginHint != "" && u.LoginHint == hint {
			return u, true
		}
	}
	return User{}, false
}

// maybePurge retires requests expired past tombstoneAfter, and drops
// long-expired state at most once every purgeEvery. An OP whose faults
// let an expired request be decided and redeemed
// (accept-expired-token) keeps it whole until it is purged: its
// tombstone would have lost the subject and scope a token needs.
func (op *OP) maybePurge(ctx context.Context) {
	now := op.clock.Now()
	if r, ok := op.store.(Retirer); ok && op.hooks.enforced(ruleAuthReqIDExpires) {
		if err := r.Retire(ctx, now.Add(-tombstoneAfter)); err != nil {
			op.log.Warn("retiring expired requests failed", "err", err)
		}
	}
	op.purgeMu.Lock()
	if now.Sub(op.lastPurge) < purgeEvery {
		op.purgeMu.Unlock()
		return
	}
	op.lastPurge = now
	op.purgeMu.Unlock()
	if err := op.store.Purge(ctx, now.Add(-expiredRetention)); err != nil {
		op.log.Warn("purge failed", "err", err)
	}
}
