package conformance

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"

	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/internal/targetclient"
)

func newTargetClient(env *Env, tc *target.Client) (*client.Client, error) {
	return targetclient.New(env.Target, tc, env.Metadata, env.Clock)
}

// maxQuotedBody bounds how much of a response body a failure quotes.
const maxQuotedBody = 2048

// quote renders an exchange for a failure message: the request line and
// form (redacted by the client), the status, the headers that matter and
// the body.
func quote(ex *client.Exchange) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  > %s %s\n", ex.Method, ex.URL)
	if len(ex.RequestForm) > 0 {
		keys := make([]string, 0, len(ex.RequestForm))
		for k := range ex.RequestForm {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for _, v := range ex.RequestForm[k] {
				fmt.Fprintf(&b, "  >   %s=%s\n", k, clip(v, 200))
			}
		}
	} else if ex.RequestBody != "" {
		fmt.Fprintf(&b, "  >   %s\n", clip(ex.RequestBody, 400))
	}
	if ex.Status == 0 {
		b.WriteString("  < (no response)")
		return b.String()
	}
	fmt.Fprintf(&b, "  < HTTP %d", ex.Status)
	for _, h := range []string{"Content-Type", "Cache-Control", "WWW-Authenticate", "Retry-After", "Location"} {
		if v := ex.ResponseHeader.Get(h); v != "" {
			fmt.Fprintf(&b, "\n  < %s: %s", h, v)
		}
	}
	if len(ex.ResponseBody) > 0 {
		fmt.Fprintf(&b, "\n  < %s", clip(string(ex.ResponseBody), maxQuotedBody))
	}
	if ex.Truncated {
		fmt.Fprintf(&b, "\n  < (cut: %s)", client.TooLargeReason)
	}
	return b.String()
}

// hadResponse reports whether the call behind ex got an HTTP response at
// all (not a reset, a timeout or a refused connection).
func hadResponse(ex *client.Exchange) bool { return ex != nil && ex.Status != 0 }

// quoteIf is quote(ex) on a line of its own, or "" without an exchange.
func quoteIf(ex *client.Exchange) string {
	if ex == nil {
		return ""
	}
	return "\n" + quote(ex)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// errorBodyProblem says what is wrong with an OAuth error response body,
// "" when nothing: JSON content, error / error_description / error_uri as
// strings, error and error_description in the ASCII range RFC 6749 5.2
// allows, error_uri a URI. Other members are ignored: RFC 6749 5.2 lists
// the members but never says "only", and RFC 6749 5.1 says "The client
// MUST ignore unrecognized value names in the response."
func errorBodyProblem(ex *client.Exchange) string {
	if ex.Truncated {
		return client.TooLargeReason
	}
	if ct := ex.ContentType(); ct != "application/json" {
		return fmt.Sprintf("Content-Type is %q, not application/json", ct)
	}
	var m map[string]any
	if err := json.Unmarshal(ex.ResponseBody, &m); err != nil {
		return "the body is not a JSON object"
	}
	for _, k := range []string{"error", "error_description", "error_uri"} {
		v, present := m[k]
		if !present {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return fmt.Sprintf("member %q is not a string", k)
		}
		if k == "error_uri" {
			if _, err := url.Parse(s); err != nil {
				return fmt.Sprintf("error_uri %q is not a URI", s)
			}
			continue
		}
		for _, r := range s {
			// %x20-21 / %x23-5B / %x5D-7E (RFC 6749 5.2).
			if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
				return fmt.Sprintf("%s contains %q, outside the characters RFC 6749 5.2 allows", k, r)
			}
		}
	}
	return ""
}

// tlsRefusal reports whether err is the OP refusing a TLS handshake: a
// TLS alert the server sent (handshake_failure, protocol_version,
// certificate_required, ...). A timeout, a reset, a closed connection, a
// certificate the tool could not verify or a name mismatch is not: it
// says nothing about the reason under test (Undetermined).
func tlsRefusal(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}
