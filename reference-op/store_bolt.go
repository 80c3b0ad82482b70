package refop

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BoltStore is a durable Store in one bbolt file (go.etcd.io/bbolt: pure
// Go, ACID transactions, a single file, the store etcd itself relies on).
// Every write is a committed, fsynced transaction, so a process killed at
// any point loses no acknowledged state: pending requests, issued tokens
// (by hash, as in MemoryStore) and used jtis survive a restart, which is
// what keeps redemption exactly-once and jti replay refused across it.
type BoltStore struct {
	db *bolt.DB
}

var _ Store = (*BoltStore)(nil)

// Bucket names. Values are JSON (requests, tokens) or a binary time (jtis).
// Each kind has an expiry index: keys are expiryKey(expiry, key), values
// empty, so Purge walks only what expired (a cursor from the first key)
// instead of decoding every record, and the file stops growing once
// expired entries are purged (bbolt reuses freed pages).
var (
	bucketRequests = []byte("auth_requests")
	bucketTokens   = []byte("tokens")
	bucketJTIs     = []byte("jtis")

	bucketRequestsExp = []byte("auth_requests_by_expiry")
	bucketTokensExp   = []byte("tokens_by_expiry")
	bucketJTIsExp     = []byte("jtis_by_expiry")
)

// expiryIndexes pairs each bucket with its expiry index and the way to
// read a record's expiry.
var expiryIndexes = []struct {
	data, index []byte
	expiry      func(v []byte) (time.Time, error)
}{
	{bucketRequests, bucketRequestsExp, func(v []byte) (time.Time, error) {
		var r AuthRequest
		err := json.Unmarshal(v, &r)
		return r.ExpiresAt, err
	}},
	{bucketTokens, bucketTokensExp, func(v []byte) (time.Time, error) {
		var t Token
		err := json.Unmarshal(v, &t)
		return t.ExpiresAt, err
	}},
	{bucketJTIs, bucketJTIsExp, func(v []byte) (time.Time, error) {
		var t time.Time
		err := t.UnmarshalBinary(v)
		return t, err
	}},
}

// unixToYear1 shifts Unix seconds so every time from year 1 on is
// non-negative: expiry keys then sort by time as bytes.
const unixToYear1 = 62135596800

// expiryKey is the index key of key expiring at t: 8 bytes of seconds
// since year 1 and 4 of nanoseconds, big-endian, then key.
func expiryKey(t time.Time, key []byte) []byte {
	k := make([]byte, 12, 12+len(key))
	binary.BigEndian.PutUint64(k, uint64(max(t.Unix()+unixToYear1, 0)))
	binary.BigEndian.PutUint32(k[8:], uint32(t.Nanosecond()))
	return append(k, key...)
}

// splitExpiryKey is expiryKey's inverse.
func splitExpiryKey(k []byte) (time.Time, []byte) {
	if len(k) < 12 {
		return time.Time{}, nil
	}
	sec := int64(binary.BigEndian.Uint64(k)) - unixToYear1
	return time.Unix(sec, int64(binary.BigEndian.Uint32(k[8:]))).UTC(), k[12:]
}

// reindex moves key's expiry index entry from old (zero: none) to exp.
func reindex(tx *bolt.Tx, index []byte, key []byte, old, exp time.Time, hadOld bool) error {
	b := tx.Bucket(index)
	if hadOld {
		if old.Equal(exp) {
			return nil
		}
		if err := b.Delete(expiryKey(old, key)); err != nil {
			return err
		}
	}
	return b.Put(expiryKey(exp, key), nil)
}

// purgeIndexed deletes the records of data whose index entry says they
// expire while due holds, at most limit of them (0: no limit), checking
// each record's own expiry before deleting it.
func purgeIndexed(tx *bolt.Tx, data, index []byte, expiry func([]byte) (time.Time, error), due func(time.Time) bool, limit int) error {
	b, idx := tx.Bucket(data), tx.Bucket(index)
	var doomed [][]byte // deleting under a live cursor skips keys
	c := idx.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		at, key := splitExpiryKey(k)
		if !due(at) || (limit > 0 && len(doomed) == limit) {
			break
		}
		doomed = append(doomed, append([]byte(nil), k...))
		if v := b.Get(key); v != nil {
			exp, err := expiry(v)
			if err != nil {
				return fmt.Errorf("%s %q: %w", data, key, err)
			}
			if exp.Equal(at) {
				if err := b.Delete(key); err != nil {
					return err
				}
			}
		}
	}
	for _, k := range doomed {
		if err := idx.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// boltLockTimeout bounds the wait for the file lock: a second OP on the
// same file gets a clear error instead of hanging. A killed process's
// lock is released by the kernel, so a restart does not wait.
const boltLockTimeout = 2 * time.Second

// NewBoltStore opens (creating if needed, mode 0600) the store file at path.
func NewBoltStore(path string) (*BoltStore, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: boltLockTimeout})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("store %s: locked by another process", path)
		}
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, x := range expiryIndexes {
			data, err := tx.CreateBucketIfNotExists(x.data)
			if err != nil {
				return err
			}
			if tx.Bucket(x.index) != nil {
				continue
			}
			// A file written before the indexes existed: index it once.
			idx, err := tx.CreateBucket(x.index)
			if err != nil {
				return err
			}
			err = data.ForEach(func(k, v []byte) error {
				exp, err := x.expiry(v)
				if err != nil {
					return fmt.Errorf("%s %q: %w", x.data, k, err)
				}
				return idx.Put(expiryKey(exp, k), nil)
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	return &BoltStore{db: db}, nil
}

// Close releases the file. Calls after Close fail.
func (s *BoltStore) Close() error { return s.db.Close() }

// Path is the file the store lives in.
func (s *BoltStore) Path() string { return s.db.Path() }

// CreateAuthRequest implements Store.
func (s *BoltStore) CreateAuthRequest(_ context.Context, r AuthRequest) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRequests)
		if b.Get([]byte(r.ID)) != nil {
			return ErrExists
		}
		if err := b.Put([]byte(r.ID), v); err != nil {
			return err
		}
		return reindex(tx, bucketRequestsExp, []byte(r.ID), time.Time{}, r.ExpiresAt, false)
	})
}

