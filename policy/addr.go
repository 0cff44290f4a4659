package policy

import "net/netip"

// Address classes of POLICY §4.1. Everything in these tables is "non-public":
// a literal or a DNS answer inside one of them is local unless the policy
// says otherwise.
var (
	nonPublic4 = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("100.64.0.0/10"),
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("169.254.0.0/16"),
		netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.0.0.0/24"),
		netip.MustParsePrefix("192.0.2.0/24"),
		netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("198.18.0.0/15"),
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"),
		netip.MustParsePrefix("224.0.0.0/4"),
		netip.MustParsePrefix("240.0.0.0/4"),
		netip.MustParsePrefix("255.255.255.255/32"),
	}

	nonPublic6 = []netip.Prefix{
		netip.MustParsePrefix("::/128"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("fc00::/7"),
		netip.MustParsePrefix("fe80::/10"),
		netip.MustParsePrefix("fec0::/10"),
		netip.MustParsePrefix("ff00::/8"),
		netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("64:ff9b:1::/48"),
		netip.MustParsePrefix("2001::/32"), // Teredo
	}

	// IPv6 ranges that carry an IPv4 address, classified by that address.
	compat6   = netip.MustParsePrefix("::/96")        // IPv4-compatible ::a.b.c.d
	nat64     = netip.MustParsePrefix("64:ff9b::/96") // well-known NAT64 prefix
	sixToFour = netip.MustParsePrefix("2002::/16")    // 6to4: IPv4 in bytes 2–5

	// global6 is the only IPv6 space IANA assigns for global unicast. An
	// address outside it that is not one of the IPv4-carrying forms above
	// (100::/64 discard, unassigned space…) cannot be a public destination,
	// so it is classified non-public: a careful policy fails closed there.
	global6 = netip.MustParsePrefix("2000::/3")

	unspecified4 = netip.MustParsePrefix("0.0.0.0/8")
	// ::/104 is :: together with the IPv4-compatible forms of 0.0.0.0/8.
	unspecified6 = netip.MustParsePrefix("::/104")
	loopback6    = netip.IPv6Loopback()
)

// IsPublic reports whether a is a public unicast address (POLICY §4.1).
// IPv4-mapped, IPv4-compatible, NAT64 (64:ff9b::/96) and 6to4 (2002::/16)
// addresses are classified by the IPv4 address inside them; the zone of a
// scoped address does not matter. The zero Addr is not public.
func IsPublic(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.WithZone("").Unmap()
	if a.Is4() {
		return !prefixesContain(a, nonPublic4)
	}
	if v4, ok := embeddedIPv4(a); ok {
		return !prefixesContain(v4, nonPublic4)
	}
	if prefixesContain(a, nonPublic6) {
		return false
	}
	return global6.Contains(a)
}

// IsUnspecified reports whether a is an "unspecified" address, 0.0.0.0/8 or
// ::, in any IPv4, IPv4-mapped or IPv4-compatible spelling. Dialling one
// reaches local listeners, so such hosts are never allowed.
func IsUnspecified(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.WithZone("").Unmap()
	if a.Is4() {
		return unspecified4.Contains(a)
	}
	return a != loopback6 && unspecified6.Contains(a)
}

// embeddedIPv4 returns the IPv4 address carried by an IPv4-compatible, NAT64
// or 6to4 address. The caller has already unmapped a.
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	b := a.As16()
	switch {
	case compat6.Contains(a), nat64.Contains(a):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	return netip.Addr{}, false
}

func prefixesContain(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// AddrClass names the class of an address in words, for the `detail` of a
// block (POLICY §5): "public", or why it is not — "unspecified",
// "loopback", "link-local", "multicast", "private" (RFC 1918 and unique
// local), or "non-public" for the other reserved ranges of §4.1. Forms that
// carry an IPv4 address are named by it, as IsPublic classifies them.
func AddrClass(a netip.Addr) string {
	if IsPublic(a) {
		return "public"
	}
	if IsUnspecified(a) {
		return "unspecified"
	}
	a = a.WithZone("").Unmap()
	if v4, ok := embeddedIPv4(a); ok && a != loopback6 {
		a = v4
	}
	switch {
	case a.IsLoopback():
		return "loopback"
	case a.IsLinkLocalUnicast():
		return "link-local"
	case a.IsMulticast():
		return "multicast"
	case a.IsPrivate():
		return "private"
	}
	return "non-public"
}
