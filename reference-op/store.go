package refop

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
)

// ErrNotFound is returned by a Store for an unknown key.
var ErrNotFound = errors.New("refop: not found")

// ErrExists is returned by Store.CreateAuthRequest for a duplicate id.
var ErrExists = errors.New("refop: already exists")

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

// MemoryStore is a Store in process memory. Besides its maps it keeps
// one min-heap by expiry per kind, so Purge costs O(k log n) for the k
// entries it drops instead of a scan of everything stored, and used jtis
// are dropped as soon as they expire (an expired jti counts as unused
// anyway): memory and per-request cost stay flat however many requests,
// tokens and assertions a long `serve` has seen.
//
// Requests and tokens are also capped by count (SetLimits): beyond the
// cap the one expiring first is dropped, as a purge would later. Purge
// alone bounds them by rate × lifetime, which for refresh tokens (a day)
// and retained expired requests (an hour) is too much under sustained
// load. Used jtis are never capped: dropping a live one would allow a
// replay; they expire within minutes.
//
// Requests long expired are reduced to tombstones (Retire), used jtis
// to a digest and an expiry, and tokens to a compact form under a digest
// of their key (storedToken), so what the store keeps for a request after
// its expiry (an hour, for expired_token answers) is about a sixth of the
// whole record, and a token (a refresh token lives a day) about half.
type MemoryStore struct {
	mu          sync.Mutex
	maxRequests int
	maxTokens   int
	requests    map[string]AuthRequest
	tokens      map[digest]storedToken
	jtis        map[digest]int64 // expiry, Unix ns
	requestsExp expiryQueue[string]
	tokensExp   expiryQueue[digest]
	jtisExp     expiryQueue[digest]
	// requestsAge and tokensAge list keys oldest first, for the caps.
	requestsAge fifo[string]
	tokensAge   fifo[digest]
	dropped     int
	// names and nameIdx are the shared strings (intern), by index.
	names   []string
	nameIdx map[string]uint32
	// tombs are retired requests (Retire), by digest of their id;
	// retainedExp lists requests Retire had to keep whole.
	tombs       map[digest]tombstone
	tombsExp    expiryQueue[digest]
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
	// DefaultMaxTombstones caps retired requests (Retire), about 100
	// bytes each; beyond it the one expiring first goes (a late poll for
	// it then gets invalid_grant instead of expired_token).
	DefaultMaxTombstones = 1_000_000
)

// NewMemoryStore returns an empty MemoryStore with the default caps.
func NewMemoryStore() *MemoryStore {
	s := &MemoryStore{
		maxRequests: DefaultMaxStoredRequests,
		maxTokens:   DefaultMaxStoredTokens,
		requests:    map[string]AuthRequest{},
		tokens:      map[digest]storedToken{},
		jtis:        map[digest]int64{},
		tombs:       map[digest]tombstone{},
		maxTombs:    DefaultMaxTombstones,
	}
	// The states and delivery modes a tombstone records always have an
	// index, however many other strings were shared before.
	s.names, s.nameIdx = []string{""}, map[string]uint32{"": 0}
	for _, v := range []string{string(StatusPending), string(StatusApproved), string(StatusDenied), string(StatusFailed),
		string(StatusRedeemed), string(StatusExpired), string(ciba.ModePoll), string(ciba.ModePing), string(ciba.ModePush)} {
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
	// Queued counts the expiry-index entries of all kinds (MemoryStore:
	// at least the entries stored, more only for keys whose expiry
	// changed; BoltStore: exactly the entries stored).
	Queued int
	// Dropped counts requests, tokens and tombstones a MemoryStore
	// dropped, oldest first, to stay within its caps (SetLimits,
	// DefaultMaxTombstones).
	Dropped int
	// Tombstones counts the requests a MemoryStore retired (Retire):
	// not in Requests.
	Tombstones int
}

// Counts reports how many entries the store holds.
func (s *MemoryStore) Counts() StoreCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return StoreCounts{
		Requests: len(s.requests), Tokens: len(s.tokens), JTIs: len(s.jtis),
		Queued:     len(s.requestsExp) + len(s.tokensExp) + len(s.jtisExp) + len(s.tombsExp) + len(s.retainedExp),
		Dropped:    s.dropped,
		Tombstones: len(s.tombs),
	}
}

