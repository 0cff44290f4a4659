package proxy

import (
	"strconv"
	"sync"
	"unicode/utf8"
)

// appendAuditLine appends ev as the JSON object json.Marshal makes of it
// (same keys, order, omissions and string escaping, HTML characters
// included), then a newline. It is the audit log's encoder: json.Marshal
// walks the struct by reflection and allocates the result for every
// request, which is most of the cost of an audit line. TestAuditLineJSON
// holds the two to byte equality, and fails when a field is added to
// AuditEvent without being added here.
func appendAuditLine(b []byte, ev *AuditEvent) []byte {
	b = append(b, `{"event.name":`...)
	b = appendJSONString(b, ev.Name)
	b = append(b, `,"event.timestamp":`...)
	b = appendJSONString(b, ev.Timestamp)
	b = append(b, `,"network.policy.scope":`...)
	b = appendJSONString(b, ev.Scope)
	b = append(b, `,"network.policy.decision":`...)
	b = appendJSONString(b, ev.Decision)
	b = append(b, `,"network.policy.source":`...)
	b = appendJSONString(b, ev.Source)
	b = append(b, `,"network.policy.reason":`...)
	b = appendJSONString(b, ev.Reason)
	b = append(b, `,"network.transport.protocol":`...)
	b = appendJSONString(b, ev.Protocol)
	b = append(b, `,"server.address":`...)
	b = appendJSONString(b, ev.ServerAddress)
	b = append(b, `,"server.port":`...)
	b = strconv.AppendInt(b, int64(ev.ServerPort), 10)
	b = append(b, `,"http.request.method":`...)
	b = appendJSONString(b, ev.Method)
	b = append(b, `,"client.address":`...)
	b = appendJSONString(b, ev.ClientAddress)
	b = append(b, `,"network.policy.override":`...)
	b = strconv.AppendBool(b, ev.Override)
	if ev.Rule != "" {
		b = append(b, `,"network.policy.rule":`...)
		b = appendJSONString(b, ev.Rule)
	}
	if ev.Enforced != nil {
		b = append(b, `,"network.policy.enforced":`...)
		b = strconv.AppendBool(b, *ev.Enforced)
	}
	return append(b, "}\n"...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json does with HTML
// escaping on: `"` and `\` escaped, \b \f \n \r \t, other control
// characters and < > & as \u00XX, invalid UTF-8 as \ufffd, and U+2028 and
// U+2029 as \u2028 and \u2029.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// auditLines recycles the buffers audit lines are built in: Audit.Write
// must not keep the slice (io.Writer), so one buffer serves many lines.
var auditLines = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}
