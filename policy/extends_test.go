package policy

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/netpolicy/netpolicy/internal/tomldoc"
)

// layered is the definition of extends that UserNetwork's one-pass
// resolution must agree with: lay each table, root first, over the result
// so far (the quadratic way it used to be computed).
func layered(f *File, name string) (*Network, error) {
	chain, err := f.ProfileChain(name)
	if err != nil {
		return nil, err
	}
	out := &Network{Path: "permissions." + tomldoc.QuoteKey(name) + ".network", Origin: OriginUser, File: f.Path}
	for i := len(chain) - 1; i >= 0; i-- {
		c := chain[i].Network
		if c == nil {
			continue
		}
		out.overlaySettings(c)
		var over []Dropped
		out.Domains = layerByKey(out.Domains, c.Domains, &over,
			func(r Rule) string { return NormalizeHost(r.Pattern) },
			func(r Rule) (string, string, Source) { return "domains", r.Pattern, r.Source },
			func(r Rule) Permission { return r.Perm })
		out.Sockets = layerByKey(out.Sockets, c.Sockets, &over,
			func(s SocketRule) string { return s.Path },
			func(s SocketRule) (string, string, Source) { return "unix_sockets", s.Path, s.Source },
			func(s SocketRule) Permission { return s.Perm })
		out.Overridden = append(out.Overridden, over...)
	}
	if p := f.Profile(name); p.Network != nil {
		out.Table = p.Network.Table
		out.Path = p.Network.Path
	}
	return out, nil
}

func layerByKey[T any](parent, child []T, over *[]Dropped, key func(T) string,
	where func(T) (table, name string, src Source), perm func(T) Permission) []T {
	by := make(map[string]T, len(child))
	for _, c := range child {
		by[key(c)] = c
	}
	var kept []T
	for _, p := range parent {
		c, replaced := by[key(p)]
		if !replaced {
			kept = append(kept, p)
			continue
		}
		table, name, src := where(p)
		_, cname, csrc := where(c)
		*over = append(*over, Dropped{
			What:   fmt.Sprintf("%s.%s = %s", table, tomldoc.QuoteKey(name), tomldoc.QuoteString(perm(p).String())),
			Source: src,
			Why:    fmt.Sprintf("replaced through extends by %s = %s (%s:%d)", tomldoc.QuoteKey(cname), tomldoc.QuoteString(perm(c).String()), csrc.File, csrc.Line),
		})
	}
	return append(kept, child...)
}

// networkView is what a resolved Network says, in comparable form.
type networkView struct {
	Path, File string
	Origin     Origin
	Table      string            // the table's address: the very table, not a copy
	Settings   map[string]string // key → value and where it was set
	Domains    []Rule
	Sockets    []SocketRule
	Overridden []Dropped
}

func view(n *Network, rules bool) networkView {
	v := networkView{Path: n.Path, File: n.File, Origin: n.Origin, Table: fmt.Sprintf("%p", n.Table), Settings: map[string]string{}}
	for i := range NetworkKeys {
		k := &NetworkKeys[i]
		if k.network == nil {
			continue
		}
		switch p := k.network(n).(type) {
		case **Setting[bool]:
			if *p != nil {
				v.Settings[k.Name] = fmt.Sprintf("%v@%v", (*p).Value, (*p).Source)
			}
		case **Setting[string]:
			if *p != nil {
				v.Settings[k.Name] = fmt.Sprintf("%v@%v", (*p).Value, (*p).Source)
			}
		case **Setting[int]:
			if *p != nil {
				v.Settings[k.Name] = fmt.Sprintf("%v@%v", (*p).Value, (*p).Source)
			}
		}
	}
	if rules {
		v.Domains, v.Sockets, v.Overridden = n.Domains, n.Sockets, n.Overridden
	}
	return v
}

// randomChains writes a config with a few extends trees: profiles with or
// without a network table, domain rules drawn from a small pool (so that
// children replace their ancestors' rules, under other spellings too),
// legacy lists beside the maps, sockets and scalar settings.
func randomChains(r *rand.Rand, profiles int) string {
	hosts := []string{"a.example", "A.Example", "b.example", "*.b.example", "c.example", "d.example"}
	socks := []string{"/run/a.sock", "/run/b.sock", "/run/c.sock"}
	perms := []string{"allow", "deny"}
	var b strings.Builder
	for i := range profiles {
		fmt.Fprintf(&b, "[permissions.p%d]\n", i)
		if i > 0 && r.IntN(6) != 0 {
			fmt.Fprintf(&b, "extends = \"p%d\"\n", r.IntN(i))
		}
		if r.IntN(4) == 0 {
			b.WriteString("\n")
			continue
		}
		fmt.Fprintf(&b, "[permissions.p%d.network]\n", i)
		if r.IntN(2) == 0 {
			fmt.Fprintf(&b, "mode = %q\n", []string{"full", "limited"}[r.IntN(2)])
		}
		if r.IntN(3) == 0 {
			fmt.Fprintf(&b, "allow_local_binding = %v\n", r.IntN(2) == 0)
		}
		if r.IntN(4) == 0 {
			fmt.Fprintf(&b, "allowed_domains = [%q]\n", hosts[r.IntN(len(hosts))])
		}
		var ds []string
		used := map[string]bool{}
		for range r.IntN(4) {
			h := hosts[r.IntN(len(hosts))]
			if !used[h] {
				used[h] = true
				ds = append(ds, fmt.Sprintf("%q = %q", h, perms[r.IntN(2)]))
			}
		}
		if len(ds) > 0 {
			fmt.Fprintf(&b, "domains = { %s }\n", strings.Join(ds, ", "))
		}
		if r.IntN(2) == 0 {
			fmt.Fprintf(&b, "unix_sockets = { %q = %q }\n", socks[r.IntN(len(socks))], []string{"allow", "none"}[r.IntN(2)])
		}
		b.WriteString("\n")
	}
	return b.String()
}