// CreateAuthRequest implements Store.
func (s *MemoryStore) CreateAuthRequest(_ context.Context, r AuthRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.requests[r.ID]; ok {
		return ErrExists
	}
	if _, ok := s.tombs[digestOf(r.ID)]; ok {
		return ErrExists
	}
	r = s.own(r)
	s.requests[r.ID] = r
	s.requestsExp.push(r.ID, unixNano(r.ExpiresAt))
	s.requestsAge.add(r.ID, len(s.requests), func(k string) bool { _, ok := s.requests[k]; return ok })
	for len(s.requests) > s.maxRequests {
		delete(s.requests, s.requestsAge.oldest(func(k string) bool { _, ok := s.requests[k]; return ok }))
		s.dropped++
	}
	return nil
}

// GetAuthRequest implements Store.
func (s *MemoryStore) GetAuthRequest(_ context.Context, id string) (AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[id]
	if !ok {
		if tb, ok := s.tombs[digestOf(id)]; ok {
			return s.request(id, tb), nil
		}
		return AuthRequest{}, ErrNotFound
	}
	return r, nil
}

// UpdateAuthRequest implements Store.
func (s *MemoryStore) UpdateAuthRequest(_ context.Context, id string, fn func(*AuthRequest) error) (AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[id]
	if !ok {
		return s.updateTomb(id, fn)
	}
	before, key := r.ExpiresAt, r.ID
	if err := fn(&r); err != nil {
		return s.requests[id], err
	}
	// Keyed by the stored id, not the caller's: assigning to a map with
	// a string key re-points the key at the string given, and the
	// caller's auth_req_id is a window into its token request's body.
	s.requests[key] = r
	if !r.ExpiresAt.Equal(before) {
		s.requestsExp.push(key, unixNano(r.ExpiresAt))
	}
	return r, nil
}

// PutToken implements Store.
func (s *MemoryStore) PutToken(_ context.Context, t Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, st := digestOf(t.Key), s.storeToken(t)
	old, ok := s.tokens[k]
	if !ok || old.expiresAt != st.expiresAt {
		s.tokensExp.push(k, st.expiresAt)
	}
	s.tokens[k] = st
	if !ok {
		s.tokensAge.add(k, len(s.tokens), s.hasToken)
	}
	for len(s.tokens) > s.maxTokens {
		delete(s.tokens, s.tokensAge.oldest(s.hasToken))
		s.dropped++
	}
	return nil
}

func (s *MemoryStore) hasToken(k digest) bool { _, ok := s.tokens[k]; return ok }

// GetToken implements Store.
func (s *MemoryStore) GetToken(_ context.Context, key string) (Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.tokens[digestOf(key)]
	if !ok {
		return Token{}, ErrNotFound
	}
	return st.token(key), nil
}

// RevokeToken implements Store.
func (s *MemoryStore) RevokeToken(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := digestOf(key)
	st, ok := s.tokens[k]
	if !ok {
		return ErrNotFound
	}
	st.revoked = true
	s.tokens[k] = st
	return nil
}

// storedToken is how a MemoryStore keeps a Token, under the digest of
// its key: the repeated strings shared (intern), times in Unix ns. About
// 250 bytes with its map and queue entries, against 460 for a Token and
// its key (measured with 100,000); refresh tokens live a day, so a busy
// serve holds hundreds of thousands.
type storedToken struct {
	clientID, subject, scope, acr, certThumbprint string
	kind                                          TokenKind
	authTime, issuedAt, expiresAt                 int64 // unixNano
	revoked                                       bool
}