// GetAuthRequest implements Store.
func (s *BoltStore) GetAuthRequest(_ context.Context, id string) (AuthRequest, error) {
	var r AuthRequest
	err := s.db.View(func(tx *bolt.Tx) error {
		return getJSON(tx.Bucket(bucketRequests), id, &r)
	})
	return r, err
}

// fnError carries UpdateAuthRequest's fn error through bbolt, which rolls
// the transaction back on any error.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// UpdateAuthRequest implements Store. bbolt runs one write transaction
// at a time, so read-modify-write here is atomic for every id at once.
func (s *BoltStore) UpdateAuthRequest(_ context.Context, id string, fn func(*AuthRequest) error) (AuthRequest, error) {
	var stored, updated AuthRequest
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRequests)
		if err := getJSON(b, id, &stored); err != nil {
			return err
		}
		updated = stored // plain value fields: a full copy
		if err := fn(&updated); err != nil {
			return fnError{err}
		}
		v, err := json.Marshal(updated)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(id), v); err != nil {
			return err
		}
		return reindex(tx, bucketRequestsExp, []byte(id), stored.ExpiresAt, updated.ExpiresAt, true)
	})
	var fe fnError
	if errors.As(err, &fe) {
		return stored, fe.err
	}
	if err != nil {
		return AuthRequest{}, err
	}
	return updated, nil
}

