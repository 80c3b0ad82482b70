package client

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
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

// TestHangIsNoAnswer: a request the OP never answers ends with a
// *NoAnswerError naming the endpoint, still a deadline error underneath;
// a refused connection is not one.
func TestHangIsNoAnswer(t *testing.T) {
	release := make(chan struct{})
	op := newFakeOP(t, false, func(seen) reply {
		<-release
		return jsonReply(http.StatusOK, `{}`)
	})
	t.Cleanup(func() { close(release) })
	c, _ := testClient(t, op, rsaJWK(t, "k1"), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, ex, err := c.Token(ctx, "req-1")
	var na *NoAnswerError
	if !errors.As(err, &na) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a *NoAnswerError wrapping the deadline", err)
	}
	if want := "the OP did not answer POST " + op.srv.URL + "/token within "; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if ex == nil || ex.Status != 0 {
		t.Errorf("exchange %+v, want one without a response", ex)
	}

	hc, err := NewHTTPClient(Config{RootCAs: op.roots()})
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	if _, err := Discover(ctx2, hc, op.srv.URL+"/hang"); !errors.As(err, &na) {
		t.Errorf("discovery: got %v, want a *NoAnswerError", err)
	}
	if _, err := Discover(context.Background(), hc, "https://127.0.0.1:1"); errors.As(err, &na) {
		t.Errorf("a refused connection was reported as no answer: %v", err)
	}
}

func TestWaited(t *testing.T) {
	for d, want := range map[time.Duration]string{30 * time.Second: "30 s", 1500 * time.Millisecond: "2 s", 250 * time.Millisecond: "250 ms"} {
		if got := waited(d); got != want {
			t.Errorf("waited(%s) = %q, want %q", d, got, want)
		}
	}
}

// TestTruncatedExchangeIsNoAnswer: the first MaxResponseBody bytes of an
// oversized answer may parse on their own (an OAuth error padded with
// whitespace); the Exchange's readers never take them for the answer.
func TestTruncatedExchangeIsNoAnswer(t *testing.T) {
	body := []byte(`{"error":"invalid_request"}` + strings.Repeat(" ", 100))
	ex := &Exchange{Status: http.StatusBadRequest, ResponseBody: body}
	if ex.OAuthError() == nil {
		t.Fatal("the whole answer does not parse as an OAuth error: the test proves nothing")
	}
	ex.Truncated = true
	if oe := ex.OAuthError(); oe != nil {
		t.Errorf("a truncated answer read as OAuth error %s", oe.Code)
	}
	if _, err := ex.JSON(); err == nil || !strings.Contains(err.Error(), TooLargeReason) {
		t.Errorf("JSON() of a truncated answer: %v, want an error saying %q", err, TooLargeReason)
	}
}
