package lint

// The fixable rules: NP010–NP014 (legacy and obsolete shapes), NP022,
// NP023 (pattern spelling) and NP025 (duplicates). Their findings and fixes
// are computed for a whole file at once by the planner in plan.go, so that
// the fixes touching one key or one table agree and never overlap; each
// rule's Run only reports its share.
//
// Fixes are shared, not split: every legacy key of one table carries the
// same fix (all the table's domain lists, or its socket list, rewritten
// together), and every finding on one key carries that key's fix. Apply
// collapses identical edits, so a fix is applied once however many findings
// carry it, and suppressing one of those findings does not lose the fix.

var ruleNP010 = &Rule{
	ID:       "NP010",
	Title:    "legacy list key in `[permissions.<p>.network]` or `[network]`",
	Severity: SevError,
	Fixable:  "yes",
	Scope:    ScopeFile,
	Doc: `The legacy lists allowed_domains, denied_domains and allow_unix_sockets are
rejected in the user's network tables ([network] and
[permissions.<profile>.network]): only the managed [experimental_network]
still accepts them. Write the rules as the domains and unix_sockets tables
instead: every allowed_domains entry becomes "allow", every denied_domains
entry "deny" (a host in both lists ends "deny"), every allow_unix_sockets
path "allow".

netpolicy migrate rewrites the lists in place as dotted keys, keeping the
comments written inside and after them. When the table also has a domains
(or unix_sockets) table, the entries are merged into it, unless one host has
a different permission in the two forms: then the fix is refused and the
conflicting entries are named.`,
	Example: `[network]
allowed_domains = ["api.example.com"]  # CI
denied_domains = ["tracker.example.com"]`,
	Fixed: `[network]
domains."api.example.com" = "allow"  # CI
domains."tracker.example.com" = "deny"`,
	Run: runPlanned("NP010"),
}

var ruleNP011 = &Rule{
	ID:       "NP011",
	Title:    "canonical and legacy forms mixed in one managed block",
	Severity: SevError,
	Fixable:  "yes, when no entry conflicts",
	Scope:    ScopeFile,
	Doc: `A managed [experimental_network] block may use the canonical domains table
or the legacy allowed_domains / denied_domains lists, not both; likewise
unix_sockets or allow_unix_sockets. The two pairs are checked separately. A
block that mixes them is rejected.

The fix folds the legacy entries into the canonical table. It is offered
only when no host (after normalisation) or socket path has a different
permission in the two forms; otherwise decide which one you meant and
remove the other.`,
	Example: `[experimental_network]
domains = { "a.example" = "allow" }
denied_domains = ["b.example"]`,
	Fixed: `[experimental_network]
domains = { "a.example" = "allow", "b.example" = "deny" }`,
	Run: runPlanned("NP011"),
}

var ruleNP012 = &Rule{
	ID:       "NP012",
	Title:    "legacy list key in `[experimental_network]` (accepted, deprecated)",
	Severity: SevWarning,
	Fixable:  "yes",
	Scope:    ScopeFile,
	Doc: `The managed block still accepts the legacy lists allowed_domains,
denied_domains and allow_unix_sockets, but they are deprecated: write the
domains and unix_sockets tables. The meaning does not change: allowed
entries become "allow", denied entries "deny" (a host in both lists ends
"deny"), socket paths "allow"; an empty list means no rules.`,
	Example: `[experimental_network]
allowed_domains = ["*.vendor.example"]
allow_unix_sockets = ["/var/run/docker.sock"]`,
	Fixed: `[experimental_network]
domains."*.vendor.example" = "allow"
unix_sockets."/var/run/docker.sock" = "allow"`,
	Run: runPlanned("NP012"),
}

