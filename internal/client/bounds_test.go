package client

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/ciba-check/ciba-check/internal/ciba"
)

func TestTooLargeReasonNamesTheBound(t *testing.T) {
	if !strings.Contains(TooLargeReason, " "+strconv.Itoa(MaxResponseBody)+" bytes") {
		t.Errorf("TooLargeReason %q does not name MaxResponseBody (%d)", TooLargeReason, MaxResponseBody)
	}
}

// TestOversizedAnswerIsUnexpected: an answer one byte longer than
// MaxResponseBody is never taken as the answer it starts like (a valid
// token response or OAuth error with trailing whitespace is still JSON),
// at any endpoint, whatever its status.
func TestOversizedAnswerIsUnexpected(t *testing.T) {
	pad := func(body string) string { return body + strings.Repeat(" ", MaxResponseBody+1-len(body)) }
	calls := []struct {
		name string
		call func(*Client) (*Exchange, error)
	}{
		{"authenticate", func(c *Client) (*Exchange, error) {
			_, ex, err := c.Authenticate(context.Background(), AuthParams{Scope: "openid", LoginHint: "alice"})
			return ex, err
		}},
		{"token", func(c *Client) (*Exchange, error) {
			_, ex, err := c.Token(context.Background(), "req-1")
			return ex, err
		}},
		{"introspect", func(c *Client) (*Exchange, error) {
			_, ex, err := c.Introspect(context.Background(), "tok", "")
			return ex, err
		}},
		{"revoke", func(c *Client) (*Exchange, error) { return c.Revoke(context.Background(), "tok", "") }},
		{"userinfo", func(c *Client) (*Exchange, error) {
			_, ex, err := c.UserInfo(context.Background(), "tok")
			return ex, err
		}},
	}
	answers := []struct {
		name   string
		status int
		body   string
	}{
		{"valid success padded", http.StatusOK, pad(`{"auth_req_id":"r1","expires_in":60,"access_token":"a","token_type":"Bearer","active":true,"sub":"s"}`)},
		{"OAuth error padded", http.StatusBadRequest, pad(`{"error":"authorization_pending"}`)},
	}
	for _, a := range answers {
		op := newFakeOP(t, false, func(seen) reply { return jsonReply(a.status, a.body) })
		c, _ := testClient(t, op, rsaJWK(t, "k1"), nil)
		for _, call := range calls {
			t.Run(a.name+"/"+call.name, func(t *testing.T) {
				ex, err := call.call(c)
				var re *ResponseError
				if !errors.As(err, &re) || re.Reason != TooLargeReason {
					t.Fatalf("got error %v, want a *ResponseError saying %q", err, TooLargeReason)
				}
				var ce *ciba.Error
				if errors.As(err, &ce) {
					t.Errorf("an oversized answer was read as OAuth error %s", ce.Code)
				}
				if ex == nil || !ex.Truncated || len(ex.ResponseBody) != MaxResponseBody {
					t.Errorf("exchange: truncated=%v, %d bytes kept; want truncated at %d", ex != nil && ex.Truncated, len(ex.ResponseBody), MaxResponseBody)
				}
			})
		}
	}
}

func TestDiscoverRefusesAnOversizedDocument(t *testing.T) {
	op := newFakeOP(t, false, func(seen) reply {
		return jsonReply(http.StatusOK, `{"issuer":"x"}`+strings.Repeat(" ", MaxResponseBody))
	})
	hc, err := NewHTTPClient(Config{RootCAs: op.roots()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Discover(context.Background(), hc, op.srv.URL)
	if err == nil || !strings.Contains(err.Error(), TooLargeReason) {
		t.Errorf("got %v, want an error saying %q", err, TooLargeReason)
	}
}