// UserNetwork resolves extends in one pass; it must give exactly what
// laying the tables one over the other gives: the same rules in the same
// order, the same replaced rules and reasons, the same settings.
// InheritedSettings (remembered per profile) must agree on the settings.
func TestUserNetworkMatchesLayering(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 8))
	replaced := 0
	defer func() {
		if replaced == 0 {
			t.Error("no rule was ever replaced: the chains test nothing")
		}
	}()
	for round := range 300 {
		src := randomChains(r, 2+r.IntN(10))
		f := Load("config.toml", []byte(src), KindConfig)
		if f.SyntaxErr != nil {
			t.Fatalf("round %d: %v\n%s", round, f.SyntaxErr, src)
		}
		for _, p := range f.Profiles {
			want, werr := layered(f, p.Name)
			got, gerr := f.UserNetwork(p.Name)
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("round %d, %s: error %v, want %v\n%s", round, p.Name, gerr, werr, src)
			}
			if werr != nil {
				continue
			}
			replaced += len(want.Overridden)
			if d := cmp.Diff(view(want, true), view(got, true)); d != "" {
				t.Fatalf("round %d, %s: UserNetwork differs from layering (-want +got):\n%s\n%s", round, p.Name, d, src)
			}
			settings, err := f.InheritedSettings(p.Name)
			if err != nil {
				t.Fatalf("round %d, %s: InheritedSettings: %v", round, p.Name, err)
			}
			if d := cmp.Diff(view(want, false), view(settings, false)); d != "" {
				t.Fatalf("round %d, %s: InheritedSettings differs (-want +got):\n%s\n%s", round, p.Name, d, src)
			}
		}
	}
}

// InheritedSettings reports the failures UserNetwork reports.
func TestInheritedSettingsErrors(t *testing.T) {
	f := Load("config.toml", []byte(`[permissions.a]
extends = "b"
[permissions.b]
extends = "a"
[permissions.c]
extends = "nope"
[permissions.d]
extends = "c"
`), KindConfig)
	for _, tc := range []struct{ name, want string }{
		{"a", "cycle"},
		{"b", "cycle"},
		{"d", `profile "c" extends undefined profile "nope"`},
		{"c", `profile "c" extends undefined profile "nope"`},
		{"zz", `profile "zz" is not defined`},
	} {
		if _, err := f.UserNetwork(tc.name); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("UserNetwork(%s) = %v, want %q", tc.name, err, tc.want)
		}
		if _, err := f.InheritedSettings(tc.name); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("InheritedSettings(%s) = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// deepChain is a config whose profiles extend one another in a single
// chain, each with its own domain rule, the last selected.
func deepChain(depth int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "default_permissions = \"p%d\"\n\n", depth-1)
	for i := range depth {
		fmt.Fprintf(&b, "[permissions.p%d]\n", i)
		if i > 0 {
			fmt.Fprintf(&b, "extends = \"p%d\"\n", i-1)
		}
		fmt.Fprintf(&b, "[permissions.p%d.network]\nenabled = true\ndomains = { \"h%d.example.com\" = \"allow\", \"shared.example.com\" = %q }\n\n", i, i, []string{"allow", "deny"}[i%2])
	}
	return []byte(b.String())
}

// A 4,000-deep chain resolves in one pass: every profile's settings and
// the selected profile's full table. (Resolving took minutes before.)
func TestDeepExtendsChainIsFast(t *testing.T) {
	const depth = 4000
	f := Load("config.toml", deepChain(depth), KindConfig)
	start := time.Now()
	n, err := f.UserNetwork("")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Profiles {
		if _, err := f.InheritedSettings(p.Name); err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(start)
	if len(n.Domains) != depth+1 || len(n.Overridden) != depth-1 {
		t.Errorf("%d rules, %d replaced; want %d and %d", len(n.Domains), len(n.Overridden), depth+1, depth-1)
	}
	if last := n.Domains[len(n.Domains)-1]; last.Pattern != "shared.example.com" || last.Perm != Deny || last.Source.Line != 6*depth {
		t.Errorf("last rule %+v, want the deepest shared.example.com = deny (line %d)", last, 6*depth)
	}
	t.Logf("depth %d: %v", depth, took)
	if took > 5*time.Second {
		t.Errorf("resolving a %d-deep chain took %v", depth, took)
	}
}

func BenchmarkExtendsChain(b *testing.B) {
	for _, depth := range []int{1000, 4000} {
		src := deepChain(depth)
		b.Run(fmt.Sprint(depth), func(b *testing.B) {
			for b.Loop() {
				f := Load("config.toml", src, KindConfig)
				if _, err := f.UserNetwork(""); err != nil {
					b.Fatal(err)
				}
				for _, p := range f.Profiles {
					if _, err := f.InheritedSettings(p.Name); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
