package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/netpolicy/netpolicy/internal/tomldoc"
	"github.com/netpolicy/netpolicy/lint"
	"github.com/netpolicy/netpolicy/migrate"
	"github.com/netpolicy/netpolicy/policy"
	"github.com/netpolicy/netpolicy/proxy"
)

// maxSuggestHosts bounds the hosts suggest remembers per kind, so that a
// log full of distinct names (a client controls the host field) cannot
// make it grow without bound; the rest are counted.
const maxSuggestHosts = 10000

// suggestCommand is the `netpolicy suggest` command.
func suggestCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "suggest",
		Usage:     "propose allow rules for what an audit log shows was blocked",
		ArgsUsage: " ",
		Description: "Suggest reads the audit log of serve (or exec) given by --from, as a stream,\n" +
			"and prints the unified diff that would allow, in the user's network table\n" +
			"(as `netpolicy allow` would write it), every valid exact host that was\n" +
			"blocked as not_allowed: one rule each, sorted, with a comment giving how\n" +
			"often it was blocked and when first. Hosts denied by a rule, or blocked as\n" +
			"local or private addresses, are listed as comments above the diff and\n" +
			"never allowed; nor is a host your config already denies. Host fields that\n" +
			"are not valid host names or IP literals are never written.\n\n" +
			"With --write the rules are written as `allow` writes them (verified,\n" +
			"atomically). Exit status: 0, or with --write as allow: 1 when a rule has\n" +
			"no effect, 2 when refused.",
		Flags: append(sourceFlags(),
			&cli.StringFlag{Name: "from", Usage: "audit log `FILE` to read (- for stdin)"},
			&cli.BoolFlag{Name: "write", Aliases: []string{"w"}, Usage: "write the rules instead of printing the diff"},
		),
		Action: func(c *cli.Context) error { return runSuggest(c, e) },
	}
}

// hostSeen is how often a host was blocked and when first.
type hostSeen struct {
	count int
	first time.Time // zero when no event had a valid timestamp
}

// blockedHosts counts the blocks of an audit log by reason.
type blockedHosts struct {
	notAllowed, denied, local map[string]*hostSeen
	overflow                  int // distinct hosts beyond maxSuggestHosts
	invalid                   int // events whose host field is not a valid host
}

func (b *blockedHosts) add(m map[string]*hostSeen, host string, ts time.Time) {
	s := m[host]
	if s == nil {
		if len(m) >= maxSuggestHosts {
			b.overflow++
			return
		}
		s = &hostSeen{}
		m[host] = s
	}
	s.count++
	if !ts.IsZero() && (s.first.IsZero() || ts.Before(s.first)) {
		s.first = ts
	}
}

// suggestHost returns the host of an audit event as a rule may name it:
// a valid exact host name or IP literal, already normalised; ok is false
// for anything else (wildcards, control characters, "invalid").
func suggestHost(addr string) (string, bool) {
	h := policy.NormalizeHost(addr)
	if h != addr || !policy.ValidHost(h) {
		return "", false
	}
	norm, err := migrate.NormalizePattern(h, policy.Allow)
	if err != nil || norm != h {
		return "", false
	}
	p, err := policy.ParsePattern(norm)
	if err != nil || p.Kind != policy.PatternExact && p.Kind != policy.PatternIP {
		return "", false
	}
	return norm, true
}

// readBlocked streams an audit log into counts.
func readBlocked(r io.Reader) (*blockedHosts, int, error) {
	b := &blockedHosts{notAllowed: map[string]*hostSeen{}, denied: map[string]*hostSeen{}, local: map[string]*hostSeen{}}
	keep := func(line []byte) bool {
		return bytes.Contains(line, []byte(`"not_allowed`)) || bytes.Contains(line, []byte(`"denied"`))
	}
	read, _, err := proxy.ScanAudit(r, keep, func(ev *proxy.AuditEvent) {
		var m map[string]*hostSeen
		switch policy.Reason(ev.Reason) {
		case policy.ReasonNotAllowed:
			m = b.notAllowed
		case policy.ReasonDenied:
			m = b.denied
		case policy.ReasonNotAllowedLocal:
			m = b.local
		default:
			return
		}
		if ev.ServerAddress == "unix-socket" || ev.Decision == string(policy.VerdictAllow) {
			return
		}
		host, ok := suggestHost(ev.ServerAddress)
		if !ok {
			b.invalid++
			return
		}
		ts, _ := time.Parse(time.RFC3339Nano, ev.Timestamp)
		b.add(m, host, ts.UTC())
	})
	return b, read, err
}

