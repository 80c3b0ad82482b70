package mockdevice

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
)

// Client drives a mock device in another process (or on another host)
// through its HTTP API: what the conformance suite's device driver uses
// when target.yaml says `device: {kind: mockdevice, url: ...}`.
// Errors wrap the same sentinels as Device's methods (ErrUnknownRequest,
// ErrAlreadyDecided, ErrCallbackFailed, ErrClosed).
type Client struct {
	baseURL string
	http    *http.Client
}

// NewClient returns a Client for the device served at baseURL; a nil
// httpClient means http.DefaultClient.
func NewClient(baseURL string, httpClient *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("mockdevice: device URL %q is not an absolute http(s) URL", baseURL)
	}
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	return &Client{baseURL: strings.TrimRight(baseURL, "/"), http: httpClient}, nil
}

// Requests lists the device's recorded requests in arrival order.
func (c *Client) Requests(ctx context.Context) ([]Request, error) {
	var out []Request
	err := c.do(ctx, http.MethodGet, PathRequests, nil, &out)
	return out, err
}

// Request returns one recorded request.
func (c *Client) Request(ctx context.Context, id string) (Request, error) {
	var out Request
	err := c.do(ctx, http.MethodGet, PathRequests+"/"+url.PathEscape(id), nil, &out)
	return out, err
}

// Wait blocks until the request with id has arrived at the device, or ctx
// ends. It long-polls, so it costs one request per DefaultLongPoll.
func (c *Client) Wait(ctx context.Context, id string) (Request, error) {
	return c.longPoll(ctx, id, WaitArrival, func(Request) bool { return true })
}

// WaitSettled blocks until the request with id is Settled, or ctx ends.
func (c *Client) WaitSettled(ctx context.Context, id string) (Request, error) {
	return c.longPoll(ctx, id, WaitSettled, Request.Settled)
}

func (c *Client) longPoll(ctx context.Context, id, wait string, done func(Request) bool) (Request, error) {
	timeout := DefaultLongPoll
	path := PathRequests + "/" + url.PathEscape(id) + "?wait=" + wait
	var last Request // the latest state seen, returned with a context error
	for {
		if deadline, ok := ctx.Deadline(); ok {
			// Ask the device to answer before our own deadline, so the
			// last state is seen rather than a bare context error.
			timeout = min(DefaultLongPoll, max(time.Until(deadline)*9/10, time.Millisecond))
		}
		var r Request
		err := c.do(ctx, http.MethodGet, path+"&timeout="+timeout.String(), nil, &r)
		switch {
		case err == nil:
			last = r
			if done(r) {
				return r, nil
			}
		case ctx.Err() != nil:
		case !isUnknown(err):
			return last, err
		}
		if ctx.Err() != nil {
			return last, fmt.Errorf("mockdevice: waiting for %q (%s): %w", id, wait, ctx.Err())
		}
	}
}

func isUnknown(err error) bool { return errors.Is(err, ErrUnknownRequest) }

// Decide decides the request by hand, as POST /requests/{id}/{approve,deny,cancel}.
// The device calls the OP back before answering.
func (c *Client) Decide(ctx context.Context, id string, status ciba.DeviceStatus) (Request, error) {
	var action string
	switch status {
	case ciba.DeviceSucceed:
		action = "approve"
	case ciba.DeviceUnauthorized:
		action = "deny"
	case ciba.DeviceCancelled:
		action = "cancel"
	default:
		return Request{}, fmt.Errorf("%w: got %q", ErrInvalidDecision, status)
	}
	var out Request
	err := c.do(ctx, http.MethodPost, PathRequests+"/"+url.PathEscape(id)+"/"+action, nil, &out)
	return out, err
}

// SetPolicy scripts the user behind loginHint.
func (c *Client) SetPolicy(ctx context.Context, loginHint string, p Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	return c.do(ctx, http.MethodPut, PathPolicies+"/"+url.PathEscape(loginHint), p, nil)
}

// DeletePolicy returns loginHint to the default policy.
func (c *Client) DeletePolicy(ctx context.Context, loginHint string) error {
	return c.do(ctx, http.MethodDelete, PathPolicies+"/"+url.PathEscape(loginHint), nil, nil)
}

// SetDefaultPolicy replaces the device's default policy.
func (c *Client) SetDefaultPolicy(ctx context.Context, p Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	return c.do(ctx, http.MethodPut, PathDefaultPolicy, p, nil)
}

// do sends one API call and decodes a 2xx answer into out (if non-nil);
// error answers become errors wrapping the matching sentinel.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path, body)
	if err != nil {
		return fmt.Errorf("mockdevice: %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("mockdevice: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("mockdevice: %s %s: reading answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e ciba.ErrorResponse
		_ = json.Unmarshal(data, &e)
		detail := fmt.Sprintf("%s %s: device answered %d %s: %s", method, path, resp.StatusCode, e.Error, e.ErrorDescription)
		if sentinel := sentinelFor(resp.StatusCode, e.Error); sentinel != nil {
			return fmt.Errorf("%w (%s)", sentinel, detail)
		}
		return fmt.Errorf("mockdevice: %s", detail)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("mockdevice: %s %s: bad answer: %w", method, path, err)
	}
	return nil
}

// sentinelFor maps the device's error answers back to the sentinels
// Device's own methods return.
func sentinelFor(status int, code string) error {
	switch {
	case status == http.StatusNotFound && code == "unknown_request":
		return ErrUnknownRequest
	case status == http.StatusConflict && code == "already_decided":
		return ErrAlreadyDecided
	case status == http.StatusBadGateway && code == "callback_failed":
		return ErrCallbackFailed
	case status == http.StatusServiceUnavailable && code == "temporarily_unavailable":
		return ErrClosed
	}
	return nil
}
