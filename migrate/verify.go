package migrate

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/netpolicy/netpolicy/internal/tomldoc"
	"github.com/netpolicy/netpolicy/policy"
)

// tableRules is what one network table means, as far as migrate may not
// change it: each host (normalised pattern) with its permission after the
// "deny wins" fold (policy.FoldRules), each socket path with its permission
// (policy.FoldSockets), and every setting.
type tableRules struct {
	domains map[string]policy.Permission
	sockets map[string]policy.Permission
	scalars map[string]string
}

// sameRules checks that migrated has the same effective rules as orig, for
// every network table: the managed block, [network] (for the original, the
// obsolete table that becomes it) and each profile's network table.
func sameRules(orig, migrated *policy.File) error {
	diffs := compareFiles(fileRules(orig), fileRules(migrated))
	if len(diffs) == 0 {
		return nil
	}
	if len(diffs) > 5 {
		diffs = append(diffs[:5], fmt.Sprintf("and %d more", len(diffs)-5))
	}
	return fmt.Errorf("refusing to migrate: the result would not have the same effective rules: %s", strings.Join(diffs, "; "))
}

// compareFiles lists the differences between the tables of a and b (as
// fileRules reads them), table by table in name order.
func compareFiles(a, b map[string]tableRules) []string {
	var names []string
	for name := range a {
		names = append(names, name)
	}
	for name := range b {
		if _, ok := a[name]; !ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var diffs []string
	for _, name := range names {
		diffs = append(diffs, compareRules(name, a[name], b[name])...)
	}
	return diffs
}

// fileRules reads the rules of every network table of f, by table name.
func fileRules(f *policy.File) map[string]tableRules {
	out := map[string]tableRules{}
	for name, ns := range networksOf(f) {
		out[name] = rulesOf(ns)
	}
	if f.Kind != policy.KindRequirements && f.DefaultPermissions != nil {
		out["default_permissions"] = tableRules{scalars: map[string]string{"default_permissions": f.DefaultPermissions.Value}}
	}
	return out
}

// networksOf lists the network tables of f by the name of the table they
// are (or, for the obsolete shapes, become).
func networksOf(f *policy.File) map[string][]*policy.Network {
	nets := map[string][]*policy.Network{}
	add := func(name string, n *policy.Network) {
		if n != nil {
			nets[name] = append(nets[name], n)
		}
	}
	if f.Kind == policy.KindRequirements {
		add("[experimental_network]", f.Managed)
		return nets
	}
	add("[network]", f.Network)
	if f.Network == nil {
		// The obsolete shapes are read as the [network] they become.
		root := f.Doc.Root
		if t := root.Sub("network_proxy"); t != nil {
			add("[network]", f.ReadNetwork(t, policy.OriginUser))
			if pt := t.Sub("policy"); pt != nil {
				add("[network]", f.ReadNetwork(pt, policy.OriginUser))
			}
		}
		if perms := root.Sub("permissions"); perms != nil {
			if t := perms.Sub("network"); t != nil && policy.ObsoletePermissionsNetwork(t) {
				add("[network]", f.ReadNetwork(t, policy.OriginUser))
			}
		}
	}
	for _, p := range f.Profiles {
		add("[permissions."+tomldoc.QuoteKey(p.Name)+".network]", p.Network)
	}
	return nets
}

// rulesOf reads what the tables ns mean together (the obsolete shapes
// that become one [network] are several): their rules folded as one map,
// and the settings, a later table's replacing an earlier one's. Patterns
// are compared in the form the NP022 and NP023 fixes write them (no port,
// punycode), normalised, and marked when they are invalid; keys are quoted
// for messages.
func rulesOf(ns []*policy.Network) tableRules {
	r := tableRules{domains: map[string]policy.Permission{}, sockets: map[string]policy.Permission{}, scalars: map[string]string{}}
	var domains []policy.Rule
	var sockets []policy.SocketRule
	for _, n := range ns {
		domains = append(domains, n.Domains...)
		sockets = append(sockets, n.Sockets...)
		for i := range policy.NetworkKeys {
			k := &policy.NetworkKeys[i]
			if v, _, ok := k.Value(n); ok {
				r.scalars[k.Name] = v
			}
		}
	}
	for _, f := range policy.FoldRules(domains, domainKey) {
		r.domains[domainKey(f.Win)] = f.Win.Perm
	}
	for _, f := range policy.FoldSockets(sockets, socketKey) {
		r.sockets[socketKey(f.Win)] = f.Win.Perm
	}
	return r
}

// domainKey is the key a domain rule is compared under.
func domainKey(r policy.Rule) string {
	p, _ := policy.FixedPattern(r.Pattern)
	k := strconv.Quote(policy.NormalizeHost(p))
	if _, err := policy.ParsePattern(r.Pattern); err != nil {
		// The proxy skips an invalid rule: a fix must not make it valid
		// (and so start matching) behind the user's back.
		k += " (invalid)"
	}
	return k
}

func socketKey(s policy.SocketRule) string { return strconv.Quote(s.Path) }

// compareRules lists the differences of one table, "-" meaning unset.
func compareRules(name string, a, b tableRules) []string {
	var out []string
	cmp := func(what string, x, y map[string]string) {
		keys := map[string]bool{}
		for k := range x {
			keys[k] = true
		}
		for k := range y {
			keys[k] = true
		}
		var sorted []string
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			xv, yv := x[k], y[k]
			if xv == yv {
				continue
			}
			if xv == "" {
				xv = "-"
			}
			if yv == "" {
				yv = "-"
			}
			out = append(out, fmt.Sprintf("%s %s%s was %s, would be %s", name, what, k, xv, yv))
		}
	}
	perms := func(m map[string]policy.Permission) map[string]string {
		s := map[string]string{}
		for k, p := range m {
			s[k] = p.String()
		}
		return s
	}
	cmp("domains.", perms(a.domains), perms(b.domains))
	cmp("unix_sockets.", perms(a.sockets), perms(b.sockets))
	cmp("", a.scalars, b.scalars)
	return out
}
