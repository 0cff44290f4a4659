package policy

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
)

func TestNormalizeHost(t *testing.T) {
	tests := []struct {
		id, in, want string
	}{
		{"V001a", "Example.COM.", "example.com"},
		{"V001b", "  ExAmPlE.CoM  ", "example.com"},
		{"V001c", "\texample.com\n", "example.com"},
		{"V001d", "LOCALHOST", "localhost"},
		{"V001e", "BÜCHER.Example", "bÜcher.example"},

		{"V002a", "example.com:1234", "example.com"},
		{"V002b", "example.com.:443", "example.com"},
		{"V002c", "127.0.0.1:8080", "127.0.0.1"},
		{"V002d", "localhost:3000", "localhost"},

		{"V003a", "example.com...", "example.com"},
		{"V003b", "LOCALHOST.", "localhost"},
		{"V003c", "127.0.0.1.", "127.0.0.1"},

		{"V004a", "[::1]", "::1"},
		{"V004b", "[::1]:443", "::1"},
		{"V004c", "[2001:DB8::1]:8443", "2001:db8::1"},
		{"V004d", "[::ffff:127.0.0.1]:80", "::ffff:127.0.0.1"},

		{"V005a", "2001:db8::1", "2001:db8::1"},
		{"V005b", "::1", "::1"},
		{"V005c", "fe80::1%lo0", "fe80::1%lo0"},
		{"V005d", "[fe80::1%lo0]", "fe80::1%lo0"},
		{"V005e", "[fe80::1%25lo0]", "fe80::1%lo0"},
		{"V005f", "fe80::1%25lo0", "fe80::1%lo0"},
		{"V005g", "[fd00::1%25eth0]:8080", "fd00::1%eth0"},

		{"V006a", "", ""},
		{"V006b", "   ", ""},
		{"V006c", ".", ""},
		{"V006d", "...", ""},
		{"V006e", "[]", ""},

		{"V007a", "*.Example.COM.", "*.example.com"},
		{"V007b", "**.Example.COM.", "**.example.com"},
		{"V007c", "example.com:8443", "example.com"},
		{"V007d", "[*]", "*"},
		{"V007e", " * ", "*"},

		// Beyond the vectors.
		{"zone-upper", "FE80::1%ETH0", "fe80::1%eth0"},
		{"zone-25-only", "fe80::1%25", "fe80::1%25"},
		{"zone-2525", "fe80::1%2525x", "fe80::1%x"},
		{"no-zone-decode-for-names", "a%25b", "a%25b"},
		{"bracket-port-ws", " [ ::1 ]:80 ", "::1"},
		{"unclosed-bracket", "[::1", "[::1"},
		{"dot-space-tail", "a. . ", "a"},
	}
	for _, tt := range tests {
		if got := NormalizeHost(tt.in); got != tt.want {
			t.Errorf("%s: NormalizeHost(%q) = %q, want %q", tt.id, tt.in, got, tt.want)
		}
		if got := NormalizeHost(NormalizeHost(tt.in)); got != tt.want {
			t.Errorf("%s: NormalizeHost not idempotent on %q: %q", tt.id, tt.in, got)
		}
	}
}

func TestNormalizeHostNoAllocWhenCanonical(t *testing.T) {
	for _, h := range []string{"example.com", "api.example.com:443", "10.0.0.1"} {
		if n := testing.AllocsPerRun(100, func() { NormalizeHost(h) }); n != 0 {
			t.Errorf("NormalizeHost(%q): %v allocs, want 0", h, n)
		}
	}
}

