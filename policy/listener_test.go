package policy

import "testing"

func TestParseListener(t *testing.T) {
	for _, tt := range []struct {
		in       string
		host     string
		port     int
		loopback bool
		err      bool
	}{
		{in: "http://127.0.0.1:3128", host: "127.0.0.1", port: 3128, loopback: true},
		{in: "socks5://127.0.0.1", host: "127.0.0.1", loopback: true},
		{in: "127.0.0.1:8081", host: "127.0.0.1", port: 8081, loopback: true},
		{in: "http://LOCALHOST.:3000/path?q#f", host: "localhost", port: 3000, loopback: true},
		{in: "http://user:pw@[::1]:3000", host: "::1", port: 3000, loopback: true},
		{in: "http://0.0.0.0:3128", host: "0.0.0.0", port: 3128},
		{in: "http://[::]:3128", host: "::", port: 3128},
		{in: "http://192.168.1.10:8081", host: "192.168.1.10", port: 8081},
		{in: "http://proxy.corp.example:3128", host: "proxy.corp.example", port: 3128},
		{in: "http://2130706433:3128", host: "127.0.0.1", port: 3128, loopback: true},
		{in: "http://127.0.0.1:0", err: true},
		{in: "http://127.0.0.1:65536", err: true},
		{in: "http://127.0.0.1:+80", err: true},
		{in: "http://:3128", err: true},
		{in: "", err: true},
	} {
		l, err := ParseListener(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("ParseListener(%q) error %v, want error %v", tt.in, err, tt.err)
			continue
		}
		if err != nil {
			continue
		}
		if l.Host != tt.host || l.Port != tt.port || l.Loopback() != tt.loopback {
			t.Errorf("ParseListener(%q) = %+v loopback %v, want %s:%d loopback %v", tt.in, l, l.Loopback(), tt.host, tt.port, tt.loopback)
		}
	}
}