func sortedHosts(m map[string]*hostSeen) []string {
	out := make([]string, 0, len(m))
	for h := range m {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}

// seenText is "N times, first seen T".
func seenText(s *hostSeen) string {
	times := "times"
	if s.count == 1 {
		times = "time"
	}
	txt := fmt.Sprintf("blocked %d %s", s.count, times)
	if !s.first.IsZero() {
		txt += ", first seen " + s.first.Format("2006-01-02T15:04:05.000Z07:00")
	}
	return txt
}

func runSuggest(c *cli.Context, e *env) error {
	name := c.Command.Name
	from := c.String("from")
	if from == "" {
		return exitCode(exitUsage, "netpolicy suggest: --from AUDIT_LOG is required\nusage: netpolicy suggest --from AUDIT_LOG [--config FILE] [--profile P] [--write]")
	}
	if c.Args().Len() > 0 {
		return exitCode(exitUsage, "netpolicy suggest: unexpected argument %q", c.Args().First())
	}
	var in io.Reader = e.stdin
	if from != "-" {
		f, err := os.Open(from)
		if err != nil {
			return exitCode(exitUsage, "netpolicy suggest: %v", err)
		}
		defer f.Close()
		in = f
	}
	t, err := editTargetFromFlags(c, e)
	if err != nil {
		return err
	}
	b, read, err := readBlocked(in)
	if err != nil {
		return exitCode(exitUsage, "netpolicy suggest: reading %s: %v", from, err)
	}
	w := &bytes.Buffer{}
	fmt.Fprintf(w, "# netpolicy suggest: %d lines read from %s; %d hosts blocked as not_allowed\n", read, from, len(b.notAllowed))
	for _, h := range sortedHosts(b.denied) {
		fmt.Fprintf(w, "# denied by a rule, not suggested: %s %s\n", tomldoc.QuoteString(h), seenText(b.denied[h]))
	}
	for _, h := range sortedHosts(b.local) {
		fmt.Fprintf(w, "# local or private address, not suggested: %s %s\n", tomldoc.QuoteString(h), seenText(b.local[h]))
	}
	var items []editItem
	for _, h := range sortedHosts(b.notAllowed) {
		ch, err := lint.PlanRule(t.file, t.table, h, policy.Allow, "")
		if err != nil {
			return exitCode(exitUsage, "netpolicy %s: %s: %v (nothing written)", name, t.path, err)
		}
		switch ch.Op {
		case lint.RuleUnchanged:
			fmt.Fprintf(w, "# already allowed in %s: %s\n", t.path, tomldoc.QuoteString(h))
			continue
		case lint.RuleReplaced:
			fmt.Fprintf(w, "# denied in %s (line %d), not suggested: %s %s\n", t.path, ch.Line, tomldoc.QuoteString(h), seenText(b.notAllowed[h]))
			continue
		}
		items = append(items, editItem{norm: h, comment: seenText(b.notAllowed[h]), keepOpposite: true})
	}
	if b.invalid > 0 {
		fmt.Fprintf(w, "# %d events with a host field that is not a valid host name or IP literal, skipped\n", b.invalid)
	}
	if b.overflow > 0 {
		fmt.Fprintf(w, "# %d events of further distinct hosts not counted (at most %d hosts per kind)\n", b.overflow, maxSuggestHosts)
	}
	mode := commitDiff
	if c.Bool("write") {
		mode = commitWrite
	}
	return t.edit(e, name, verbAllow, items, mode, w.Bytes())
}