// storeToken is t as stored. The caller holds s.mu.
func (s *MemoryStore) storeToken(t Token) storedToken {
	return storedToken{
		clientID: s.intern(t.ClientID), subject: s.intern(t.Subject), scope: s.intern(t.Scope),
		acr: s.intern(t.ACR), certThumbprint: s.intern(t.CertThumbprint), kind: TokenKind(s.intern(string(t.Kind))),
		authTime: unixNano(t.AuthTime), issuedAt: unixNano(t.IssuedAt), expiresAt: unixNano(t.ExpiresAt),
		revoked: t.Revoked,
	}
}

// token is st as a Token stored under key.
func (st storedToken) token(key string) Token {
	return Token{Key: key, Kind: st.kind, ClientID: st.clientID, Subject: st.subject, Scope: st.scope, ACR: st.acr,
		AuthTime: fromUnixNano(st.authTime), IssuedAt: fromUnixNano(st.issuedAt), ExpiresAt: fromUnixNano(st.expiresAt),
		CertThumbprint: st.certThumbprint, Revoked: st.revoked}
}

// UseJTI implements Store. It first drops the jtis expired by now: they
// would be accepted again anyway, so keeping them only costs memory.
//
// A used jti is kept as 16 bytes of the SHA-256 of key and its expiry
// (64 bytes with its index entries, against 173 for the key string and a
// time.Time; measured with 100,000): at hundreds of assertions a second, each
// replay-protected until its exp, they are most of what a MemoryStore
// holds. Two keys colliding in 128 bits would only refuse the second
// as a replay.
func (s *MemoryStore) UseJTI(_ context.Context, key string, expiresAt, now time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	nowN := unixNano(now)
	s.jtisExp.popWhile(func(at int64) bool { return at <= nowN }, func(k digest) {
		if exp, ok := s.jtis[k]; ok && exp <= nowN {
			delete(s.jtis, k)
		}
	})
	k := digestOf(key)
	if exp, ok := s.jtis[k]; ok && exp > nowN {
		return false, nil
	}
	exp := unixNano(expiresAt)
	s.jtis[k] = exp
	s.jtisExp.push(k, exp)
	return true, nil
}

// digest is how a MemoryStore keys used jtis (UseJTI) and retired
// requests (Retire): the first 16 bytes of the SHA-256 of the key.
type digest [16]byte

func digestOf(key string) digest {
	sum := sha256.Sum256([]byte(key))
	return digest(sum[:16])
}

