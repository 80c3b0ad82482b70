package load

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ciba-check/ciba-check/clock"
	"github.com/ciba-check/ciba-check/reports"
)

// AssertionSource hands out one client assertion per request.
type AssertionSource interface {
	Take(ctx context.Context) (string, error)
}

// SignFunc signs a client assertion with the given jti (RFC 7523 3) and
// returns it; the pool stamps its expiry itself.
type SignFunc func(jti string) (string, error)

// PoolConfig configures an AssertionPool.
type PoolConfig struct {
	Sign SignFunc
	// Lifetime is exp-iat of what Sign produces (client.AssertionLifetime).
	Lifetime time.Duration
	// MinRemaining: an assertion with less time to exp is discarded, not
	// sent: it could expire in flight or at an OP whose clock runs ahead.
	MinRemaining time.Duration
	// Size is how many signed assertions wait ready; Signers how many
	// goroutines sign (default GOMAXPROCS).
	Size, Signers int
	// JTIPrefix makes every jti unique to this run and shard.
	JTIPrefix string
	Clock     clock.Clock
}

type signedAssertion struct {
	jwt string
	exp time.Time
}

// AssertionPool signs client assertions ahead of use in background
// goroutines and hands each out exactly once (OIDC Core 9: a jti is used
// once), discarding those too close to expiry. Refilling runs from Start
// until Close.
type AssertionPool struct {
	cfg   PoolConfig
	ready chan signedAssertion
	seq   atomic.Uint64

	signed, taken, stale, waits atomic.Uint64
	signErr                     atomic.Pointer[error]
	full, failed                chan struct{}
	fullOnce                    sync.Once

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewAssertionPool checks cfg; Start begins signing.
func NewAssertionPool(cfg PoolConfig) (*AssertionPool, error) {
	if cfg.Sign == nil {
		return nil, errors.New("load: PoolConfig.Sign is nil")
	}
	if cfg.Lifetime <= 0 {
		return nil, errors.New("load: PoolConfig.Lifetime must be positive")
	}
	if cfg.MinRemaining < 0 || cfg.MinRemaining >= cfg.Lifetime {
		return nil, fmt.Errorf("load: PoolConfig.MinRemaining %v must be in [0, Lifetime %v)", cfg.MinRemaining, cfg.Lifetime)
	}
	if cfg.Size <= 0 {
		cfg.Size = 1024
	}
	if cfg.Signers <= 0 {
		cfg.Signers = runtime.GOMAXPROCS(0)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	return &AssertionPool{cfg: cfg, ready: make(chan signedAssertion, cfg.Size),
		full: make(chan struct{}), failed: make(chan struct{})}, nil
}

// PoolSize is a pool size for a rate: about ten seconds of assertions,
// so none waits long enough to go stale, within [256, 65536].
func PoolSize(r Rate) int {
	if r.Max {
		return 4096
	}
	return min(max(int(r.PerSecond()*10), 256), 65536)
}

// Start launches the signers; they stop when ctx ends or Close is called.
func (p *AssertionPool) Start(ctx context.Context) {
	ctx, p.cancel = context.WithCancel(ctx)
	for range p.cfg.Signers {
		p.wg.Add(1)
		go p.refill(ctx)
	}
}

// Fill blocks until the pool has been full once (or signing failed, or
// ctx ends), so a run starts with assertions ready.
func (p *AssertionPool) Fill(ctx context.Context) error {
	select {
	case <-p.full:
		return nil
	case <-p.failed:
		return p.err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *AssertionPool) refill(ctx context.Context) {
	defer p.wg.Done()
	for ctx.Err() == nil {
		jti := p.cfg.JTIPrefix + strconv.FormatUint(p.seq.Add(1), 36)
		// exp is stamped before signing: at worst a little earlier than
		// the real one, so freshness checks err on the safe side.
		exp := p.cfg.Clock.Now().Add(p.cfg.Lifetime)
		jwt, err := p.cfg.Sign(jti)
		if err != nil {
			if p.signErr.CompareAndSwap(nil, &err) {
				close(p.failed)
			}
			return
		}
		p.signed.Add(1)
		select {
		case p.ready <- signedAssertion{jwt: jwt, exp: exp}:
			if len(p.ready) == cap(p.ready) {
				p.fullOnce.Do(func() { close(p.full) })
			}
		case <-ctx.Done():
			return
		}
	}
}

func (p *AssertionPool) err() error {
	if e := p.signErr.Load(); e != nil {
		return fmt.Errorf("load: signing client assertions: %w", *e)
	}
	return nil
}

// Take returns a fresh assertion, waiting for one when the pool is empty.
func (p *AssertionPool) Take(ctx context.Context) (string, error) {
	for {
		var a signedAssertion
		select {
		case a = <-p.ready:
		default:
			p.waits.Add(1)
			select {
			case a = <-p.ready:
			case <-p.failed:
				return "", p.err()
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		if a.exp.Sub(p.cfg.Clock.Now()) < p.cfg.MinRemaining {
			p.stale.Add(1)
			continue
		}
		p.taken.Add(1)
		return a.jwt, nil
	}
}

// Stats reports the pool's counters so far.
func (p *AssertionPool) Stats() reports.LoadPool {
	return reports.LoadPool{Signed: p.signed.Load(), Taken: p.taken.Load(), Stale: p.stale.Load(), Waits: p.waits.Load()}
}

// Close stops the signers and waits for them.
func (p *AssertionPool) Close() {
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait()
}

// InlineAssertions signs a fresh assertion on every Take: the slow way,
// kept for the benchmark that measures what the pool saves.
type InlineAssertions struct {
	Sign      SignFunc
	JTIPrefix string
	seq       atomic.Uint64
}

// Take signs one assertion now.
func (s *InlineAssertions) Take(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return s.Sign(s.JTIPrefix + strconv.FormatUint(s.seq.Add(1), 36))
}
