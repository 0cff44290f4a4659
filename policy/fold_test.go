package policy

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestDomainMapFold checks how the effective domains and unix_sockets maps
// fold rules of the same key: deny ("none") wins, the others are shadows,
// and entries come managed first in file order at the winner's position.
func TestDomainMapFold(t *testing.T) {
	m := func(line int) Source {
		return Source{File: "r.toml", Line: line, Origin: OriginManaged}
	}
	u := func(line int) Source {
		return Source{File: "c.toml", Line: line, Origin: OriginUser}
	}
	eff := &Effective{
		Allow: []Rule{
			{Pattern: "a.example", Perm: Allow, Source: m(2)},
			{Pattern: "b.example", Perm: Allow, Source: m(3)},
			{Pattern: "a.example", Perm: Allow, Source: u(5)},
		},
		Deny: []Rule{
			{Pattern: "a.example", Perm: Deny, Source: u(6)},
		},
		Sockets: []SocketRule{
			{Path: "/run/a.sock", Perm: Allow, Source: m(4)},
			{Path: "/run/a.sock", Perm: None, Source: u(7)},
			{Path: "/run/b.sock", Perm: Allow, Source: u(8)},
		},
	}
	var got []string
	for _, d := range eff.DomainMap() {
		s := fmt.Sprintf("%s=%s@%d", d.Win.Pattern, d.Win.Perm, d.Win.Source.Line)
		for _, o := range d.Shadow {
			s += fmt.Sprintf(" shadow %s@%d", o.Perm, o.Source.Line)
		}
		got = append(got, s)
	}
	for _, d := range eff.SocketMap() {
		s := fmt.Sprintf("%s=%s@%d", d.Win.Path, d.Win.Perm, d.Win.Source.Line)
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
	eff := &Effective{}
	for i := range n {
		src := Source{File: "c.toml", Line: i + 1, Origin: OriginUser}
		eff.Allow = append(eff.Allow, Rule{Pattern: fmt.Sprintf("h%d.example", i), Perm: Allow, Source: src})
		eff.Sockets = append(eff.Sockets, SocketRule{Path: fmt.Sprintf("/run/%d.sock", i), Perm: Allow, Source: src})
	}
	start := time.Now()
	if got := len(eff.DomainMap()); got != n {
		t.Fatalf("DomainMap: %d entries, want %d", got, n)
	}
	if got := len(eff.SocketMap()); got != n {
		t.Fatalf("SocketMap: %d entries, want %d", got, n)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("folding %d rules took %v; want well under 2s (quadratic?)", n, d)
	}
}