// unixNano is t in Unix nanoseconds, clamped to int64 (the zero time is
// the minimum), for ordering only.
func unixNano(t time.Time) int64 {
	switch {
	case t.Before(minUnixNano):
		return math.MinInt64
	case t.After(maxUnixNano):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// fromUnixNano undoes unixNano: the zero time comes back as such, other
// times in the local zone (equal to what was stored, by Equal).
func fromUnixNano(n int64) time.Time {
	if n == math.MinInt64 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

var (
	minUnixNano = time.Unix(0, math.MinInt64)
	maxUnixNano = time.Unix(0, math.MaxInt64)
)

// ListAuthRequests implements Store.
func (s *MemoryStore) ListAuthRequests(_ context.Context) ([]AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]AuthRequest, 0, len(s.requests))
	for _, r := range s.requests {
		out = append(out, r)
	}
	return out, nil
}

// Purge implements Store in O(k log n) for the k entries dropped.
func (s *MemoryStore) Purge(_ context.Context, cutoff time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cut := unixNano(cutoff)
	before := func(at int64) bool { return at < cut }
	s.requestsExp.popWhile(before, func(id string) {
		if r, ok := s.requests[id]; ok && r.ExpiresAt.Before(cutoff) {
			delete(s.requests, id)
		}
	})
	s.tokensExp.popWhile(before, func(k digest) {
		if t, ok := s.tokens[k]; ok && t.expiresAt < cut {
			delete(s.tokens, k)
		}
	})
	s.retainedExp.popWhile(before, func(id string) {
		if r, ok := s.requests[id]; ok && r.ExpiresAt.Before(cutoff) {
			delete(s.requests, id)
		}
	})
	s.tombsExp.popWhile(before, func(k digest) {
		if tb, ok := s.tombs[k]; ok && tb.expires < cut {
			delete(s.tombs, k)
		}
	})
	s.jtisExp.popWhile(before, func(k digest) {
		if exp, ok := s.jtis[k]; ok && exp < cut {
			delete(s.jtis, k)
		}
	})
	return nil
}

// Retirer is a Store that can reduce requests long expired to
// tombstones (OP.maybePurge calls it when the store is one).
type Retirer interface {
	// Retire reduces each request that expired before cutoff, and owes
	// its client nothing more, to what a late token request needs to be
	// answered as before: its client, delivery mode, state, redemptions
	// and expiry. Get and Update then return those fields (NotifyDone
	// set, the rest zero); ListAuthRequests leaves such requests out.
	Retire(ctx context.Context, cutoff time.Time) error
}

var _ Retirer = (*MemoryStore)(nil)

// tombstone is a retired request, its strings as indexes of s.names:
// about 90 bytes with its map and queue entries, against about 480 for
// the whole record (580 before its strings were shared; measured with
// 100,000 of each).
type tombstone struct {
	expires                        int64 // Unix ns
	clientID, deliveryMode, status uint32
	redemptions                    uint32
}

// tombstone returns r as a tombstone, or false when one of its strings
// has no index (the shared strings are full).
func (s *MemoryStore) tombstone(r AuthRequest) (tombstone, bool) {
	client, ok1 := s.nameOf(r.ClientID)
	mode, ok2 := s.nameOf(r.DeliveryMode)
	status, ok3 := s.nameOf(string(r.Status))
	return tombstone{expires: unixNano(r.ExpiresAt), clientID: client, deliveryMode: mode, status: status,
		redemptions: uint32(min(max(r.Redemptions, 0), math.MaxUint32))}, ok1 && ok2 && ok3
}

func (s *MemoryStore) request(id string, tb tombstone) AuthRequest {
	return AuthRequest{ID: id, ClientID: s.names[tb.clientID], DeliveryMode: s.names[tb.deliveryMode],
		ExpiresAt: fromUnixNano(tb.expires), Status: AuthStatus(s.names[tb.status]), Redemptions: int(tb.redemptions), NotifyDone: true}
}

// owesNothing says whether an expired request r has nothing left to
// deliver: a poll request, one whose notification is done, or a ping
// request never decided (ping has no expiry notice). A push request
// still being told of its outcome or expiry stays whole.
func owesNothing(r AuthRequest) bool {
	switch ciba.DeliveryMode(r.DeliveryMode) {
	case ciba.ModePoll:
		return true
	case ciba.ModePing:
		return r.NotifyDone || r.Status == StatusPending
	}
	return r.NotifyDone
}

// Retire implements Retirer in O(k log n) for the k requests retired.
func (s *MemoryStore) Retire(_ context.Context, cutoff time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cut := unixNano(cutoff)
	s.requestsExp.popWhile(func(at int64) bool { return at < cut }, func(id string) {
		r, ok := s.requests[id]
		if !ok || !r.ExpiresAt.Before(cutoff) {
			return // dropped, or re-queued under a later expiry
		}
		tb, ok := s.tombstone(r)
		if !ok || !owesNothing(r) {
			s.retainedExp.push(id, unixNano(r.ExpiresAt))
			return
		}
		delete(s.requests, id)
		k := digestOf(id)
		s.tombs[k] = tb
		s.tombsExp.push(k, tb.expires)
		for len(s.tombs) > s.maxTombs && len(s.tombsExp) > 0 {
			k := heap.Pop(&s.tombsExp).(expiring[digest]).key
			if _, ok := s.tombs[k]; ok {
				delete(s.tombs, k)
				s.dropped++
			}
		}
	})
	return nil
}

// updateTomb is UpdateAuthRequest for a retired request: fn sees it as
// tombstone.request shows it, and what it changes of state and
// redemptions is kept. The caller holds s.mu.
func (s *MemoryStore) updateTomb(id string, fn func(*AuthRequest) error) (AuthRequest, error) {
	k := digestOf(id)
	tb, ok := s.tombs[k]
	if !ok {
		return AuthRequest{}, ErrNotFound
	}
	r := s.request(id, tb)
	if err := fn(&r); err != nil {
		return s.request(id, tb), err
	}
	next, ok := s.tombstone(r)
	if !ok {
		return s.request(id, tb), fmt.Errorf("refop: retired request %q: state %q has no index", id, r.Status)
	}
	tb.status, tb.redemptions = next.status, next.redemptions
	s.tombs[k] = tb
	return r, nil
}

// expiryQueue is a min-heap of keys by expiry (Unix ns). An entry may be
// stale (the key was dropped, or re-stored with another expiry):
// popWhile's callback checks the stored value before deleting anything.
type expiryQueue[K comparable] []expiring[K]

type expiring[K comparable] struct {
	key K
	at  int64
}

func (q expiryQueue[K]) Len() int           { return len(q) }
func (q expiryQueue[K]) Less(i, j int) bool { return q[i].at < q[j].at }
func (q expiryQueue[K]) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *expiryQueue[K]) Push(x any)        { *q = append(*q, x.(expiring[K])) }
func (q *expiryQueue[K]) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

