package policy

import (
	"context"
	"fmt"
	"testing"
)

// benchPolicy builds n rules of every indexed kind: exact names, "*." and
// "**." suffixes, IP literals, and mid-label globs with a literal tail, plus
// a few deny rules.
func benchPolicy(n int) *Effective {
	e := pol(localBinding)
	for i := 0; i < n; i++ {
		var p string
		switch i % 5 {
		case 0:
			p = fmt.Sprintf("host%d.svc%d.example.com", i, i%97)
		case 1:
			p = fmt.Sprintf("*.zone%d.example.net", i)
		case 2:
			p = fmt.Sprintf("**.tenant%d.example.org", i)
		case 3:
			p = fmt.Sprintf("10.%d.%d.%d", i>>16&0xff, i>>8&0xff, i&0xff)
		case 4:
			p = fmt.Sprintf("edge*.pop%d.cdn.example.io", i)
		}
		perm := Allow
		if i%50 == 49 {
			perm = Deny
		}
		r := Rule{Pattern: p, Perm: perm}
		if perm == Allow {
			e.Allow = append(e.Allow, r)
		} else {
			e.Deny = append(e.Deny, r)
		}
	}
	return e
}

// BenchmarkDecide measures matching only: allow_local_binding with
// NoResolve, so no DNS. The cost per decision must not grow with the number
// of rules.
func BenchmarkDecide(b *testing.B) {
	for _, n := range []int{10, 1000, 100000} {
		c, err := Compile(benchPolicy(n))
		if err != nil {
			b.Fatal(err)
		}
		cases := []struct {
			name string
			host string
			want Reason
		}{
			{"hit-exact", "HOST5.svc5.example.com:443", ReasonAllowed},
			{"hit-suffix", "a.b.zone1.example.net", ReasonAllowed},
			{"hit-glob", "edge42.pop4.cdn.example.io", ReasonAllowed},
			{"hit-ip", "10.0.0.3", ReasonAllowed},
			{"miss", "www.unlisted.example.com", ReasonNotAllowed},
		}
		for _, tc := range cases {
			b.Run(fmt.Sprintf("rules=%d/%s", n, tc.name), func(b *testing.B) {
				req := Request{Host: tc.host, Port: 443, Protocol: ProtoHTTPSConnect, NoResolve: true}
				ctx := context.Background()
				if d := c.Decide(ctx, req, nil); d.Reason != tc.want {
					b.Fatalf("%s: %s, want %s", tc.host, d.Reason, tc.want)
				}
				b.ReportAllocs()
				for b.Loop() {
					c.Decide(ctx, req, nil)
				}
			})
		}
	}
}

func BenchmarkCompile100k(b *testing.B) {
	e := benchPolicy(100000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNormalizeHost(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		NormalizeHost("api.example.com:443")
	}
}
