package migrate

import (
	"strings"
	"testing"

	"github.com/netpolicy/netpolicy/internal/tomldoc"
	"github.com/netpolicy/netpolicy/lint"
	"github.com/netpolicy/netpolicy/policy"
)

// editHosts are the hosts the rule-edit fuzzer writes and edits, some in
// several spellings of one host.
var editHosts = []string{"a.example", "A.Example.", "b.example", "b.example:443", "*.w.example", "10.0.0.1", "[::1]", "xn--bcher-kva.example", "c.example"}

// genEditDoc writes a valid config with a [network] table and a profile
// "dev" whose domains tables take the form chosen by shape, holding rules
// drawn from seed.
func genEditDoc(shape uint16, seed []byte) string {
	eol := "\n"
	if shape&1 != 0 {
		eol = "\r\n"
	}
	rules := func(off int) [][2]string {
		var out [][2]string
		seen := map[string]bool{}
		for i := off; i < len(seed) && len(out) < 4; i += 2 {
			h := editHosts[int(seed[i])%len(editHosts)]
			fixed, _ := policy.FixedPattern(h)
			k := policy.NormalizeHost(fixed)
			if seen[k] {
				continue
			}
			seen[k] = true
			perm := "allow"
			if seed[i]&0x80 != 0 && !strings.HasPrefix(h, "*") {
				perm = "deny"
			}
			out = append(out, [2]string{h, perm})
		}
		return out
	}
	var lines []string
	table := func(name string, form uint16, rs [][2]string) {
		switch form % 5 {
		case 0: // header table
			lines = append(lines, "["+name+"]", "enabled = true", "", "["+name+".domains]")
			for _, r := range rs {
				lines = append(lines, tomldoc.QuoteString(r[0])+" = "+tomldoc.QuoteString(r[1])+"  # c")
			}
		case 1: // inline
			var items []string
			for _, r := range rs {
				items = append(items, tomldoc.QuoteString(r[0])+" = "+tomldoc.QuoteString(r[1]))
			}
			lines = append(lines, "["+name+"]", "enabled = true", "domains = { "+strings.Join(items, ", ")+" }")
		case 2: // dotted
			lines = append(lines, "["+name+"]", "# dotted", "enabled = true")
			for _, r := range rs {
				lines = append(lines, "domains."+tomldoc.QuoteString(r[0])+" = "+tomldoc.QuoteString(r[1]))
			}
			lines = append(lines, `mode = "full"`)
		case 3: // no domains table
			lines = append(lines, "["+name+"]", "enabled = true")
		case 4: // no table at all
		}
		lines = append(lines, "")
	}
	if shape&2 != 0 {
		lines = append(lines, `default_permissions = "dev"`, "")
	}
	table("network", shape>>2, rules(0))
	lines = append(lines, "[permissions.dev]", `description = "d"`, "")
	table("permissions.dev.network", shape>>5, rules(1))
	doc := strings.Join(lines, eol)
	if shape&0x100 != 0 {
		doc = strings.TrimRight(doc, "\r\n")
	}
	return doc
}

// tableMap is what a network table says about each host, deny winning.
func tableMap(n *policy.Network) map[string]string {
	m := map[string]string{}
	if n == nil {
		return m
	}
	for _, r := range n.Domains {
		fixed, _ := policy.FixedPattern(r.Pattern)
		k := policy.NormalizeHost(fixed)
		if m[k] != "deny" {
			m[k] = r.Perm.String()
		}
	}
	return m
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// FuzzEditRule makes random edits on random valid configs: each either is
// refused for a new lint finding or produces a file that parses, says what
// the edit said for its host, and keeps every other rule of every table;
// the same edit again changes nothing.
func FuzzEditRule(f *testing.F) {
	for i, seed := range []string{"\x00\x81\x02\x03\x84", "\x05\x06\x87\x08", "", "\x01\x01\x82", "\x03\x84\x05\x86\x07"} {
		f.Add(uint16(i*37), []byte(seed), []byte{0x01, 0x42, 0x83, 0x04, 0xc5, 0x06})
	}
	f.Fuzz(func(t *testing.T, shape uint16, seed, ops []byte) {
		src := genEditDoc(shape, seed)
		cur := policy.Load("config.toml", []byte(src), policy.KindConfig)
		if cur.SyntaxErr != nil {
			t.Fatalf("generated document does not parse: %v\n%s", cur.SyntaxErr, src)
		}
		for _, d := range lint.Check(cur) {
			if d.Severity() == lint.SevError {
				t.Fatalf("generated document has lint errors: %s\n%s", d.String(), src)
			}
		}
		for i, op := range ops {
			if i >= 6 {
				break
			}
			host := editHosts[int(op>>2)%len(editHosts)]
			perm := []policy.Permission{policy.Allow, policy.Deny, policy.PermInvalid, policy.Allow}[op&3]
			path := []string{"network"}
			if op&0x40 != 0 {
				path = []string{"permissions", "dev", "network"}
			}
			norm, err := NormalizePattern(host, perm)
			if err != nil {
				t.Fatalf("NormalizePattern(%q): %v", host, err)
			}
			edited, ch, err := EditRule(cur, path, norm, perm, "")
			if err != nil {
				if strings.Contains(err.Error(), "new lint findings") {
					continue
				}
				t.Fatalf("edit %v %s %q refused: %v\n%s", path, perm, norm, err, cur.Src)
			}
			out := edited.Src
			next := policy.Load("config.toml", out, policy.KindConfig)
			if next.SyntaxErr != nil {
				t.Fatalf("edit produced invalid TOML: %v\n%s", next.SyntaxErr, out)
			}
			checkOthers(t, cur, next, path, norm, perm, ch)
			again, ch2, err := EditRule(next, path, norm, perm, "")
			if err != nil || ch2.Op != lint.RuleUnchanged || string(again.Src) != string(out) {
				t.Fatalf("second edit not a no-op: %v %v\n%s", err, ch2, out)
			}
			cur = next
		}
	})
}

func checkOthers(t *testing.T, before, after *policy.File, path []string, norm string, perm policy.Permission, ch *lint.RuleChange) {
	t.Helper()
	tables := func(f *policy.File) map[string]*policy.Network {
		m := map[string]*policy.Network{"network": f.Network}
		if p := f.Profile("dev"); p != nil {
			m["permissions.dev.network"] = p.Network
		}
		return m
	}
	b, a := tables(before), tables(after)
	target := tomldoc.JoinKey(path)
	for name := range b {
		want, got := tableMap(b[name]), tableMap(a[name])
		if name == target {
			if perm == policy.PermInvalid {
				delete(want, norm)
			} else {
				want[norm] = perm.String()
			}
		}
		if !mapsEqual(want, got) {
			t.Fatalf("%s after %s %q: got %v, want %v\n%s", name, perm, norm, got, want, after.Src)
		}
	}
	if ch.NewNetwork {
		n := a[target]
		if n == nil || n.Enabled == nil || !n.Enabled.Value {
			t.Fatalf("new table %s without enabled = true\n%s", target, after.Src)
		}
	}
	if a[target] != nil && perm != policy.PermInvalid {
		count := 0
		for _, r := range a[target].Domains {
			fixed, _ := policy.FixedPattern(r.Pattern)
			if policy.NormalizeHost(fixed) == norm {
				count++
			}
		}
		if count != 1 {
			t.Fatalf("%d rules for %q in %s, want 1\n%s", count, norm, target, after.Src)
		}
	}
}
