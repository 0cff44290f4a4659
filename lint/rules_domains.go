package lint

import (
	"fmt"
	"strings"

	"github.com/netpolicy/netpolicy/internal/tomldoc"
	"github.com/netpolicy/netpolicy/policy"
)

// Rules about domain and unix-socket rules: NP020, NP021, NP024, NP026,
// NP030, NP031. Patterns are parsed and matched by package policy only.

var ruleNP020 = &Rule{
	ID:       "NP020",
	Title:    "invalid pattern (empty, bad characters, unsupported glob syntax, bad IP literal)",
	Severity: SevError,
	Scope:    ScopeFile,
	Doc: `A domain pattern that cannot match what it seems to say. Patterns are host
names (ASCII letters, digits, "-", "_", "."), IP literals (IPv6 optionally
in brackets), "*" inside a label, and a leading "*." (every subdomain) or
"**." (the name and every subdomain). "?", "[…]" character classes and
"{a,b}" alternatives are not pattern syntax; a URL path, white space inside
the pattern, an empty pattern or a malformed IP literal are errors. The
proxy skips an invalid rule, so it never matches anything.

Both domains keys and the strings of the legacy lists are checked.`,
	Example: `[network]
domains = { "api?.example.com" = "allow" }`,
	Fixed: `[network]
domains = { "api*.example.com" = "allow" }`,
	Run: runNP020,
}

var ruleNP021 = &Rule{
	ID:              "NP021",
	Title:           "global wildcard used as `deny`",
	Severity:        SevError,
	NotSuppressible: true,
	Scope:           ScopeFile,
	Doc: `A pattern that matches every host ("*", "[*]", "**.*", "*.*", …) is written
as a deny rule. Denying everything is not a policy netpolicy supports: the
table is rejected. To block by default, list what is allowed (misses are
asked or denied); to deny a family of hosts, use a scoped wildcard such as
*.example.com or **.example.com. A global wildcard is fine as "allow" (a
deny-list-only posture).

This rule cannot be suppressed.`,
	Example: `[network]
domains = { "*" = "deny" }`,
	Fixed: `[network]
domains = { "api.example.com" = "allow" }`,
	Run: runNP021,
}

var ruleNP024 = &Rule{
	ID:       "NP024",
	Title:    "the same host both allowed and denied (deny wins)",
	Severity: SevWarning,
	Scope:    ScopeFile,
	Doc: `Two patterns of one table normalise to the same host (case, trailing dots
and ports do not matter) and one allows it while the other denies it. Deny
wins, so the allow rule is dead; most likely one of them is a mistake.
Remove the one you did not mean.`,
	Example: `[network]
domains = { "example.com" = "allow", "EXAMPLE.COM." = "deny" }`,
	Fixed: `[network]
domains = { "example.com" = "deny" }`,
	Run: runNP024,
}

var ruleNP026 = &Rule{
	ID:       "NP026",
	Title:    "allow rule can never take effect (covered by a deny rule)",
	Severity: SevInfo,
	Scope:    ScopeFile,
	Doc: `Every host an allow rule matches is also matched by a deny rule of the same
table, and deny rules are checked first, so the allow rule never lets
anything through: api.example.com is covered by *.example.com. The rule is
only reported when the cover is certain; an apex is not covered by "*." (use
"**." to deny it too). Remove the allow rule or narrow the deny rule.`,
	Example: `[network]
domains = { "api.example.com" = "allow", "*.example.com" = "deny" }`,
	Fixed: `[network]
domains = { "api.example.com" = "allow", "ads.example.com" = "deny" }`,
	Run: runNP026,
}

var ruleNP030 = &Rule{
	ID:       "NP030",
	Title:    "unix socket `allow` path not absolute, or contains NUL",
	Severity: SevError,
	Scope:    ScopeFile,
	Doc: `A unix socket allowed by path must be named by an absolute path without NUL
bytes. A relative path depends on the working directory of whatever
connects, so the proxy always refuses it, even with
dangerously_allow_all_unix_sockets. Entries set to "none" are kept as
written and not checked.`,
	Example: `[network]
unix_sockets = { "docker.sock" = "allow" }`,
	Fixed: `[network]
unix_sockets = { "/var/run/docker.sock" = "allow" }`,
	Run: runNP030,
}

