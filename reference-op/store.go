package refop

import (
	"context"
	"errors"
	"hash/maphash"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
)

// ErrNotFound is returned by a Store for an unknown key.
var ErrNotFound = errors.New("refop: not found")

// ErrExists is returned by Store.CreateAuthRequest for a duplicate id.
var ErrExists = errors.New("refop: already exists")

// ErrExpiredUndecided is UpdateAuthRequest's refusal to decide a request
// that expired undecided and was retired (Retirer): its tombstone lacks
// what a ping or a token would need.
var ErrExpiredUndecided = errors.New("refop: the request expired undecided")

// AuthStatus is where a backchannel authentication request stands (CIBA 7-11).
type AuthStatus string

// The states of an authentication request. Pending moves once to
// approved, denied or failed; approved moves once to redeemed.
const (
	StatusPending  AuthStatus = "pending"
	StatusApproved AuthStatus = "approved"
	StatusDenied   AuthStatus = "denied"
	// StatusFailed means the authentication device could not be reached
	// or refused the request; the token endpoint answers access_denied.
	StatusFailed   AuthStatus = "failed"
	StatusRedeemed AuthStatus = "redeemed"
	// StatusExpired marks a push request that reached its expiry
	// undecided and was told so (CIBA 12 expired_token); poll and ping
	// requests expire by their ExpiresAt alone.
	StatusExpired AuthStatus = "expired"
)

// AuthRequest is one accepted backchannel authentication request. Plain
// exported fields only, so durable stores can serialise it.
type AuthRequest struct {
	ID                      string
	ClientID                string
	Subject                 string
	Scope                   string
	ACR                     string
	ACRValues               string
	BindingMessage          string
	UserCode                string
	ClientNotificationToken string
	DeliveryMode            string
	CreatedAt               time.Time
	ExpiresAt               time.Time
	// Interval is the current minimum poll interval in seconds; slow_down
	// raises it (CIBA 11).
	Interval int
	LastPoll time.Time
	Status   AuthStatus
	// AuthTime is when the user decided.
	AuthTime time.Time
	// Redemptions counts successful token issuances (1 at most unless a
	// fault allows more).
	Redemptions int
	// FailureReason says why a request is StatusFailed.
	FailureReason string
	// DeviceCalledAt is when the authentication device acknowledged the
	// request (2xx); zero while it has not (see OP.Resume).
	DeviceCalledAt time.Time
	// NotifyAttempts counts ping or push deliveries tried so far;
	// NotifyDone is set once one succeeded or the client refused it for
	// good or the attempts ran out. OP.Resume re-sends when it is unset.
	NotifyAttempts int
	NotifyDone     bool
}

// TokenKind distinguishes access and refresh tokens.
type TokenKind string

// Token kinds.
const (
	KindAccess  TokenKind = "access_token"
	KindRefresh TokenKind = "refresh_token"
)

// Token is an issued access or refresh token. Key is a hash of the token
// value, never the value itself, so a store dump leaks no usable token.
type Token struct {
	Key       string
	Kind      TokenKind
	ClientID  string
	Subject   string
	Scope     string
	ACR       string
	AuthTime  time.Time
	IssuedAt  time.Time
	ExpiresAt time.Time
	// CertThumbprint is the x5t#S256 the token is bound to (RFC 8705 3.1);
	// empty means unbound.
	CertThumbprint string
	Revoked        bool
}

// Store keeps the OP's state. Implementations must make UpdateAuthRequest
// atomic per id: that is what makes token issuance exactly-once.
type Store interface {
	// CreateAuthRequest stores a new request; ErrExists if the id is taken.
	CreateAuthRequest(ctx context.Context, r AuthRequest) error
	// GetAuthRequest returns a copy; ErrNotFound if unknown.
	GetAuthRequest(ctx context.Context, id string) (AuthRequest, error)
	// UpdateAuthRequest runs fn on a copy of the request and stores the
	// result only if fn returns nil, atomically with respect to other
	// updates of the same id. It returns fn's error, or ErrNotFound.
	UpdateAuthRequest(ctx context.Context, id string, fn func(*AuthRequest) error) (AuthRequest, error)
	// PutToken stores a token under t.Key.
	PutToken(ctx context.Context, t Token) error
	// GetToken returns the token stored under key; ErrNotFound if unknown.
	GetToken(ctx context.Context, key string) (Token, error)
	// RevokeToken marks a token revoked; ErrNotFound if unknown.
	RevokeToken(ctx context.Context, key string) error
	// UseJTI records key as used until expiresAt. It reports false if key
	// was already recorded and has not expired by now.
	UseJTI(ctx context.Context, key string, expiresAt, now time.Time) (bool, error)
	// ListAuthRequests returns a copy of every stored request, in no
	// particular order (OP.Resume walks them after a restart).
	ListAuthRequests(ctx context.Context) ([]AuthRequest, error)
	// Purge drops auth requests that expired before cutoff, tokens that
	// expired before cutoff and jtis that expired before cutoff.
	Purge(ctx context.Context, cutoff time.Time) error
}

