package refop_test

import (
	"errors"
	"testing"
	"time"

	refop "github.com/ciba-check/ciba-check/reference-op"
)

func TestMemoryStore(t *testing.T) {
	s := refop.NewMemoryStore()
	c := ctx(t)
	now := time.Unix(1_800_000_000, 0)
	r := refop.AuthRequest{ID: "a", ClientID: "c", Status: refop.StatusPending, ExpiresAt: now.Add(time.Minute)}
	if err := s.CreateAuthRequest(c, r); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAuthRequest(c, r); !errors.Is(err, refop.ErrExists) {
		t.Fatalf("duplicate create: %v", err)
	}
	boom := errors.New("boom")
	if _, err := s.UpdateAuthRequest(c, "a", func(r *refop.AuthRequest) error { r.Status = refop.StatusApproved; return boom }); !errors.Is(err, boom) {
		t.Fatalf("update error: %v", err)
	}
	if got, _ := s.GetAuthRequest(c, "a"); got.Status != refop.StatusPending {
		t.Fatalf("failed update persisted: %v", got.Status)
	}
	if got, err := s.UpdateAuthRequest(c, "a", func(r *refop.AuthRequest) error { r.Status = refop.StatusApproved; return nil }); err != nil || got.Status != refop.StatusApproved {
		t.Fatalf("update: %v %v", got.Status, err)
	}
	if _, err := s.UpdateAuthRequest(c, "zz", func(*refop.AuthRequest) error { return nil }); !errors.Is(err, refop.ErrNotFound) {
		t.Fatalf("update unknown: %v", err)
	}
	if _, err := s.GetAuthRequest(c, "zz"); !errors.Is(err, refop.ErrNotFound) {
		t.Fatalf("get unknown: %v", err)
	}

	if ok, _ := s.UseJTI(c, "j", now.Add(time.Minute), now); !ok {
		t.Fatal("first jti use refused")
	}
	if ok, _ := s.UseJTI(c, "j", now.Add(time.Minute), now.Add(30*time.Second)); ok {
		t.Fatal("jti replay accepted")
	}
	if ok, _ := s.UseJTI(c, "j", now.Add(3*time.Minute), now.Add(2*time.Minute)); !ok {
		t.Fatal("expired jti still blocks")
	}

	tok := refop.Token{Key: "k", Kind: refop.KindAccess, ExpiresAt: now.Add(time.Minute)}
	_ = s.PutToken(c, tok)
	if err := s.RevokeToken(c, "k"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetToken(c, "k"); !got.Revoked {
		t.Fatal("revocation lost")
	}
	if err := s.RevokeToken(c, "zz"); !errors.Is(err, refop.ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}

	if err := s.Purge(c, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAuthRequest(c, "a"); !errors.Is(err, refop.ErrNotFound) {
		t.Fatal("purge kept an expired request")
	}
	if _, err := s.GetToken(c, "k"); !errors.Is(err, refop.ErrNotFound) {
		t.Fatal("purge kept an expired token")
	}
}