var ruleNP031 = &Rule{
	ID:       "NP031",
	Title:    "permission value not `allow`/`deny` (domains) or `allow`/`none`/`deny` (sockets)",
	Severity: SevError,
	Scope:    ScopeFile,
	Doc: `The value of a domains entry must be "allow" or "deny"; the value of a
unix_sockets entry must be "allow" or "none" ("deny" is read as "none").
Anything else ("block", "yes", "Allow") is not a permission, and the entry
is ignored. The position is the value.`,
	Example: `[network]
domains = { "a.example" = "block" }`,
	Fixed: `[network]
domains = { "a.example" = "deny" }`,
	Run: runNP031,
}

// parsedItem is a valid domain rule of a table with its parsed pattern.
type parsedItem struct {
	domainItem
	pat policy.Pattern
}

// validDomains returns the rules of n whose pattern parses and whose
// permission is allow or deny.
func validDomains(n *policy.Network) []parsedItem {
	items := domainItems(n)
	out := make([]parsedItem, 0, len(items))
	for _, it := range items {
		if it.Perm != policy.Allow && it.Perm != policy.Deny {
			continue
		}
		if pat, err := policy.ParsePattern(it.Raw); err == nil {
			out = append(out, parsedItem{it, pat})
		}
	}
	return out
}

func runNP020(p *Pass) {
	for _, n := range networkTables(p.File) {
		for _, it := range domainItems(n) {
			if _, err := policy.ParsePattern(it.Raw); err != nil {
				p.Reportf(p.File, it.Span, nil, "%v", err)
			}
		}
	}
}

func runNP021(p *Pass) {
	for _, n := range networkTables(p.File) {
		for _, it := range validDomains(n) {
			if it.Perm == policy.Deny && it.pat.IsGlobal() {
				p.Reportf(p.File, it.Span, nil, "%s", policy.GlobalDenyMessage(it.Raw))
			}
		}
	}
}

// runNP024 reports the allow rules that the deny-wins fold by host
// (policy.FoldBy) shadows: each names the first deny rule for the host.
// A global deny is NP021's, and shadows nothing here.
func runNP024(p *Pass) {
	for _, n := range networkTables(p.File) {
		var items []parsedItem
		for _, it := range validDomains(n) {
			if it.Perm == policy.Allow || !it.pat.IsGlobal() {
				items = append(items, it)
			}
		}
		folds := policy.FoldBy(items,
			func(it parsedItem) policy.Permission { return it.Perm },
			func(it parsedItem) string { return it.pat.Norm })
		for _, f := range folds {
			d := f.Win
			if d.Perm != policy.Deny {
				continue
			}
			for _, it := range f.Shadow {
				if it.Perm == policy.Allow {
					p.Reportf(p.File, it.Span, nil, "%q is allowed and %q (line %d) denies the same host in %s; deny wins",
						it.Raw, d.Raw, d.Span.Start.Line, tableLabel(n))
				}
			}
		}
	}
}

// runNP026 reports allow rules covered by a deny rule with another
// normalised pattern (the same pattern is NP024). An allow rule without a
// wildcard is covered when the compiled deny rules match its host. A
// wildcard allow rule matches only names below (or at) a literal suffix,
// so it is covered by a "*." or "**." deny rule on that suffix or a parent
// of it; other shapes are never reported, as the cover could not be proved.
func runNP026(p *Pass) {
	for _, n := range networkTables(p.File) {
		items := validDomains(n)
		denyRules := make([]policy.Rule, 0, len(items))
		sub, apex := map[string]parsedItem{}, map[string]parsedItem{}
		for _, it := range items {
			if it.Perm != policy.Deny || it.pat.IsGlobal() {
				continue
			}
			denyRules = append(denyRules, policy.Rule{Pattern: it.Raw, Perm: policy.Deny, Source: policy.Source{Line: it.Span.Start.Line}})
			switch it.pat.Kind {
			case policy.PatternSubdomains:
				putItem(sub, it.pat.Suffix, it)
			case policy.PatternApexAndSubdomains:
				putItem(apex, it.pat.Suffix, it)
			}
		}
		if len(denyRules) == 0 {
			continue
		}
		c, err := policy.Compile(&policy.Effective{Deny: denyRules})
		if err != nil {
			continue
		}
		for _, it := range items {
			if it.Perm != policy.Allow {
				continue
			}
			by, ok := coveringDeny(it.pat, c, sub, apex)
			if !ok {
				continue
			}
			p.Reportf(p.File, it.Span, nil, "allow %q can never take effect: %q (line %d) denies every host it matches",
				it.Raw, by.Pattern, by.Source.Line)
		}
	}
}

