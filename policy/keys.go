package policy

import (
	"strconv"

	"github.com/netpolicy/netpolicy/internal/tomldoc"
)

// KeyType is the TOML type a known key must have.
type KeyType uint8

// The types of the network keys.
const (
	TypeBool KeyType = iota + 1
	TypeString
	TypePort      // integer
	TypeDomainMap // table pattern → "allow"|"deny"
	TypeSocketMap // table path → "allow"|"none"|"deny"
	TypeStringList
)

// KeySpec describes one known key of a network table: everything the
// loader, merge, lint, migrate and `effective` need to know about it.
type KeySpec struct {
	// Name is the TOML key.
	Name string
	// JSON is the key's name in `effective --format json` and its --explain
	// settings; "" when effective does not print the key under its own name.
	JSON string
	Type KeyType
	// Managed marks a key accepted in [experimental_network].
	Managed bool
	// User marks a key accepted in [network] / [permissions.<p>.network].
	User bool
	// Ceiling marks a managed value-and-ceiling boolean (POLICY.md §3): a
	// managed value, when set, is the effective value, and a user true under
	// a managed false is forced down.
	Ceiling bool
	// Default is the effective value of a boolean setting no file sets.
	Default bool
	// Requirement is the key's 1-based position among the fields of the
	// app-server NetworkRequirements object, which `effective --format json`
	// prints in that order; 0 when the key is not one of those fields.
	Requirement int
	// Legacy marks allowed_domains / denied_domains / allow_unix_sockets.
	Legacy bool
	// Obsolete marks keys with no effect any more (lint NP014).
	Obsolete bool

	// network returns the address of the key's field of a Network: a
	// **Setting[bool], **Setting[string] or **Setting[int]; nil for the
	// rule maps and lists, which the loader reads on their own.
	network func(*Network) any
	// effective returns the address of the key's field of an Effective (a
	// *Setting[bool] or *Setting[NetworkMode]); nil when the merged policy
	// has no field of that name for the key.
	effective func(*Effective) any
}

