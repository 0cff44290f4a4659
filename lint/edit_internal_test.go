package lint

import "testing"

// TestFixBuilderOverlapIsStated: overlapping edits give no fix, and the
// builder says so, so that the finding carries a NoFix reason instead of
// silently losing its fix.
func TestFixBuilderOverlapIsStated(t *testing.T) {
	fb := &fixBuilder{}
	fb.replace(0, 5, "a")
	fb.replace(3, 8, "b")
	if fix := fb.fix("x"); fix != nil {
		t.Fatalf("overlapping edits gave a fix: %+v", fix)
	}
	if got := overlapBlocker(fb, "the removal of k"); got != "the removal of k would overlap itself" {
		t.Errorf("blocker = %q", got)
	}
	ok := &fixBuilder{}
	ok.replace(0, 3, "a")
	ok.insert(3, "b")
	ok.replace(3, 5, "c")
	fix := ok.fix("y")
	if fix == nil || len(fix.Edits) != 3 || overlapBlocker(ok, "z") != "" {
		t.Errorf("adjacent edits: fix %+v, blocker %q", fix, overlapBlocker(ok, "z"))
	}
	if got := string(ApplyEdits([]byte("01234567"), fix.Edits)); got != "abc567" {
		t.Errorf("applied: %q, want abc567", got)
	}
}
