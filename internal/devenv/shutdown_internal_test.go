package devenv

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestShutdownWithin: our grace running out is no error (what is left is
// closed by force), the caller's context ending is, and other errors
// pass through.
func TestShutdownWithin(t *testing.T) {
	errClose, errOther := errors.New("close failed"), errors.New("listener failed")
	waitThen := func(extra error) func(context.Context) error {
		return func(ctx context.Context) error { <-ctx.Done(); return errors.Join(ctx.Err(), extra) }
	}
	tests := []struct {
		name         string
		callerEnded  bool
		shutdown     func(context.Context) error
		closeErr     error
		hasClose     bool
		want         []error // errors.Is each
		wantNil      bool
		wantClosed   bool
		wantDeadline bool
	}{
		{name: "clean", shutdown: func(context.Context) error { return nil }, hasClose: true, wantNil: true},
		{name: "grace runs out: closed by force, no error", shutdown: waitThen(nil), hasClose: true, wantNil: true, wantClosed: true},
		{name: "grace runs out: the force close's error", shutdown: waitThen(nil), hasClose: true, closeErr: errClose, want: []error{errClose}, wantClosed: true},
		{name: "grace runs out, shutdown closes itself (refop.Server)", shutdown: waitThen(errClose), want: []error{errClose}},
		{name: "another error passes, and what is left is closed", shutdown: func(context.Context) error { return errOther }, hasClose: true, want: []error{errOther}, wantClosed: true},
		{name: "the caller's context ended", callerEnded: true, shutdown: waitThen(nil), hasClose: true, wantDeadline: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.callerEnded {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, time.Unix(0, 0))
				defer cancel()
			}
			closed := false
			var forceClose func() error
			if tt.hasClose {
				forceClose = func() error { closed = true; return tt.closeErr }
			}
			err := shutdownWithin(ctx, time.Millisecond, tt.shutdown, forceClose)
			if tt.wantNil != (err == nil) {
				t.Fatalf("err = %v, want nil: %v", err, tt.wantNil)
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("err = %v, want it to include %v", err, w)
				}
			}
			if errors.Is(err, context.DeadlineExceeded) != tt.wantDeadline {
				t.Errorf("err = %v; deadline reported: want %v", err, tt.wantDeadline)
			}
			if closed != tt.wantClosed {
				t.Errorf("force-closed %v, want %v", closed, tt.wantClosed)
			}
		})
	}
}
