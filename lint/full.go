package lint

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// WriteFull writes each finding as the text format's line followed by the
// source line it points at and a caret under the span, in the manner of
// ruff's and rustc's full output:
//
//	config.toml:3:1: error NP010 allowed_domains is a legacy list, …
//	  |
//	3 | allowed_domains = ["b.example"]
//	  | ^^^^^^^^^^^^^^^
//	  = fix: netpolicy migrate --write config.toml
//
// A finding without a source (stdin not given, NP000) is the line alone. A
// span that runs over several lines is underlined to the end of its first.
func WriteFull(w io.Writer, ds []Diagnostic, sources map[string][]byte, color bool) error {
	var sb strings.Builder
	for i, d := range ds {
		if i > 0 {
			sb.WriteString("\n")
		}
		WriteText(&sb, ds[i:i+1], color)
		src, ok := sources[d.File]
		if !ok || d.Pos.Line < 1 {
			continue
		}
		line, ok := sourceLine(src, d.Pos.Line)
		if !ok {
			continue
		}
		num := strconv.Itoa(d.Pos.Line)
		pad := strings.Repeat(" ", len(num))
		gutter := func(s string) string {
			if color {
				return ansiDim + s + ansiReset
			}
			return s
		}
		fmt.Fprintf(&sb, "%s %s\n", pad, gutter("|"))
		fmt.Fprintf(&sb, "%s %s %s\n", gutter(num), gutter("|"), expandTabs(line))
		start := max(d.Pos.Column, 1)
		width := utf8.RuneCountInString(line) + 1 - start
		if d.End.Line == d.Pos.Line && d.End.Column > d.Pos.Column {
			width = d.End.Column - d.Pos.Column
		}
		width = max(width, 1)
		lead := caretLead(line, start-1)
		carets := strings.Repeat("^", width)
		if color {
			carets = sevColor[d.Severity()] + carets + ansiReset
		}
		fmt.Fprintf(&sb, "%s %s %s%s\n", pad, gutter("|"), lead, carets)
		if d.Fixable() {
			fmt.Fprintf(&sb, "%s %s fix: %s (netpolicy migrate --write %s)\n", pad, gutter("="), d.Fix.Message, d.File)
		}
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

// sourceLine returns line n (1-based) of src without its line ending.
func sourceLine(src []byte, n int) (string, bool) {
	for i := 1; i < n; i++ {
		j := bytes.IndexByte(src, '\n')
		if j < 0 {
			return "", false
		}
		src = src[j+1:]
	}
	if j := bytes.IndexByte(src, '\n'); j >= 0 {
		src = src[:j]
	}
	return strings.TrimSuffix(string(src), "\r"), true
}

// caretLead is the blank space under the first n characters of line, tabs
// expanded as expandTabs does so the caret lands under the span.
func caretLead(line string, n int) string {
	var sb strings.Builder
	col := 0
	for _, r := range line {
		if col >= n {
			break
		}
		if r == '\t' {
			sb.WriteString("    ")
		} else {
			sb.WriteByte(' ')
		}
		col++
	}
	return sb.String()
}

// expandTabs writes tabs as four spaces, so carets can line up.
func expandTabs(s string) string { return strings.ReplaceAll(s, "\t", "    ") }
