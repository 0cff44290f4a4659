package gitignore

import "testing"

func TestMatch(t *testing.T) {
	type probe struct {
		name string
		dir  bool
		want bool
	}
	tests := []struct {
		file   string // .gitignore at the root
		probes []probe
	}{
		{"vendor/\n", []probe{
			{"vendor", true, true},
			{"a/vendor", true, true},
			{"vendor", false, false}, // a file named vendor: dir-only pattern
			{"vendors", true, false},
		}},
		{"/build\n", []probe{
			{"build", true, true},
			{"build", false, true},
			{"a/build", true, false}, // anchored to the root
		}},
		{"*.gen.toml\n!keep.gen.toml\n", []probe{
			{"x.gen.toml", false, true},
			{"a/b/x.gen.toml", false, true},
			{"keep.gen.toml", false, false}, // negation wins, it comes last
			{"a/keep.gen.toml", false, false},
			{"x.toml", false, false},
		}},
		{"docs/*.toml\n", []probe{
			{"docs/a.toml", false, true},
			{"docs/sub/a.toml", false, false}, // * does not cross /
			{"x/docs/a.toml", false, false},   // inner slash anchors
		}},
		{"**/fixtures\n", []probe{
			{"fixtures", true, true},
			{"a/b/fixtures", true, true},
		}},
		{"a/**/z.toml\n", []probe{
			{"a/z.toml", false, true},
			{"a/b/c/z.toml", false, true},
			{"b/z.toml", false, false},
		}},
		{"out/**\n", []probe{
			{"out/x.toml", false, true},
			{"out/d/x.toml", false, true},
			{"out", true, false},
		}},
		{"# comment\n\n\\#hash.toml\nconf?.toml\n[ab].toml\n[!c]x.toml\n", []probe{
			{"#hash.toml", false, true},
			{"# comment", false, false},
			{"conf1.toml", false, true},
			{"conf12.toml", false, false},
			{"a.toml", false, true},
			{"c.toml", false, false},
			{"dx.toml", false, true},
			{"cx.toml", false, false},
		}},
		{"trail.toml   \nesc.toml\\ \n", []probe{
			{"trail.toml", false, true},
			{"esc.toml ", false, true},
		}},
	}
	for _, tt := range tests {
		var m Matcher
		m.Add(ParseFile([]byte(tt.file), "", ".gitignore")...)
		for _, p := range tt.probes {
			if got, _ := m.Match(p.name, p.dir); got != p.want {
				t.Errorf(".gitignore %q: Match(%q, dir=%v) = %v, want %v", tt.file, p.name, p.dir, got, p.want)
			}
		}
	}
}

// A deeper .gitignore applies only below its directory and wins over a
// shallower one.
func TestNested(t *testing.T) {
	var m Matcher
	m.Add(ParseFile([]byte("*.toml\n"), "/repo", "/repo/.gitignore")...)
	m.Add(ParseFile([]byte("!keep.toml\n"), "/repo/sub", "/repo/sub/.gitignore")...)
	for _, p := range []struct {
		name string
		want bool
	}{
		{"/repo/a.toml", true},
		{"/repo/keep.toml", true},
		{"/repo/sub/keep.toml", false},
		{"/repo/sub/b.toml", true},
		{"/elsewhere/a.toml", false},
	} {
		if got, by := m.Match(p.name, false); got != p.want {
			t.Errorf("Match(%q) = %v (by %+v), want %v", p.name, got, by, p.want)
		}
	}
	if _, by := m.Match("/repo/a.toml", false); by == nil || by.Source != "/repo/.gitignore:1" {
		t.Errorf("deciding pattern = %+v, want source /repo/.gitignore:1", by)
	}
}

// An --exclude glob without a slash matches names anywhere; one with a
// slash is relative to its base.
func TestExclude(t *testing.T) {
	var m Matcher
	p, ok := Exclude("*.gen.toml", "/work", "--exclude")
	if !ok {
		t.Fatal("Exclude rejected *.gen.toml")
	}
	m.Add(p)
	q, _ := Exclude("third_party/", "/work", "--exclude")
	m.Add(q)
	for _, c := range []struct {
		name string
		dir  bool
		want bool
	}{
		{"/work/a/x.gen.toml", false, true},
		{"/other/x.gen.toml", false, true},
		{"/work/third_party", true, true},
		{"/work/a/third_party", true, true},
		{"/other/third_party", true, true},
		{"/work/x.toml", false, false},
	} {
		if got, _ := m.Match(c.name, c.dir); got != c.want {
			t.Errorf("Match(%q) = %v, want %v", c.name, got, c.want)
		}
	}
	if _, ok := Exclude("!x", "/", ""); ok {
		t.Error("a negated --exclude must be refused")
	}
}

// FuzzMatch: any pattern line and any path parse and match without panic,
// and a pattern that matches a name never matches it negated.
func FuzzMatch(f *testing.F) {
	for _, s := range []string{"vendor/", "/build", "*.toml", "!keep", "a/**/b", "[!a-c]?.x", "\\#x", "**", "[", "a\\"} {
		f.Add(s, "a/b/c.toml", false)
	}
	f.Fuzz(func(t *testing.T, line, name string, dir bool) {
		p, ok := Parse(line, "")
		if !ok {
			return
		}
		var m Matcher
		m.Add(p)
		got, by := m.Match(name, dir)
		if got && (by == nil || by.negate) {
			t.Fatalf("%q matched %q as ignored by %+v", line, name, by)
		}
	})
}
