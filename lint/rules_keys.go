package lint

import (
	"fmt"
	"slices"
	"strings"

	"github.com/netpolicy/netpolicy/internal/tomldoc"
	"github.com/netpolicy/netpolicy/policy"
)

// NP002 and NP003: the shape of the known tables.

var ruleNP002 = &Rule{
	ID:       "NP002",
	Title:    "a known key has a value of the wrong type",
	Severity: SevError,
	Scope:    ScopeFile,
	Doc: `A key netpolicy knows has a value of the wrong TOML type, so the setting is
ignored: ` + "`enabled = \"yes\"`" + ` is a string, not the boolean true, and
` + "`http_port = \"3128\"`" + ` is a string, not a port number. Booleans are
true/false, ports are integers, domains and unix_sockets are tables of
quoted keys to strings, the legacy lists are arrays of strings, and mode is
"full" or "limited".

A common cause inside a domains table is an unquoted pattern:
` + "`api.example.com = \"allow\"`" + ` is a dotted key (tables api → example →
com), not the pattern "api.example.com". Quote it.

The position is the value.`,
	Example: `[network]
enabled = "yes"`,
	Fixed: `[network]
enabled = true`,
	Run: runNP002,
}

var ruleNP003 = &Rule{
	ID:       "NP003",
	Title:    "unknown key inside a network table (a typo does nothing)",
	Severity: SevWarning,
	Scope:    ScopeFile,
	Doc: `A key that netpolicy does not know sits in a network table
([experimental_network], [network], [permissions.<p>.network]) or directly
in a profile ([permissions.<p>], which holds only extends, description and
network). It has no effect: a misspelt setting silently keeps its default.
Keys that belong to the other file are reported too (http_port is only read
from requirements.toml, proxy_url only from config.toml).

Other tables and keys of the files (model, approval_policy,
allowed_sandbox_modes, …) are not network policy and are never reported.`,
	Example: `[network]
alow_local_binding = true`,
	Fixed: `[network]
allow_local_binding = true`,
	Run: runNP003,
}

// kindName is a value kind with its article, for messages.
func kindName(k tomldoc.ValueKind) string {
	switch k {
	case tomldoc.KindArray, tomldoc.KindInteger:
		return "an " + k.String()
	}
	return "a " + k.String()
}

func runNP002(p *Pass) {
	f := p.File
	root := f.Doc.Root
	want := func(e *tomldoc.Entry, name string, k tomldoc.ValueKind) bool {
		if e == nil {
			return false
		}
		if e.Value.Kind != k {
			p.Reportf(f, e.Value.Span, nil, "%s must be %s, not %s", name, kindName(k), kindName(e.Value.Kind))
			return false
		}
		return true
	}
	if f.Kind == policy.KindRequirements {
		want(root.Get("experimental_network"), "experimental_network", tomldoc.KindTable)
	} else {
		want(root.Get("default_permissions"), "default_permissions", tomldoc.KindString)
		want(root.Get("network"), "network", tomldoc.KindTable)
		if want(root.Get("permissions"), "permissions", tomldoc.KindTable) {
			for _, e := range root.Sub("permissions").Entries {
				name := "permissions." + tomldoc.QuoteKey(e.Key)
				if !want(e, name, tomldoc.KindTable) || f.Profile(e.Key) == nil {
					continue
				}
				t := e.Value.Table
				want(t.Get("extends"), name+".extends", tomldoc.KindString)
				want(t.Get("description"), name+".description", tomldoc.KindString)
				want(t.Get("network"), name+".network", tomldoc.KindTable)
			}
		}
	}
	for _, n := range networkTables(f) {
		for _, e := range n.Table.Entries {
			spec := policy.LookupKey(e.Key, isManaged(n))
			if spec == nil || obsoleteMITMTable(n, e) {
				continue // unknown (NP003), or the old mitm table (NP013)
			}
			checkType(p, e, spec)
		}
	}
}

