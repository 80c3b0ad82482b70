package target

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/ciba-check/ciba-check/ciba"
)

var (
	authMethods   = []ciba.AuthMethod{ciba.AuthPrivateKeyJWT, ciba.AuthTLSClient, ciba.AuthSelfSignedTLSClient}
	secretMethods = []ciba.AuthMethod{ciba.AuthClientSecretBasic, ciba.AuthClientSecretPost, ciba.AuthClientSecretJWT}
	allAuth       = append(append([]ciba.AuthMethod(nil), authMethods...), secretMethods...)
	deliveryModes = []ciba.DeliveryMode{ciba.ModePoll, ciba.ModePing, ciba.ModePush}
	placeholderRE = regexp.MustCompile(`\{[^{}]*\}`)
	placeholders  = []string{PlaceholderAuthReqID, PlaceholderLoginHint, PlaceholderAction}
)

func names[T ~string](list []T) string {
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = string(a)
	}
	return strings.Join(out, ", ")
}

func oneOf[T ~string](v T, allowed []T) string {
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	return fmt.Sprintf("%q is not one of %s", string(v), strings.Join(names, ", "))
}

func (p *parse) validate(t *Target) {
	p.validateOP(t)
	p.validateClients(t)
	p.validateUsers(t)
	p.validateDevice(&t.Device)
}

// validateOP checks the entries that describe the OP: issuer, endpoints,
// resource and acr.
func (p *parse) validateOP(t *Target) {
	if t.Issuer == "" {
		p.fail("issuer", "is required")
	} else if msg := checkURL(t.Issuer, true); msg != "" {
		p.fail("issuer", "%s", msg)
	} else if u, _ := url.Parse(t.Issuer); u.RawQuery != "" || u.Fragment != "" {
		p.fail("issuer", "must have no query or fragment (OIDC Discovery 3)")
	}
	for key, v := range map[string]string{
		"backchannel_authentication": t.Endpoints.BackchannelAuthentication,
		"token":                      t.Endpoints.Token,
		"userinfo":                   t.Endpoints.Userinfo,
	} {
		if v == "" {
			continue
		}
		if msg := checkURL(v, true); msg != "" {
			p.fail("endpoints."+key, "%s", msg)
		}
	}

	if t.Resource != "" {
		// FAPI-R 6.2.1: the resource server with the FAPI endpoints is
		// reached over TLS.
		if msg := checkURL(t.Resource, true); msg != "" {
			p.fail("resource", "%s", msg)
		}
	}
	if t.ACR != "" && strings.TrimSpace(t.ACR) == "" {
		p.fail("acr", "must name at least one acr value (acr_values, CIBA 7.1)")
	}
}

// validateClients checks the clients: at least one, distinct ids, each
// valid.
func (p *parse) validateClients(t *Target) {
	if len(t.Clients) == 0 {
		p.fail("clients", "at least one client is required")
	}
	ids := map[string]int{}
	for i := range t.Clients {
		path := fmt.Sprintf("clients[%d]", i)
		if first, dup := seenBefore(ids, t.Clients[i].ID, i); dup {
			p.fail(path+".id", "%q is already the id of clients[%d]", t.Clients[i].ID, first)
		}
		p.validateClient(&t.Clients[i], path, t.FAPI)
	}
}

// seenBefore reports the index at which a non-empty key was first seen,
// or records key at index i.
func seenBefore(seen map[string]int, key string, i int) (first int, dup bool) {
	if first, dup := seen[key]; dup && key != "" {
		return first, true
	}
	seen[key] = i
	return 0, false
}

// validateUsers checks the users: at least one, distinct names, and no
// hint twice unless both entries are shared.
func (p *parse) validateUsers(t *Target) {
	if len(t.Users) == 0 {
		p.fail("users", "at least one user is required")
	}
	names := map[string]int{}
	hints := map[string]int{}
	for i := range t.Users {
		path := fmt.Sprintf("users[%d]", i)
		if first, dup := seenBefore(names, t.Users[i].Name, i); dup {
			p.fail(path+".name", "%q is already the name of users[%d]", t.Users[i].Name, first)
		}
		p.validateUser(&t.Users[i], path)
		// Two entries for one hint are one user at the OP: a parallel
		// run would use it twice at once unless it is marked shared.
		param, value := t.Users[i].Hint()
		if value == "" {
			continue
		}
		if first, dup := hints[param+"\x00"+value]; dup && !(t.Users[i].Shared && t.Users[first].Shared) {
			p.fail(path+"."+param, "is also the %s of users[%d]: one user at the OP, which run --parallel would use twice at once; give each entry its own user, or mark both shared: true", param, first)
		} else if !dup {
			hints[param+"\x00"+value] = i
		}
	}
}

