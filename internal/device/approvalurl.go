package device

import (
	"context"

	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ciba-check/ciba-check/internal/target"
)

// ApprovalURL calls a URL template, the contract of the OIDF suite's
// automated_ciba_approval_url (CIBA.md §6.2): POST with an empty body and
// Accept: application/json; any 2xx is success.
//
// The OP hands the request to the device asynchronously, so the device
// may not know it yet when the URL is first called: answers of 404 and
// 5xx and connection failures are retried for RetryFor before they count.
type ApprovalURL struct {
	template string
	hc       *http.Client
	// RetryFor bounds the retries; zero means one attempt.
	RetryFor time.Duration
}

// DefaultApprovalRetry is ApprovalURL.RetryFor as NewApprovalURL sets it.
const DefaultApprovalRetry = 5 * time.Second

// NewApprovalURL checks the template: an absolute http(s) URL containing
// {auth_req_id} once the placeholders are filled in.
func NewApprovalURL(template string, hc *http.Client) (*ApprovalURL, error) {
	if !strings.Contains(template, target.PlaceholderAuthReqID) {
		return nil, fmt.Errorf("device: approval_url %q has no %s placeholder", template, target.PlaceholderAuthReqID)
	}
	if _, err := fillURL(template, "x", "x", ActionAllow); err != nil {
		return nil, err
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &ApprovalURL{template: template, hc: hc, RetryFor: DefaultApprovalRetry}, nil
}

// Kind is approval_url.
func (*ApprovalURL) Kind() target.DeviceKind { return target.DeviceApprovalURL }

// Capabilities: the OP keeps the request pending until the URL is called.
func (*ApprovalURL) Capabilities() Capabilities {
	return Capabilities{Approve: true, Deny: true, Hold: true}
}

// fillURL substitutes the placeholders, escaping each value for where it
// stands: query escaping after the '?', path escaping before it.
func fillURL(template, authReqID, loginHint string, action Action) (string, error) {
	values := map[string]string{
		target.PlaceholderAuthReqID: authReqID,
		target.PlaceholderLoginHint: loginHint,
		target.PlaceholderAction:    string(action),
	}
	query := strings.IndexByte(template, '?')
	var b strings.Builder
	for i := 0; i < len(template); {
		matched := false
		for ph, v := range values {
			if strings.HasPrefix(template[i:], ph) {
				if query >= 0 && i > query {
					b.WriteString(url.QueryEscape(v))
				} else {
					b.WriteString(url.PathEscape(v))
				}
				i += len(ph)
				matched = true
				break
			}
		}
		if !matched {
			b.WriteByte(template[i])
			i++
		}
	}
	u, err := url.Parse(b.String())
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("device: approval_url %q does not give an absolute http(s) URL", template)
	}
	return u.String(), nil
}

// Decide POSTs to the filled-in URL, retrying as RetryFor allows.
func (a *ApprovalURL) Decide(ctx context.Context, req Request, action Action) error {
	if err := checkRequest(req, action); err != nil {
		return err
	}
	if err := checkOPValues(req); err != nil {
		return err
	}
	u, err := fillURL(a.template, req.AuthReqID, req.LoginHint(), action)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(a.RetryFor)
	wait := 100 * time.Millisecond
	for {
		retry, err := a.call(ctx, u, req, action)
		if err == nil || !retry || time.Now().Add(wait).After(deadline) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up: %v)", err, ctx.Err())
		}
		wait = min(2*wait, time.Second)
	}
}

// call makes one attempt; retry says whether another may succeed.
func (a *ApprovalURL) call(ctx context.Context, u string, req Request, action Action) (retry bool, err error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u, http.NoBody)
	if err != nil {
		return false, fmt.Errorf("device: approval_url: %w", err)
	}
	hr.Header.Set("Accept", "application/json")
	hr.Header.Set("Accept-Charset", "utf-8")
	resp, err := a.hc.Do(hr)
	if err != nil {
		return ctx.Err() == nil, fmt.Errorf("device: calling the approval URL to %s %s: %w", action, req.AuthReqID, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		retry := resp.StatusCode == http.StatusNotFound || resp.StatusCode >= 500
		return retry, fmt.Errorf("device: the approval URL answered HTTP %d to %s %s: %q", resp.StatusCode, action, req.AuthReqID, strings.TrimSpace(string(body)))
	}
	return false, nil
}
