// Package target reads and writes target.yaml, the one user-facing
// description of an OpenID Provider under test: where it is, which
// registered clients and test users the tool may use, and how the tool
// makes a user approve or deny a CIBA request.
//
// # Schema
//
//	issuer: https://127.0.0.1:8443          # required, https URL; discovery is read from it
//	ca: ca.pem                               # optional CA bundle to trust for the OP's TLS (else system roots)
//	endpoints:                               # optional https overrides of discovered endpoints
//	  backchannel_authentication: https://...
//	  token: https://...
//	  userinfo: https://...
//	fapi: true                               # default true; false allows push (FAPI-CIBA 5.2.2-3 forbids it)
//	resource: https://api.example/accounts   # optional FAPI resource endpoint that accepts the access token
//	                                         #   (GET, Authorization: Bearer, over the client's certificate)
//	acr: urn:example:acr:mfa                 # optional acr value(s) to request as acr_values (space-separated)
//	clients:                                 # at least one
//	  - id: poll-pkjwt-es256                 # required, unique
//	    auth: private_key_jwt                # private_key_jwt | tls_client_auth | self_signed_tls_client_auth;
//	                                         #   with fapi: false also client_secret_basic | client_secret_post |
//	                                         #   client_secret_jwt (RFC 6749 2.3.1, OIDC Core 9)
//	    secret: ${CLIENT_SECRET}             # client_secret_* only, required: exactly ${NAME}, read from the environment
//	    mode: poll                           # required: poll | ping | push
//	    signing_key: keys/poll-pkjwt-es256.jwk   # private JWK or PEM file; required for private_key_jwt and signed requests
//	    signed: true                         # default: true when signing_key is given. false sends the backchannel
//	                                         #   request as plain form parameters (CIBA 7.1); fapi: true requires signed
//	    alg: ES256                           # PS256 | ES256 (fapi: true); fapi: false also RS256..512, PS384/512, ES384/512, EdDSA; default from the key
//	    tls_cert: certs/poll-pkjwt-es256.pem # client certificate; required for tls_client_auth and
//	    tls_key: certs/poll-pkjwt-es256.key  #   self_signed_tls_client_auth; give both or neither
//	    scope: openid profile                # default "openid"
//	    user_code_parameter: true            # default false: the client registered backchannel_user_code_parameter (CIBA 4)
//	    notification:                        # required for ping and push, not allowed for poll
//	      listen: 127.0.0.1:9443             # host:port the tool listens on
//	      url: https://127.0.0.1:9443/notify/poll-pkjwt-es256   # https URL registered at the OP (CIBA 4)
//	      tls_cert: certs/notify.pem         # listener certificate and key; both or neither
//	      tls_key: certs/notify.key
//	users:                                   # at least one
//	  - name: alice                          # required, unique
//	    login_hint: alice@example.com        # exactly one of login_hint, login_hint_token, id_token_hint (CIBA 7.1)
//	    user_code: "1234"                    # optional: the code the OP requires of this user (CIBA 7.1.2);
//	                                         #   sent only by clients with user_code_parameter: true (CIBA 7.1)
//	    outcome: approve                     # approve (default) | deny | never | cancel | error
//	    delay: 2s                            # optional, approve or deny only: act after this delay
//	device:                                  # required
//	  kind: mockdevice                       # mockdevice | approval_url | hints | command | manual
//	  url: https://127.0.0.1:9444            # mockdevice only: its base URL
//	  approval_url: https://op.example/action?token={auth_req_id}&type={action}   # approval_url only
//	  command: ./approve.sh {auth_req_id} {login_hint} {action}                   # command only
//
// What target.yaml says of each client is what the OP's registration of
// it says: user_code_parameter mirrors backchannel_user_code_parameter,
// which CIBA 4 defaults to false ("If omitted, the default value is
// false"), and CIBA 7.1 says a user_code "should only be present if the
// client registration parameter backchannel_user_code_parameter indicates
// support". Only such clients send a user_code, and only they are used by
// the user_code checks. resource is where the protected-resource checks
// (FAPI-R 6.2.1) present the access token; without it they run at the
// userinfo endpoint as a warning-level stand-in. acr is what the acr
// check requests (FAPI-CIBA 5.2.2-8); without it the check requests the
// OP's acr_values_supported.
//
// Unknown keys are errors. Every string value may use ${NAME} or
// ${NAME:-default} (default when NAME is unset or empty); an unset NAME
// without default is an error, and $${ stands for a literal ${. Relative
// file paths (ca, signing_key, tls_cert, tls_key) resolve against the
// folder holding the file. The placeholders in approval_url and command
// are {auth_req_id}, {login_hint} and {action} (allow or deny).
//
// Errors are one line, "FILE:LINE:COL: field.path: what is wrong", for
// example
//
//	target.yaml:12:5: clients[1].auth: "client_secret" is not one of private_key_jwt, tls_client_auth, self_signed_tls_client_auth
package target