func TestSplitHostPort(t *testing.T) {
	tests := []struct {
		in      string
		host    string
		port    int
		hasPort bool
		wantErr bool
	}{
		{in: "example.com:443", host: "example.com", port: 443, hasPort: true},
		{in: "example.com", host: "example.com"},
		{in: "example.com:", host: "example.com"},
		{in: "[::1]:443", host: "::1", port: 443, hasPort: true},
		{in: "[::1]", host: "::1"},
		{in: "[fe80::1%25lo0]:8080", host: "fe80::1%25lo0", port: 8080, hasPort: true},
		{in: "::1", host: "::1"},
		{in: "2130706433:443", host: "2130706433", port: 443, hasPort: true},
		{in: "example.com:1", host: "example.com", port: 1, hasPort: true},
		{in: "example.com:65535", host: "example.com", port: 65535, hasPort: true},
		{in: ":443", host: "", port: 443, hasPort: true},

		{in: "example.com:+443", wantErr: true},
		{in: "example.com:0443", wantErr: true},
		{in: "example.com:0", wantErr: true},
		{in: "example.com:65536", wantErr: true},
		{in: "example.com:-1", wantErr: true},
		{in: "example.com:44 3", wantErr: true},
		{in: "example.com:https", wantErr: true},
		{in: "example.com:100000", wantErr: true},
		{in: "[::1]443", wantErr: true},
		{in: "[::1:443", wantErr: true},
		{in: "[example.com]:443", wantErr: true},
		{in: "a:b:c", wantErr: true},
	}
	for _, tt := range tests {
		host, port, hasPort, err := SplitHostPort(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("SplitHostPort(%q) = %q, %d, %v, nil; want an error", tt.in, host, port, hasPort)
			}
			continue
		}
		if err != nil || host != tt.host || port != tt.port || hasPort != tt.hasPort {
			t.Errorf("SplitHostPort(%q) = %q, %d, %v, %v; want %q, %d, %v, nil",
				tt.in, host, port, hasPort, err, tt.host, tt.port, tt.hasPort)
		}
	}
}

func TestParseIPv4Literal(t *testing.T) {
	good := []struct{ in, want string }{
		// V117 spellings.
		{"2130706433", "127.0.0.1"},
		{"0x7f.1", "127.0.0.1"},
		{"127.1", "127.0.0.1"},
		{"0177.0.0.1", "127.0.0.1"},
		{"0x7f000001", "127.0.0.1"},
		{"017700000001", "127.0.0.1"},
		{"0", "0.0.0.0"},
		{"10.1", "10.0.0.1"},
		{"0xa9.0xfe.0xa9.0xfe", "169.254.169.254"},
		{"134744072", "8.8.8.8"},
		// More.
		{"127.0.0.1", "127.0.0.1"},
		{"1.2.3", "1.2.0.3"},
		{"1.2.65535", "1.2.255.255"},
		{"1.16777215", "1.255.255.255"},
		{"4294967295", "255.255.255.255"},
		{"0X7F.1", "127.0.0.1"},
		{"00", "0.0.0.0"},
		{"010.0.0.1", "8.0.0.1"},
		{"0xFFFFFFFF", "255.255.255.255"},
	}
	for _, tt := range good {
		a, ok := ParseIPv4Literal(tt.in)
		if !ok || a != netip.MustParseAddr(tt.want) {
			t.Errorf("ParseIPv4Literal(%q) = %v, %v; want %s", tt.in, a, ok, tt.want)
		}
	}
	bad := []string{
		"", ".", "a.example", "1.2.3.4.5", "1.2.3.", ".1.2.3", "1..2",
		"256.0.0.1", "1.256.0.1", "1.2.256.1", "1.2.3.256",
		"1.2.65536", "1.16777216", "4294967296", "0x100000000",
		"08", "09.1.2.3", "0x", "0xg", "1.2.3.4a", "1e3", "-1", "+1",
		"1.2.3.4 ", "99999999999999999999999", "0x7f.1.example", "example.123",
	}
	for _, in := range bad {
		if a, ok := ParseIPv4Literal(in); ok {
			t.Errorf("ParseIPv4Literal(%q) = %v, true; want not an IPv4 literal", in, a)
		}
	}
}