// NetworkKeys is the schema of the network tables (POLICY.md §1), in the
// order `effective` prints the settings in TOML (the settings that are not
// NetworkRequirements fields print in this order in JSON too).
//
// To add a key: add its field to Network (and, for a setting the proxy
// uses, to Effective), then one row here giving its TOML and JSON names,
// type, the tables that accept it, whether it is a ceiling, its default and
// the field accessors. The loader, extends, merge, lint's key and type
// checks, migrate's same-meaning check and every form of `effective` read
// the row; nothing else lists the keys. A boolean row with User set and
// Ceiling unset is a user setting (the user's value, else Default); with
// Managed set and User unset a managed-only one.
var NetworkKeys = []KeySpec{
	{Name: "enabled", JSON: "enabled", Type: TypeBool, Managed: true, User: true, Ceiling: true, Requirement: 1,
		network: func(n *Network) any { return &n.Enabled }, effective: func(e *Effective) any { return &e.Enabled }},
	{Name: "mode", JSON: "networkMode", Type: TypeString, User: true,
		network: func(n *Network) any { return &n.Mode }, effective: func(e *Effective) any { return &e.Mode }},
	{Name: "allow_local_binding", JSON: "allowLocalBinding", Type: TypeBool, Managed: true, User: true, Ceiling: true, Requirement: 7,
		network: func(n *Network) any { return &n.AllowLocalBinding }, effective: func(e *Effective) any { return &e.AllowLocalBinding }},
	{Name: "allow_upstream_proxy", JSON: "allowUpstreamProxy", Type: TypeBool, Managed: true, User: true, Ceiling: true, Requirement: 4,
		network: func(n *Network) any { return &n.AllowUpstreamProxy }, effective: func(e *Effective) any { return &e.AllowUpstreamProxy }},
	{Name: "dangerously_allow_non_loopback_proxy", JSON: "dangerouslyAllowNonLoopbackProxy", Type: TypeBool, Managed: true, User: true, Ceiling: true, Requirement: 5,
		network:   func(n *Network) any { return &n.DangerouslyAllowNonLoopbackProxy },
		effective: func(e *Effective) any { return &e.DangerouslyAllowNonLoopbackProxy }},
	{Name: "dangerously_allow_all_unix_sockets", JSON: "dangerouslyAllowAllUnixSockets", Type: TypeBool, Managed: true, User: true, Ceiling: true, Requirement: 6,
		network:   func(n *Network) any { return &n.DangerouslyAllowAllUnixSockets },
		effective: func(e *Effective) any { return &e.DangerouslyAllowAllUnixSockets }},
	{Name: "managed_allowed_domains_only", JSON: "managedAllowedDomainsOnly", Type: TypeBool, Managed: true, Requirement: 8,
		network:   func(n *Network) any { return &n.ManagedAllowedDomainsOnly },
		effective: func(e *Effective) any { return &e.ManagedAllowedDomainsOnly }},
	{Name: "enable_socks5", JSON: "enableSocks5", Type: TypeBool, User: true, Default: true,
		network: func(n *Network) any { return &n.EnableSocks5 }, effective: func(e *Effective) any { return &e.EnableSocks5 }},
	{Name: "enable_socks5_udp", JSON: "enableSocks5Udp", Type: TypeBool, User: true,
		network: func(n *Network) any { return &n.EnableSocks5UDP }, effective: func(e *Effective) any { return &e.EnableSocks5UDP }},
	{Name: "mitm", JSON: "mitm", Type: TypeBool, User: true,
		network: func(n *Network) any { return &n.MITM }, effective: func(e *Effective) any { return &e.MITM }},
	{Name: "http_port", JSON: "httpPort", Type: TypePort, Managed: true, Requirement: 2,
		network: func(n *Network) any { return &n.HTTPPort }},
	{Name: "socks_port", JSON: "socksPort", Type: TypePort, Managed: true, Requirement: 3,
		network: func(n *Network) any { return &n.SocksPort }},
	{Name: "proxy_url", Type: TypeString, User: true,
		network: func(n *Network) any { return &n.ProxyURL }},
	{Name: "socks_url", Type: TypeString, User: true,
		network: func(n *Network) any { return &n.SocksURL }},
	{Name: "domains", JSON: "domains", Type: TypeDomainMap, Managed: true, User: true, Requirement: 9},
	{Name: "unix_sockets", JSON: "unixSockets", Type: TypeSocketMap, Managed: true, User: true, Requirement: 10},
	{Name: "allowed_domains", JSON: "allowedDomains", Type: TypeStringList, Managed: true, User: true, Legacy: true, Requirement: 11},
	{Name: "denied_domains", JSON: "deniedDomains", Type: TypeStringList, Managed: true, User: true, Legacy: true, Requirement: 12},
	{Name: "allow_unix_sockets", JSON: "allowUnixSockets", Type: TypeStringList, Managed: true, User: true, Legacy: true, Requirement: 13},
	{Name: "admin_url", Type: TypeString, Managed: true, User: true, Obsolete: true},
	{Name: "dangerously_allow_non_loopback_admin", Type: TypeBool, Managed: true, User: true, Obsolete: true},
	{Name: "danger_full_access_denylist_only", Type: TypeBool, Managed: true, User: true, Obsolete: true},
}

// CeilingKeys are the managed scalars that cap the user's value (POLICY.md §3).
var CeilingKeys = keyNames(func(k *KeySpec) bool { return k.Ceiling })

func keyNames(keep func(*KeySpec) bool) []string {
	var out []string
	for i := range NetworkKeys {
		if keep(&NetworkKeys[i]) {
			out = append(out, NetworkKeys[i].Name)
		}
	}
	return out
}

// LookupKey returns the spec of a known network key for a managed or user
// table, or nil when the key is unknown there.
func LookupKey(name string, managed bool) *KeySpec {
	if k := Key(name); k != nil && (managed && k.Managed || !managed && k.User) {
		return k
	}
	return nil
}

