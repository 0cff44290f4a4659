package tomldoc

import (
	"fmt"
	"strings"
)

// QuoteKey writes a key part as TOML: bare when it can be, else a basic
// string with TOML escapes.
func QuoteKey(k string) string {
	if k != "" && isBareKey(k) {
		return k
	}
	return QuoteString(k)
}

// QuoteString writes s as a TOML basic string with TOML's escapes.
func QuoteString(s string) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			sb.WriteString(`\"`)
		case '\\':
			sb.WriteString(`\\`)
		case '\b':
			sb.WriteString(`\b`)
		case '\t':
			sb.WriteString(`\t`)
		case '\n':
			sb.WriteString(`\n`)
		case '\f':
			sb.WriteString(`\f`)
		case '\r':
			sb.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&sb, `\u%04X`, r)
			} else {
				sb.WriteRune(r)
			}
		}
	}
	sb.WriteByte('"')
	return sb.String()
}

func isBareKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// JoinKey joins key parts into a dotted key, quoting parts that need it.
func JoinKey(parts []string) string {
	q := make([]string, len(parts))
	for i, p := range parts {
		q[i] = QuoteKey(p)
	}
	return strings.Join(q, ".")
}

// CommentText makes s fit in a TOML comment: a comment ends at the line's
// end and may hold no control character but tab, so those become spaces.
func CommentText(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
