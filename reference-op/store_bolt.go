package refop

import (
	"context"
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
var (
	bucketRequests = []byte("auth_requests")
	bucketTokens   = []byte("tokens")
	bucketJTIs     = []byte("jtis")
)

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
		for _, b := range [][]byte{bucketRequests, bucketTokens, bucketJTIs} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
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
		return b.Put([]byte(r.ID), v)
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
		return b.Put([]byte(id), v)
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
		return tx.Bucket(bucketTokens).Put([]byte(t.Key), v)
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
		b := tx.Bucket(bucketJTIs)
		if v := b.Get([]byte(key)); v != nil {
			var exp time.Time
			if err := exp.UnmarshalBinary(v); err != nil {
				return fmt.Errorf("jti record: %w", err)
			}
			if exp.After(now) {
				return nil
			}
		}
		v, err := expiresAt.MarshalBinary()
		if err != nil {
			return err
		}
		fresh = true
		return b.Put([]byte(key), v)
	})
	if err != nil {
		return false, err
	}
	return fresh, nil
}

// Purge implements Store.
func (s *BoltStore) Purge(_ context.Context, cutoff time.Time) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		expired := func(bucket []byte, exp func(v []byte) (time.Time, error)) error {
			b := tx.Bucket(bucket)
			var doomed [][]byte
			// Collect first: deleting under a live cursor skips keys.
			err := b.ForEach(func(k, v []byte) error {
				t, err := exp(v)
				if err != nil {
					return fmt.Errorf("%s %q: %w", bucket, k, err)
				}
				if t.Before(cutoff) {
					doomed = append(doomed, append([]byte(nil), k...))
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, k := range doomed {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			return nil
		}
		return errors.Join(
			expired(bucketRequests, func(v []byte) (time.Time, error) {
				var r AuthRequest
				err := json.Unmarshal(v, &r)
				return r.ExpiresAt, err
			}),
			expired(bucketTokens, func(v []byte) (time.Time, error) {
				var t Token
				err := json.Unmarshal(v, &t)
				return t.ExpiresAt, err
			}),
			expired(bucketJTIs, func(v []byte) (time.Time, error) {
				var t time.Time
				err := t.UnmarshalBinary(v)
				return t, err
			}),
		)
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
