package refop

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestMemoryStoreAgeListStaysBounded creates many short-lived requests,
// purging as an OP would: the age list behind the cap stays within twice
// the store's size (plus its slack), however many were ever created.
func TestMemoryStoreAgeListStaysBounded(t *testing.T) {
	s, c := NewMemoryStore(), context.Background()
	start := time.Unix(1_800_000_000, 0)
	for i := range 20_000 {
		now := start.Add(time.Duration(i) * time.Second)
		if err := s.CreateAuthRequest(c, AuthRequest{ID: fmt.Sprint(i), ExpiresAt: now.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if i%60 == 0 {
			if err := s.Purge(c, now); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, live := len(s.requestsAge.keys)-s.requestsAge.head, len(s.requests); n > 2*live+1024+1 {
		t.Fatalf("age list holds %d keys for %d requests", n, live)
	}
	if len(s.requests) > 200 || len(s.requestsExp) > 200 {
		t.Fatalf("%d requests and %d expiry entries after purges", len(s.requests), len(s.requestsExp))
	}
}