// Key returns the spec of a known network key, or nil.
func Key(name string) *KeySpec {
	for i := range NetworkKeys {
		if NetworkKeys[i].Name == name {
			return &NetworkKeys[i]
		}
	}
	return nil
}

// Setting is true for the scalar keys a Network carries a typed value of
// (booleans, strings and ports; not the rule maps and lists, not the
// obsolete keys).
func (k *KeySpec) Setting() bool { return k.network != nil }

// Bool returns n's value of the boolean key k, or nil when n does not set
// it (or n is nil, or k is not a boolean setting).
func (k *KeySpec) Bool(n *Network) *Setting[bool] {
	if n == nil || k.network == nil {
		return nil
	}
	if p, ok := k.network(n).(**Setting[bool]); ok {
		return *p
	}
	return nil
}

// Value returns n's value of the scalar key k as text (true, 8080, a
// Go-quoted string) with its source, and whether n sets it.
func (k *KeySpec) Value(n *Network) (text string, src Source, ok bool) {
	if n == nil || k.network == nil {
		return "", Source{}, false
	}
	switch p := k.network(n).(type) {
	case **Setting[bool]:
		if s := *p; s != nil {
			return strconv.FormatBool(s.Value), s.Source, true
		}
	case **Setting[string]:
		if s := *p; s != nil {
			return strconv.Quote(s.Value), s.Source, true
		}
	case **Setting[int]:
		if s := *p; s != nil {
			return strconv.Itoa(s.Value), s.Source, true
		}
	}
	return "", Source{}, false
}

// EffectiveBool returns the address of e's field for the boolean setting
// k, or nil when k is not one.
func (k *KeySpec) EffectiveBool(e *Effective) *Setting[bool] {
	if k.effective == nil {
		return nil
	}
	p, _ := k.effective(e).(*Setting[bool])
	return p
}

// SettingView is an effective setting in a form printers can use.
type SettingView struct {
	Value  any
	Source Source
	Forced bool
	Note   string
}

// Effective returns e's value of the setting k, and false when the merged
// policy has no field for k.
func (k *KeySpec) Effective(e *Effective) (SettingView, bool) {
	if k.effective == nil {
		return SettingView{}, false
	}
	switch p := k.effective(e).(type) {
	case *Setting[bool]:
		return p.View(), true
	case *Setting[NetworkMode]:
		return p.View(), true
	}
	return SettingView{}, false
}

// View returns s with its value as an any.
func (s Setting[T]) View() SettingView {
	return SettingView{Value: s.Value, Source: s.Source, Forced: s.Forced, Note: s.Note}
}

// read sets n's field for k from the entry of table t, when t holds k with
// a value of the right type.
func (k *KeySpec) read(f *File, n *Network, t *tomldoc.Table, o Origin) {
	e := t.Get(k.Name)
	if e == nil || k.network == nil {
		return
	}
	src := f.source(e, o)
	switch p := k.network(n).(type) {
	case **Setting[bool]:
		if e.Value.Kind == tomldoc.KindBool {
			*p = &Setting[bool]{Value: e.Value.Bool, Source: src}
		}
	case **Setting[string]:
		if e.Value.Kind == tomldoc.KindString {
			*p = &Setting[string]{Value: e.Value.Str, Source: src}
		}
	case **Setting[int]:
		if e.Value.Kind == tomldoc.KindInteger {
			*p = &Setting[int]{Value: int(e.Value.Int), Source: src}
		}
	}
}

// overlay copies c's value of k over n's when c sets it (extends).
func (k *KeySpec) overlay(n, c *Network) {
	if k.network == nil {
		return
	}
	switch p := k.network(n).(type) {
	case **Setting[bool]:
		setIfNotNil(p, *k.network(c).(**Setting[bool]))
	case **Setting[string]:
		setIfNotNil(p, *k.network(c).(**Setting[string]))
	case **Setting[int]:
		setIfNotNil(p, *k.network(c).(**Setting[int]))
	}
}

func setIfNotNil[T any](dst **Setting[T], v *Setting[T]) {
	if v != nil {
		*dst = v
	}
}