// MemoryStore is a Store in process memory. Besides its maps it keeps a
// min-heap by expiry for requests, so Retire (on every backchannel
// request) and Purge cost O(k log n) for the k of them they drop instead
// of a scan of everything stored. Tokens, used jtis and tombstones, the
// most numerous, have no per-entry queue: each kind is one flat hash
// table (flatTable; tokens under their digest) swept in one pass by
// Purge (and UseJTI) when something in it is due, and rebuilt to its
// size when a sweep leaves it well below its capacity, so memory follows
// what is held, after a burst too.
// Used jtis are swept as they expire (an expired jti counts as unused
// anyway): memory and per-request cost stay flat however many requests,
// tokens and assertions a long `serve` has seen.
//
// Requests and tokens are also capped by count (SetLimits): beyond the
// cap the oldest request is dropped, and the eighth of the tokens issued
// first, in one sweep (dropOldestTokens). Purge
// alone bounds them by rate × lifetime, which for refresh tokens (a day)
// and retained expired requests (an hour) is too much under sustained
// load. Used jtis are never capped: dropping a live one would allow a
// replay; they expire within minutes.
//
// Expired requests are reduced to tombstones (Retire) of 8 bytes under a
// 64-bit hash of their id, used jtis to such a hash and a 4-byte expiry,
// and tokens to a compact form under a digest of their key
// (storedToken): 16 to 19 bytes a jti held and 21 to 26 a tombstone,
// depending on how full the table's last growth left it (22 and 25 at a
// steady state, TestMemoryStoreBytesPerEntrySteady), and a token (a refresh token
// lives a day) about 68 (TestMemoryStoreBytesPerEntry). Whole requests
// are held compact too (storedRequest), about 240 bytes each with their
// strings and queue entries.
type MemoryStore struct {
	mu          sync.Mutex
	maxRequests int
	maxTokens   int
	// requests are the whole requests, in a compact form (storedRequest);
	// wideRequests those that do not fit one.
	requests     map[string]storedRequest
	wideRequests map[string]AuthRequest
	// requestsPeak is the most requests held since the map was made
	// (shrinkRequests).
	requestsPeak int
	// tokens are the tokens by digest (tokenTable), wideTokens those
	// kept whole besides (see storedToken).
	tokens      flatTable[tokenSlot]
	wideTokens  map[digest]Token
	requestsExp expiryQueue[string]
	// tokensLo is at most the earliest expiry of a token held (exact
	// after a sweep): Purge sweeps the tokens when it is due, not
	// before.
	tokensLo int64
	// requestsAge lists request ids oldest first, for the cap (tokens
	// need no such list: see dropOldestTokens).
	requestsAge fifo[string]
	dropped     int
	// names and nameIdx are the shared strings (intern), by index.
	names   []string
	nameIdx map[string]uint32
	// seed keys the hashes jtis and tombstones are held under (keyHash).
	seed maphash.Seed
	jtis jtiSet
	// tombs are retired requests (Retire); retainedExp lists requests
	// Retire had to keep whole.
	tombs       tombSet
	retainedExp expiryQueue[string]
	maxTombs    int
}

var _ Store = (*MemoryStore)(nil)

// Default caps of a MemoryStore (SetLimits): far above what a
// conformance run or a load run of minutes stores, a few hundred MB at
// most.
const (
	DefaultMaxStoredRequests = 200_000
	DefaultMaxStoredTokens   = 400_000
	// DefaultMaxTombstones caps retired requests (Retire), 24 to 40
	// bytes each; beyond it the eighth of them expiring first goes, in
	// one sweep (a late poll for one of those then gets invalid_grant
	// instead of expired_token).
	DefaultMaxTombstones = 1_000_000
)

