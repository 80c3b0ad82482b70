package client_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
)

// A poll-mode flow, then an attack probe: the same client sends a request
// object signed with alg none and reports the OP's answer.
func Example() {
	ctx := context.Background()
	cfg := client.Config{ /* ClientID, AuthMethod, Mode, SigningKey, TLSCert, RootCAs */ }
	hc, _ := client.NewHTTPClient(cfg)
	md, err := client.Discover(ctx, hc, "https://op.example")
	if err != nil {
		return
	}
	cfg.Metadata = md
	c, err := client.New(cfg)
	if err != nil {
		return
	}
	ack, _, err := c.Authenticate(ctx, client.AuthParams{Scope: "openid", LoginHint: "alice", BindingMessage: "1234"})
	if err != nil {
		return
	}
	tokens, err := c.Poll(ctx, ack)
	if errors.Is(err, ciba.ErrAccessDenied) {
		fmt.Println("the user said no")
	}
	_ = tokens

	_, ex, err := c.Authenticate(ctx, client.AuthParams{Scope: "openid", LoginHint: "alice"},
		client.CallRequestObject(client.WithNoneAlg()))
	if errors.Is(err, ciba.ErrInvalidRequest) {
		fmt.Println("refused with", ex.Status)
	}
}
