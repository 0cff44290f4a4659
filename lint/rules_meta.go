package lint

import "github.com/netpolicy/netpolicy/internal/tomldoc"

// The meta rules are produced by the driver (Check) itself, not by a Run
// function: NP001 when a file does not parse, NP090 for suppression
// comments that are wrong or stale; NP000 by the caller (Unreadable) for a
// file it could not read.
var (
	ruleNP000 = &Rule{
		ID:       "NP000",
		Title:    "file could not be read",
		Severity: SevError,
		Scope:    ScopeMeta,
		Doc: `The file (or directory) named on the command line, or found in a directory
walk, could not be read: it does not exist, permissions forbid it, or reading
failed. Nothing in it was checked, so the run fails (exit status 2) whatever
--fail-on says.

The JSON and GitHub formats report it as a finding with rule NP000 at line 1;
SARIF reports it as a tool execution notification and marks the run as not
successful; the text format prints it on stderr after the findings.`,
		Example: `$ netpolicy lint --format json missing.toml`,
	}

	ruleNP001 = &Rule{
		ID:       "NP001",
		Title:    "not valid TOML (position of the syntax error)",
		Severity: SevError,
		Scope:    ScopeMeta,
		Doc: `The file is not valid TOML, so nothing in it can be read: the policy it
means to express does not exist. The position is where the parser stopped;
the mistake is often just before it. Duplicate keys and tables defined twice
are syntax errors too.

No other rule runs on a file with a syntax error.`,
		Example: `[network]
domains = { "a.example" = allow }   # the value must be a quoted string`,
		Fixed: `[network]
domains = { "a.example" = "allow" }`,
	}

	ruleNP090 = &Rule{
		ID:       "NP090",
		Title:    "suppression without a reason, or suppressing nothing",
		Severity: SevWarning,
		Scope:    ScopeMeta,
		Doc: `A suppression comment silences named rules on one line:

    # netpolicy: ignore[NP022] vendor docs give the port
    "api.example.com:8443" = "allow"

or at the end of the offending line. It must say why after the closing
bracket; a suppression without a reason silences nothing. A suppression that
silences nothing (the finding went away, or the rule ID is wrong) is stale
and is reported so it does not hide a future finding by accident. Rules
marked "not suppressible" (NP021) cannot be silenced at all, and neither can
NP001 and NP090.

A comment on a line of its own applies to the next line that is not a
comment, so several suppressions can be stacked; list several rules in one
comment as ignore[NP022,NP024].`,
		Example: `[network.domains]
# netpolicy: ignore[NP022]
"api.example.com:8443" = "allow"`,
		Fixed: `[network.domains]
# netpolicy: ignore[NP022] vendor docs give the port
"api.example.com:8443" = "allow"`,
	}
)

// Unreadable is the NP000 diagnostic of a file that could not be read.
func Unreadable(path string, err error) Diagnostic {
	pos := tomldoc.Pos{Line: 1, Column: 1}
	return Diagnostic{File: path, Pos: pos, End: pos, Rule: ruleNP000, Message: err.Error()}
}
