package migrate

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/netpolicy/netpolicy/internal/tomldoc"
	"github.com/netpolicy/netpolicy/lint"
	"github.com/netpolicy/netpolicy/policy"
)

// Bits of the fuzzer's shape word.
const (
	fzCRLF        = 1 << iota // CRLF line endings
	fzNoFinalEOL              // no newline at the end of the file
	fzMixed                   // a canonical domains table next to the lists
	fzConflict                // ... that denies the first allowed host
	fzMultiline               // arrays over several lines, with comments
	fzSockets                 // allow_unix_sockets
	fzObsoleteKey             // admin_url
	fzScalars                 // enabled, mode
	fzLiteral                 // literal strings where possible
	fzEmptyLists              // empty lists instead of absent ones
	fzDeniedFirst             // denied_domains before allowed_domains
	fzDottedMap               // the canonical table as dotted keys
	fzTrailing                // a comment after each list
	fzMapAll                  // every host in the canonical table, no lists
)

// Table shapes the fuzzer writes.
var fuzzForms = []string{"network", "profile", "managed", "managed-dotted", "inline", "network_proxy"}

// genDoc writes a valid TOML document holding legacy lists of the given
// hosts in one of the fuzzForms, shaped by flags.
func genDoc(allowed, denied []string, form int, flags uint16) (string, policy.FileKind) {
	eol := "\n"
	if flags&fzCRLF != 0 {
		eol = "\r\n"
	}
	quote := func(s string) string {
		if flags&fzLiteral != 0 && !strings.ContainsAny(s, "'\r\n") && utf8.ValidString(s) && !hasControl(s) {
			return "'" + s + "'"
		}
		return tomldoc.QuoteString(s)
	}
	n := 0
	list := func(hosts []string) string {
		if flags&fzMultiline == 0 || len(hosts) == 0 {
			q := make([]string, len(hosts))
			for i, h := range hosts {
				q[i] = quote(h)
			}
			return "[" + strings.Join(q, ", ") + "]"
		}
		var sb strings.Builder
		sb.WriteString("[ # open" + eol)
		for i, h := range hosts {
			n++
			if i%3 == 1 {
				fmt.Fprintf(&sb, "  # above %d%s", n, eol)
			}
			sb.WriteString("  " + quote(h) + ",")
			if i%2 == 0 {
				fmt.Fprintf(&sb, " # after %d", n)
			}
			sb.WriteString(eol)
		}
		sb.WriteString("  # end" + eol + "]")
		return sb.String()
	}
	trailing := ""
	if flags&fzTrailing != 0 && fuzzForms[form] != "inline" {
		trailing = "  # list"
	}
	var kvs []string
	if flags&fzScalars != 0 {
		kvs = append(kvs, "enabled = true")
		if !strings.HasPrefix(fuzzForms[form], "managed") {
			kvs = append(kvs, `mode = "full"`)
		}
	}
	if flags&fzMixed != 0 && flags&fzMapAll == 0 && len(allowed) > 0 {
		perm := "allow"
		if flags&fzConflict != 0 {
			perm = "deny"
		}
		if flags&fzDottedMap != 0 && fuzzForms[form] != "inline" {
			kvs = append(kvs, "domains."+tomldoc.QuoteKey(allowed[0])+` = "`+perm+`"`)
		} else {
			kvs = append(kvs, "domains = { "+tomldoc.QuoteKey(allowed[0])+` = "`+perm+`" }`)
		}
	}
	if flags&fzMapAll != 0 {
		// Only the canonical table: its keys exercise NP022, NP023 and
		// NP025 (renames that collide, duplicates).
		var entries []string
		seen := map[string]bool{}
		for i, hosts := range [][]string{allowed, denied} {
			for _, h := range hosts {
				if seen[tomldoc.QuoteKey(h)] { // invalid UTF-8 quotes as U+FFFD
					continue
				}
				seen[tomldoc.QuoteKey(h)] = true
				perm := [2]string{"allow", "deny"}[i]
				entries = append(entries, tomldoc.QuoteKey(h)+` = "`+perm+`"`)
			}
		}
		if flags&fzDottedMap != 0 && fuzzForms[form] != "inline" {
			for _, e := range entries {
				kvs = append(kvs, "domains."+e)
			}
		} else {
			kvs = append(kvs, "domains = { "+strings.Join(entries, ", ")+" }")
		}
		allowed, denied = nil, nil
	}
	lists := [][2]string{{"allowed_domains", list(allowed)}, {"denied_domains", list(denied)}}
	if flags&fzDeniedFirst != 0 {
		lists[0], lists[1] = lists[1], lists[0]
	}
	for i, l := range lists {
		hosts := allowed
		if l[0] == "denied_domains" {
			hosts = denied
		}
		if len(hosts) > 0 || flags&fzEmptyLists != 0 {
			kvs = append(kvs, l[0]+" = "+l[1]+trailing)
		}
		if i == 0 && flags&fzSockets != 0 {
			kvs = append(kvs, `allow_unix_sockets = ["/run/a.sock", "/run/b.sock", "/run/a.sock"]`)
		}
	}
	if flags&fzObsoleteKey != 0 {
		if flags&fzDeniedFirst != 0 {
			kvs = append([]string{`admin_url = "http://127.0.0.1:8080"`}, kvs...)
		} else {
			kvs = append(kvs, `admin_url = "http://127.0.0.1:8080"`)
		}
	}

	var sb strings.Builder
	lines := func(prefix string, kvs []string) {
		for _, kv := range kvs {
			sb.WriteString(prefix + kv + eol)
		}
	}
	kind := policy.KindConfig
	switch fuzzForms[form] {
	case "network":
		sb.WriteString("[network]" + eol)
		lines("", kvs)
	case "profile":
		sb.WriteString(`default_permissions = "dev"` + eol + eol + "[permissions.dev.network]" + eol)
		lines("", kvs)
	case "managed":
		kind = policy.KindRequirements
		sb.WriteString(`allowed_sandbox_modes = ["read-only"]` + eol + "[experimental_network]" + eol)
		lines("", kvs)
	case "managed-dotted":
		kind = policy.KindRequirements
		lines("experimental_network.", kvs)
	case "inline":
		sb.WriteString("network = { " + strings.Join(kvs, ", ") + " }" + eol)
	case "network_proxy":
		// Scalars in [network_proxy], everything else in the policy table.
		var scal, rest []string
		for _, kv := range kvs {
			if strings.HasPrefix(kv, "enabled") || strings.HasPrefix(kv, "mode") || strings.HasPrefix(kv, "admin_url") {
				scal = append(scal, kv)
			} else {
				rest = append(rest, kv)
			}
		}
		sb.WriteString("[network_proxy]" + eol)
		lines("", scal)
		sb.WriteString(eol + "[network_proxy.policy]" + eol)
		lines("", rest)
	}
	doc := sb.String()
	if flags&fzNoFinalEOL != 0 {
		doc = strings.TrimSuffix(doc, eol)
	}
	return doc, kind
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// fuzzHosts splits fuzzed text into at most 6 hosts of at most 40 bytes.
func fuzzHosts(s string) []string {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, "|")
	if len(parts) > 6 {
		parts = parts[:6]
	}
	for i, p := range parts {
		if len(p) > 40 {
			parts[i] = p[:40]
		}
	}
	return parts
}