func (q *expiryQueue[K]) push(key K, at int64) { heap.Push(q, expiring[K]{key: key, at: at}) }

// popWhile pops entries while due(their expiry) holds for the earliest,
// handing each key to drop.
func (q *expiryQueue[K]) popWhile(due func(at int64) bool, drop func(key K)) {
	for len(*q) > 0 && due((*q)[0].at) {
		drop(heap.Pop(q).(expiring[K]).key)
	}
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

// maxInterned bounds the strings a MemoryStore shares (intern); beyond
// it each new value is copied as it comes, so a client sending a new
// scope each time costs what it did without sharing.
const maxInterned = 4096

// intern returns a copy of v shared by every stored entry with that
// value, so values repeated in every request (a client id, a subject)
// are held once. The caller holds s.mu.
func (s *MemoryStore) intern(v string) string {
	if i, ok := s.nameIdx[v]; ok {
		return s.names[i]
	}
	c := strings.Clone(v)
	if len(s.names) < maxInterned {
		s.nameIdx[c] = uint32(len(s.names))
		s.names = append(s.names, c)
	}
	return c
}

// nameOf is the index of v in s.names, shared now if it was not yet;
// false when it cannot be (full). The caller holds s.mu.
func (s *MemoryStore) nameOf(v string) (uint32, bool) {
	s.intern(v)
	i, ok := s.nameIdx[v]
	return i, ok
}

// fifo lists keys in insertion order. Keys dropped from the store by a
// purge stay in it until skipped; it compacts itself when more than half
// of it is such leftovers, so it stays within twice the store's size.
type fifo[K comparable] struct {
	keys []K
	head int
}

// add appends key. size is how many keys the store holds, present tells
// which: when the list has grown past twice that, the leftovers go, in
// O(n) once every n additions: O(1) amortised.
func (f *fifo[K]) add(key K, size int, present func(K) bool) {
	f.keys = append(f.keys, key)
	if n := len(f.keys) - f.head; n > 2*size+1024 {
		f.keys = slices.DeleteFunc(f.keys[f.head:], func(k K) bool { return !present(k) })
		f.head = 0
	} else if f.head > n {
		f.keys = slices.Delete(f.keys, 0, f.head)
		f.head = 0
	}
}

// oldest removes and returns the oldest key the store still holds; the
// caller only asks while the store is over its cap, so one exists.
func (f *fifo[K]) oldest(present func(K) bool) K {
	var zero K
	for f.head < len(f.keys) {
		k := f.keys[f.head]
		f.keys[f.head] = zero
		f.head++
		if present(k) {
			return k
		}
	}
	return zero
}
