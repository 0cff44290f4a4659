package policy

import (
	"net/netip"
	"testing"
)

// classify reads a literal as a client would send it (POLICY §2.1, §4.1 step
// 1) and classifies it.
func classify(t *testing.T, id, in string) (netip.Addr, bool) {
	t.Helper()
	a, ok := ParseHostIP(NormalizeHost(in))
	if !ok {
		t.Fatalf("%s: %q is not read as an IP literal", id, in)
	}
	return a, IsPublic(a)
}

func TestAddressClasses(t *testing.T) {
	nonPublic := map[string][]string{
		"V115": {"0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1",
			"100.127.255.254", "127.0.0.1", "127.255.255.254", "169.254.169.254",
			"172.16.0.1", "172.31.255.254", "192.0.0.1", "192.0.2.1", "192.168.1.1",
			"198.18.0.1", "198.19.255.254", "198.51.100.1", "203.0.113.1", "224.0.0.1",
			"239.255.255.250", "240.0.0.1", "255.255.255.254", "255.255.255.255"},
		"V117": {"2130706433", "0x7f.1", "127.1", "0177.0.0.1", "0x7f000001",
			"017700000001", "0", "10.1", "0xa9.0xfe.0xa9.0xfe"},
		"V118": {"::", "[::]", "::1", "[::1]", "fc00::1", "fd12:3456:789a::1", "fe80::1",
			"fe80::1%eth0", "[fe80::1%25lo0]", "febf:ffff::1", "ff02::1", "ff05::1:3"},
		"V119": {"::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:10.0.0.1",
			"::ffff:169.254.169.254", "::127.0.0.1", "::10.0.0.1", "64:ff9b::7f00:1",
			"64:ff9b::a00:1", "64:ff9b::a9fe:a9fe", "2002:7f00:1::1", "2002:c0a8:101::1",
			"2002:a00:1::1"},
		// Not vectors: the rest of the IPv6 table and the fail-closed rule
		// for space outside 2000::/3.
		"extra": {"2001:db8::1", "64:ff9b:1::1", "2001::1", "2001:0:4136:e378::1",
			"fec0::1", "100::1", "4000::1", "::ffff:0:808:808", "0:0:0:0:0:0:0:1"},
	}
	public := map[string][]string{
		"V116": {"8.8.8.8", "1.1.1.1", "93.184.216.34", "9.255.255.255", "11.0.0.1",
			"100.63.255.254", "100.128.0.1", "126.255.255.254", "128.0.0.1",
			"169.253.255.254", "169.255.0.1", "172.15.255.254", "172.32.0.1",
			"192.0.1.1", "192.0.3.1", "192.167.255.254", "192.169.0.1", "198.17.255.254",
			"198.20.0.1", "198.51.101.1", "203.0.114.1", "223.255.255.254"},
		"V117": {"134744072"},
		"V120": {"2606:4700::1111", "2001:4860:4860::8888", "::ffff:8.8.8.8", "::8.8.8.8",
			"64:ff9b::808:808", "2002:808:808::1"},
		"extra": {"[2606:4700::1111]:443", "2a00:1450::1"},
	}
	for id, list := range nonPublic {
		for _, in := range list {
			if _, pub := classify(t, id, in); pub {
				t.Errorf("%s: IsPublic(%q) = true, want non-public", id, in)
			}
		}
	}
	for id, list := range public {
		for _, in := range list {
			if _, pub := classify(t, id, in); !pub {
				t.Errorf("%s: IsPublic(%q) = false, want public", id, in)
			}
		}
	}
	if IsPublic(netip.Addr{}) {
		t.Error("IsPublic(zero Addr) = true")
	}
}

// V117 also names the address each spelling stands for.
func TestV117Values(t *testing.T) {
	want := map[string]string{
		"2130706433": "127.0.0.1", "0x7f.1": "127.0.0.1", "127.1": "127.0.0.1",
		"0177.0.0.1": "127.0.0.1", "0x7f000001": "127.0.0.1", "017700000001": "127.0.0.1",
		"0": "0.0.0.0", "10.1": "10.0.0.1", "0xa9.0xfe.0xa9.0xfe": "169.254.169.254",
		"134744072": "8.8.8.8",
	}
	for in, w := range want {
		if a, _ := classify(t, "V117", in); a != netip.MustParseAddr(w) {
			t.Errorf("V117: %q = %v, want %s", in, a, w)
		}
	}
}

func TestIsUnspecified(t *testing.T) {
	yes := []string{"0.0.0.0", "0.1.2.3", "::", "::ffff:0.0.0.0", "::ffff:0.1.2.3", "::0.0.0.2", "0"}
	no := []string{"::1", "127.0.0.1", "10.0.0.1", "fe80::1", "8.8.8.8", "1.0.0.0", "64:ff9b::", "::1.0.0.0"}
	for _, in := range yes {
		a, _ := ParseHostIP(NormalizeHost(in))
		if !IsUnspecified(a) {
			t.Errorf("IsUnspecified(%q) = false, want true", in)
		}
	}
	for _, in := range no {
		a, _ := ParseHostIP(NormalizeHost(in))
		if IsUnspecified(a) {
			t.Errorf("IsUnspecified(%q) = true, want false", in)
		}
	}
}

func TestAddrClass(t *testing.T) {
	for in, want := range map[string]string{
		"93.184.216.34":      "public",
		"2606:2800:220:1::1": "public",
		"0.0.0.0":            "unspecified",
		"::":                 "unspecified",
		"127.0.0.1":          "loopback",
		"::1":                "loopback",
		"::ffff:127.0.0.2":   "loopback",
		"64:ff9b::7f00:1":    "loopback",
		"10.0.0.5":           "private",
		"192.168.1.1":        "private",
		"fd00::1":            "private",
		"169.254.169.254":    "link-local",
		"fe80::1%eth0":       "link-local",
		"224.0.0.1":          "multicast",
		"ff02::1":            "multicast",
		"100.64.0.1":         "non-public",
		"192.0.2.1":          "non-public",
		"2001:db8::1":        "non-public",
	} {
		if got := AddrClass(netip.MustParseAddr(in)); got != want {
			t.Errorf("AddrClass(%s) = %q, want %q", in, got, want)
		}
	}
}
