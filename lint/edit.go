package lint

import "sort"

// This file is the edit algebra of fixes: collecting edits, sorting them,
// refusing overlaps and applying them to the original bytes.

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