// ListAuthRequests implements Store.
func (s *BoltStore) ListAuthRequests(_ context.Context) ([]AuthRequest, error) {
	var out []AuthRequest
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRequests).ForEach(func(k, v []byte) error {
			var r AuthRequest
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("auth request %q: %w", k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

// PutToken implements Store.
func (s *BoltStore) PutToken(_ context.Context, t Token) error {
	v, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		var old Token
		hadOld := b.Get([]byte(t.Key)) != nil
		if hadOld {
			if err := getJSON(b, t.Key, &old); err != nil {
				return err
			}
		}
		if err := b.Put([]byte(t.Key), v); err != nil {
			return err
		}
		return reindex(tx, bucketTokensExp, []byte(t.Key), old.ExpiresAt, t.ExpiresAt, hadOld)
	})
}

// GetToken implements Store.
func (s *BoltStore) GetToken(_ context.Context, key string) (Token, error) {
	var t Token
	err := s.db.View(func(tx *bolt.Tx) error {
		return getJSON(tx.Bucket(bucketTokens), key, &t)
	})
	return t, err
}

// RevokeToken implements Store.
func (s *BoltStore) RevokeToken(_ context.Context, key string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		var t Token
		if err := getJSON(b, key, &t); err != nil {
			return err
		}
		t.Revoked = true
		v, err := json.Marshal(t)
		if err != nil {
			return err
		}
		return b.Put([]byte(key), v)
	})
}

// UseJTI implements Store.
func (s *BoltStore) UseJTI(_ context.Context, key string, expiresAt, now time.Time) (bool, error) {
	fresh := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		// Drop a few jtis expired by now (they would be accepted again
		// anyway): the write is under way, and the bucket stays small
		// between purges. Bounded, so one call never stalls.
		x := expiryIndexes[2]
		if err := purgeIndexed(tx, x.data, x.index, x.expiry, func(at time.Time) bool { return !at.After(now) }, jtiPurgeBatch); err != nil {
			return err
		}
		b := tx.Bucket(bucketJTIs)
		var old time.Time
		hadOld := false
		if v := b.Get([]byte(key)); v != nil {
			if err := old.UnmarshalBinary(v); err != nil {
				return fmt.Errorf("jti record: %w", err)
			}
			if old.After(now) {
				return nil
			}
			hadOld = true
		}
		v, err := expiresAt.MarshalBinary()
		if err != nil {
			return err
		}
		fresh = true
		if err := b.Put([]byte(key), v); err != nil {
			return err
		}
		return reindex(tx, bucketJTIsExp, []byte(key), old, expiresAt, hadOld)
	})
	if err != nil {
		return false, err
	}
	return fresh, nil
}

// Counts reports how many entries the store holds.
func (s *BoltStore) Counts() (StoreCounts, error) {
	var c StoreCounts
	err := s.db.View(func(tx *bolt.Tx) error {
		c.Requests = tx.Bucket(bucketRequests).Stats().KeyN
		c.Tokens = tx.Bucket(bucketTokens).Stats().KeyN
		c.JTIs = tx.Bucket(bucketJTIs).Stats().KeyN
		for _, x := range expiryIndexes {
			c.Queued += tx.Bucket(x.index).Stats().KeyN
		}
		return nil
	})
	return c, err
}

// jtiPurgeBatch bounds the expired jtis UseJTI drops per call.
const jtiPurgeBatch = 16

// Purge implements Store: it walks the expiry indexes up to cutoff, so it
// reads only what it drops.
func (s *BoltStore) Purge(_ context.Context, cutoff time.Time) error {
	before := func(at time.Time) bool { return at.Before(cutoff) }
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, x := range expiryIndexes {
			if err := purgeIndexed(tx, x.data, x.index, x.expiry, before, 0); err != nil {
				return err
			}
		}
		return nil
	})
}

// getJSON decodes the value under key into out; ErrNotFound if absent.
func getJSON(b *bolt.Bucket, key string, out any) error {
	v := b.Get([]byte(key))
	if v == nil {
		return ErrNotFound
	}
	if err := json.Unmarshal(v, out); err != nil {
		return fmt.Errorf("stored record %q: %w", key, err)
	}
	return nil
}