// NewMemoryStore returns an empty MemoryStore with the default caps.
func NewMemoryStore() *MemoryStore {
	s := &MemoryStore{
		maxRequests:  DefaultMaxStoredRequests,
		maxTokens:    DefaultMaxStoredTokens,
		requests:     map[string]storedRequest{},
		wideRequests: map[string]AuthRequest{},
		wideTokens:   map[digest]Token{},
		seed:         maphash.MakeSeed(),
		jtis:         newJTISet(),
		tombs:        newTombSet(),
		maxTombs:     DefaultMaxTombstones,
	}
	// The token kinds (below tokenKinds), and the states and delivery
	// modes a stored request records, always have an index, however many
	// other strings were shared before.
	s.names, s.nameIdx = []string{""}, map[string]uint32{"": 0}
	for _, v := range []string{string(KindAccess), string(KindRefresh),
		string(StatusPending), string(StatusApproved), string(StatusDenied), string(StatusFailed), string(StatusRedeemed),
		string(StatusExpired), string(ciba.ModePoll), string(ciba.ModePing), string(ciba.ModePush)} {
		s.intern(v)
	}
	return s
}

// SetLimits replaces the caps on stored requests and tokens; values below
// 1 keep the current cap. It applies from the next insertion.
func (s *MemoryStore) SetLimits(requests, tokens int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if requests > 0 {
		s.maxRequests = requests
	}
	if tokens > 0 {
		s.maxTokens = tokens
	}
}

// StoreCounts is how many entries a store holds (MemoryStore.Counts,
// BoltStore.Counts).
type StoreCounts struct {
	Requests, Tokens, JTIs int
	// Queued counts the expiry-index entries (MemoryStore: of requests,
	// at least the entries stored, more only for keys whose expiry
	// changed; its tokens, jtis and tombstones have none. BoltStore: of
	// all kinds, exactly the entries stored).
	Queued int
	// Dropped counts requests, tokens and tombstones a MemoryStore
	// dropped, oldest or expiring first, to stay within its caps
	// (SetLimits, DefaultMaxTombstones).
	Dropped int
	// Tombstones counts the requests a MemoryStore retired (Retire):
	// not in Requests.
	Tombstones int
}

// hash is keyHash under the store's seed.
func (s *MemoryStore) hash(key string) uint64 { return keyHash(s.seed, key) }

// Counts reports how many entries the store holds.
func (s *MemoryStore) Counts() StoreCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return StoreCounts{
		Requests: len(s.requests), Tokens: s.tokens.len(), JTIs: s.jtis.m.len(),
		Queued:     len(s.requestsExp) + len(s.retainedExp),
		Dropped:    s.dropped,
		Tombstones: s.tombs.m.len(),
	}
}

// CreateAuthRequest implements Store.
func (s *MemoryStore) CreateAuthRequest(_ context.Context, r AuthRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.requests[r.ID]; ok {
		return ErrExists
	}
	if _, ok := s.tombs.get(s.hash(r.ID)); ok {
		return ErrExists // see keyHash for a fresh id whose hash is held
	}
	sr := s.storeRequest(r.ID, &r, nil)
	id := sr.id()
	s.requests[id] = sr
	s.requestsPeak = max(s.requestsPeak, len(s.requests))
	s.requestsExp.push(id, unixNano(r.ExpiresAt))
	s.requestsAge.add(id, len(s.requests), func(k string) bool { _, ok := s.requests[k]; return ok })
	for len(s.requests) > s.maxRequests {
		s.dropRequest(s.requestsAge.oldest(func(k string) bool { _, ok := s.requests[k]; return ok }))
		s.dropped++
	}
	return nil
}

// GetAuthRequest implements Store.
func (s *MemoryStore) GetAuthRequest(_ context.Context, id string) (r AuthRequest, _ error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sr, ok := s.requests[id]
	if !ok {
		if t, ok := s.tombs.get(s.hash(id)); ok {
			return s.request(id, t), nil
		}
		return AuthRequest{}, ErrNotFound
	}
	s.fill(&r, &sr)
	return r, nil
}

// UpdateAuthRequest implements Store.
func (s *MemoryStore) UpdateAuthRequest(_ context.Context, id string, fn func(*AuthRequest) error) (r AuthRequest, _ error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sr, ok := s.requests[id]
	if !ok {
		return s.updateTomb(id, fn)
	}
	s.fill(&r, &sr)
	before := r.ExpiresAt
	if err := fn(&r); err != nil {
		return s.whole(&sr), err
	}
	// Keyed by the stored id, not the caller's: assigning to a map with
	// a string key re-points the key at the string given, and the
	// caller's auth_req_id is a window into its token request's body.
	key := sr.id()
	next := s.storeRequest(key, &r, &sr)
	s.requests[key] = next
	s.storedTimes(&r, &next)
	if !r.ExpiresAt.Equal(before) {
		s.requestsExp.push(key, unixNano(r.ExpiresAt))
	}
	return r, nil
}

