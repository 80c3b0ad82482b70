package refop

// The MemoryStore's indexes and compact forms: expiry queues, the age
// lists behind its caps, digests of keys, shared strings, stored tokens
// (used jtis and tombstones: store_compact.go).

import (
	"container/heap"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
	"time"
)

// expiryQueue is a min-heap of keys by expiry (Unix ns). An entry may
// be stale (the key was dropped, or re-stored with another expiry):
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

// digest is how a MemoryStore keys tokens: the first 16 bytes of the
// SHA-256 of the key.
type digest [16]byte

func digestOf(key string) digest {
	sum := sha256.Sum256([]byte(key))
	return digest(sum[:16])
}

// jtiSeconds is t in Unix seconds rounded up, clamped to uint32 (2106):
// a used jti is remembered up to a second past its expiry, never less.
// Assertions and request objects carry whole-second exps anyway.
func jtiSeconds(t time.Time) uint32 {
	n := unixNano(t)
	if n <= 0 {
		return 0
	}
	sec := n / int64(time.Second)
	if n%int64(time.Second) != 0 {
		sec++
	}
	return uint32(min(sec, math.MaxUint32))
}

// jtiNanos is a jtiSeconds value in Unix ns.
func jtiNanos(sec uint32) int64 { return int64(sec) * int64(time.Second) }

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

// storedToken is how a MemoryStore keeps a Token, under the digest of
// its key: its strings as 16-bit indexes of s.names (intern; fewer than
// maxInterned), its expiry and auth time in Unix ns, its issue time as
// whole milliseconds before its expiry (the OP's token lifetimes are
// whole seconds). 32 bytes; 68 with its table slot (tokenSlot) at 4,000
// and at 100,000 held, against 115 and 73 in a Go map (whose bytes per
// entry follow how full its last growth left it), 135 and 92 with an
// age-list entry besides (see dropOldestTokens), 142 at 100,000 with
// 32-bit indexes, three int64 times and an expiry heap, and 250 when it
// held its strings (TestMemoryStoreBytesPerEntry). Refresh tokens live a day, so a busy
// serve holds hundreds of thousands. A token with a string that has no
// index (the shared strings are full), a kind beyond the first
// tokenKinds, or an issue time not a whole number of milliseconds (under
// 49 days) before its expiry is kept whole in s.wideTokens instead.
type storedToken struct {
	expiresAt, authTime int64 // unixNano
	// issuedBefore is expiresAt - issuedAt in ms; tokenIssuedZero for a
	// zero IssuedAt.
	issuedBefore                                  uint32
	clientID, subject, scope, acr, certThumbprint uint16
	// flags holds the kind, an index of s.names (the kinds come first,
	// below tokenKinds), and tokenRevoked and tokenWide.
	flags uint8
}

const (
	tokenKinds      = 1 << 6
	tokenRevoked    = 1 << 6
	tokenWide       = 1 << 7
	tokenIssuedZero = math.MaxUint32
)

func (st storedToken) kind() uint8   { return st.flags & (tokenKinds - 1) }
func (st storedToken) revoked() bool { return st.flags&tokenRevoked != 0 }
func (st storedToken) wide() bool    { return st.flags&tokenWide != 0 }

// storeToken is t as stored under k. The caller holds s.mu.
func (s *MemoryStore) storeToken(k digest, t Token) storedToken {
	st := storedToken{authTime: unixNano(t.AuthTime), expiresAt: unixNano(t.ExpiresAt)}
	wide := false
	if t.Revoked {
		st.flags |= tokenRevoked
	}
	if kind, ok := s.nameOf(string(t.Kind)); ok && kind < tokenKinds {
		st.flags |= uint8(kind)
	} else {
		wide = true
	}
	switch iss := unixNano(t.IssuedAt); {
	case t.IssuedAt.IsZero():
		st.issuedBefore = tokenIssuedZero
	case iss <= st.expiresAt && (uint64(st.expiresAt)-uint64(iss))%uint64(time.Millisecond) == 0 &&
		(uint64(st.expiresAt)-uint64(iss))/uint64(time.Millisecond) < tokenIssuedZero:
		st.issuedBefore = uint32((uint64(st.expiresAt) - uint64(iss)) / uint64(time.Millisecond))
	default:
		wide = true
	}
	strs := [...]string{t.ClientID, t.Subject, t.Scope, t.ACR, t.CertThumbprint}
	for i, f := range [...]*uint16{&st.clientID, &st.subject, &st.scope, &st.acr, &st.certThumbprint} {
		n, ok := s.nameOf(strs[i])
		wide = wide || !ok || n > math.MaxUint16
		*f = uint16(n)
	}
	if !wide {
		delete(s.wideTokens, k)
		return st
	}
	st.flags |= tokenWide
	t.Key = ""
	t.Kind, t.ClientID, t.Subject = TokenKind(s.intern(string(t.Kind))), s.intern(t.ClientID), s.intern(t.Subject)
	t.Scope, t.ACR, t.CertThumbprint = s.intern(t.Scope), s.intern(t.ACR), s.intern(t.CertThumbprint)
	t.IssuedAt = fromUnixNano(unixNano(t.IssuedAt)) // as a compact one comes back
	s.wideTokens[k] = t
	return st
}