// FuzzMigrate writes documents holding legacy lists of fuzzed host strings
// in every table shape, and checks that the migrated document parses, has
// the same effective rules, lints with no fixable finding left, and does
// not change when migrated again. Refusals are fine only when the input
// really conflicts.
func FuzzMigrate(f *testing.F) {
	f.Add("api.example.com|*.cdn.example.net", "tracker.example.com", uint8(0), uint16(0))
	f.Add("b.example|a.example|b.example", "b.example|C.example", uint8(2), uint16(fzMultiline|fzSockets|fzTrailing))
	f.Add("x.example|y.example", "x.example", uint8(0), uint16(fzCRLF|fzNoFinalEOL))
	f.Add("a.example", "b.example", uint8(2), uint16(fzMixed|fzDottedMap|fzSockets))
	f.Add("a.example", "a.example", uint8(2), uint16(fzMixed|fzConflict))
	f.Add("bücher.example:8443|Mixed.Case|a.example:443|A.EXAMPLE.", "", uint8(1), uint16(fzLiteral|fzObsoleteKey|fzScalars))
	f.Add("", "", uint8(3), uint16(fzEmptyLists))
	f.Add("a.example|b.example", "c.example", uint8(4), uint16(fzMultiline|fzSockets|fzScalars))
	f.Add("a.example", "b.example", uint8(5), uint16(fzMultiline|fzObsoleteKey|fzScalars|fzSockets))
	f.Add("[::1]:8080|\"q\\uote'|tab\there", "%|", uint8(0), uint16(fzDeniedFirst|fzMultiline|fzTrailing))
	f.Add("a.example:1|a.example|bücher.example|A.example.", "a.example:2|xn--bcher-kva.example", uint8(0), uint16(fzMapAll))
	f.Add("a.example:1|b.example", "a.example:2", uint8(3), uint16(fzMapAll|fzDottedMap))
	f.Add("a.example", "", uint8(3), uint16(fzObsoleteKey|fzDeniedFirst))
	f.Add("", "", uint8(3), uint16(fzObsoleteKey|fzDeniedFirst|fzEmptyLists))
	f.Fuzz(func(t *testing.T, allowed, denied string, form uint8, flags uint16) {
		doc, kind := genDoc(fuzzHosts(allowed), fuzzHosts(denied), int(form)%len(fuzzForms), flags)
		in := policy.Load("fuzz.toml", []byte(doc), kind)
		if in.SyntaxErr != nil {
			t.Fatalf("the generator wrote invalid TOML (%v):\n%s", in.SyntaxErr, doc)
		}
		out, _, err := Apply(in)
		if err != nil {
			if flags&fzMixed != 0 && strings.Contains(err.Error(), "NP011") || strings.Contains(err.Error(), "NP010") {
				return // a real conflict between the canonical table and the lists
			}
			t.Fatalf("Apply: %v\ninput:\n%s", err, doc)
		}
		g := policy.Load("fuzz.toml", out, kind)
		if g.SyntaxErr != nil {
			t.Fatalf("output does not parse: %v\n%s", g.SyntaxErr, out)
		}
		if err := sameRules(in, g); err != nil {
			t.Fatalf("%v\ninput:\n%s\noutput:\n%s", err, doc, out)
		}
		for _, d := range lint.Check(g) {
			if d.Fixable() {
				t.Fatalf("fixable finding left: %d:%d %s %s\n%s", d.Pos.Line, d.Pos.Column, d.Rule.ID, d.Message, out)
			}
		}
		again, _, err := Apply(g)
		if err != nil {
			t.Fatalf("migrating the output: %v\n%s", err, out)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\n%s", Diff("fuzz.toml", out, again))
		}
		if flags&fzNoFinalEOL == 0 && len(out) > 0 && out[len(out)-1] != '\n' {
			t.Fatalf("the final newline was lost:\n%q", out)
		}
		if strings.Contains(doc, "\r\n") && bytes.Contains(bytes.ReplaceAll(out, []byte("\r\n"), nil), []byte("\n")) {
			t.Fatalf("a bare LF in a CRLF file:\n%q", out)
		}
	})
}

// FuzzApplyAny feeds arbitrary documents (seeded with the golden inputs) to
// Apply: it must not panic, and whatever it returns without an error must
// parse and be stable. Refusals are fine here.
func FuzzApplyAny(f *testing.F) {
	inputs, _ := filepath.Glob(filepath.Join(goldenDir, "*.input"))
	for _, in := range inputs {
		if src, err := os.ReadFile(in); err == nil {
			f.Add(string(src))
		}
	}
	f.Fuzz(func(t *testing.T, doc string) {
		in := policy.Load("fuzz.toml", []byte(doc), policy.KindAuto)
		out, _, err := Apply(in)
		if err != nil {
			return
		}
		g := policy.Load("fuzz.toml", out, in.Kind)
		if g.SyntaxErr != nil {
			t.Fatalf("output does not parse: %v\n%s", g.SyntaxErr, out)
		}
		again, _, err := Apply(g)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not stable (%v):\n%s", err, Diff("fuzz.toml", out, again))
		}
	})
}
