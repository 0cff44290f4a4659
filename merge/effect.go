package merge

import (
	"fmt"
	"strings"

	"github.com/netpolicy/netpolicy/internal/tomldoc"
	"github.com/netpolicy/netpolicy/policy"
)

// NoEffect says why a user rule for the host pattern norm with permission
// perm (Allow or Deny) does not change what the effective policy eff
// decides, or "" when it takes effect. It is what `allow` and `deny` report
// after writing a rule (POLICY.md §8): the network is off, the managed
// policy ignores the user's allow (or deny) rules, or a deny rule matches
// every host the allow rule matches.
func NoEffect(eff *policy.Effective, norm string, perm policy.Permission) string {
	pat, err := policy.ParsePattern(norm)
	if err != nil {
		return "it is not a valid pattern"
	}
	if perm == policy.Deny {
		if findRule(eff.Deny, pat.Norm) == nil {
			return fmt.Sprintf("in %s mode the managed deny rules replace the user's", eff.SessionMode)
		}
		return ""
	}
	if !eff.Enabled.Value {
		if s := eff.Enabled.Source; s.File != "" {
			return fmt.Sprintf("the network is off (enabled = false, %s, %s)", s, s.Origin)
		}
		return "the network is off: the table does not set enabled = true"
	}
	if eff.ManagedAllowedDomainsOnly.Value {
		s := eff.ManagedAllowedDomainsOnly.Source
		return fmt.Sprintf("managed_allowed_domains_only = true (%s): only managed allow rules count", s)
	}
	if findRule(eff.Allow, pat.Norm) == nil {
		return fmt.Sprintf("in %s mode the managed allow rules replace the user's", eff.SessionMode)
	}
	if d := coveringDeny(eff.Deny, pat); d != nil {
		return fmt.Sprintf("%s denies it (%s, %s)", tomldoc.QuoteString(d.Pattern), d.Source, d.Source.Origin)
	}
	return ""
}

// findRule returns the rule of rs whose normalised pattern is norm.
func findRule(rs []policy.Rule, norm string) *policy.Rule {
	for i := range rs {
		if policy.NormalizeHost(rs[i].Pattern) == norm {
			return &rs[i]
		}
	}
	return nil
}

// coveringDeny returns a deny rule matching every host allow matches: the
// same pattern; for an exact host or IP, any deny rule matching it; for a
// wildcard, a "*." or "**." deny rule on its literal suffix or a parent.
func coveringDeny(deny []policy.Rule, allow policy.Pattern) *policy.Rule {
	if r := findRule(deny, allow.Norm); r != nil {
		return r
	}
	switch allow.Kind {
	case policy.PatternExact, policy.PatternIP:
		c, err := policy.Compile(&policy.Effective{Deny: deny})
		if err != nil {
			return nil
		}
		if r, ok := c.MatchDeny(allow.Norm); ok {
			return r
		}
		return nil
	}
	base := allow.Suffix
	if base == "" {
		return nil
	}
	strict := allow.Kind != policy.PatternApexAndSubdomains
	for i := range deny {
		d, err := policy.ParsePattern(deny[i].Pattern)
		if err != nil || d.Suffix == "" {
			continue
		}
		under := base == d.Suffix || strings.HasSuffix(base, "."+d.Suffix)
		switch {
		case !under:
		case d.Kind == policy.PatternApexAndSubdomains:
			return &deny[i]
		case d.Kind == policy.PatternSubdomains && (base != d.Suffix || strict):
			return &deny[i]
		}
	}
	return nil
}
