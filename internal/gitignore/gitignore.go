// Package gitignore matches paths against .gitignore patterns, so that a
// directory walk of lint and migrate skips what git ignores.
//
// It implements the part of gitignore(5) a walk needs: blank lines and
// comments, "!" negation (the last matching pattern wins, and a deeper
// .gitignore comes after a shallower one), a trailing "/" for directories
// only, anchoring by a leading or inner "/", the wildcards "*", "?" and
// "[...]" (with "!" or "^" negating a class), "**" as a leading "**/", an
// inner "/**/" and a trailing "/**", backslash escapes, and trailing spaces
// dropped unless escaped. Not implemented: core.excludesFile, .git/info/exclude
// and the index (a tracked file that matches is still ignored here).
package gitignore

import (
	"bufio"
	"bytes"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// Pattern is one line of a .gitignore file (or one --exclude glob).
type Pattern struct {
	// Text is the pattern as written, for messages.
	Text string
	// Source names where it came from: "vendor/.gitignore:3", "--exclude".
	Source string

	base     string // slash-separated directory the pattern is relative to
	re       *regexp.Regexp
	negate   bool
	dirOnly  bool
	anchored bool
	// floating patterns (--exclude without a slash) also match below paths
	// outside base.
	floating bool
}

// ParseFile reads the patterns of a .gitignore file whose directory is base
// (a slash-separated path, "" or "." for the current directory). name is
// used in each pattern's Source.
func ParseFile(data []byte, base, name string) []Pattern {
	var out []Pattern
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if p, ok := Parse(sc.Text(), base); ok {
			p.Source = name + ":" + strconv.Itoa(n)
			out = append(out, p)
		}
	}
	return out
}

// Parse reads one pattern relative to base. ok is false for blank lines,
// comments and patterns that cannot match anything.
func Parse(line, base string) (p Pattern, ok bool) {
	line = strings.TrimSuffix(line, "\r")
	line = trimTrailingSpaces(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return Pattern{}, false
	}
	p.Text = line
	p.base = cleanBase(base)
	if strings.HasPrefix(line, "!") {
		p.negate = true
		line = line[1:]
	}
	if strings.HasSuffix(line, "/") && !strings.HasSuffix(line, "\\/") {
		p.dirOnly = true
		line = strings.TrimRight(line, "/")
	}
	if line == "" {
		return Pattern{}, false
	}
	if strings.Contains(line, "/") {
		p.anchored = true
		line = strings.TrimPrefix(line, "/")
	}
	re, err := regexp.Compile("^" + globRegexp(line, p.anchored) + "$")
	if err != nil {
		return Pattern{}, false
	}
	p.re = re
	return p, true
}

// Exclude makes a pattern for an --exclude glob (gitignore syntax) relative
// to the directory base. A glob without a slash matches a name at any depth,
// also below paths outside base.
func Exclude(glob, base, source string) (Pattern, bool) {
	p, ok := Parse(glob, base)
	if !ok || p.negate {
		return Pattern{}, false
	}
	p.Source = source
	p.floating = !p.anchored
	return p, true
}

func cleanBase(base string) string {
	base = path.Clean(strings.ReplaceAll(base, "\\", "/"))
	if base == "." {
		return ""
	}
	return base
}

// trimTrailingSpaces drops trailing spaces that are not escaped with "\".
func trimTrailingSpaces(s string) string {
	for strings.HasSuffix(s, " ") && !strings.HasSuffix(s, "\\ ") {
		s = s[:len(s)-1]
	}
	return s
}

// globRegexp translates a gitignore glob into a regular expression body. An
// unanchored pattern matches the last path element at any depth.
func globRegexp(g string, anchored bool) string {
	var sb strings.Builder
	if !anchored {
		sb.WriteString("(?:.*/)?")
	}
	for i := 0; i < len(g); i++ {
		c := g[i]
		switch {
		case c == '*' && strings.HasPrefix(g[i:], "**"):
			atStart := i == 0 || g[i-1] == '/'
			rest := g[i+2:]
			switch {
			case atStart && strings.HasPrefix(rest, "/"):
				// "**/" (leading or inner): zero or more directories.
				sb.WriteString("(?:.*/)?")
				i += 2 // skip "**", the loop skips "/"
			case atStart && rest == "":
				// trailing "/**": everything inside.
				sb.WriteString(".*")
				i++
			default:
				sb.WriteString("[^/]*")
				i++
			}
		case c == '*':
			sb.WriteString("[^/]*")
		case c == '?':
			sb.WriteString("[^/]")
		case c == '[':
			end := classEnd(g, i)
			if end < 0 {
				sb.WriteString(`\[`)
				continue
			}
			body := g[i+1 : end]
			if strings.HasPrefix(body, "!") || strings.HasPrefix(body, "^") {
				body = "^" + body[1:]
			}
			sb.WriteString("[" + strings.ReplaceAll(body, `\`, `\\`) + "]")
			i = end
		case c == '\\' && i+1 < len(g):
			i++
			sb.WriteString(regexp.QuoteMeta(string(g[i])))
		default:
			sb.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return sb.String()
}

// classEnd returns the index of the "]" closing the class opened at i, or -1.
func classEnd(g string, i int) int {
	j := i + 1
	if j < len(g) && (g[j] == '!' || g[j] == '^') {
		j++
	}
	if j < len(g) && g[j] == ']' {
		j++
	}
	for ; j < len(g); j++ {
		if g[j] == ']' {
			return j
		}
	}
	return -1
}

// match reports whether the pattern matches name (slash-separated, relative
// to the same root as base), ignoring negation.
func (p *Pattern) match(name string, isDir bool) bool {
	if p.dirOnly && !isDir {
		return false
	}
	rel := name
	if p.base != "" {
		switch {
		case name == p.base:
			return false
		case strings.HasPrefix(name, p.base+"/"):
			rel = name[len(p.base)+1:]
		case p.floating:
			rel = path.Base(name)
		default:
			return false
		}
	}
	return p.re.MatchString(rel)
}

// Matcher holds patterns in precedence order: later ones win.
type Matcher struct {
	patterns []Pattern
}

// Add appends patterns; they take precedence over those added before.
func (m *Matcher) Add(ps ...Pattern) { m.patterns = append(m.patterns, ps...) }

// Match reports whether name (slash-separated, relative to the root the
// bases are relative to) is ignored, and the pattern that decided (nil when
// none matched). A negated pattern that matches last un-ignores.
func (m *Matcher) Match(name string, isDir bool) (bool, *Pattern) {
	name = cleanBase(name)
	for i := len(m.patterns) - 1; i >= 0; i-- {
		p := &m.patterns[i]
		if p.match(name, isDir) {
			return !p.negate, p
		}
	}
	return false, nil
}
