package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ciba-check/ciba-check/internal/devenv"
	"github.com/ciba-check/ciba-check/internal/target"
)

// startEmbedded starts the embedded reference OP and mock device for the
// command named what; a configuration mistake is a usage error.
func startEmbedded(ctx context.Context, what string, o devenv.Options) (*devenv.Env, error) {
	env, err := devenv.Start(ctx, o)
	if err != nil {
		var cfgErr *target.ConfigError
		if errors.As(err, &cfgErr) {
			return nil, &UsageError{Err: fmt.Errorf("%s: %w", what, err)}
		}
		return nil, fmt.Errorf("%s: starting the embedded reference OP: %w", what, err)
	}
	return env, nil
}

// closeEmbedded stops env, giving it 10 s to finish what is in flight.
func closeEmbedded(env *devenv.Env) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return env.Close(ctx)
}
