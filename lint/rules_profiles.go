package lint

import (
	"strings"

	"github.com/netpolicy/netpolicy/policy"
)

var ruleNP050 = &Rule{
	ID:       "NP050",
	Title:    "profile errors: undefined `default_permissions` / `extends`, cycle, reserved `:` prefix",
	Severity: SevError,
	Scope:    ScopeFile,
	Doc: `The profiles of config.toml do not resolve, so no session can pick its
network table from them:

- default_permissions names a profile that is not defined (and is not one
  of the built-ins :read-only, :workspace, :danger-full-access);
- extends names a profile that is not defined, or :danger-full-access (a
  profile may extend only a defined profile, :read-only or :workspace);
- profiles extend each other in a cycle;
- a profile is named with a leading ":", which is reserved for built-ins.`,
	Example: `[permissions.child]
extends = "base"`,
	Fixed: `[permissions.base]
description = "shared rules"

[permissions.child]
extends = "base"`,
	Run: runNP050,
}

func runNP050(p *Pass) {
	f := p.File
	if f.Kind == policy.KindRequirements {
		return
	}
	if dp := f.DefaultPermissions; dp != nil && !policy.IsBuiltinProfile(dp.Value) && f.Profile(dp.Value) == nil {
		sp := keySpan(f.Doc.Root, "default_permissions")
		p.Reportf(f, sp, nil, "default_permissions names profile %q, which is not defined", dp.Value)
	}
	onCycle := cycleMembers(f)
	for _, pr := range f.Profiles {
		if strings.HasPrefix(pr.Name, ":") {
			p.Reportf(f, pr.Entry.KeySpan, nil, "profile name %q is reserved: names starting with \":\" are built-in profiles", pr.Name)
		}
		if pr.Extends == nil {
			continue
		}
		sp := keySpan(pr.Entry.Value.Table, "extends")
		parent := pr.Extends.Value
		switch {
		case parent == ":danger-full-access":
			p.Reportf(f, sp, nil, "profile %q cannot extend :danger-full-access; extend :read-only, :workspace or a defined profile", pr.Name)
		case policy.IsBuiltinProfile(parent):
		case f.Profile(parent) == nil:
			p.Reportf(f, sp, nil, "profile %q extends %q, which is not defined", pr.Name, parent)
		case onCycle[pr]:
			if cycle := extendsCycle(f, pr); cycle != nil {
				p.Reportf(f, sp, nil, "profile %q extends itself through a cycle: %s", pr.Name, strings.Join(cycle, " → "))
			}
		}
	}
}

// cycleMembers returns the profiles that lie on an extends cycle, in one
// pass over the file however long the chains (each profile has at most one
// parent, so every walk ends at a root, a missing profile, or a cycle).
func cycleMembers(f *policy.File) map[*policy.Profile]bool {
	const (
		unvisited = iota
		onPath
		done
	)
	state := make(map[*policy.Profile]int, len(f.Profiles))
	on := map[*policy.Profile]bool{}
	for _, start := range f.Profiles {
		var path []*policy.Profile
		cur := start
		for cur != nil && state[cur] == unvisited {
			state[cur] = onPath
			path = append(path, cur)
			var next *policy.Profile
			if cur.Extends != nil && !policy.IsBuiltinProfile(cur.Extends.Value) {
				next = f.Profile(cur.Extends.Value)
			}
			cur = next
		}
		if cur != nil && state[cur] == onPath {
			// The walk came back to itself: cur and those after it
			// on this path form the cycle.
			for i := len(path) - 1; i >= 0; i-- {
				on[path[i]] = true
				if path[i] == cur {
					break
				}
			}
		}
		for _, p := range path {
			state[p] = done
		}
	}
	return on
}

// extendsCycle returns the names around the cycle that starts and ends at
// pr, or nil when following extends from pr does not come back to it.
func extendsCycle(f *policy.File, pr *policy.Profile) []string {
	path := []string{pr.Name}
	seen := map[string]bool{pr.Name: true}
	for cur := pr; cur.Extends != nil; {
		next := f.Profile(cur.Extends.Value)
		if next == nil {
			return nil
		}
		path = append(path, next.Name)
		if next == pr {
			return path
		}
		if seen[next.Name] {
			return nil // a cycle further up that pr only leads into
		}
		seen[next.Name] = true
		cur = next
	}
	return nil
}
