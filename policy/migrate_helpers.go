package policy

import (
	"github.com/pelletier/go-toml/v2/unstable"
)

// ReadNetwork reads any table of f as a network table with the given origin.
// Load uses the same reading for [experimental_network], [network] and the
// profiles; migrate also needs it for the obsolete shapes ([network_proxy],
// [network_proxy.policy], [permissions.network]) to compare them with the
// [network] table they become.
func (f *File) ReadNetwork(t *Table, o Origin) *Network { return f.network(t, o) }

// KeyParts returns the span of every part of the (possibly dotted) key of a
// key/value or header expression, in order. Doc keeps only the span of the
// whole key; a rewrite that renames one part ([network_proxy.x] →
// [network.x]) needs the parts. It returns nil for a comment.
func (d *Doc) KeyParts(e *Expr) []Span {
	if e.Kind == ExprComment {
		return nil
	}
	// Re-read just this expression with the same parser that built the
	// document; offsets are relative to its start.
	start := e.Span.Start.Offset
	var p unstable.Parser
	p.Reset(d.Src[start:e.Span.End.Offset])
	if !p.NextExpression() {
		return nil
	}
	var out []Span
	it := p.Expression().Key()
	for it.Next() {
		r := it.Node().Raw
		out = append(out, d.Span(start+int(r.Offset), start+int(r.Offset+r.Length)))
	}
	return out
}
