package refop

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"sync"
	"time"
)

// maxVerifiedChains bounds the chain verification cache; real deployments
// see a handful of client certificates, a flood of distinct ones only
// evicts entries (the cache is never needed for correctness).
const maxVerifiedChains = 1024

// chainKey identifies the certificates a TLS client presented: SHA-256
// over the DER of the leaf and every intermediate, length-prefixed, since
// whether a leaf chains can depend on the intermediates sent with it.
type chainKey [sha256.Size]byte

// verifiedChain is a successful tls_client_auth chain verification
// (RFC 8705 2.1). It holds only while the clock stays inside the validity
// window of every certificate of the verified chain.
type verifiedChain struct {
	notBefore, notAfter time.Time
	// subject is the leaf's Subject.String(), compared per client with
	// tls_client_auth_subject_dn on every request.
	subject string
}

// chainCache remembers successful x509 verifications against one OP's
// Config.ClientCAs. It lives in the OP, so it never outlives the
// configuration it was filled under: a new Config is a new OP. Failures
// are not cached.
type chainCache struct {
	mu      sync.RWMutex
	entries map[chainKey]verifiedChain
}

func newChainCache() *chainCache {
	return &chainCache{entries: map[chainKey]verifiedChain{}}
}

func chainKeyOf(certs []*x509.Certificate) chainKey {
	h := sha256.New()
	var n [4]byte
	for _, c := range certs {
		binary.BigEndian.PutUint32(n[:], uint32(len(c.Raw)))
		h.Write(n[:])
		h.Write(c.Raw)
	}
	var k chainKey
	h.Sum(k[:0])
	return k
}

// lookup returns the cached verification of key if it still holds at now.
func (cc *chainCache) lookup(key chainKey, now time.Time) (verifiedChain, bool) {
	cc.mu.RLock()
	v, ok := cc.entries[key]
	cc.mu.RUnlock()
	if !ok || now.Before(v.notBefore) || now.After(v.notAfter) {
		return verifiedChain{}, false
	}
	return v, true
}

// add records that chain (leaf first, root last) verified. Its window is
// the intersection of the chain's validity periods, the same bounds
// x509.Verify checks for each certificate.
func (cc *chainCache) add(key chainKey, chain []*x509.Certificate, now time.Time) verifiedChain {
	v := verifiedChain{notBefore: chain[0].NotBefore, notAfter: chain[0].NotAfter, subject: chain[0].Subject.String()}
	for _, c := range chain[1:] {
		if c.NotBefore.After(v.notBefore) {
			v.notBefore = c.NotBefore
		}
		if c.NotAfter.Before(v.notAfter) {
			v.notAfter = c.NotAfter
		}
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if len(cc.entries) >= maxVerifiedChains {
		for k, e := range cc.entries {
			if now.After(e.notAfter) || now.Before(e.notBefore) {
				delete(cc.entries, k)
			}
		}
		// Still full: drop arbitrary entries; they are re-verified on use.
		for k := range cc.entries {
			if len(cc.entries) < maxVerifiedChains {
				break
			}
			delete(cc.entries, k)
		}
	}
	cc.entries[key] = v
	return v
}

func (cc *chainCache) len() int {
	cc.mu.RLock()
	defer cc.mu.RUnlock()
	return len(cc.entries)
}
