package target

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Load reads and validates a target file. Relative paths in it resolve
// against its folder and ${ENV} references against the process environment.
func Load(path string) (*Target, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	return Parse(data, path, filepath.Dir(path))
}

// LoadWithEnv is Load with ${ENV} references looked up by lookupEnv.
func LoadWithEnv(path string, lookupEnv func(string) (string, bool)) (*Target, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	return ParseWithEnv(data, path, filepath.Dir(path), lookupEnv)
}

// Parse decodes and validates target YAML; name is used in error messages
// and baseDir resolves relative file paths. ${ENV} references are expanded
// from the process environment.
func Parse(data []byte, name, baseDir string) (*Target, error) {
	return ParseWithEnv(data, name, baseDir, os.LookupEnv)
}

// ParseWithEnv is Parse with ${ENV} references looked up by lookupEnv.
func ParseWithEnv(data []byte, name, baseDir string, lookupEnv func(string) (string, bool)) (t *Target, err error) {
	p := &parse{file: name, lookupEnv: lookupEnv, keyPos: map[string]*token.Position{}, pathAt: map[[2]int]string{}}
	// go-yaml is third-party code fed untrusted input; a bug in it must
	// surface as an error, never crash the tool.
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, &Error{File: name, Msg: fmt.Sprintf("YAML parser failure: %v", r)}
		}
	}()
	return p.run(data, baseDir)
}

type parse struct {
	file      string
	lookupEnv func(string) (string, bool)
	// keyPos maps a field path to the position of its key (or, for a list
	// element, of the element); pathAt maps key and value positions back.
	keyPos map[string]*token.Position
	pathAt map[[2]int]string
	errs   []*Error
}

func (p *parse) run(data []byte, baseDir string) (*Target, error) {
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, p.yamlError(err)
	}
	var body ast.Node
	for _, doc := range file.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if body != nil {
			return nil, p.errAt(doc.Body.GetToken(), "", "holds more than one YAML document")
		}
		body = doc.Body
	}
	if body == nil {
		return nil, &Error{File: p.file, Msg: "is empty"}
	}
	if _, ok := body.(*ast.MappingNode); !ok {
		if _, ok := body.(*ast.MappingValueNode); !ok {
			return nil, p.errAt(body.GetToken(), "", "must be a mapping with issuer, clients, users and device")
		}
	}
	if tk := firstToken(body); tk != nil && tk.Position != nil {
		p.keyPos[""] = tk.Position
	}
	p.walk(body, "")
	if len(p.errs) > 0 {
		return nil, p.first()
	}

	t := &Target{FAPI: true} // FAPI is on unless the file turns it off
	dec := yaml.NewDecoder(strings.NewReader(""), yaml.DisallowUnknownField())
	if err := dec.DecodeFromNode(body, t); err != nil {
		return nil, p.yamlError(err)
	}
	t.applyDefaults()
	t.BaseDir = baseDir
	t.File = p.file
	p.recordLines(t)
	t.resolvePaths(baseDir)
	p.resolveSecrets(t)
	p.validate(t)
	if len(p.errs) > 0 {
		return nil, p.first()
	}
	return t, nil
}

// recordLines gives every client and user the line its entry starts on,
// so that later messages (the preflight's) can point into the file.
func (p *parse) recordLines(t *Target) {
	if pos, ok := p.keyPos["issuer"]; ok {
		t.issuerLine = pos.Line
	}
	for i := range t.Clients {
		path := fmt.Sprintf("clients[%d]", i)
		if pos, ok := p.keyPos[path]; ok {
			t.Clients[i].Line = pos.Line
		}
		pl := &places{file: p.file, path: path, pos: map[string][2]int{}, fapi: t.FAPI}
		for _, f := range []string{"signing_key", "tls_cert", "tls_key", "notification.tls_cert", "notification.tls_key"} {
			if pos, ok := p.keyPos[path+"."+f]; ok {
				pl.pos[f] = [2]int{pos.Line, pos.Column}
			}
		}
		t.Clients[i].places = pl
	}
	for i := range t.Users {
		if pos, ok := p.keyPos[fmt.Sprintf("users[%d]", i)]; ok {
			t.Users[i].Line = pos.Line
		}
	}
}

func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

func childPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// walk indexes positions by field path and expands ${ENV} in scalars.
func (p *parse) walk(node ast.Node, path string) {
	if node == nil {
		return
	}
	p.mark(node.GetToken(), path)
	switch n := node.(type) {
	case *ast.MappingNode:
		for _, mv := range n.Values {
			p.walk(mv, path)
		}
	case *ast.MappingValueNode:
		var keyTok *token.Token
		if n.Key != nil {
			keyTok = n.Key.GetToken()
		}
		key := ""
		if keyTok != nil {
			key = keyTok.Value
		}
		child := childPath(path, key)
		if keyTok != nil && keyTok.Position != nil {
			if _, dup := p.keyPos[child]; !dup {
				p.keyPos[child] = keyTok.Position
			}
		}
		p.mark(keyTok, child)
		p.walk(n.Value, child)
	case *ast.SequenceNode:
		for i, v := range n.Values {
			child := path + "[" + strconv.Itoa(i) + "]"
			if v == nil {
				continue
			}
			if tk := firstToken(v); tk != nil && tk.Position != nil {
				p.keyPos[child] = tk.Position
			}
			p.walk(v, child)
		}
	case *ast.AnchorNode:
		p.walk(n.Value, path)
	case *ast.TagNode:
		p.walk(n.Value, path)
	case *ast.LiteralNode:
		if n.Value != nil {
			p.expand(n.Value, path)
		}
	case *ast.StringNode:
		if isSecretPath(path) {
			return // resolved after decoding, see resolveSecrets
		}
		p.expand(n, path)
	}
}

// firstToken is where a list element starts: its first key for a mapping.
func firstToken(n ast.Node) *token.Token {
	switch m := n.(type) {
	case *ast.MappingNode:
		if len(m.Values) > 0 && m.Values[0].Key != nil {
			return m.Values[0].Key.GetToken()
		}
	case *ast.MappingValueNode:
		if m.Key != nil {
			return m.Key.GetToken()
		}
	}
	return n.GetToken()
}

func (p *parse) mark(tk *token.Token, path string) {
	if tk == nil || tk.Position == nil {
		return
	}
	at := [2]int{tk.Position.Line, tk.Position.Column}
	if _, ok := p.pathAt[at]; !ok {
		p.pathAt[at] = path
	}
}

func quoteNode(n ast.Node) string {
	if n == nil {
		return "empty value"
	}
	if s, ok := n.(*ast.StringNode); ok {
		return strconv.Quote(s.Value)
	}
	return strconv.Quote(n.String())
}
