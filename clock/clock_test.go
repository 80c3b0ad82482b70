package clock

import (
	"testing"
	"time"
)

func TestFakeFiresDueTimersOnly(t *testing.T) {
	c := NewFake(time.Unix(1000, 0))
	fired := make(chan string, 3)
	c.AfterFunc(time.Second, func() { fired <- "1s" })
	c.AfterFunc(3*time.Second, func() { fired <- "3s" })
	stopped := c.AfterFunc(2*time.Second, func() { fired <- "2s" })
	if !stopped.Stop() {
		t.Fatal("Stop on a pending timer reported false")
	}
	c.Advance(2 * time.Second)
	if got := <-fired; got != "1s" {
		t.Fatalf("fired %q, want 1s", got)
	}
	if n := c.Pending(); n != 1 {
		t.Fatalf("pending = %d, want 1", n)
	}
	c.Advance(time.Second)
	if got := <-fired; got != "3s" {
		t.Fatalf("fired %q, want 3s", got)
	}
	if got := c.Now(); !got.Equal(time.Unix(1003, 0)) {
		t.Fatalf("now = %v", got)
	}
}
