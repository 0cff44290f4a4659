package policy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/netpolicy/netpolicy/internal/tomldoc"
)

// File is one loaded requirements.toml or config.toml: the parsed document
// (nil when the TOML is invalid, see SyntaxErr) and the typed network tables.
type File struct {
	Path string
	Kind FileKind
	Src  []byte
	Doc  *tomldoc.Doc
	// SyntaxErr is set when Src is not valid TOML (lint NP001).
	SyntaxErr *tomldoc.SyntaxError

	// Managed is [experimental_network] of a requirements file (nil if absent).
	Managed *Network

	// DefaultPermissions is the config's default_permissions, if set as a string.
	DefaultPermissions *Setting[string]
	// Network is the config's standalone [network] table (nil if absent).
	Network *Network
	// Profiles are [permissions.<name>] tables in document order. The
	// obsolete [permissions.network] shape is not a profile (see
	// ObsoletePermissionsNetwork).
	Profiles []*Profile

	profiles *profileIndex // set by Load; see profiles.go
}

// Profile is one [permissions.<name>] table.
type Profile struct {
	Name        string
	Entry       *tomldoc.Entry // the permissions.<name> entry (its KeySpan names it)
	Extends     *Setting[string]
	Description *Setting[string]
	Network     *Network // permissions.<name>.network, nil if absent
}

