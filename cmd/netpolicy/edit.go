package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/netpolicy/netpolicy/internal/atomicfile"
	"github.com/netpolicy/netpolicy/internal/tomldoc"
	"github.com/netpolicy/netpolicy/lint"
	"github.com/netpolicy/netpolicy/merge"
	"github.com/netpolicy/netpolicy/migrate"
	"github.com/netpolicy/netpolicy/policy"
)

// editVerb is one of the commands that change a rule of the user's config.
type editVerb struct {
	name, usage string
	perm        policy.Permission // PermInvalid for unset
	done        string            // past tense for the report: "allowed"
}

var (
	verbAllow = editVerb{"allow", "add allow rules to the user's config", policy.Allow, "allowed"}
	verbDeny  = editVerb{"deny", "add deny rules to the user's config", policy.Deny, "denied"}
	verbUnset = editVerb{"unset", "remove rules from the user's config", policy.PermInvalid, "removed"}
)

// editCommand is the `netpolicy allow`, `deny` or `unset` command.
func editCommand(e *env, v editVerb) *cli.Command {
	return &cli.Command{
		Name:        v.name,
		Usage:       v.usage,
		ArgsUsage:   "PATTERN...",
		Description: editDescription(v),
		Flags: append(sourceFlags(),
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "print the unified diff instead of writing the file"},
		),
		Action: func(c *cli.Context) error { return runEdit(c, e, v) },
	}
}

func editDescription(v editVerb) string {
	what := fmt.Sprintf("writes each PATTERN as one line \"PATTERN\" = %q", v.perm.String())
	if v.perm == policy.PermInvalid {
		what = "removes the rules of each PATTERN (in any spelling of the same host)"
	}
	return "The " + v.name + " command " + what + " in the domains table of the\n" +
		"user's network table: the table of --profile, else the table the session\n" +
		"would use (default_permissions, else [network]), in --config (default\n" +
		"$CODEX_HOME/config.toml or ~/.codex/config.toml). Patterns are written\n" +
		"normalised: lower case, punycode, no port, no trailing dot. Every other\n" +
		"byte of the file is kept; the file, the network table and its domains\n" +
		"table are created when missing (a new network table gets enabled = true).\n\n" +
		"The same host already there with the same permission writes nothing; with\n" +
		"the other permission it is replaced in place. Before anything is written\n" +
		"the result must parse, lint without new findings and differ from the old\n" +
		"file by exactly the edit; the file is replaced atomically, keeping its\n" +
		"permissions and symlinks. The managed requirements (--requirements) say\n" +
		"whether the rule can take effect.\n\n" +
		"Exit status: 0 written or nothing to do, 1 written but without effect (a\n" +
		"managed deny, managed_allowed_domains_only, or a network that is off),\n" +
		"2 refused (invalid pattern, file with lint errors, undefined profile, a\n" +
		"rule that lives in a parent profile, failed verification): the file is\n" +
		"untouched."
}

// editTarget is the file and table an edit goes to.
type editTarget struct {
	path    string
	exists  bool
	file    *policy.File
	profile string   // the profile whose table it is; "" for [network]
	table   []string // path of the network table
	managed *policy.File
	mode    policy.SessionMode
	home    string // $HOME, for messages
}

// shown is the config's path for messages, with the home directory
// written "~" as people know it (`allowed "x" in ~/.codex/config.toml`).
func (t *editTarget) shown() string {
	if t.home != "" && filepath.IsAbs(t.path) {
		if rel, err := filepath.Rel(t.home, t.path); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
			return "~/" + filepath.ToSlash(rel)
		}
	}
	return t.path
}

// label names the domains table for messages: "[network.domains]".
func (t *editTarget) label() string {
	return "[" + tomldoc.JoinKey(append(append([]string(nil), t.table...), "domains")) + "]"
}

func runEdit(c *cli.Context, e *env, v editVerb) error {
	name := c.Command.Name
	if c.Args().Len() == 0 {
		return exitCode(exitUsage, "netpolicy %s: no PATTERN given\nusage: netpolicy %s [--config FILE] [--profile P] [--dry-run] PATTERN...", name, name)
	}
	t, err := editTargetFromFlags(c, e)
	if err != nil {
		return err
	}
	var items []editItem
	for _, raw := range c.Args().Slice() {
		norm, err := migrate.NormalizePattern(raw, v.perm)
		if err != nil {
			return exitCode(exitUsage, "netpolicy %s: invalid pattern %s: %v (nothing written)", name, tomldoc.QuoteString(raw), err)
		}
		items = append(items, editItem{norm: norm})
	}
	mode := commitWrite
	if c.Bool("dry-run") {
		mode = commitDryRun
	}
	return t.edit(e, name, v, items, mode, nil)
}