// PutToken implements Store.
func (s *MemoryStore) PutToken(_ context.Context, t Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := digestOf(t.Key)
	hi, lo := digestHalves(k)
	if v, ok := s.tokens.get(hi); ok && v.lo != lo {
		return errTokenKeyTaken
	}
	st := s.storeToken(k, t)
	if s.tokens.len() == 0 || st.expiresAt < s.tokensLo {
		s.tokensLo = st.expiresAt
	}
	s.tokens.put(hi, tokenSlot{lo: lo, st: st}, nil)
	if s.tokens.len() > s.maxTokens {
		n := s.tokens.len() - (s.maxTokens - s.maxTokens/8)
		s.dropOldestTokens(n)
		s.dropped += n
	}
	return nil
}

// GetToken implements Store.
func (s *MemoryStore) GetToken(_ context.Context, key string) (Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := digestOf(key)
	st, ok := s.getToken(k)
	if !ok {
		return Token{}, ErrNotFound
	}
	return s.token(key, k, st), nil
}

// RevokeToken implements Store.
func (s *MemoryStore) RevokeToken(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := digestOf(key)
	st, ok := s.getToken(k)
	if !ok {
		return ErrNotFound
	}
	st.flags |= tokenRevoked
	hi, lo := digestHalves(k)
	s.tokens.set(hi, tokenSlot{lo: lo, st: st})
	return nil
}

// UseJTI implements Store, in O(1) amortised: the jtis expired by now
// are dropped by a sweep when one is due (jtiSweepGrowth), and until
// then count as unused anyway.
func (s *MemoryStore) UseJTI(_ context.Context, key string, expiresAt, now time.Time) (bool, error) {
	h := s.hash(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jtis.use(h, jtiSeconds(expiresAt), unixNano(now)), nil
}

// ListAuthRequests implements Store.
func (s *MemoryStore) ListAuthRequests(_ context.Context) ([]AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]AuthRequest, 0, len(s.requests))
	for _, sr := range s.requests {
		out = append(out, AuthRequest{})
		s.fill(&out[len(out)-1], &sr)
	}
	return out, nil
}

// Purge implements Store: in O(k log n) for the k requests dropped, plus
// a pass over the tokens, tombstones or used jtis when one of them
// expired before cutoff (about 6 ms at 400,000 tokens, the default cap,
// when a few are due; as long as a heap popping them when a few thousand
// are. The OP purges once a minute).
func (s *MemoryStore) Purge(_ context.Context, cutoff time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cut := unixNano(cutoff)
	before := func(at int64) bool { return at < cut }
	dropRequest := func(id string) {
		if sr, ok := s.requests[id]; ok && s.expiresAt(&sr).Before(cutoff) {
			s.dropRequest(id)
		}
	}
	s.requestsExp.popWhile(before, dropRequest)
	s.purgeTokens(cut)
	s.retainedExp.popWhile(before, dropRequest)
	s.shrinkRequests()
	s.tombs.purge(cut)
	s.jtis.purge(cut)
	return nil
}

// own copies the request's strings. Form values are substrings of the
// request body they were parsed from (net/url returns unescaped values as
// they stand), so a stored request would otherwise keep its whole POST
// body alive, signed request object and client assertion included: about
// 3 KB per request for as long as it is retained. The fields that take
// few distinct values (client, subject, scope, acr) share one copy each
// (intern).
func (s *MemoryStore) own(r AuthRequest) AuthRequest {
	for _, f := range []*string{&r.ID, &r.BindingMessage, &r.UserCode, &r.ClientNotificationToken, &r.FailureReason} {
		*f = strings.Clone(*f)
	}
	for _, f := range []*string{&r.ClientID, &r.Subject, &r.Scope, &r.ACR, &r.ACRValues, &r.DeliveryMode} {
		*f = s.intern(*f)
	}
	return r
}

// purgeTokens drops the tokens that expired before cut (Unix ns), in one
// pass over them when one has (sweepFlat): no per-entry expiry queue,
// and the table is rebuilt to fit when that leaves it under half full.
// The caller holds s.mu.
func (s *MemoryStore) purgeTokens(cut int64) {
	if s.tokens.len() == 0 || s.tokensLo >= cut {
		return
	}
	lo := int64(math.MaxInt64)
	sweepFlat(&s.tokens, func(v tokenSlot) bool { return v.st.expiresAt < cut },
		func(v tokenSlot) { lo = min(lo, v.st.expiresAt) })
	s.tokensLo = lo
	for k := range s.wideTokens {
		if _, ok := s.getToken(k); !ok {
			delete(s.wideTokens, k)
		}
	}
}