// Profile returns the named profile, or nil.
func (f *File) Profile(name string) *Profile {
	if x := f.profiles; x != nil && x.count == len(f.Profiles) {
		return x.byName[name]
	}
	for _, p := range f.Profiles {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Network is one network table with its typed values. A key whose value has
// the wrong type is left nil here (lint NP002 reports it).
type Network struct {
	// Path is the table's dotted name: "experimental_network", "network",
	// "permissions.dev.network".
	Path   string
	Table  *tomldoc.Table
	Origin Origin
	File   string

	Enabled                          *Setting[bool]
	Mode                             *Setting[string]
	ProxyURL                         *Setting[string]
	SocksURL                         *Setting[string]
	EnableSocks5                     *Setting[bool]
	EnableSocks5UDP                  *Setting[bool]
	MITM                             *Setting[bool]
	HTTPPort                         *Setting[int]
	SocksPort                        *Setting[int]
	AllowUpstreamProxy               *Setting[bool]
	DangerouslyAllowNonLoopbackProxy *Setting[bool]
	DangerouslyAllowAllUnixSockets   *Setting[bool]
	AllowLocalBinding                *Setting[bool]
	ManagedAllowedDomainsOnly        *Setting[bool]

	// Domains are the domain rules in document order: the canonical map's
	// entries, then the legacy lists normalised per POLICY.md §2.3 (every
	// allowed_domains entry as allow, then denied_domains as deny; a string
	// in both ends deny; exact duplicates collapse).
	Domains []Rule
	// Sockets are the unix_sockets entries, then allow_unix_sockets as allow.
	Sockets []SocketRule

	// Overridden are parent-profile rules that a child's rule replaced
	// through extends (set on networks built by UserNetwork).
	Overridden []Dropped

	// Entries of the canonical maps and legacy lists, when present.
	DomainsEntry, SocketsEntry                                 *tomldoc.Entry
	AllowedDomainsEntry, DeniedDomainsEntry, AllowSocketsEntry *tomldoc.Entry
}

// Bool returns the named boolean setting, or nil.
func (n *Network) Bool(key string) *Setting[bool] {
	if k := Key(key); k != nil {
		return k.Bool(n)
	}
	return nil
}

// LoadFile reads and loads a file. Only an unreadable file is an error; bad
// TOML is reported in File.SyntaxErr.
func LoadFile(path string, kind FileKind) (*File, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Load(path, src, kind), nil
}

// DetectKind applies the --kind auto rule: a file named requirements*.toml
// or holding [experimental_network] is requirements; otherwise config.
func DetectKind(path string, src []byte) FileKind {
	d, _ := tomldoc.ParseDoc(src)
	return detectKind(path, src, d)
}

// detectKind is DetectKind for src already parsed into d (nil when src is
// not valid TOML, which is taken for requirements if it names the table).
func detectKind(path string, src []byte, d *tomldoc.Doc) FileKind {
	switch {
	case isRequirementsName(path):
		return KindRequirements
	case !bytes.Contains(src, []byte("experimental_network")):
		return KindConfig
	case d == nil || d.Root.Get("experimental_network") != nil:
		return KindRequirements
	}
	return KindConfig
}

// isRequirementsName reports whether path is named requirements*.toml.
func isRequirementsName(path string) bool {
	base := filepath.Base(path)
	return strings.HasPrefix(base, "requirements") && strings.HasSuffix(base, ".toml")
}

// Load parses src as a file of the given kind (KindAuto detects it).
func Load(path string, src []byte, kind FileKind) *File {
	d, err := tomldoc.ParseDoc(src)
	if kind == KindAuto {
		kind = detectKind(path, src, d)
	}
	f := &File{Path: path, Kind: kind, Src: src}
	if err != nil {
		se, ok := err.(*tomldoc.SyntaxError)
		if !ok {
			se = &tomldoc.SyntaxError{Message: err.Error(), Pos: tomldoc.Pos{Line: 1, Column: 1}}
		}
		f.SyntaxErr = se
		return f
	}
	f.Doc = d
	if kind == KindRequirements {
		if t := d.Root.Sub("experimental_network"); t != nil {
			f.Managed = f.ReadNetwork(t, OriginManaged)
		}
		return f
	}
	if e := d.Root.Get("default_permissions"); e != nil && e.Value.Kind == tomldoc.KindString {
		f.DefaultPermissions = &Setting[string]{Value: e.Value.Str, Source: f.source(e, OriginUser)}
	}
	if t := d.Root.Sub("network"); t != nil {
		f.Network = f.ReadNetwork(t, OriginUser)
	}
	if perms := d.Root.Sub("permissions"); perms != nil {
		for _, e := range perms.Entries {
			if e.Value.Kind != tomldoc.KindTable {
				continue
			}
			if e.Key == "network" && ObsoletePermissionsNetwork(e.Value.Table) {
				continue
			}
			t := e.Value.Table
			p := &Profile{Name: e.Key, Entry: e}
			if x := t.Get("extends"); x != nil && x.Value.Kind == tomldoc.KindString {
				p.Extends = &Setting[string]{Value: x.Value.Str, Source: f.source(x, OriginUser)}
			}
			if x := t.Get("description"); x != nil && x.Value.Kind == tomldoc.KindString {
				p.Description = &Setting[string]{Value: x.Value.Str, Source: f.source(x, OriginUser)}
			}
			if nt := t.Sub("network"); nt != nil {
				p.Network = f.ReadNetwork(nt, OriginUser)
			}
			f.Profiles = append(f.Profiles, p)
		}
	}
	f.profiles = newProfileIndex(f.Profiles)
	return f
}

// ProfileKeys are the keys a [permissions.<name>] table may hold.
var ProfileKeys = []string{"extends", "description", "network"}

// ObsoletePermissionsNetwork reports whether [permissions.network] is the
// obsolete pre-profile shape (it directly holds a network key) rather than a
// profile named "network" (POLICY.md §1.2).
func ObsoletePermissionsNetwork(t *tomldoc.Table) bool {
	for _, e := range t.Entries {
		if slices.Contains(ProfileKeys, e.Key) {
			continue
		}
		if LookupKey(e.Key, false) != nil {
			return true
		}
	}
	return false
}

// source returns the provenance of an entry of this file.
func (f *File) source(e *tomldoc.Entry, o Origin) Source {
	return Source{File: f.Path, Line: e.KeySpan.Start.Line, Origin: o}
}

// ReadNetwork reads a table of f as a network table with the given origin:
// Load reads [experimental_network], [network] and the profiles' tables so;
// migrate also reads the obsolete shapes ([network_proxy],
// [network_proxy.policy], [permissions.network]) so, to compare them with
// the [network] table they become. A key whose value has the wrong type is
// left unset.
func (f *File) ReadNetwork(t *tomldoc.Table, o Origin) *Network {
	n := &Network{Path: t.Name(), Table: t, Origin: o, File: f.Path}
	for i := range NetworkKeys {
		NetworkKeys[i].read(f, n, t, o)
	}
	if n.MITM == nil {
		// The obsolete [network_proxy.mitm] table, once moved under the
		// network table, means what mitm = <its enabled> means (lint NP013
		// rewrites it; migrate checks that the meaning is kept).
		if e := t.Get("mitm"); e != nil && e.Value.Kind == tomldoc.KindTable {
			if en := e.Value.Table.Get("enabled"); en != nil && en.Value.Kind == tomldoc.KindBool {
				n.MITM = &Setting[bool]{Value: en.Value.Bool, Source: f.source(en, o)}
			}
		}
	}

	n.DomainsEntry = permMap(t, "domains", ParseDomainPermission, func(r *tomldoc.Entry, p Permission) {
		n.Domains = append(n.Domains, Rule{Pattern: r.Key, Perm: p, Source: f.source(r, o)})
	})
	n.SocketsEntry = permMap(t, "unix_sockets", ParseSocketPermission, func(r *tomldoc.Entry, p Permission) {
		n.Sockets = append(n.Sockets, SocketRule{Path: r.Key, Perm: p, Source: f.source(r, o)})
	})
	n.AllowedDomainsEntry, n.DeniedDomainsEntry, n.AllowSocketsEntry = t.Get("allowed_domains"), t.Get("denied_domains"), t.Get("allow_unix_sockets")
	n.Domains = append(n.Domains, f.legacyDomainRules(n.AllowedDomainsEntry, n.DeniedDomainsEntry, o)...)
	for _, v := range tomldoc.StringElems(n.AllowSocketsEntry) {
		n.Sockets = append(n.Sockets, SocketRule{Path: v.Str, Perm: Allow, Source: Source{File: f.Path, Line: v.Span.Start.Line, Origin: o}})
	}
	return n
}

// permMap reads the map table key of t (domains or unix_sockets): it
// calls add for each entry whose value is a permission parse accepts, in
// table order, and returns the table's entry (nil when key is not a
// table). Lint reports the other entries.
func permMap(t *tomldoc.Table, key string, parse func(string) (Permission, bool), add func(r *tomldoc.Entry, p Permission)) *tomldoc.Entry {
	e := t.Get(key)
	if e == nil || e.Value.Kind != tomldoc.KindTable {
		return nil
	}
	MapEntries(e, parse, func(r *tomldoc.Entry, p Permission) {
		if p != PermInvalid {
			add(r, p)
		}
	})
	return e
}

// MapEntries calls add, in table order, for each entry of the map table e
// (domains or unix_sockets; nothing when e is nil or not a table) with its
// permission as parse reads it, PermInvalid when the value is not a string
// parse accepts. An entry whose value is a table (a dotted key such as
// domains.a.example) is not a rule and is skipped (lint's NP002). This is
// the one reading of a rule map: Load keeps the valid entries, lint
// reports the others.
func MapEntries(e *tomldoc.Entry, parse func(string) (Permission, bool), add func(r *tomldoc.Entry, p Permission)) {
	if e == nil || e.Value.Kind != tomldoc.KindTable {
		return
	}
	for _, r := range e.Value.Table.Entries {
		if r.Value.Kind == tomldoc.KindTable {
			continue
		}
		p := PermInvalid
		if r.Value.Kind == tomldoc.KindString {
			p, _ = parse(r.Value.Str)
		}
		add(r, p)
	}
}

// legacyDomainRules turns allowed_domains / denied_domains entries into
// rules (POLICY.md §2.3): every allowed entry as allow, then every denied
// entry as deny, folded by the string as written (FoldBy): a string in both
// lists ends deny, exact duplicates collapse into one rule at the first
// position of the string, with the source of the entry that wins; keys keep
// their spelling. Either entry may be nil.
func (f *File) legacyDomainRules(allowed, denied *tomldoc.Entry, o Origin) []Rule {
	var rules []Rule
	for _, l := range []struct {
		e *tomldoc.Entry
		p Permission
	}{{allowed, Allow}, {denied, Deny}} {
		for _, v := range tomldoc.StringElems(l.e) {
			rules = append(rules, Rule{Pattern: v.Str, Perm: l.p, Source: Source{File: f.Path, Line: v.Span.Start.Line, Origin: o}})
		}
	}
	idx := make([]int, len(rules))
	for i := range idx {
		idx[i] = i
	}
	folds := FoldBy(idx, func(i int) Permission { return rules[i].Perm }, func(i int) string { return rules[i].Pattern })
	slices.SortFunc(folds, func(a, b Fold[int]) int { return a.First - b.First })
	out := make([]Rule, 0, len(folds))
	for _, fd := range folds {
		out = append(out, rules[fd.Win])
	}
	return out
}

// BuiltinProfiles are the reserved profiles; they carry no network rules.
var BuiltinProfiles = []string{":read-only", ":workspace", ":danger-full-access"}

// IsBuiltinProfile reports whether name is a built-in profile.
func IsBuiltinProfile(name string) bool {
	for _, b := range BuiltinProfiles {
		if b == name {
			return true
		}
	}
	return false
}

// ProfileError is a problem resolving profiles (lint NP050).
type ProfileError struct {
	Profile string
	Msg     string
}

func (e *ProfileError) Error() string { return e.Msg }

// UserNetwork returns the user's network table for a session (POLICY.md
// §1.2): the selected profile (name, else default_permissions) resolved
// through extends; a selected custom profile without a network table gives
// an empty table; no profile or a built-in one gives [network]. The result
// may be nil (no table at all: defaults).
func (f *File) UserNetwork(profile string) (*Network, error) {
	name := profile
	if name == "" && f.DefaultPermissions != nil {
		name = f.DefaultPermissions.Value
	}
	if name == "" || IsBuiltinProfile(name) {
		return f.Network, nil
	}
	if f.Profile(name) == nil {
		return nil, &ProfileError{Profile: name, Msg: fmt.Sprintf("profile %q is not defined%s", name, f.definedProfiles())}
	}
	chain, err := f.ProfileChain(name)
	if err != nil {
		return nil, err
	}
	out := &Network{Path: "permissions." + tomldoc.QuoteKey(name) + ".network", Origin: OriginUser, File: f.Path}
	out.inherit(chain)
	if p := f.Profile(name); p.Network != nil {
		out.Table = p.Network.Table
		out.Path = p.Network.Path
	}
	return out, nil
}

// ProfileChain returns the named profile and its ancestors, child first. It
// fails on an undefined parent or a cycle. A built-in parent ends the chain.
func (f *File) ProfileChain(name string) ([]*Profile, error) {
	chain, _, err := f.profileChain(name, nil)
	if err != nil {
		return nil, err
	}
	return chain, nil
}

// profileChain walks from profile name up its extends, child first. When
// known (if not nil) accepts an ancestor's name, the walk stops before it
// and returns that name as stop. On an error, chain is the profiles walked
// so far.
func (f *File) profileChain(name string, known func(string) bool) (chain []*Profile, stop string, err error) {
	seen := map[string]bool{}
	for name != "" && !IsBuiltinProfile(name) {
		if known != nil && known(name) {
			return chain, name, nil
		}
		if seen[name] {
			return chain, "", &ProfileError{Profile: name, Msg: fmt.Sprintf("profile %q extends itself through a cycle", name)}
		}
		seen[name] = true
		p := f.Profile(name)
		if p == nil {
			child := ""
			if len(chain) > 0 {
				child = chain[len(chain)-1].Name
			}
			return chain, "", &ProfileError{Profile: child, Msg: fmt.Sprintf("profile %q extends undefined profile %q", child, name)}
		}
		chain = append(chain, p)
		name = ""
		if p.Extends != nil {
			name = p.Extends.Value
		}
	}
	return chain, "", nil
}

// inherit fills n from a profile chain (child first), as if each table
// from the root down were laid over the previous one (POLICY.md §1.2
// extends): scalars take the nearest value set; a domain rule replaces the
// rules of every ancestor with the same normalised pattern, a socket rule
// those with the same path. It takes time linear in the chain and its
// rules, however deep the chain.
func (n *Network) inherit(chain []*Profile) {
	var domains [][]Rule
	var sockets [][]SocketRule
	for i := len(chain) - 1; i >= 0; i-- {
		c := chain[i].Network
		if c == nil {
			continue
		}
		n.overlaySettings(c)
		domains = append(domains, c.Domains)
		sockets = append(sockets, c.Sockets)
	}
	var overD, overS [][]Dropped
	n.Domains, overD = overrideByKey(domains,
		func(r Rule) string { return NormalizeHost(r.Pattern) },
		func(r Rule) (string, string, Source) { return "domains", r.Pattern, r.Source },
		func(r Rule) Permission { return r.Perm })
	n.Sockets, overS = overrideByKey(sockets,
		func(s SocketRule) string { return s.Path },
		func(s SocketRule) (string, string, Source) { return "unix_sockets", s.Path, s.Source },
		func(s SocketRule) Permission { return s.Perm })
	// Reported level by level, domains before sockets, as the tables
	// are laid one over the other.
	for i := range overD {
		n.Overridden = append(n.Overridden, overD[i]...)
		n.Overridden = append(n.Overridden, overS[i]...)
	}
}

// overlaySettings copies every scalar setting c sets over n's.
func (n *Network) overlaySettings(c *Network) {
	for i := range NetworkKeys {
		NetworkKeys[i].overlay(n, c)
	}
}

// overrideByKey is extends for one rule map over a chain of levels (root
// first): each level keeps the entries of the levels above it whose key it
// does not name, then adds its own. The result is every entry no deeper
// level names, level by level in document order; over[j] records, in
// order, each entry that level j replaced, with the entry that replaced it
// (its last with that key).
//
// One pass from the deepest level up finds, for each entry, the nearest
// deeper level naming its key, so no list is ever copied per level.
func overrideByKey[T any](levels [][]T, key func(T) string,
	where func(T) (table, name string, src Source), perm func(T) Permission) (out []T, over [][]Dropped) {
	type replacer struct {
		level int
		entry T
	}
	over = make([][]Dropped, len(levels))
	by := map[string]replacer{}
	replacedBy := make([][]int, len(levels)) // level that replaces each entry; -1: none
	with := make([][]T, len(levels))
	for i := len(levels) - 1; i >= 0; i-- {
		replacedBy[i] = make([]int, len(levels[i]))
		with[i] = make([]T, len(levels[i]))
		for k, e := range levels[i] {
			replacedBy[i][k] = -1
			if r, ok := by[key(e)]; ok {
				replacedBy[i][k], with[i][k] = r.level, r.entry
			}
		}
		for _, e := range levels[i] {
			by[key(e)] = replacer{i, e}
		}
	}
	for i, level := range levels {
		for k, p := range level {
			j := replacedBy[i][k]
			if j < 0 {
				out = append(out, p)
				continue
			}
			c := with[i][k]
			table, name, src := where(p)
			_, cname, csrc := where(c)
			over[j] = append(over[j], Dropped{
				What:   fmt.Sprintf("%s.%s = %s", table, tomldoc.QuoteKey(name), tomldoc.QuoteString(perm(p).String())),
				Source: src,
				Why:    fmt.Sprintf("replaced through extends by %s = %s (%s:%d)", tomldoc.QuoteKey(cname), tomldoc.QuoteString(perm(c).String()), csrc.File, csrc.Line),
			})
		}
	}
	return out, over
}

// definedProfiles lists the profiles a name could have meant, for "not
// defined" messages.
func (f *File) definedProfiles() string {
	var names []string
	for _, p := range f.Profiles {
		names = append(names, tomldoc.QuoteString(p.Name))
	}
	builtin := strings.Join(BuiltinProfiles, ", ")
	if len(names) == 0 {
		return fmt.Sprintf(" (%s defines no [permissions.<name>] profile; built-in: %s)", f.Path, builtin)
	}
	return fmt.Sprintf(" (defined in %s: %s; built-in: %s)", f.Path, strings.Join(names, ", "), builtin)
}
