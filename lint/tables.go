package lint

import (
	"github.com/netpolicy/netpolicy/internal/tomldoc"
	"github.com/netpolicy/netpolicy/policy"
)

// networkTables returns every network table of f: the managed
// [experimental_network] of a requirements file; the [network] table and
// each [permissions.<p>.network] of a config file.
func networkTables(f *policy.File) []*policy.Network {
	var out []*policy.Network
	if f.Managed != nil {
		out = append(out, f.Managed)
	}
	if f.Network != nil {
		out = append(out, f.Network)
	}
	for _, p := range f.Profiles {
		if p.Network != nil {
			out = append(out, p.Network)
		}
	}
	return out
}

// isManaged reports whether n is the administrator's table.
func isManaged(n *policy.Network) bool { return n.Origin == policy.OriginManaged }

// tableLabel names a network table for messages: "[network]".
func tableLabel(n *policy.Network) string { return "[" + n.Path + "]" }

// domainItem is one domain rule as written: a key of the domains map or a
// string of a legacy list, with where it is.
type domainItem struct {
	Raw string
	// Perm is Allow or Deny; PermInvalid when the map value is not one.
	Perm policy.Permission
	// Span is the key (map) or the string (legacy list).
	Span   tomldoc.Span
	Legacy bool
}

// domainItems lists the domain rules of n in document order: the canonical
// map, then allowed_domains, then denied_domains. Map entries whose value is
// a table (a dotted key such as domains.a.example) are not rules and are
// left to NP002.
func domainItems(n *policy.Network) []domainItem {
	size := 0
	if e := n.DomainsEntry; e != nil && e.Value.Kind == tomldoc.KindTable {
		size = len(e.Value.Table.Entries)
	}
	for _, e := range []*tomldoc.Entry{n.AllowedDomainsEntry, n.DeniedDomainsEntry} {
		if e != nil {
			size += len(e.Value.Elems)
		}
	}
	out := make([]domainItem, 0, size)
	policy.MapEntries(n.DomainsEntry, policy.ParseDomainPermission, func(r *tomldoc.Entry, p policy.Permission) {
		out = append(out, domainItem{Raw: r.Key, Perm: p, Span: r.KeySpan})
	})
	for _, l := range []struct {
		e    *tomldoc.Entry
		perm policy.Permission
	}{{n.AllowedDomainsEntry, policy.Allow}, {n.DeniedDomainsEntry, policy.Deny}} {
		for _, v := range tomldoc.StringElems(l.e) {
			out = append(out, domainItem{Raw: v.Str, Perm: l.perm, Span: v.Span, Legacy: true})
		}
	}
	return out
}

// socketItem is one unix-socket rule as written.
type socketItem struct {
	Path string
	// Perm is Allow or None; PermInvalid when the map value is not one.
	Perm   policy.Permission
	Span   tomldoc.Span
	Legacy bool
}

// socketItems lists the socket rules of n: the unix_sockets map, then
// allow_unix_sockets (every path "allow").
func socketItems(n *policy.Network) []socketItem {
	var out []socketItem
	policy.MapEntries(n.SocketsEntry, policy.ParseSocketPermission, func(r *tomldoc.Entry, p policy.Permission) {
		out = append(out, socketItem{Path: r.Key, Perm: p, Span: r.KeySpan})
	})
	for _, v := range tomldoc.StringElems(n.AllowSocketsEntry) {
		out = append(out, socketItem{Path: v.Str, Perm: policy.Allow, Span: v.Span, Legacy: true})
	}
	return out
}

// keySpan is the span of key in table t, or the zero span.
func keySpan(t *tomldoc.Table, key string) tomldoc.Span {
	if e := t.Get(key); e != nil {
		return e.KeySpan
	}
	return tomldoc.Span{}
}
