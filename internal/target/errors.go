package target

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
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
