package proxy

import (
	"bufio"
	"net"
	"os"
	"sync"
	"time"

	"github.com/netpolicy/netpolicy/policy"
)

// Audit event names (POLICY §5.1).
const (
	EventDomainPolicyDecision = "codex.network_proxy.domain_policy_decision"
	EventBlockDecision        = "codex.network_proxy.block_decision"
)

// AuditEvent is one line of the audit log: a flat JSON object whose keys are
// exactly the dotted names of POLICY §5.1. It never carries a URL, a path, a
// query or a header value.
type AuditEvent struct {
	Name          string `json:"event.name"`
	Timestamp     string `json:"event.timestamp"`
	Scope         string `json:"network.policy.scope"`
	Decision      string `json:"network.policy.decision"`
	Source        string `json:"network.policy.source"`
	Reason        string `json:"network.policy.reason"`
	Protocol      string `json:"network.transport.protocol"`
	ServerAddress string `json:"server.address"`
	ServerPort    int    `json:"server.port"`
	Method        string `json:"http.request.method"`
	ClientAddress string `json:"client.address"`
	Override      bool   `json:"network.policy.override"`
	// Rule is the domain pattern that matched the host, as in the block
	// body; absent when none matched. Socket paths are never written.
	Rule string `json:"network.policy.rule,omitempty"`
	// Enforced is written in report-only mode only (POLICY §8): false when
	// the decision was a block the proxy let through.
	Enforced *bool `json:"network.policy.enforced,omitempty"`
}

// auditTimeFormat is RFC 3339 in UTC with milliseconds and "Z".
const auditTimeFormat = "2006-01-02T15:04:05.000Z07:00"

// newAuditEvent describes decision d of request req. method is the HTTP
// method ("" for SOCKS5), client the peer's "host:port" ("" if unknown).
//
// A unix socket request is reported with server.address "unix-socket" and
// server.port 0 (its path is not logged). Rule evaluations are
// domain_policy_decision events; blocks that are not (the mode guard, a
// disabled proxy, a refused unix socket) are block_decision events.
func newAuditEvent(now time.Time, d policy.Decision, req policy.Request, method, client string) AuditEvent {
	ev := AuditEvent{
		Name:          EventDomainPolicyDecision,
		Timestamp:     now.UTC().Format(auditTimeFormat),
		Scope:         "domain_rule",
		Decision:      string(d.Verdict),
		Source:        string(d.Source),
		Reason:        string(d.Reason),
		Protocol:      string(req.Protocol),
		ServerAddress: d.Host,
		ServerPort:    req.Port,
		Method:        method,
		ClientAddress: clientHost(client),
		Override:      d.Override,
	}
	if d.Rule != nil {
		ev.Rule = d.Rule.Pattern
	}
	if d.ReportOnly {
		enforced := !d.NotEnforced
		ev.Enforced = &enforced
	}
	switch d.Source {
	case policy.SourceModeGuard:
		ev.Scope = "mode_guard"
	case policy.SourceProxyState:
		ev.Scope = "proxy_state"
	}
	if ev.ServerAddress == "" {
		ev.ServerAddress = policy.NormalizeHost(req.Host)
	}
	if req.UnixSocket != "" || d.Socket != nil {
		ev.ServerAddress, ev.ServerPort = "unix-socket", 0
	}
	if ev.Scope != "domain_rule" || !d.Allowed() && (req.UnixSocket != "" || d.Socket != nil) {
		ev.Name = EventBlockDecision
	}
	if ev.Method == "" {
		ev.Method = "none"
	}
	if ev.ClientAddress == "" {
		ev.ClientAddress = "unknown"
	}
	return ev
}

// clientHost is the IP of a "host:port" peer address.
func clientHost(addr string) string {
	if addr == "" {
		return ""
	}
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// audit is where every decision the proxy acts on is recorded, on every
// path (plain HTTP, CONNECT, SOCKS5, the requests inside an intercepted
// tunnel, unix sockets, asks and report-only): it tells the Observer (the
// metrics) and writes the audit event, as one Write of one line, and the
// Events hook (the OTLP export). Nothing else writes an event or counts a
// decision, so the two never disagree.
func (s *Server) audit(dd decided, req policy.Request, method, client string) {
	d := dd.Decision
	if s.Observer != nil {
		s.Observer.Decided(d, req.Protocol)
		s.Observer.DecisionTook(dd.took)
	}
	if s.Audit == nil && s.Events == nil {
		return
	}
	ev := newAuditEvent(time.Now(), d, req, method, client)
	if s.Events != nil {
		s.Events(ev)
	}
	if s.Audit == nil {
		return
	}
	bp := auditLines.Get().(*[]byte)
	line := appendAuditLine((*bp)[:0], &ev)
	s.auditMu.Lock()
	_, err := s.Audit.Write(line)
	s.auditMu.Unlock()
	if cap(line) <= 4<<10 { // an outsized line's buffer is not kept
		*bp = line
		auditLines.Put(bp)
	}
	if err != nil {
		s.logf("audit log: %v", err)
	}
}

// AuditFile is an append-only audit log file that can be reopened, so that
// log rotation (rename, then SIGHUP) moves writing to a new file. It is safe
// for concurrent use.
//
// Lines are buffered and flushed every FlushInterval, when the buffer is
// full, on Reopen and on Close: one write(2) per request was a fifth of the
// proxy's CPU time on small requests. A line is never split across two
// writes, so a reader tailing the file sees whole lines only.
type AuditFile struct {
	mu   sync.Mutex
	path string
	f    *os.File
	w    *bufio.Writer

	stop, done chan struct{}
}

// AuditFlushInterval bounds how long an audit line may wait in the buffer.
const AuditFlushInterval = 200 * time.Millisecond

const auditBufferSize = 64 << 10

// OpenAuditFile opens (creating if needed) path for appending.
func OpenAuditFile(path string) (*AuditFile, error) {
	f, err := openAppend(path)
	if err != nil {
		return nil, err
	}
	a := &AuditFile{path: path, f: f, w: bufio.NewWriterSize(f, auditBufferSize), stop: make(chan struct{}), done: make(chan struct{})}
	go a.flushEvery(AuditFlushInterval)
	return a, nil
}

func openAppend(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
}

func (a *AuditFile) flushEvery(d time.Duration) {
	defer close(a.done)
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			a.Flush()
		case <-a.stop:
			return
		}
	}
}

// Write appends p, which should be whole lines.
func (a *AuditFile) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.w.Available() < len(p) && a.w.Buffered() > 0 {
		if err := a.w.Flush(); err != nil {
			return 0, err
		}
	}
	return a.w.Write(p)
}

// Flush writes out the buffered lines.
func (a *AuditFile) Flush() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.w.Flush()
}

// Reopen flushes, closes the file and opens its path again. If the path
// cannot be opened, writing goes on to the old file and the error is
// returned.
func (a *AuditFile) Reopen() error {
	f, err := openAppend(a.path)
	if err != nil {
		return err
	}
	a.mu.Lock()
	ferr := a.w.Flush()
	old := a.f
	a.f = f
	a.w.Reset(f)
	a.mu.Unlock()
	if err := old.Close(); ferr == nil {
		ferr = err
	}
	return ferr
}

// Close flushes and closes the file.
func (a *AuditFile) Close() error {
	close(a.stop)
	<-a.done
	a.mu.Lock()
	defer a.mu.Unlock()
	err := a.w.Flush()
	if cerr := a.f.Close(); err == nil {
		err = cerr
	}
	return err
}