func putItem(m map[string]parsedItem, k string, it parsedItem) {
	if _, ok := m[k]; !ok {
		m[k] = it
	}
}

// coveringDeny returns a deny rule that matches every host allow matches.
func coveringDeny(allow policy.Pattern, c *policy.Compiled, sub, apex map[string]parsedItem) (policy.Rule, bool) {
	switch allow.Kind {
	case policy.PatternExact, policy.PatternIP:
		r, ok := c.MatchDeny(allow.Norm)
		if !ok || policy.NormalizeHost(r.Pattern) == allow.Norm {
			return policy.Rule{}, false
		}
		return *r, true
	case policy.PatternSubdomains, policy.PatternApexAndSubdomains, policy.PatternGlob:
		base := allow.Suffix
		if base == "" {
			return policy.Rule{}, false
		}
		// Every host allow matches is base or a name below it; below only,
		// unless allow is "**.base".
		strict := allow.Kind != policy.PatternApexAndSubdomains
		for t := base; ; {
			if d, ok := apex[t]; ok && d.pat.Norm != allow.Norm {
				return ruleOf(d), true
			}
			if d, ok := sub[t]; ok && (t != base || strict) && d.pat.Norm != allow.Norm {
				return ruleOf(d), true
			}
			i := strings.IndexByte(t, '.')
			if i < 0 {
				break
			}
			t = t[i+1:]
		}
	}
	return policy.Rule{}, false
}

func ruleOf(it parsedItem) policy.Rule {
	return policy.Rule{Pattern: it.Raw, Perm: it.Perm, Source: policy.Source{Line: it.Span.Start.Line}}
}

func runNP030(p *Pass) {
	for _, n := range networkTables(p.File) {
		for _, it := range socketItems(n) {
			if it.Perm != policy.Allow {
				continue
			}
			switch {
			case strings.IndexByte(it.Path, 0) >= 0:
				p.Reportf(p.File, it.Span, nil, "unix socket path %q contains a NUL byte", it.Path)
			case !strings.HasPrefix(it.Path, "/"):
				p.Reportf(p.File, it.Span, nil, "unix socket path %q is not absolute; the proxy refuses relative paths", it.Path)
			}
		}
	}
}

func runNP031(p *Pass) {
	for _, n := range networkTables(p.File) {
		check := func(e *tomldoc.Entry, parse func(string) (policy.Permission, bool), want string) {
			policy.MapEntries(e, parse, func(r *tomldoc.Entry, perm policy.Permission) {
				if perm != policy.PermInvalid || r.Value.Kind != tomldoc.KindString {
					return // a permission, or a value of the wrong type (NP002)
				}
				msg := fmt.Sprintf("%s.%s = %s: the permission must be %s", e.Key, tomldoc.QuoteKey(r.Key), tomldoc.QuoteString(r.Value.Str), want)
				low := strings.ToLower(strings.TrimSpace(r.Value.Str))
				if _, ok := parse(low); ok && low != r.Value.Str {
					msg += fmt.Sprintf(" (write %q)", low)
				} else if e.Key == "domains" && low == "none" {
					msg += ` ("none" is for unix_sockets; use "deny")`
				}
				p.Reportf(p.File, r.Value.Span, nil, "%s", msg)
			})
		}
		check(n.DomainsEntry, policy.ParseDomainPermission, `"allow" or "deny"`)
		check(n.SocketsEntry, policy.ParseSocketPermission, `"allow" or "none"`)
	}
}
