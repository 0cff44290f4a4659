package lint

import (
	"sort"

	"github.com/netpolicy/netpolicy/internal/tomldoc"
)

// This file is the edit algebra of fixes: collecting edits, sorting them,
// refusing overlaps and applying them to the original bytes. Where the
// bytes of an edit go (line endings, indents, inline-table separators) is
// the document's layout, asked of package tomldoc.

// fixBuilder collects the edits of one fix. Insertions at one offset are
// joined in the order they were made.
type fixBuilder struct {
	edits []Edit
	ins   map[int]string
	// overlap is set when fix found two edits overlapping.
	overlap bool
}

func (fb *fixBuilder) replace(start, end int, text string) {
	fb.edits = append(fb.edits, Edit{Start: start, End: end, New: text})
}

func (fb *fixBuilder) insert(at int, text string) {
	if fb.ins == nil {
		fb.ins = map[int]string{}
	}
	fb.ins[at] += text
}

// put inserts text at an offset like insert, and does nothing when text is
// empty: it takes tomldoc's insertions (Doc.LinesAfter, Doc.LinesAbove),
// which are empty when there are no lines to insert.
func (fb *fixBuilder) put(at int, text string) {
	if text != "" {
		fb.insert(at, text)
	}
}

// cut deletes the given ranges (tomldoc's Table.InlineCuts).
func (fb *fixBuilder) cut(spans []tomldoc.Span) {
	for _, sp := range spans {
		fb.replace(sp.Start.Offset, sp.End.Offset, "")
	}
}

// fix returns the edits sorted, or nil when there are none or two of them
// overlap (a bug in the planner, never papered over: fb.overlap is then set
// and the finding must state it as its NoFix reason).
func (fb *fixBuilder) fix(msg string) *Fix {
	edits := append([]Edit(nil), fb.edits...)
	for at, text := range fb.ins {
		edits = append(edits, Edit{Start: at, End: at, New: text})
	}
	if len(edits) == 0 {
		return nil
	}
	SortEdits(edits)
	for i := 1; i < len(edits); i++ {
		if Overlap(edits[i-1], edits[i]) {
			fb.overlap = true
			return nil
		}
	}
	return &Fix{Message: msg, Edits: edits}
}

// SortEdits sorts edits by position; an insertion comes before a
// replacement starting at the same offset.
func SortEdits(edits []Edit) {
	sort.SliceStable(edits, func(i, j int) bool {
		if edits[i].Start != edits[j].Start {
			return edits[i].Start < edits[j].Start
		}
		return edits[i].End < edits[j].End
	})
}

// ApplyEdits applies sorted, non-overlapping edits (byte offsets of src) to
// src and returns the new document.
func ApplyEdits(src []byte, edits []Edit) []byte {
	out := make([]byte, 0, len(src))
	pos := 0
	for _, e := range edits {
		out = append(out, src[pos:e.Start]...)
		out = append(out, e.New...)
		pos = e.End
	}
	return append(out, src[pos:]...)
}

// Overlap reports whether two edits touch the same bytes, or insert at the
// same offset (their order would be a guess).
func Overlap(a, b Edit) bool {
	if a.Start == a.End && b.Start == b.End {
		return a.Start == b.Start
	}
	return a.Start < b.End && b.Start < a.End
}

// removeEntry is the fix that deletes a key/value: its line, or its item
// of an inline table. Nil for a table defined by a header; nil with a
// blocker when its edits overlap.
func (b *planner) removeEntry(e *tomldoc.Entry, msg string) (fix *Fix, blocker string) {
	if e.KV.End.Offset <= e.KV.Start.Offset {
		return nil, ""
	}
	fb := &fixBuilder{}
	if e.InInline {
		c := b.doc.InlineHolder(e.Parent)
		if c == nil {
			return nil, ""
		}
		fb.cut(c.InlineCuts([]*tomldoc.Entry{e}))
	} else {
		fb.replace(e.Expr.Line.Start.Offset, e.Expr.Line.End.Offset, "")
	}
	return fb.fix(msg), overlapBlocker(fb, "the removal of "+e.Key)
}

// overlapBlocker is the NoFix reason of a fix whose edits overlapped, or
// "" when they did not.
func overlapBlocker(fb *fixBuilder, what string) string {
	if fb.overlap {
		return what + " would overlap itself"
	}
	return ""
}
