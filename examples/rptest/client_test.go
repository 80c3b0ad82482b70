package rptest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"example.com/rptest"
	"github.com/ciba-check/ciba-check/reference-op/refoptest"
)

// newClient is the RP configured for the reference OP's poll client.
func newClient(op *refoptest.OP) *rptest.Client {
	c := op.Client("poll", "private_key_jwt")
	return &rptest.Client{
		ID: c.ID, Key: c.SigningKey, Alg: c.Alg, Issuer: op.Issuer,
		Backchannel:   op.Discovery.BackchannelAuthenticationEndpoint,
		TokenEndpoint: op.Discovery.TokenEndpoint,
		HTTP:          op.HTTPClient(c),
	}
}

func TestApprovedFlowGivesTokens(t *testing.T) {
	op := refoptest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tokens, err := newClient(op).Authenticate(ctx, op.User("approve").LoginHint, "1234")
	if err != nil {
		t.Fatal(err)
	}
	if tokens.IDToken == "" || tokens.AccessToken == "" {
		t.Fatalf("tokens %+v: want an ID token and an access token", tokens)
	}
}

func TestDeniedFlowIsAccessDenied(t *testing.T) {
	op := refoptest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := newClient(op).Authenticate(ctx, op.User("deny").LoginHint, "1234")
	var oe *rptest.OAuthError
	if !errors.As(err, &oe) || oe.Code != "access_denied" {
		t.Fatalf("err %v: want access_denied (CIBA 11)", err)
	}
}

// An RP developer's CIBA poll flow against the reference OP, outside
// ciba-check's module.
func Example() {
	dir, err := os.MkdirTemp("", "refop-*")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	op, err := refoptest.New(dir, refoptest.Options{})
	if err != nil {
		panic(err)
	}
	defer op.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tokens, err := newClient(op).Authenticate(ctx, op.User("approve").LoginHint, "1234")
	if err != nil {
		panic(err)
	}
	fmt.Println("token type:", tokens.TokenType)
	fmt.Println("ID token:", tokens.IDToken != "")
	// Output:
	// token type: Bearer
	// ID token: true
}
