package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/netpolicy/netpolicy/policy"
)

// TestDomainMapFold checks how the effective domains and unix_sockets maps
// fold rules of the same key: deny ("none") wins, the others are shadows,
// and entries come managed first in file order at the winner's position.
func TestDomainMapFold(t *testing.T) {
	m := func(line int) policy.Source {
		return policy.Source{File: "r.toml", Line: line, Origin: policy.OriginManaged}
	}
	u := func(line int) policy.Source {
		return policy.Source{File: "c.toml", Line: line, Origin: policy.OriginUser}
	}
	eff := &policy.Effective{
		Allow: []policy.Rule{
			{Pattern: "a.example", Perm: policy.Allow, Source: m(2)},
			{Pattern: "b.example", Perm: policy.Allow, Source: m(3)},
			{Pattern: "a.example", Perm: policy.Allow, Source: u(5)},
		},
		Deny: []policy.Rule{
			{Pattern: "a.example", Perm: policy.Deny, Source: u(6)},
		},
		Sockets: []policy.SocketRule{
			{Path: "/run/a.sock", Perm: policy.Allow, Source: m(4)},
			{Path: "/run/a.sock", Perm: policy.None, Source: u(7)},
			{Path: "/run/b.sock", Perm: policy.Allow, Source: u(8)},
		},
	}
	var got []string
	for _, d := range domainMap(eff) {
		s := fmt.Sprintf("%s=%s@%d", d.Pattern, d.Rule.Perm, d.Rule.Source.Line)
		for _, o := range d.Shadow {
			s += fmt.Sprintf(" shadow %s@%d", o.Perm, o.Source.Line)
		}
		got = append(got, s)
	}
	for _, d := range socketMap(eff) {
		s := fmt.Sprintf("%s=%s@%d", d.Rule.Path, d.Rule.Perm, d.Rule.Source.Line)
		for _, o := range d.Shadow {
			s += fmt.Sprintf(" shadow %s@%d", o.Perm, o.Source.Line)
		}
		got = append(got, s)
	}
	want := []string{
		"b.example=allow@3",
		"a.example=deny@6 shadow allow@2 shadow allow@5",
		"/run/a.sock=none@7 shadow allow@4",
		"/run/b.sock=allow@8",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("folded maps (-want +got):\n%s", diff)
	}
}

// TestDomainMapLinear: `effective` on a policy with tens of thousands of
// rules must not take seconds (folding was quadratic: 9 s for 50,000 rules).
func TestDomainMapLinear(t *testing.T) {
	const n = 40000
	eff := &policy.Effective{}
	for i := range n {
		src := policy.Source{File: "c.toml", Line: i + 1, Origin: policy.OriginUser}
		eff.Allow = append(eff.Allow, policy.Rule{Pattern: fmt.Sprintf("h%d.example", i), Perm: policy.Allow, Source: src})
		eff.Sockets = append(eff.Sockets, policy.SocketRule{Path: fmt.Sprintf("/run/%d.sock", i), Perm: policy.Allow, Source: src})
	}
	start := time.Now()
	if got := len(domainMap(eff)); got != n {
		t.Fatalf("domainMap: %d entries, want %d", got, n)
	}
	if got := len(socketMap(eff)); got != n {
		t.Fatalf("socketMap: %d entries, want %d", got, n)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("folding %d rules took %v; want well under 2s (quadratic?)", n, d)
	}
}
