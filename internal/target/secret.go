package target

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/ciba-check/ciba-check/ciba"
)

// Secret is a client secret (client_secret_basic, client_secret_post,
// client_secret_jwt). target.yaml holds only a reference to it, exactly
// "${NAME}", and the value is read from the environment when the file is
// loaded. Every way of printing or encoding a Secret (fmt, YAML, JSON)
// gives the reference, never the value: the value leaves the process only
// inside the client authentication of a request to the OP.
type Secret struct {
	// Ref is the reference as written in target.yaml, "${NAME}".
	Ref   string
	value string
}

// NewSecret is a secret read from the environment variable named in ref
// ("${NAME}") whose value is value; for targets built in memory.
func NewSecret(ref, value string) Secret { return Secret{Ref: ref, value: value} }

// Value is the secret itself. Only client authentication may use it.
func (s Secret) Value() string { return s.value }

// IsZero reports whether no secret is configured.
func (s Secret) IsZero() bool { return s.Ref == "" && s.value == "" }

// String gives the reference, never the value.
func (s Secret) String() string { return s.Ref }

// GoString gives the reference, never the value (%#v).
func (s Secret) GoString() string { return fmt.Sprintf("target.Secret{Ref: %q}", s.Ref) }

// Format prints the reference for every verb, so neither %v nor %+v nor
// %x of a Secret (or of a struct holding one) can show the value.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, s.GoString())
		return
	}
	fmt.Fprint(f, s.Ref)
}

// MarshalYAML writes the reference.
func (s Secret) MarshalYAML() (any, error) { return s.Ref, nil }

// MarshalJSON writes the reference.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.Ref) }

// UnmarshalYAML keeps the reference as written; the parser resolves it
// against the environment afterwards (resolveSecrets) so that its errors
// carry the file position and never the value.
func (s *Secret) UnmarshalYAML(node ast.Node) error {
	switch n := node.(type) {
	case *ast.NullNode:
		*s = Secret{}
		return nil
	case *ast.StringNode:
		*s = Secret{Ref: n.Value}
		return nil
	}
	return &nodeError{node: node, msg: "must be a ${NAME} reference to an environment variable holding the secret"}
}

// secretRefName returns NAME of a reference that is exactly "${NAME}".
func secretRefName(ref string) (string, bool) {
	if !strings.HasPrefix(ref, "${") || !strings.HasSuffix(ref, "}") {
		return "", false
	}
	name := ref[2 : len(ref)-1]
	if !validEnvName(name) {
		return "", false
	}
	return name, true
}

// isSecretPath reports whether path is a client's secret, which walk
// leaves unexpanded.
func isSecretPath(path string) bool {
	return strings.HasPrefix(path, "clients[") && strings.HasSuffix(path, "].secret")
}

// resolveSecrets reads every client secret from the environment. A
// literal secret is refused (target.yaml is not a place for secrets); an
// unset or empty variable is an error naming the variable only.
func (p *parse) resolveSecrets(t *Target) {
	for i := range t.Clients {
		c := &t.Clients[i]
		if c.Secret.Ref == "" {
			continue
		}
		path := fmt.Sprintf("clients[%d].secret", i)
		name, ok := secretRefName(c.Secret.Ref)
		if !ok {
			// Say nothing of the value: it may be the secret itself.
			p.fail(path, "must be exactly ${NAME}, the environment variable holding the secret; target.yaml never holds the secret itself")
			c.Secret = Secret{}
			continue
		}
		v, set := p.lookupEnv(name)
		switch {
		case !set:
			p.fail(path, "environment variable %s is not set (it holds the client secret)", name)
		case v == "":
			p.fail(path, "environment variable %s is empty (it holds the client secret)", name)
		case c.Auth == ciba.AuthClientSecretJWT && len(v) < 32:
			// RFC 7518 3.2: "A key of the same size as the hash output
			// (for instance, 256 bits for "HS256") or larger MUST be used".
			p.fail(path, "environment variable %s holds %d bytes; client_secret_jwt signs with HS256, which needs a secret of at least 32 bytes (RFC 7518 3.2)", name, len(v))
		default:
			c.Secret.value = v
		}
	}
}