func (p *parse) validateClient(c *Client, path string, fapi bool) {
	if c.ID == "" {
		p.fail(path+".id", "is required")
	}
	p.validateAuth(c, path, fapi)
	switch {
	case c.Mode == "":
		p.fail(path+".mode", "is required: one of poll, ping, push")
	case !contains(deliveryModes, c.Mode):
		p.fail(path+".mode", "%s", oneOf(c.Mode, deliveryModes))
	case c.Mode == ciba.ModePush && fapi:
		p.fail(path+".mode", "push is not allowed when fapi is true (FAPI-CIBA 5.2.2-3); set fapi: false to test push")
	}
	p.validateSigning(c, path, fapi)
	p.pair(path, c.TLSCert, c.TLSKey)
	if c.Auth.UsesMTLS() && c.TLSCert == "" {
		p.fail(path+".tls_cert", "is required for %s (RFC 8705 2)", c.Auth)
	}
	p.validateNotification(c, path)
}

// validateAuth checks the client's authentication method and its secret.
func (p *parse) validateAuth(c *Client, path string, fapi bool) {
	switch {
	case c.Auth == "":
		p.fail(path+".auth", "is required: one of %s", names(allAuth))
	case fapi && usesSecret(c.Auth):
		p.fail(path+".auth", "%s is not allowed when fapi is true (FAPI-RW 5.2.2-14: private_key_jwt, tls_client_auth or self_signed_tls_client_auth); set fapi: false for a CIBA Core OP", c.Auth)
	case !contains(allAuth, c.Auth):
		p.fail(path+".auth", "%s", oneOf(c.Auth, allAuth))
	}
	switch {
	case usesSecret(c.Auth) && c.Secret.Ref == "":
		p.fail(path+".secret", "is required for %s: ${NAME}, the environment variable holding the client secret", c.Auth)
	case !usesSecret(c.Auth) && c.Secret.Ref != "" && contains(allAuth, c.Auth):
		p.fail(path+".secret", "is only used by client_secret_basic, client_secret_post and client_secret_jwt, not %s", c.Auth)
	}
}

// validateSigning checks the client's signing key, signed and alg.
func (p *parse) validateSigning(c *Client, path string, fapi bool) {
	switch {
	case c.SigningKey != "":
	case fapi:
		p.fail(path+".signing_key", "is required (signed authentication requests, CIBA 7.1.1, FAPI-CIBA 5.2.2-6)")
	case c.Auth == ciba.AuthPrivateKeyJWT:
		p.fail(path+".signing_key", "is required for private_key_jwt (RFC 7523 2.2)")
	case c.Signed != nil && *c.Signed:
		p.fail(path+".signing_key", "is required for signed: true (signed authentication requests, CIBA 7.1.1)")
	}
	if fapi && c.Signed != nil && !*c.Signed {
		p.fail(path+".signed", "false is not allowed when fapi is true: FAPI-CIBA requires signed authentication requests; set fapi: false for a CIBA Core OP")
	}
	switch {
	case c.Alg == "":
	case fapi && !contains(ciba.FAPIAlgs, c.Alg):
		p.fail(path+".alg", "%s (FAPI-RW 8.6; with fapi: false also %s)", oneOf(c.Alg, ciba.FAPIAlgs), strings.Join(ciba.PlainAlgs()[len(ciba.FAPIAlgs):], ", "))
	case !fapi && !contains(ciba.PlainAlgs(), c.Alg):
		p.fail(path+".alg", "%s", oneOf(c.Alg, ciba.PlainAlgs()))
	}
}

// validateNotification checks the notification endpoint of a ping or
// push client, and that only they have one.
func (p *parse) validateNotification(c *Client, path string) {
	if c.Notification == nil {
		if c.Mode == ciba.ModePing || c.Mode == ciba.ModePush {
			p.fail(path+".notification", "is required for %s mode (CIBA 10.2, 10.3)", c.Mode)
		}
		return
	}
	np := path + ".notification"
	if c.Mode == ciba.ModePoll {
		p.fail(np, "is only used by ping and push clients")
	}
	n := c.Notification
	if n.Listen == "" {
		p.fail(np+".listen", "is required")
	} else if msg := checkListen(n.Listen); msg != "" {
		p.fail(np+".listen", "%s", msg)
	}
	if n.URL == "" {
		p.fail(np+".url", "is required")
	} else if msg := checkURL(n.URL, true); msg != "" {
		// CIBA 4: client_notification_endpoint MUST be an HTTPS URL.
		p.fail(np+".url", "%s", msg)
	}
	p.pair(np, n.TLSCert, n.TLSKey)
}