func TestParseHostIP(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" = not an IP
	}{
		{"::1", "::1"},
		{"fe80::1%lo0", "fe80::1%lo0"},
		{"::ffff:127.0.0.1", "::ffff:127.0.0.1"},
		{"10.0.0.1", "10.0.0.1"},
		{"2130706433", "127.0.0.1"},
		{"0x7f.1", "127.0.0.1"},
		{"example.com", ""},
		{"1password.com", ""},
		{"localhost", ""},
		{"a:b", ""},
		{"", ""},
		{"1.2.3.4.5", ""},
	}
	for _, tt := range tests {
		a, ok := ParseHostIP(tt.in)
		if tt.want == "" {
			if ok {
				t.Errorf("ParseHostIP(%q) = %v, true; want not an IP", tt.in, a)
			}
			continue
		}
		if !ok || a != netip.MustParseAddr(tt.want) {
			t.Errorf("ParseHostIP(%q) = %v, %v; want %s", tt.in, a, ok, tt.want)
		}
	}
}

// TestParseTarget: the authority rules the proxy and check share.
func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		in       string
		def      int
		host     string
		port     int
		err      error // nil or a sentinel; errIsAny: any other error
		errIsAny bool
	}{
		{in: "example.com", def: 80, host: "example.com", port: 80},
		{in: "example.com:8443", def: 80, host: "example.com", port: 8443},
		{in: "[::1]:443", def: 0, host: "::1", port: 443},
		{in: "example.com", def: 0, host: "example.com", err: ErrMissingPort},
		{in: "", def: 80, err: ErrMissingHost},
		{in: ":80", def: 80, host: "", err: ErrMissingHost},
		{in: "bad host", def: 80, host: "bad host", err: ErrInvalidHost},
		{in: "example.com:0443", def: 80, errIsAny: true},
		{in: "example.com:+443", def: 80, errIsAny: true},
		{in: "example.com:65536", def: 80, errIsAny: true},
	} {
		host, port, err := ParseTarget(tc.in, tc.def)
		switch {
		case tc.errIsAny:
			if err == nil || errors.Is(err, ErrMissingHost) || errors.Is(err, ErrInvalidHost) || errors.Is(err, ErrMissingPort) {
				t.Errorf("ParseTarget(%q): err %v, want a port or syntax error", tc.in, err)
			}
		case !errors.Is(err, tc.err) || tc.err == nil && err != nil:
			t.Errorf("ParseTarget(%q, %d): err %v, want %v", tc.in, tc.def, err, tc.err)
		case host != tc.host || port != tc.port:
			t.Errorf("ParseTarget(%q, %d) = %q, %d; want %q, %d", tc.in, tc.def, host, port, tc.host, tc.port)
		}
	}
	for p, want := range map[int]bool{0: false, 1: true, 443: true, 65535: true, 65536: false, -1: false} {
		if ValidPort(p) != want {
			t.Errorf("ValidPort(%d) = %v", p, !want)
		}
	}
	for s, want := range map[Source]string{
		{}: "default",
		{File: "/etc/codex/requirements.toml", Line: 3, Origin: OriginManaged}: "/etc/codex/requirements.toml:3",
	} {
		if got := s.String(); got != want {
			t.Errorf("Source%+v.String() = %q, want %q", s, got, want)
		}
	}
}

// TestHostAddrs: the addresses a host stands for without DNS are an IP
// literal's own (in any spelling, as written) and localhost's loopbacks;
// a name has none.
func TestHostAddrs(t *testing.T) {
	for _, tc := range []struct {
		host string
		want []string
		ok   bool
	}{
		{"127.1", []string{"127.0.0.1"}, true},
		{"0x7f.1", []string{"127.0.0.1"}, true},
		{"::ffff:127.0.0.1", []string{"::ffff:127.0.0.1"}, true},
		{"localhost", []string{"127.0.0.1", "::1"}, true},
		{"example.com", nil, false},
		{"localhost.example", nil, false},
		{"", nil, false},
	} {
		addrs, ok := HostAddrs(tc.host)
		var got []string
		for _, a := range addrs {
			got = append(got, a.String())
		}
		if ok != tc.ok || !slices.Equal(got, tc.want) {
			t.Errorf("HostAddrs(%q) = %v, %v; want %v, %v", tc.host, got, ok, tc.want, tc.ok)
		}
	}
}