var ruleNP013 = &Rule{
	ID:       "NP013",
	Title:    "obsolete table shape: `[network_proxy]`, `[network_proxy.policy]`, `[permissions.network]`",
	Severity: SevError,
	Fixable:  "yes",
	Scope:    ScopeFile,
	Doc: `Older versions read the proxy settings from [network_proxy] (with the lists
in [network_proxy.policy]) and, before named profiles, from
[permissions.network]. Neither is read any more: the settings belong in the
standalone [network] table.

The fix renames the table to [network] and moves the keys of
[network_proxy.policy] into it (the lists are then rewritten as for NP010).
It is refused when [network] already exists: merge the two by hand.
[permissions.network] holding only extends, description or network is a
profile named "network", not the obsolete shape.`,
	Example: `[network_proxy]
enabled = true
[network_proxy.policy]
allowed_domains = ["a.example"]`,
	Fixed: `[network]
enabled = true
domains."a.example" = "allow"`,
	Run: runPlanned("NP013"),
}

var ruleNP014 = &Rule{
	ID:       "NP014",
	Title:    "obsolete key: `admin_url`, `dangerously_allow_non_loopback_admin`, `danger_full_access_denylist_only`",
	Severity: SevWarning,
	Fixable:  "yes (removal)",
	Scope:    ScopeFile,
	Doc: `admin_url and dangerously_allow_non_loopback_admin configured an admin API
that no longer exists; danger_full_access_denylist_only is replaced by the
full-access rows of the merge table. The keys have no effect. The fix
removes them (with their line).`,
	Example: `[network]
enabled = true
admin_url = "http://127.0.0.1:8080"`,
	Fixed: `[network]
enabled = true`,
	Run: runPlanned("NP014"),
}

var ruleNP022 = &Rule{
	ID:       "NP022",
	Title:    "port in a pattern (ignored)",
	Severity: SevWarning,
	Fixable:  "yes",
	Scope:    ScopeFile,
	Doc: `A domain pattern names a host, not a host and port: "api.example.com:8443"
matches api.example.com on every port. The port is ignored; the fix removes
it so that the rule says what it does. When the pattern also needs NP023,
one fix does both.`,
	Example: `[network]
domains = { "api.example.com:8443" = "allow" }`,
	Fixed: `[network]
domains = { "api.example.com" = "allow" }`,
	Run: runPlanned("NP022"),
}

var ruleNP023 = &Rule{
	ID:       "NP023",
	Title:    "non-ASCII pattern (fix: punycode)",
	Severity: SevError,
	Fixable:  "yes",
	Scope:    ScopeFile,
	Doc: `Hosts reach the proxy in their ASCII (punycode) form and patterns are never
converted at match time, so a pattern with non-ASCII letters matches
nothing. The fix writes the punycode form of each non-ASCII label:
"bücher.example" becomes "xn--bcher-kva.example"; wildcard labels are kept.`,
	Example: `[network]
domains = { "*.bücher.example" = "deny" }`,
	Fixed: `[network]
domains = { "*.xn--bcher-kva.example" = "deny" }`,
	Run: runPlanned("NP023"),
}

var ruleNP025 = &Rule{
	ID:       "NP025",
	Title:    "duplicate rule (same normalised pattern, same permission)",
	Severity: SevInfo,
	Fixable:  "yes",
	Scope:    ScopeFile,
	Doc: `Two rules of one table normalise to the same host (case, trailing dots and
ports do not matter) and have the same permission, so the later one adds
nothing. The fix removes the later one. Rules with different permissions
are NP024.`,
	Example: `[network]
domains = { "example.com" = "allow", "Example.COM." = "allow" }`,
	Fixed: `[network]
domains = { "example.com" = "allow" }`,
	Run: runPlanned("NP025"),
}

// runPlanned reports the planner's findings for one rule, each with the
// reason migrate must refuse over when it carries no fix.
func runPlanned(id string) func(*Pass) {
	return func(p *Pass) {
		for _, d := range p.plan().findings[id] {
			p.report(Diagnostic{File: p.File.Path, Pos: d.span.Start, End: d.span.End, Message: d.msg, Fix: d.fix, NoFix: d.blocker})
		}
	}
}