// pair checks that tls_cert and tls_key come together.
func (p *parse) pair(path, cert, key string) {
	switch {
	case cert != "" && key == "":
		p.fail(path+".tls_key", "is required with tls_cert")
	case cert == "" && key != "":
		p.fail(path+".tls_cert", "is required with tls_key")
	}
}

func (p *parse) validateUser(u *User, path string) {
	if u.Name == "" {
		p.fail(path+".name", "is required")
	}
	var hints []string
	for key, v := range map[string]string{
		ciba.ParamLoginHint: u.LoginHint, ciba.ParamLoginHintToken: u.LoginHintToken, ciba.ParamIDTokenHint: u.IDTokenHint,
	} {
		if v != "" {
			hints = append(hints, key)
		}
	}
	switch len(hints) {
	case 0:
		p.fail(path, "needs one of login_hint, login_hint_token, id_token_hint (CIBA 7.1)")
	case 1:
	default:
		// Point at the second hint in file order; CIBA 7.1 allows only one.
		p.fail(path, "has more than one of login_hint, login_hint_token, id_token_hint; CIBA 7.1 allows exactly one")
	}
	if !u.Outcome.Valid() {
		p.fail(path+".outcome", "%s", oneOf(u.Outcome, ciba.Outcomes()))
	}
	switch {
	case u.Delay < 0:
		p.fail(path+".delay", "must not be negative")
	case u.Delay > 0 && u.Outcome != ciba.OutcomeApprove && u.Outcome != ciba.OutcomeDeny:
		p.fail(path+".delay", "only applies to outcome approve or deny, not %s", u.Outcome)
	}
}

func (p *parse) validateDevice(d *Device) {
	switch {
	case d.Kind == "":
		p.fail("device.kind", "is required: one of mockdevice, approval_url, hints, command, manual")
		return
	case !d.Kind.Valid():
		p.fail("device.kind", "%s", oneOf(d.Kind, deviceKinds))
		return
	}
	// Each kind has its own field; a field of another kind is a mistake.
	fields := []struct {
		key, value string
		kind       DeviceKind
	}{
		{"url", d.URL, DeviceMock},
		{"approval_url", d.ApprovalURL, DeviceApprovalURL},
		{"command", d.Command, DeviceCommand},
	}
	for _, f := range fields {
		path := "device." + f.key
		switch {
		case f.kind == d.Kind && f.value == "":
			p.fail(path, "is required for kind %s", d.Kind)
		case f.kind != d.Kind && f.value != "":
			p.fail(path, "is only used by kind %s, not %s", f.kind, d.Kind)
		}
	}
	switch d.Kind {
	case DeviceMock:
		if d.URL != "" {
			if msg := checkURL(d.URL, false); msg != "" {
				p.fail("device.url", "%s", msg)
			}
		}
	case DeviceApprovalURL:
		if d.ApprovalURL == "" {
			return
		}
		if msg := checkTemplatePlaceholders(d.ApprovalURL, true); msg != "" {
			p.fail("device.approval_url", "%s", msg)
			return
		}
		filled := placeholderRE.ReplaceAllString(d.ApprovalURL, "x")
		if msg := checkURL(filled, false); msg != "" {
			p.fail("device.approval_url", "%s", msg)
		}
	case DeviceCommand:
		if d.Command != "" {
			if msg := checkTemplatePlaceholders(d.Command, false); msg != "" {
				p.fail("device.command", "%s", msg)
			}
		}
	}
}

// checkTemplatePlaceholders accepts only known {placeholders} in a device
// template (approval_url, command); a template that cannot name the
// request cannot act on it.
func checkTemplatePlaceholders(tmpl string, needAuthReqID bool) string {
	for _, ph := range placeholderRE.FindAllString(tmpl, -1) {
		if !contains(placeholders, ph) {
			return fmt.Sprintf("unknown placeholder %s; use %s", ph, strings.Join(placeholders, ", "))
		}
	}
	if needAuthReqID && !strings.Contains(tmpl, PlaceholderAuthReqID) {
		return "must contain " + PlaceholderAuthReqID
	}
	return ""
}

// checkURL returns why s is not an absolute URL with a host (https only,
// or http too), or "".
func checkURL(s string, httpsOnly bool) string {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Sprintf("%q is not a valid URL: %v", s, unwrapURLError(err))
	}
	if httpsOnly && u.Scheme != "https" {
		return fmt.Sprintf("%q must be an https URL", s)
	}
	if !httpsOnly && u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Sprintf("%q must be an http or https URL", s)
	}
	if u.Host == "" || u.Hostname() == "" {
		return fmt.Sprintf("%q has no host", s)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("%q has an invalid port", s)
		}
	}
	if u.User != nil {
		return fmt.Sprintf("%q must not contain credentials", s)
	}
	return ""
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

func checkListen(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%q is not host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Sprintf("%q has an invalid port", addr)
	}
	return ""
}
