package conformance

import (
	"context"
	"slices"
	"sync"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/internal/target"
)

// leases are the test users held by running checks and shared flows.
type leases struct {
	mu      sync.Mutex
	held    map[*target.User]bool
	changed chan struct{} // closed and replaced at every release
}

func newLeases() *leases {
	return &leases{held: map[*target.User]bool{}, changed: make(chan struct{})}
}

// try leases the first free user of peers, or returns nil.
func (l *leases) try(peers []*target.User) *target.User {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, u := range peers {
		if !l.held[u] {
			l.held[u] = true
			return u
		}
	}
	return nil
}

// wait leases the first user of peers to become free.
func (l *leases) wait(ctx context.Context, peers []*target.User) (*target.User, error) {
	for {
		if u := l.try(peers); u != nil {
			return u, nil
		}
		l.mu.Lock()
		ch := l.changed
		l.mu.Unlock()
		// A release between try and here closed an older channel:
		// look again before sleeping on this one.
		if u := l.try(peers); u != nil {
			return u, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (l *leases) release(users []*target.User) {
	if len(users) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, u := range users {
		delete(l.held, u)
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

// peersOf is u and the users interchangeable with it, u first: same
// outcome and delay, the same kind of hint, a user_code or none, and not
// shared.
func peersOf(users []target.User, u *target.User) []*target.User {
	param, _ := u.Hint()
	out := []*target.User{u}
	for i := range users {
		p := &users[i]
		pp, _ := p.Hint()
		if p != u && !p.Shared && outcomeOf(p) == outcomeOf(u) && p.Delay == u.Delay && pp == param && (p.UserCode == "") == (u.UserCode == "") {
			out = append(out, p)
		}
	}
	return out
}

// abandonStop ends a worker's check that would wait for a test user while
// holding another: its spec runs it instead.
type abandonStop struct{}

// lease gives the check u, or in a run with other checks running, a
// free peer of u; a check asking again for a user like one it holds gets
// the same one. Shared users are given as they are.
func (f *Fixture) lease(u *target.User) *target.User {
	ginkgo.GinkgoHelper()
	if f.run == nil || u.Shared {
		return u
	}
	peers := peersOf(f.env.Target.Users, u)
	for _, h := range f.leased {
		if slices.Contains(peers, h) {
			return h
		}
	}
	got := f.run.leases.try(peers)
	if got == nil {
		if f.worker && len(f.leased) > 0 {
			panic(abandonStop{})
		}
		var err error
		if got, err = f.run.leases.wait(f.ctx, peers); err != nil {
			f.fail("interrupted while waiting for test user " + u.Name + " (another check holds it): " + err.Error())
		}
	}
	f.leased = append(f.leased, got)
	return got
}
