package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/netpolicy/netpolicy/internal/atomicfile"
	"github.com/netpolicy/netpolicy/policy"
	"github.com/netpolicy/netpolicy/proxy"
)

// blockSummary counts the blocks of an exec run from the proxy's audit
// events (POLICY §5.1), so that it sees exactly what the audit log says.
type blockSummary struct {
	mu     sync.Mutex
	counts map[blockKey]int
}

// blockKey is one blocked destination with how it was blocked.
type blockKey struct {
	Host     string
	Port     int
	Protocol string
	Reason   string
	Decision string
	// LetThrough marks a block that report-only mode audited but did not
	// enforce (network.policy.enforced = false).
	LetThrough bool
}

func newBlockSummary() *blockSummary { return &blockSummary{counts: map[blockKey]int{}} }

// add counts ev if it is a block. It is the proxy's Events hook, so it
// takes the event itself, not its JSON line.
func (b *blockSummary) add(ev proxy.AuditEvent) {
	if ev.Decision == "" || ev.Decision == string(policy.VerdictAllow) {
		return
	}
	letThrough := ev.Enforced != nil && !*ev.Enforced
	k := blockKey{Host: ev.ServerAddress, Port: ev.ServerPort, Protocol: ev.Protocol, Reason: ev.Reason, Decision: ev.Decision, LetThrough: letThrough}
	b.mu.Lock()
	b.counts[k]++
	b.mu.Unlock()
}

// hookEvents makes the summary see every audit event, before next (the
// OTLP export, when not nil).
func (b *blockSummary) hookEvents(next func(proxy.AuditEvent)) func(proxy.AuditEvent) {
	if next == nil {
		return b.add
	}
	return func(ev proxy.AuditEvent) {
		b.add(ev)
		next(ev)
	}
}

// execReport is the summary of an exec run; --summary-json writes it as is.
type execReport struct {
	Isolated bool           `json:"isolated"`
	ExitCode int            `json:"exit_code"`
	Blocked  []blockedEntry `json:"blocked"`
}

type blockedEntry struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Protocol string `json:"protocol"`
	Reason   string `json:"reason"`
	Decision string `json:"decision"`
	Count    int    `json:"count"`
	// Enforced is false for what report-only mode let through.
	Enforced bool `json:"enforced"`
	// AllowCommand is the command that would allow the host, when a user
	// rule can.
	AllowCommand string `json:"allow_command,omitempty"`
}

// suggestTarget is where `netpolicy allow` would write.
type suggestTarget struct {
	config  string // "" when there is no home to find it in
	profile string // --profile, if given
}

// report sorts the blocks and works out, for each, whether an allow rule
// in the user's config would let it through.
func (b *blockSummary) report(eff *policy.Effective, t suggestTarget) execReport {
	b.mu.Lock()
	defer b.mu.Unlock()
	rep := execReport{Blocked: []blockedEntry{}}
	for k, n := range b.counts {
		e := blockedEntry{Host: k.Host, Port: k.Port, Protocol: k.Protocol, Reason: k.Reason, Decision: k.Decision, Count: n, Enforced: !k.LetThrough}
		if t.config != "" && userCouldAllow(k, eff) {
			e.AllowCommand = allowCommand(k.Host, t)
		}
		rep.Blocked = append(rep.Blocked, e)
	}
	sort.Slice(rep.Blocked, func(i, j int) bool {
		a, b := rep.Blocked[i], rep.Blocked[j]
		if a.Host != b.Host {
			return a.Host < b.Host
		}
		if a.Port != b.Port {
			return a.Port < b.Port
		}
		if a.Protocol != b.Protocol {
			return a.Protocol < b.Protocol
		}
		if a.Reason != b.Reason {
			return a.Reason < b.Reason
		}
		return a.Enforced && !b.Enforced
	})
	return rep
}

// userCouldAllow reports whether `netpolicy allow HOST` would let k
// through: never for a managed deny or under managed_allowed_domains_only,
// never for blocks that are not about the host (mode guard, proxy state,
// unix sockets), never for a name whose DNS answer was private. It asks
// the decision itself: the policy with the user's exact deny of HOST
// replaced by an allow, as `allow` would write it.
func userCouldAllow(k blockKey, eff *policy.Effective) bool {
	// The audit event says "unix-socket" for socket requests and
	// "invalid" for a host it would not write: neither is a host to allow.
	if eff.ManagedAllowedDomainsOnly.Value || k.Host == "unix-socket" || k.Host == "invalid" || !policy.ValidHost(k.Host) {
		return false
	}
	switch policy.Reason(k.Reason) {
	case policy.ReasonNotAllowed, policy.ReasonDenied:
	case policy.ReasonNotAllowedLocal:
		// Only a literal (or localhost) is allowed by an exact rule; a
		// name whose answer was private stays blocked.
		if _, ok := policy.ParseHostIP(k.Host); !ok && k.Host != "localhost" {
			return false
		}
	default:
		return false
	}
	alt := *eff
	alt.Deny = nil
	for _, r := range eff.Deny {
		if r.Source.Origin == policy.OriginUser && policy.NormalizeHost(r.Pattern) == k.Host {
			continue // replaced in place by the allow
		}
		alt.Deny = append(alt.Deny, r)
	}
	alt.Allow = append(append([]policy.Rule(nil), eff.Allow...), policy.Rule{Pattern: k.Host, Perm: policy.Allow, Source: policy.Source{Origin: policy.OriginUser}})
	c, err := policy.Compile(&alt)
	if err != nil {
		return false
	}
	d := c.Decide(context.Background(), policy.Request{Host: k.Host, Port: k.Port, Protocol: policy.Protocol(k.Protocol), NoResolve: true}, nil)
	return d.Allowed()
}

// allowCommand is the shell-quoted `netpolicy allow` command for host.
func allowCommand(host string, t suggestTarget) string {
	args := []string{"netpolicy", "allow", host, "--config", t.config}
	if t.profile != "" {
		args = append(args, "--profile", t.profile)
	}
	for i, a := range args {
		args[i] = shellQuote(a)
	}
	return strings.Join(args, " ")
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9@%+=:,./_-]+$`)

// shellQuote quotes s for a POSIX shell, leaving plain words alone.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return shQuote(s)
}

// writeText prints the summary block on w; nothing when nothing was
// blocked. Hosts are valid host names, IP literals, "invalid" or
// "unix-socket" (the audit event's rules), so nothing raw reaches the
// terminal.
func (r execReport) writeText(w io.Writer) {
	if len(r.Blocked) == 0 {
		return
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "netpolicy: blocked %s:\n", plural(len(r.Blocked), "destination", "destinations"))
	for _, e := range r.Blocked {
		dest := e.Host
		if e.Host != "unix-socket" {
			dest = net.JoinHostPort(e.Host, strconv.Itoa(e.Port))
		}
		reason := e.Reason
		if e.Decision == string(policy.VerdictAsk) {
			reason += " (ask)"
		}
		if !e.Enforced {
			reason += " (report-only: let through)"
		}
		fmt.Fprintf(&sb, "  %s %s %s, %s\n", dest, e.Protocol, reason, plural(e.Count, "time", "times"))
		if e.AllowCommand != "" {
			fmt.Fprintf(&sb, "    to allow: %s\n", e.AllowCommand)
		}
	}
	io.WriteString(w, sb.String())
}

// writeJSONFile writes v as indented JSON to path atomically.
func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.ReplaceFile(path, append(b, '\n'), 0o600)
}
