package target

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/ciba-check/ciba-check/ciba"
)

// Error is a problem in a target file: where it is and what is wrong.
type Error struct {
	File      string // as given to Parse; empty if unknown
	Line, Col int    // 1-based; zero when no position is known
	Path      string // field path such as "clients[1].auth"; empty for the whole file
	Msg       string

	// exact is false when the path is absent from the file and the
	// position is its nearest ancestor's.
	exact bool
	// err is the cause, when the error reports one (a file that cannot
	// be read), for errors.Is/As.
	err error
}

// Unwrap returns the cause, if any.
func (e *Error) Unwrap() error { return e.err }

// Error formats e on one line: "FILE:LINE:COL: PATH: MSG".
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", e.Line, e.Col)
		}
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// nodeError carries a node out of a custom unmarshaler so the error keeps
// its position.
type nodeError struct {
	node ast.Node
	msg  string
}

func (e *nodeError) Error() string { return e.msg }

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
		pl := &places{file: p.file, path: path, pos: map[string][2]int{}}
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

// first returns the error that comes first in the file, so the user fixes
// problems top down; missing fields, which have no place of their own,
// come after the rest in schema order.
func (p *parse) first() *Error {
	sort.SliceStable(p.errs, func(i, j int) bool {
		a, b := p.errs[i], p.errs[j]
		if a.exact != b.exact {
			return a.exact
		}
		if !a.exact {
			return false
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	return p.errs[0]
}

func (p *parse) errAt(tk *token.Token, path, msg string) *Error {
	e := &Error{File: p.file, Path: path, Msg: msg}
	if tk != nil && tk.Position != nil {
		e.Line, e.Col, e.exact = tk.Position.Line, tk.Position.Column, true
	}
	return e
}

// fail records a problem at path, positioned at path's key or, when the
// key is missing, at the nearest ancestor present in the file.
func (p *parse) fail(path, format string, args ...any) {
	e := &Error{File: p.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	for q := path; ; q = parentPath(q) {
		if pos, ok := p.keyPos[q]; ok {
			e.Line, e.Col, e.exact = pos.Line, pos.Column, q == path
			break
		}
		if q == "" {
			break
		}
	}
	p.errs = append(p.errs, e)
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

func (p *parse) expand(n *ast.StringNode, path string) {
	v, err := expandEnv(n.Value, p.lookupEnv)
	if err != nil {
		p.errs = append(p.errs, p.errAt(n.GetToken(), path, err.Error()))
		return
	}
	n.Value = v
}

// yamlError turns a go-yaml error into an *Error with position and path.
func (p *parse) yamlError(err error) *Error {
	var ne *nodeError
	if errors.As(err, &ne) {
		tk := ne.node.GetToken()
		return p.errAt(tk, p.pathOf(tk), ne.msg)
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return p.errAt(te.Token, p.pathOf(te.Token), fmt.Sprintf("must be %s", describeType(te.DstType)))
	}
	var ue *yaml.UnknownFieldError
	if errors.As(err, &ue) {
		path := p.pathOf(ue.Token)
		return p.errAt(ue.Token, path, fmt.Sprintf("unknown key %q", lastKey(path, ue.Token)))
	}
	var ne2 *yaml.UnexpectedNodeTypeError
	if errors.As(err, &ne2) {
		return p.errAt(ne2.Token, p.pathOf(ne2.Token), "must be "+describeNodeType(ne2.Expected))
	}
	var ye yaml.Error
	if errors.As(err, &ye) {
		tk := ye.GetToken()
		return p.errAt(tk, p.pathOf(tk), ye.GetMessage())
	}
	return &Error{File: p.file, Msg: err.Error()}
}

func (p *parse) pathOf(tk *token.Token) string {
	if tk == nil || tk.Position == nil {
		return ""
	}
	return p.pathAt[[2]int{tk.Position.Line, tk.Position.Column}]
}

func lastKey(path string, tk *token.Token) string {
	if tk != nil {
		return tk.Value
	}
	return path[strings.LastIndex(path, ".")+1:]
}

func describeNodeType(t ast.NodeType) string {
	switch t {
	case ast.SequenceType:
		return "a list"
	case ast.MappingType:
		return "a mapping"
	case ast.StringType:
		return "a string"
	}
	return "a " + t.String()
}

func describeType(t reflect.Type) string {
	if t == nil {
		return "a different type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "a mapping"
	case reflect.Pointer:
		return describeType(t.Elem())
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64:
		return "a number"
	}
	return "a " + t.String()
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

func quoteNode(n ast.Node) string {
	if n == nil {
		return "empty value"
	}
	if s, ok := n.(*ast.StringNode); ok {
		return strconv.Quote(s.Value)
	}
	return strconv.Quote(n.String())
}

// applyDefaults fills what the schema documents as defaults.
func (t *Target) applyDefaults() {
	for i := range t.Clients {
		if t.Clients[i].Scope == "" {
			t.Clients[i].Scope = "openid"
		}
	}
	for i := range t.Users {
		if t.Users[i].Outcome == "" {
			t.Users[i].Outcome = ciba.OutcomeApprove
		}
	}
}

// filePaths lists pointers to every file path in t.
func (t *Target) filePaths() []*string {
	paths := []*string{&t.CA}
	for i := range t.Clients {
		c := &t.Clients[i]
		paths = append(paths, &c.SigningKey, &c.TLSCert, &c.TLSKey)
		if c.Notification != nil {
			paths = append(paths, &c.Notification.TLSCert, &c.Notification.TLSKey)
		}
	}
	return paths
}

// Files lists every file the target names (resolved, as after Parse), in
// the order of the file; empty fields are left out.
func (t *Target) Files() []string {
	var out []string
	for _, p := range t.filePaths() {
		if *p != "" {
			out = append(out, *p)
		}
	}
	return out
}

func (t *Target) resolvePaths(baseDir string) {
	for _, p := range t.filePaths() {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(baseDir, *p)
		}
	}
}