// token is st, stored under k, as a Token with key. The caller holds
// s.mu.
func (s *MemoryStore) token(key string, k digest, st storedToken) Token {
	var t Token
	if st.wide() {
		t = s.wideTokens[k]
	} else {
		t = Token{Kind: TokenKind(s.names[st.kind()]), ClientID: s.names[st.clientID], Subject: s.names[st.subject],
			Scope: s.names[st.scope], ACR: s.names[st.acr], CertThumbprint: s.names[st.certThumbprint]}
		if st.issuedBefore != tokenIssuedZero {
			t.IssuedAt = fromUnixNano(st.expiresAt - int64(st.issuedBefore)*int64(time.Millisecond))
		}
	}
	t.Key, t.Revoked = key, st.revoked()
	t.AuthTime, t.ExpiresAt = fromUnixNano(st.authTime), fromUnixNano(st.expiresAt)
	return t
}

// issuedAt is the issue time (Unix ns) of st, which is not wide (a wide
// token's is in s.wideTokens); the minimum for a zero IssuedAt.
func (st storedToken) issuedAt() int64 {
	if st.issuedBefore == tokenIssuedZero {
		return math.MinInt64
	}
	return st.expiresAt - int64(st.issuedBefore)*int64(time.Millisecond)
}

// tokenSlot is a token as its table (MemoryStore.tokens) holds it: the
// table's key is the first half of the token's digest (digestHalves), lo the
// second. 40 bytes, 48 a slot with the key: 64 to 77 a token as the
// table fills (68 measured at 4,000 and 100,000), where a Go map of
// 48-byte entries (the digest and the token) took 55 to 110 as its
// groups filled and split (73 and 115 measured,
// TestMemoryStoreBytesPerEntry).
type tokenSlot struct {
	lo uint64
	st storedToken
}

// digestHalves splits a token's digest into the table's key and the rest.
func digestHalves(k digest) (hi, lo uint64) {
	return binary.BigEndian.Uint64(k[:8]), binary.BigEndian.Uint64(k[8:])
}

// errTokenKeyTaken refuses to store a token whose digest's first half
// (the token table's key, flatKey's 0 held as 1 included) is another
// stored token's: with n tokens held, a fresh one meets that with
// probability n/2^64 (2x10^-14 at the default cap), like keyHash's
// collisions, which also only ever cost a refusal.
var errTokenKeyTaken = errors.New("refop: the token's digest collides with a stored token's")

// getToken returns the token stored under k. The caller holds s.mu.
func (s *MemoryStore) getToken(k digest) (storedToken, bool) {
	hi, lo := digestHalves(k)
	v, ok := s.tokens.get(hi)
	if !ok || v.lo != lo {
		return storedToken{}, false
	}
	return v.st, true
}

// dropOldestTokens drops the k tokens issued first (PutToken's cap: the
// oldest, not the first to expire, which would be fresh access tokens
// before old refresh tokens), ties broken by the table's order. Each
// token holds its issue time, so the order needs no list of keys by age
// (16 bytes a token more, TestMemoryStoreBytesPerEntry): the issue
// times are sorted, O(n log n), once every n/8 tokens stored beyond the
// cap. The caller holds s.mu.
func (s *MemoryStore) dropOldestTokens(k int) {
	if k <= 0 {
		return
	}
	issued := make([]int64, 0, s.tokens.len())
	s.tokens.each(func(v tokenSlot) {
		if !v.st.wide() {
			issued = append(issued, v.st.issuedAt())
		}
	})
	for _, t := range s.wideTokens {
		issued = append(issued, unixNano(t.IssuedAt))
	}
	goes := smallestK(issued, k)
	for key, t := range s.wideTokens {
		if goes(unixNano(t.IssuedAt)) {
			s.dropToken(key)
		}
	}
	s.tokens.deleteIf(func(v tokenSlot) bool { return !v.st.wide() && goes(v.st.issuedAt()) }, func(tokenSlot) {})
}

// dropToken forgets the token stored under k. The caller holds s.mu.
func (s *MemoryStore) dropToken(k digest) {
	hi, lo := digestHalves(k)
	if v, ok := s.tokens.get(hi); ok && v.lo == lo {
		s.tokens.del(hi)
	}
	delete(s.wideTokens, k)
}

// maxInterned bounds the strings a MemoryStore shares (intern); beyond
// it each new value is copied as it comes, so a client sending a new
// scope each time costs what it did without sharing.
const maxInterned = 4096

// Every index of s.names fits the 16 bits storedToken and storedRequest
// keep one in.
const _ = uint(math.MaxUint16 + 1 - maxInterned)

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