import (
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/pki"
)

// Target describes an OP under test.
type Target struct {
	Issuer    string    `yaml:"issuer"`
	CA        string    `yaml:"ca,omitempty"`
	Endpoints Endpoints `yaml:"endpoints,omitempty"`
	FAPI      bool      `yaml:"fapi"`
	// Resource is a FAPI resource endpoint that accepts the access token
	// (GET with Authorization: Bearer over the client's certificate,
	// FAPI-R 6.2.1); empty means none is known.
	Resource string `yaml:"resource,omitempty"`
	// ACR is the acr_values the acr check requests (space-separated, in
	// order of preference); empty means the OP's acr_values_supported.
	ACR     string   `yaml:"acr,omitempty"`
	Clients []Client `yaml:"clients"`
	Users   []User   `yaml:"users"`
	Device  Device   `yaml:"device"`

	// BaseDir is the folder relative paths were resolved against (the
	// target file's folder); a command device should run there.
	BaseDir string `yaml:"-"`
	// File is the name the target was read from (as given to Parse), for
	// messages that point into it; empty for a target built in memory.
	File string `yaml:"-"`
	// issuerLine is the line of issuer: in File (0 when unknown).
	issuerLine int
}

// Endpoints override what discovery says; empty means use discovery.
type Endpoints struct {
	BackchannelAuthentication string `yaml:"backchannel_authentication,omitempty"`
	Token                     string `yaml:"token,omitempty"`
	Userinfo                  string `yaml:"userinfo,omitempty"`
}

// Client is a client registered at the OP.
type Client struct {
	ID   string          `yaml:"id"`
	Auth ciba.AuthMethod `yaml:"auth"`
	// Secret is the client secret of client_secret_basic, client_secret_post
	// and client_secret_jwt, read from the environment; it never prints.
	Secret     Secret            `yaml:"secret,omitempty"`
	Mode       ciba.DeliveryMode `yaml:"mode"`
	SigningKey string            `yaml:"signing_key,omitempty"`
	// Signed says whether backchannel requests are signed request objects
	// (CIBA 7.1.1); nil means "when a signing key is given".
	Signed  *bool  `yaml:"signed,omitempty"`
	Alg     string `yaml:"alg,omitempty"`
	TLSCert string `yaml:"tls_cert,omitempty"`
	TLSKey  string `yaml:"tls_key,omitempty"`
	Scope   string `yaml:"scope,omitempty"`
	// UserCodeParameter says the client registered
	// backchannel_user_code_parameter true (CIBA 4; default false): only
	// then does it send a user's user_code (CIBA 7.1).
	UserCodeParameter bool          `yaml:"user_code_parameter,omitempty"`
	Notification      *Notification `yaml:"notification,omitempty"`

	// Line is where the client's entry starts in the target file (1-based;
	// 0 when not read from a file).
	Line int `yaml:"-"`

	// places says where the client's file fields are in the target file,
	// so that a key or certificate that cannot be read is reported at
	// its own field; nil when not read from a file.
	places *places
}

// places are the positions of one client's fields in the target file.
type places struct {
	file string
	path string            // "clients[1]"
	pos  map[string][2]int // field ("tls_key", "notification.tls_cert") -> line, column
	// fapi is the file's profile: under FAPI the signing key's alg must
	// be PS256 or ES256 (FAPI-RW 8.6).
	fapi bool
}

// fieldError reports err, a problem with the file named by field, as a
// target file error at that field ("FILE:LINE:COL: clients[1].tls_key:
// ..."), or, for a client built in memory, "target: client "ID": field: ...".
func (c *Client) fieldError(field string, err error) error {
	if c.places == nil {
		return fmt.Errorf("target: client %q: %s: %w", c.ID, field, err)
	}
	e := &Error{File: c.places.file, Path: c.places.path + "." + field, Msg: fmt.Sprintf("client %q: %v", c.ID, err), err: err}
	if pos, ok := c.places.pos[field]; ok {
		e.Line, e.Col, e.exact = pos[0], pos[1], true
	}
	return e
}

// certificateField says which of a certificate/key pair of fields an error
// of pki.LoadCertificate concerns: the key's when the key file is at fault.
func certificateField(err error, certField, keyField string) string {
	var fe *pki.FileError
	if errors.As(err, &fe) && fe.Key {
		return keyField
	}
	return certField
}

// Notification is where a ping or push client receives the OP's callbacks
// (CIBA 10.2, 10.3). Listen and URL differ when the tool sits behind NAT
// or a proxy.
type Notification struct {
	Listen  string `yaml:"listen"`
	URL     string `yaml:"url"`
	TLSCert string `yaml:"tls_cert,omitempty"`
	TLSKey  string `yaml:"tls_key,omitempty"`
}

