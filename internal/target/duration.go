package target

import (
	"fmt"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// Duration is a time.Duration written as "2s" or "500ms" in YAML.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalYAML writes d as a duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads a duration string such as "2s"; a bare 0 is allowed.
// It takes the node, after ${ENV} expansion, so errors keep its position.
func (d *Duration) UnmarshalYAML(node ast.Node) error {
	switch n := node.(type) {
	case *ast.NullNode:
		*d = 0
		return nil
	case *ast.IntegerNode:
		if v, ok := n.Value.(uint64); ok && v == 0 {
			*d = 0
			return nil
		}
		if v, ok := n.Value.(int64); ok && v == 0 {
			*d = 0
			return nil
		}
	case *ast.StringNode:
		v, err := time.ParseDuration(n.Value)
		if err == nil {
			*d = Duration(v)
			return nil
		}
	}
	return &nodeError{node: node, msg: fmt.Sprintf("%s is not a duration such as \"2s\" or \"500ms\"", quoteNode(node))}
}