// checkType reports a value of the wrong type for a known network key.
func checkType(p *Pass, e *tomldoc.Entry, spec *policy.KeySpec) {
	f := p.File
	want := map[policy.KeyType]tomldoc.ValueKind{
		policy.TypeBool:       tomldoc.KindBool,
		policy.TypeString:     tomldoc.KindString,
		policy.TypePort:       tomldoc.KindInteger,
		policy.TypeDomainMap:  tomldoc.KindTable,
		policy.TypeSocketMap:  tomldoc.KindTable,
		policy.TypeStringList: tomldoc.KindArray,
	}[spec.Type]
	v := e.Value
	if v.Kind != want {
		p.Reportf(f, v.Span, nil, "%s must be %s, not %s", e.Key, kindName(want), kindName(v.Kind))
		return
	}
	switch spec.Type {
	case policy.TypeString:
		if _, ok := policy.ParseNetworkMode(v.Str); e.Key == "mode" && !ok {
			p.Reportf(f, v.Span, nil, `mode must be "full" or "limited", not %q`, v.Str)
		}
	case policy.TypeStringList:
		for _, el := range v.Elems {
			if el.Kind != tomldoc.KindString {
				p.Reportf(f, el.Span, nil, "%s must hold strings only, not %s", e.Key, kindName(el.Kind))
			}
		}
	case policy.TypeDomainMap, policy.TypeSocketMap:
		perms := `"allow" or "deny"`
		if spec.Type == policy.TypeSocketMap {
			perms = `"allow" or "none"`
		}
		for _, r := range v.Table.Entries {
			switch r.Value.Kind {
			case tomldoc.KindString:
			case tomldoc.KindTable:
				dotted, leaf := dottedKey(r)
				p.Reportf(f, r.Value.Span, nil, "%s key %s is a dotted key, not one pattern; quote it: %s = %s",
					e.Key, dotted, tomldoc.QuoteString(dotted), leaf)
			default:
				p.Reportf(f, r.Value.Span, nil, "%s.%s must be the string %s, not %s",
					e.Key, tomldoc.QuoteKey(r.Key), perms, kindName(r.Value.Kind))
			}
		}
	}
}

// dottedKey follows single-entry tables under e to rebuild the dotted key
// a user most likely meant as one quoted pattern, and the leaf value text.
func dottedKey(e *tomldoc.Entry) (string, string) {
	parts := []string{e.Key}
	v := e.Value
	for v.Kind == tomldoc.KindTable && len(v.Table.Entries) == 1 {
		c := v.Table.Entries[0]
		parts = append(parts, c.Key)
		v = c.Value
	}
	leaf := `"allow"`
	if v.Kind == tomldoc.KindString {
		leaf = tomldoc.QuoteString(v.Str)
	}
	return strings.Join(parts, "."), leaf
}

func runNP003(p *Pass) {
	f := p.File
	for _, n := range networkTables(f) {
		managed := isManaged(n)
		for _, e := range n.Table.Entries {
			if policy.LookupKey(e.Key, managed) != nil {
				continue
			}
			p.Reportf(f, e.KeySpan, nil, "%s", unknownKeyMessage(e.Key, n, managed))
		}
	}
	perms := f.Doc.Root.Sub("permissions")
	if perms == nil || f.Kind == policy.KindRequirements {
		return
	}
	for _, e := range perms.Entries {
		if e.Value.Kind != tomldoc.KindTable || f.Profile(e.Key) == nil {
			continue
		}
		table := "[permissions." + tomldoc.QuoteKey(e.Key) + "]"
		for _, k := range e.Value.Table.Entries {
			if slices.Contains(policy.ProfileKeys, k.Key) {
				continue
			}
			msg := fmt.Sprintf("unknown key %q in %s: a profile holds only extends, description and network", k.Key, table)
			if policy.LookupKey(k.Key, false) != nil {
				msg = fmt.Sprintf("%q in %s does nothing: network settings go in [permissions.%s.network]", k.Key, table, tomldoc.QuoteKey(e.Key))
			}
			p.Reportf(f, k.KeySpan, nil, "%s", msg)
		}
	}
}

// unknownKeyMessage explains an unknown network key: a key of the other
// file, or a likely typo of a known key.
func unknownKeyMessage(key string, n *policy.Network, managed bool) string {
	if policy.LookupKey(key, !managed) != nil {
		if managed {
			return fmt.Sprintf("%q is not a key of %s: it is only read from config.toml", key, tableLabel(n))
		}
		return fmt.Sprintf("%q is not a key of %s: it is only read from requirements.toml [experimental_network]", key, tableLabel(n))
	}
	msg := fmt.Sprintf("unknown key %q in %s", key, tableLabel(n))
	best, bestD := "", 3
	for _, k := range policy.NetworkKeys {
		if k.Obsolete || managed && !k.Managed || !managed && !k.User {
			continue
		}
		if d := editDistance(strings.ToLower(key), k.Name); d < bestD {
			best, bestD = k.Name, d
		}
	}
	if best != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", best)
	}
	return msg
}

// editDistance is the Levenshtein distance of a and b (bytes), for "did you
// mean" hints on short key names.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