// User is a test end-user at the OP.
type User struct {
	Name           string       `yaml:"name"`
	LoginHint      string       `yaml:"login_hint,omitempty"`
	LoginHintToken string       `yaml:"login_hint_token,omitempty"`
	IDTokenHint    string       `yaml:"id_token_hint,omitempty"`
	UserCode       string       `yaml:"user_code,omitempty"`
	Outcome        ciba.Outcome `yaml:"outcome,omitempty"`
	Delay          Duration     `yaml:"delay,omitempty"`
	// Shared says several checks may use this user at the same time in
	// a parallel run (run --parallel). Off by default: an OP may
	// rate-limit requests per login_hint (FAPI-CIBA 7.2), so the
	// scheduler gives each running check its own user.
	Shared bool `yaml:"shared,omitempty"`

	// Line is where the user's entry starts in the target file (1-based;
	// 0 when not read from a file).
	Line int `yaml:"-"`
}

// Hint returns the CIBA 7.1 hint parameter this user is identified by and
// its value: exactly one of login_hint, login_hint_token, id_token_hint.
func (u *User) Hint() (param, value string) {
	switch {
	case u.LoginHint != "":
		return ciba.ParamLoginHint, u.LoginHint
	case u.LoginHintToken != "":
		return ciba.ParamLoginHintToken, u.LoginHintToken
	default:
		return ciba.ParamIDTokenHint, u.IDTokenHint
	}
}

// DeviceKind is how the tool drives the user's authentication device.
type DeviceKind string

// The device kinds.
const (
	// DeviceMock drives ciba-check's mock device through its HTTP API.
	DeviceMock DeviceKind = "mockdevice"
	// DeviceApprovalURL calls a URL template, the contract of the OIDF
	// suite's automated_ciba_approval_url.
	DeviceApprovalURL DeviceKind = "approval_url"
	// DeviceHints leaves the decision to the OP, which decides by login_hint.
	DeviceHints DeviceKind = "hints"
	// DeviceCommand runs a program for each decision, without a shell.
	DeviceCommand DeviceKind = "command"
	// DeviceManual prints the request and waits for the operator.
	DeviceManual DeviceKind = "manual"
)

var deviceKinds = []DeviceKind{DeviceMock, DeviceApprovalURL, DeviceHints, DeviceCommand, DeviceManual}

// Valid reports whether k is a known device kind.
func (k DeviceKind) Valid() bool { return contains(deviceKinds, k) }

// Device says how approvals and denials reach the OP.
type Device struct {
	Kind        DeviceKind `yaml:"kind"`
	URL         string     `yaml:"url,omitempty"`
	ApprovalURL string     `yaml:"approval_url,omitempty"`
	Command     string     `yaml:"command,omitempty"`
}

// Placeholders that approval_url and command templates may contain.
const (
	PlaceholderAuthReqID = "{auth_req_id}"
	PlaceholderLoginHint = "{login_hint}"
	PlaceholderAction    = "{action}" // "allow" or "deny"
)

// Where names the place of an entry of the target file for a message:
// "FILE:LINE" when both are known, else the file name or "".
func (t *Target) Where(line int) string {
	switch {
	case t.File != "" && line > 0:
		return fmt.Sprintf("%s:%d", t.File, line)
	case line > 0:
		return fmt.Sprintf("target.yaml:%d", line)
	}
	return t.File
}

// IssuerWhere names the place of issuer: in the target file for a
// message ("FILE:LINE", or the file name when the line is unknown).
func (t *Target) IssuerWhere() string {
	if w := t.Where(t.issuerLine); w != "" {
		return w
	}
	return "target.yaml"
}

// Client returns the client with id.
func (t *Target) Client(id string) (*Client, bool) {
	for i := range t.Clients {
		if t.Clients[i].ID == id {
			return &t.Clients[i], true
		}
	}
	return nil, false
}

// User returns the user with name.
func (t *Target) User(name string) (*User, bool) {
	for i := range t.Users {
		if t.Users[i].Name == name {
			return &t.Users[i], true
		}
	}
	return nil, false
}

// RootCAs returns the pool that verifies the OP's TLS certificate: the ca
// bundle, or nil (meaning the system roots) when none is configured.
func (t *Target) RootCAs() (*x509.CertPool, error) {
	if t.CA == "" {
		return nil, nil
	}
	pool, err := pki.LoadCAPool(t.CA)
	if err != nil {
		return nil, fmt.Errorf("target: ca: %w", err)
	}
	return pool, nil
}

// SignsRequests reports whether the client's backchannel requests are
// signed request objects (CIBA 7.1.1): signed when it says so, else when
// it has a signing key.
func (c *Client) SignsRequests() bool {
	if c.Signed != nil {
		return *c.Signed
	}
	return c.SigningKey != ""
}

// UsesSecret reports whether the client authenticates with a client secret.
func (c *Client) UsesSecret() bool { return usesSecret(c.Auth) }

func usesSecret(a ciba.AuthMethod) bool {
	return a == ciba.AuthClientSecretBasic || a == ciba.AuthClientSecretPost || a == ciba.AuthClientSecretJWT
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
