package lint

import (
	"fmt"

	"github.com/netpolicy/netpolicy/internal/tomldoc"
	"github.com/netpolicy/netpolicy/merge"
	"github.com/netpolicy/netpolicy/policy"
)

// Rules about the managed file and how it meets the user's: NP060 alone,
// NP061 and NP062 when both files are linted in one call.

var ruleNP060 = &Rule{
	ID:       "NP060",
	Title:    "`managed_allowed_domains_only = true` with no managed allow rule: every host is blocked",
	Severity: SevWarning,
	Scope:    ScopeFile,
	Doc: `With managed_allowed_domains_only = true only the managed allow rules
count: user allow rules are ignored and misses are denied, never asked. With
no managed allow rule at all, nothing can ever be reached through the proxy.
If that is the intent, set enabled = false instead; otherwise add the allowed
hosts to [experimental_network] domains.`,
	Example: `[experimental_network]
managed_allowed_domains_only = true
domains = { "ads.example" = "deny" }`,
	Fixed: `[experimental_network]
managed_allowed_domains_only = true
domains = { "corp.example.com" = "allow", "ads.example" = "deny" }`,
	Run: runNP060,
}

var ruleNP061 = &Rule{
	ID:       "NP061",
	Title:    "(cross-file) user allow rules ignored because of `managed_allowed_domains_only`",
	Severity: SevInfo,
	Scope:    ScopeCross,
	Doc: `The managed requirements set managed_allowed_domains_only = true, so the
allow rules of the user's network tables are ignored (their deny rules still
apply). Reported on the user's file, once per table that has allow rules,
when both files are linted in one call. Ask the administrator to add the
host to the managed allowlist.`,
	Example: `# requirements.toml
[experimental_network]
managed_allowed_domains_only = true
domains = { "corp.example.com" = "allow" }

# config.toml
[network]
domains = { "git.example.org" = "allow" }   # ignored`,
	Run: runNP061,
}

var ruleNP062 = &Rule{
	ID:       "NP062",
	Title:    "(cross-file) user setting exceeds a managed ceiling and will be forced down",
	Severity: SevWarning,
	Scope:    ScopeCross,
	Doc: `A boolean the managed requirements set to false (enabled,
allow_upstream_proxy, dangerously_allow_non_loopback_proxy,
dangerously_allow_all_unix_sockets, allow_local_binding) is a ceiling: the
user's true is forced to false. The same happens to the user's
dangerously_allow_all_unix_sockets = true when the managed file has
unix_sockets rules and does not itself set it true. Reported on the user's
file when both files are linted in one call.`,
	Example: `# requirements.toml
[experimental_network]
allow_local_binding = false

# config.toml
[network]
allow_local_binding = true   # forced to false`,
	Run: runNP062,
}

func runNP060(p *Pass) {
	m := p.File.Managed
	if m == nil || m.ManagedAllowedDomainsOnly == nil || !m.ManagedAllowedDomainsOnly.Value {
		return
	}
	for _, r := range m.Domains {
		if r.Perm == policy.Allow {
			return
		}
	}
	sp := keySpan(m.Table, "managed_allowed_domains_only")
	p.Reportf(p.File, sp, nil, "managed_allowed_domains_only = true but %s has no allow rule: every host is blocked", tableLabel(m))
}

func runNP061(p *Pass) {
	m := p.Managed.Managed
	if m == nil || m.ManagedAllowedDomainsOnly == nil || !m.ManagedAllowedDomainsOnly.Value {
		return
	}
	for _, n := range networkTables(p.User) {
		// The user allow rules merge leaves out of the effective policy.
		eff := merge.Tables(m, n, policy.ModeWorkspaceWrite)
		kept := map[policy.Source]bool{}
		for _, r := range eff.Allow {
			kept[r.Source] = true
		}
		var ignored []policy.Rule
		for _, r := range n.Domains {
			if r.Perm == policy.Allow && !kept[r.Source] {
				ignored = append(ignored, r)
			}
		}
		count := len(ignored)
		if count == 0 {
			continue
		}
		var first tomldoc.Span
		for _, it := range domainItems(n) {
			if it.Perm == policy.Allow && it.Raw == ignored[0].Pattern && it.Span.Start.Line == ignored[0].Source.Line {
				first = it.Span
				break
			}
		}
		what := "1 allow rule of %s is"
		if count > 1 {
			what = fmt.Sprintf("%d allow rules of %%s are", count)
		}
		p.Reportf(p.User, first, nil, what+" ignored: the managed requirements set managed_allowed_domains_only = true (%s)",
			tableLabel(n), m.ManagedAllowedDomainsOnly.Source)
	}
}

func runNP062(p *Pass) {
	m := p.Managed.Managed
	if m == nil {
		return
	}
	for _, n := range networkTables(p.User) {
		// The merge of this table alone says what it forces (ceilings do
		// not depend on the session mode).
		eff := merge.Tables(m, n, policy.ModeWorkspaceWrite)
		for i := range policy.NetworkKeys {
			k := &policy.NetworkKeys[i]
			s, u := k.EffectiveBool(eff), k.Bool(n)
			if s == nil || !s.Forced || u == nil || !u.Value {
				continue
			}
			sp := keySpan(n.Table, k.Name)
			if c := k.Bool(m); c != nil {
				p.Reportf(p.User, sp, nil, "%s = true in %s is forced to false by the managed %s = false (%s)",
					k.Name, tableLabel(n), k.Name, c.Source)
				continue
			}
			p.Reportf(p.User, sp, nil, "%s = true in %s is forced to false: the managed requirements have unix_sockets rules (%s)",
				k.Name, tableLabel(n), s.Source)
		}
	}
}
