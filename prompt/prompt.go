// Package prompt asks a person on the terminal whether to let a blocked
// host through (POLICY.md §8), while a sandboxed command runs on a
// pseudo-terminal of its own that the package relays to the real one.
//
// The command must not be able to answer: it never holds the real
// terminal (its stdin, stdout and stderr are the pseudo-terminal, so
// TIOCSTI and writes land in its own terminal, not in the person's input),
// input typed before a question is flushed, and only valid host names and
// IP literals are ever shown, with any control character escaped. A
// question takes the terminal's last line and gives it back, so a
// full-screen program loses at most that line until it redraws.
package prompt

import (
	"fmt"
	"strings"
	"time"

	"github.com/netpolicy/netpolicy/proxy"
)

// DefaultTimeout is how long a question waits before it is answered "no".
const DefaultTimeout = 30 * time.Second

// parseAnswer reads a typed answer; "always" must be typed in full.
func parseAnswer(s string) proxy.Answer {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "o", "once":
		return proxy.AnswerOnce
	case "s", "session":
		return proxy.AnswerSession
	case "always":
		return proxy.AnswerAlways
	}
	return proxy.AnswerNo
}

// Printable escapes every control character and non-ASCII byte of s, so
// that nothing a client sent can reach the terminal raw.
func Printable(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f {
			fmt.Fprintf(&sb, "\\x%02x", c)
			continue
		}
		sb.WriteByte(c)
	}
	return sb.String()
}
