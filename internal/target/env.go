package target

import (
	"fmt"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

func (p *parse) expand(n *ast.StringNode, path string) {
	v, err := expandEnv(n.Value, p.lookupEnv)
	if err != nil {
		p.errs = append(p.errs, p.errAt(n.GetToken(), path, err.Error()))
		return
	}
	n.Value = v
}

// expandEnv replaces ${NAME} and ${NAME:-default}; $${ is a literal ${.
func expandEnv(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			b.WriteString("${")
			i += 3
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			b.WriteByte(s[i])
			i++
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ in %q", s)
		}
		ref := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(ref, ":-")
		if !validEnvName(name) {
			return "", fmt.Errorf("${%s} is not a valid environment variable reference", ref)
		}
		v, ok := lookup(name)
		switch {
		case ok && v != "":
		case hasDef:
			v = def
		case ok: // set but empty, no default: the user chose empty
		default:
			return "", fmt.Errorf("environment variable %s is not set (write ${%s:-default} for a fallback)", name, name)
		}
		b.WriteString(v)
		i += end + 1
	}
	return b.String(), nil
}

func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i, c := range name {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
