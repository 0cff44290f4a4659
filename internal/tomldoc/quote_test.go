package tomldoc

import (
	"testing"

	"github.com/pelletier/go-toml/v2"
)

func TestQuoteKey(t *testing.T) {
	for in, want := range map[string]string{
		"plain_key-1":   "plain_key-1",
		"a.example":     `"a.example"`,
		"*.example.com": `"*.example.com"`,
		"quo\"te\\":     `"quo\"te\\"`,
		"nul\x00":       `"nul\u0000"`,
		"tab\t":         `"tab\t"`,
		"":              `""`,
		"bücher":        `"bücher"`,
	} {
		if got := QuoteKey(in); got != want {
			t.Errorf("QuoteKey(%q) = %s, want %s", in, got, want)
		}
		// Every quoted key must parse back to itself.
		d, err := ParseDoc([]byte("[network.domains]\n" + QuoteKey(in) + " = \"allow\"\n"))
		if err != nil || d.Root.Sub("network").Sub("domains").Get(in) == nil {
			t.Errorf("QuoteKey(%q) does not round-trip: %v", in, err)
		}
	}
}

// TestQuoteString holds QuoteString to TOML's escapes: go-toml's decoder
// reads every quoted string back to the original, and the spelling of the
// escapes is TOML's, not Go's %q.
func TestQuoteString(t *testing.T) {
	for in, want := range map[string]string{
		"a.example":        `"a.example"`,
		"":                 `""`,
		"say \"hi\"":       `"say \"hi\""`,
		`C:\path`:          `"C:\\path"`,
		"\b\t\n\f\r":       `"\b\t\n\f\r"`,
		"bell\x07 del\x7f": `"bell\u0007 del\u007F"`,
		"bücher 🙂":         `"bücher 🙂"`,
	} {
		got := QuoteString(in)
		if got != want {
			t.Errorf("QuoteString(%q) = %s, want %s", in, got, want)
		}
		var m map[string]string
		if err := toml.Unmarshal([]byte("v = "+got), &m); err != nil || m["v"] != in {
			t.Errorf("QuoteString(%q) = %s reads back as %q, %v", in, got, m["v"], err)
		}
	}
}

func TestJoinKey(t *testing.T) {
	for _, c := range []struct {
		parts []string
		want  string
	}{
		{nil, ""},
		{[]string{"network"}, "network"},
		{[]string{"network", "domains", "*.example.com"}, `network.domains."*.example.com"`},
		{[]string{"permissions", "my profile", "network"}, `permissions."my profile".network`},
	} {
		if got := JoinKey(c.parts); got != c.want {
			t.Errorf("JoinKey(%q) = %s, want %s", c.parts, got, c.want)
		}
	}
}

// TestCommentText: whatever a note says, "# " + CommentText(note) is one
// TOML comment that the decoder accepts, tabs and printable text kept.
func TestCommentText(t *testing.T) {
	for in, want := range map[string]string{
		"plain note":              "plain note",
		"tab\tkept, ünïcode":      "tab\tkept, ünïcode",
		"two\nlines\r\nhere":      "two lines  here",
		"nul\x00 esc\x1b del\x7f": "nul  esc  del ",
	} {
		got := CommentText(in)
		if got != want {
			t.Errorf("CommentText(%q) = %q, want %q", in, got, want)
		}
		var m map[string]any
		if err := toml.Unmarshal([]byte("k = 1 # "+got+"\nj = 2\n"), &m); err != nil || len(m) != 2 {
			t.Errorf("CommentText(%q) = %q is not one comment: %v %v", in, got, m, err)
		}
	}
}