// edit applies items to t's document and commits the result in mode
// (commit). preface, what suggest says about the log, is printed first:
// on stderr before the reports when writing, else on stdout before the
// diff. An edit that apply refuses writes and prints nothing.
func (t *editTarget) edit(e *env, name string, v editVerb, items []editItem, mode commitMode, preface []byte) error {
	out, reports, err := t.apply(v, items)
	if err != nil {
		return exitCode(exitUsage, "netpolicy %s: %s: %v (nothing written)", name, t.path, err)
	}
	if mode == commitWrite {
		e.stderr.Write(preface)
	} else {
		e.stdout.Write(preface)
	}
	norms := make([]string, len(items))
	for i, it := range items {
		norms[i] = it.norm
	}
	return t.commit(e, name, v, norms, out, reports, mode)
}

// commitMode is what commit does with an edited document.
type commitMode uint8

const (
	commitWrite  commitMode = iota // write it, report on stderr
	commitDryRun                   // print the diff, report on stderr as "dry run:"
	commitDiff                     // print the diff only (suggest without --write)
)

// commit finishes an edit: it says whether each rule takes effect, then
// writes the document atomically (creating the file if needed) or prints
// the diff. The result is the command's exit: 1 when a written rule has
// no effect.
func (t *editTarget) commit(e *env, name string, v editVerb, norms []string, out []byte, reports []string, mode commitMode) error {
	changed := !bytes.Equal(out, t.file.Src) || !t.exists && len(out) > 0
	noEffect := false
	if v.perm != policy.PermInvalid && mode != commitDiff {
		eff, err := t.effective(out)
		if err != nil {
			return exitCode(exitUsage, "netpolicy %s: %v (nothing written)", name, err)
		}
		for i, norm := range norms {
			if why := merge.NoEffect(eff, norm, v.perm); why != "" {
				reports[i] += ", but it has no effect: " + why
				noEffect = true
			}
		}
	}
	switch mode {
	case commitDiff, commitDryRun:
		if changed {
			printDiff(e, false, migrate.Diff(t.path, t.file.Src, out))
		}
		if mode == commitDryRun {
			for _, r := range reports {
				fmt.Fprintln(e.stderr, "dry run: "+r)
			}
		}
	default:
		if changed {
			if err := t.write(out); err != nil {
				return exitCode(exitUsage, "netpolicy %s: %s: %v (the file is unchanged)", name, t.path, err)
			}
		}
		for _, r := range reports {
			fmt.Fprintln(e.stderr, r)
		}
	}
	if noEffect {
		return exitCode(exitFindings, "")
	}
	return nil
}

// editTargetFromFlags finds the config file (which may not exist yet), the
// managed file, and the table of the edit; it refuses sources with lint
// errors and profiles the file does not define.
func editTargetFromFlags(c *cli.Context, e *env) (*editTarget, error) {
	name := c.Command.Name
	mode, err := modeFlag(c)
	if err != nil {
		return nil, err
	}
	t := &editTarget{}
	switch {
	case c.IsSet("config"):
		t.path = c.String("config")
	case e.getenv("NETPOLICY_CONFIG") != "":
		t.path = e.getenv("NETPOLICY_CONFIG")
	default:
		if _, set := lookupEnv("NETPOLICY_CONFIG"); set {
			return nil, exitCode(exitUsage, "netpolicy %s: NETPOLICY_CONFIG is empty (no config file): give --config FILE", name)
		}
		t.path = defaultConfigPath(e)
	}
	if t.path == "" {
		return nil, exitCode(exitUsage, "netpolicy %s: no config file to edit: give --config FILE", name)
	}
	req, err := sourcePath(c, e, "requirements", "NETPOLICY_REQUIREMENTS", defaultRequirementsPath)
	if err != nil {
		return nil, err
	}
	nt, err := newEditTarget(name, t.path, req, c.String("profile"), mode)
	if nt != nil {
		nt.home = e.getenv("HOME")
	}
	return nt, err
}

// newEditTarget loads the config at path (which may not exist yet) and the
// managed file at req ("" for none), refuses them when they have lint
// errors, and picks the table of profile ("" for the session's).
func newEditTarget(name, path, req, profile string, mode policy.SessionMode) (*editTarget, error) {
	t := &editTarget{path: path, mode: mode}
	f, err := policy.LoadFile(t.path, policy.KindConfig)
	switch {
	case err == nil:
		t.exists = true
	case errors.Is(err, fs.ErrNotExist):
		if _, lerr := os.Lstat(t.path); lerr == nil {
			return nil, exitCode(exitUsage, "netpolicy %s: %s is a symlink to a missing file", name, t.path)
		}
		f = policy.Load(t.path, nil, policy.KindConfig)
	default:
		return nil, exitCode(exitUsage, "netpolicy %s: %v", name, err)
	}
	t.file = f
	files := []*policy.File{f}
	if req != "" {
		if t.managed, err = policy.LoadFile(req, policy.KindRequirements); err != nil {
			return nil, exitCode(exitUsage, "netpolicy %s: %v", name, err)
		}
		files = append(files, t.managed)
	}
	if r := lintRefusal(lint.SortDiagnostics(lint.Check(files...))); r != nil {
		return nil, exitCode(exitUsage, "netpolicy %s: %v\n(nothing written: fix these first, `netpolicy migrate` fixes legacy forms)", name, r)
	}
	t.profile = profile
	if t.profile == "" && f.DefaultPermissions != nil {
		t.profile = f.DefaultPermissions.Value
	}
	switch {
	case t.profile == "" || policy.IsBuiltinProfile(t.profile):
		t.table = []string{"network"}
	case f.Profile(t.profile) == nil:
		return nil, exitCode(exitUsage, "netpolicy %s: profile %s is not defined in %s (nothing written)", name, tomldoc.QuoteString(t.profile), t.path)
	default:
		t.table = []string{"permissions", t.profile, "network"}
	}
	return t, nil
}

