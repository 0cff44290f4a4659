package migrate

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/sergi/go-diff/diffmatchpatch"
)

// contextLines is the context of each hunk, as diff -u and git use.
const contextLines = 3

// diffLine is one line of a line diff: ' ' (both), '-' (old only) or '+'
// (new only). text keeps its line ending; the last line of a file without
// a final newline has none.
type diffLine struct {
	op   byte
	text string
}

// Diff returns a unified diff from old to new labelled a/PATH and b/PATH
// (the form git apply and patch -p1 accept), or "" when they are equal.
// PATH is path with forward slashes and no leading slash.
func Diff(path string, old, new []byte) string {
	if string(old) == string(new) {
		return ""
	}
	lines := lineDiff(string(old), string(new))
	label := strings.TrimLeft(filepath.ToSlash(path), "/")
	var sb strings.Builder
	fmt.Fprintf(&sb, "--- a/%s\n+++ b/%s\n", label, label)
	for _, h := range hunks(lines) {
		writeHunk(&sb, lines, h)
	}
	return sb.String()
}

// lineDiff diffs by lines: go-diff maps every distinct line to one rune,
// diffs the rune strings and maps back.
func lineDiff(old, new string) []diffLine {
	dmp := diffmatchpatch.New()
	a, b, table := dmp.DiffLinesToChars(old, new)
	diffs := dmp.DiffCharsToLines(dmp.DiffMain(a, b, false), table)
	var out []diffLine
	for _, d := range diffs {
		op := byte(' ')
		switch d.Type {
		case diffmatchpatch.DiffDelete:
			op = '-'
		case diffmatchpatch.DiffInsert:
			op = '+'
		}
		for _, l := range splitLines(d.Text) {
			out = append(out, diffLine{op, l})
		}
	}
	return out
}

// splitLines splits s after every "\n"; the last line may lack one.
func splitLines(s string) []string {
	var out []string
	for s != "" {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}

// hunk is a range [start, end) of the line diff.
type hunk struct{ start, end int }

// hunks groups the changed lines with contextLines of context around them;
// changes closer than twice that share a hunk.
func hunks(lines []diffLine) []hunk {
	var out []hunk
	for i := 0; i < len(lines); i++ {
		if lines[i].op == ' ' {
			continue
		}
		start := max(0, i-contextLines)
		if n := len(out); n > 0 && start <= out[n-1].end {
			start = out[n-1].start
			out = out[:n-1]
		}
		// Extend over this run of changes.
		j := i
		for j < len(lines) && lines[j].op != ' ' {
			j++
		}
		out = append(out, hunk{start, min(len(lines), j+contextLines)})
		i = j - 1
	}
	return out
}

// writeHunk writes the @@ header and the lines of h.
func writeHunk(sb *strings.Builder, lines []diffLine, h hunk) {
	// Line numbers before the hunk.
	oldLine, newLine := 0, 0
	for _, l := range lines[:h.start] {
		if l.op != '+' {
			oldLine++
		}
		if l.op != '-' {
			newLine++
		}
	}
	oldN, newN := 0, 0
	for _, l := range lines[h.start:h.end] {
		if l.op != '+' {
			oldN++
		}
		if l.op != '-' {
			newN++
		}
	}
	// An empty range names the line before it (diff -u's convention).
	oldStart, newStart := oldLine+1, newLine+1
	if oldN == 0 {
		oldStart = oldLine
	}
	if newN == 0 {
		newStart = newLine
	}
	fmt.Fprintf(sb, "@@ -%d,%d +%d,%d @@\n", oldStart, oldN, newStart, newN)
	for _, l := range lines[h.start:h.end] {
		sb.WriteByte(l.op)
		sb.WriteString(l.text)
		if !strings.HasSuffix(l.text, "\n") {
			sb.WriteString("\n\\ No newline at end of file\n")
		}
	}
}