// editItem is one rule to edit: the normalised pattern, and a comment for
// a new rule line (suggest's counts), or "".
type editItem struct {
	norm, comment string
	// keepOpposite leaves a rule with the other permission alone instead
	// of replacing it (suggest never turns a deny into an allow).
	keepOpposite bool
}

// apply makes the edits one pattern after another, each verified, and
// returns the final document with one report line per item.
func (t *editTarget) apply(v editVerb, items []editItem) ([]byte, []string, error) {
	cur := t.file
	where := t.shown() + " " + t.label()
	var reports []string
	for _, it := range items {
		norm := it.norm
		q := tomldoc.QuoteString(norm)
		next, ch, err := migrate.EditRule(cur, t.table, norm, v.perm, it.comment)
		if err != nil {
			return nil, nil, err
		}
		var r string
		switch ch.Op {
		case lint.RuleUnchanged:
			if v.perm == policy.PermInvalid {
				if err := t.inParent(norm); err != nil {
					return nil, nil, err
				}
				r = fmt.Sprintf("nothing to unset: no rule for %s in %s", q, where)
				break
			}
			r = fmt.Sprintf("already %s: %s in %s (line %d", v.done, q, where, ch.Line)
			if ch.Found != norm {
				r += ", written " + tomldoc.QuoteString(ch.Found)
			}
			r += ")"
		case lint.RuleAdded:
			r = fmt.Sprintf("%s %s in %s", v.done, q, where)
		case lint.RuleReplaced:
			if it.keepOpposite {
				r = fmt.Sprintf("left alone: %s is %s in %s (line %d)", q, opposite(v.perm), where, ch.Line)
				next = cur
				break
			}
			r = fmt.Sprintf("%s %s in %s (replacing the %s rule on line %d)", v.done, q, where, opposite(v.perm), ch.Line)
		case lint.RuleRemoved:
			r = fmt.Sprintf("removed %s from %s", q, where)
		}
		reports = append(reports, r)
		cur = next
	}
	return cur.Src, reports, nil
}

func opposite(p policy.Permission) string {
	if p == policy.Allow {
		return "deny"
	}
	return "allow"
}

// inParent refuses to unset a rule the profile inherits: it lives in a
// parent's table, and removing it there changes every profile extending
// that parent.
func (t *editTarget) inParent(norm string) error {
	if t.profile == "" || policy.IsBuiltinProfile(t.profile) {
		return nil
	}
	chain, err := t.file.ProfileChain(t.profile)
	if err != nil {
		return err
	}
	for _, p := range chain[1:] {
		if p.Network == nil {
			continue
		}
		for _, r := range p.Network.Domains {
			fixed, _ := policy.FixedPattern(r.Pattern)
			if policy.NormalizeHost(fixed) == norm {
				return fmt.Errorf("%s is not set in profile %s: it is %s in profile %s (%s), which %s extends; "+
					"unset it there with --profile %s, or deny it in %s",
					tomldoc.QuoteString(norm), tomldoc.QuoteString(t.profile), tomldoc.QuoteString(r.Perm.String()),
					tomldoc.QuoteString(p.Name), r.Source, tomldoc.QuoteString(t.profile), p.Name, tomldoc.QuoteString(t.profile))
			}
		}
	}
	return nil
}

// effective merges the managed file with the edited config for the
// profile and mode of the edit.
func (t *editTarget) effective(out []byte) (*policy.Effective, error) {
	u := policy.Load(t.path, out, policy.KindConfig)
	return merge.Effective(t.managed, u, t.profile, t.mode)
}

// printDiff writes a unified diff, coloured on request.
func printDiff(e *env, color bool, d string) {
	m := &migration{e: e, color: color}
	m.printDiff(d)
}

// allowAlways writes an allow rule for host as `netpolicy allow` would,
// with the same verification; it is what the "always" answer of a question
// does (POLICY §8).
func allowAlways(path, req, profile string, mode policy.SessionMode, host string) error {
	t, err := newEditTarget("allow", path, req, profile, mode)
	if err != nil {
		return err
	}
	norm, err := migrate.NormalizePattern(host, policy.Allow)
	if err != nil {
		return err
	}
	out, _, err := t.apply(verbAllow, []editItem{{norm: norm}})
	if err != nil {
		return err
	}
	if bytes.Equal(out, t.file.Src) && t.exists {
		return nil
	}
	return t.write(out)
}

// write puts out in place of t's file atomically: an existing file keeps
// its mode and links, a new one is made with mode 0600 (it holds a
// person's configuration).
func (t *editTarget) write(out []byte) error {
	if t.exists {
		return atomicfile.WriteFile(t.path, out)
	}
	return atomicfile.CreateFile(t.path, out, 0o600)
}
