package proxy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/netpolicy/netpolicy/policy"
)

var auditKeys = []string{
	"client.address", "event.name", "event.timestamp", "http.request.method",
	"network.policy.decision", "network.policy.override", "network.policy.reason",
	"network.policy.scope", "network.policy.source", "network.transport.protocol",
	"server.address", "server.port",
}

var auditTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// checkEvent asserts an event's keys are exactly the dotted names, its
// timestamp format, and then every other field.
func checkEvent(t *testing.T, ev map[string]any, want map[string]any) {
	t.Helper()
	var keys []string
	for k := range ev {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	wantKeys := slices.Clone(auditKeys)
	if _, ok := want["network.policy.rule"]; ok {
		wantKeys = append(wantKeys, "network.policy.rule")
		slices.Sort(wantKeys)
	}
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("keys = %v, want %v", keys, wantKeys)
	}
	ts, _ := ev["event.timestamp"].(string)
	if !auditTime.MatchString(ts) {
		t.Errorf("timestamp %q", ts)
	}
	got := map[string]any{}
	for k, v := range ev {
		if k != "event.timestamp" {
			got[k] = v
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("event (-want +got):\n%s", d)
	}
}

func event(name, scope, decision, source, reason, proto, addr string, port float64, method, client string) map[string]any {
	return map[string]any{
		"event.name": name, "network.policy.scope": scope, "network.policy.decision": decision,
		"network.policy.source": source, "network.policy.reason": reason,
		"network.transport.protocol": proto, "server.address": addr, "server.port": port,
		"http.request.method": method, "client.address": client, "network.policy.override": false,
	}
}

// withRule adds network.policy.rule to a wanted event.
func withRule(ev map[string]any, rule string) map[string]any {
	ev["network.policy.rule"] = rule
	return ev
}

func TestAuditEventsFieldByField(t *testing.T) {
	path, _ := unixOrigin(t, "app.sock")
	e := sockets(effective(map[string]string{"example.com": "allow", "blocked.example.com": "deny"}), map[string]string{path: "allow"})
	h := newHarness(t, e)
	h.dial.to = echoServer(t)
	const dpd, bd = EventDomainPolicyDecision, EventBlockDecision

	h.do(t, "POST", "http://blocked.example.com/secret/path?token=abc")
	h.do(t, "GET", "http://other.example.net:8080/")
	h.connect(t, "example.com:443")
	socksReply(t, h, atypDomain, "example.com", 443)
	socksReply(t, h, atypIPv4, "127.0.0.1", 22)
	h.do(t, "GET", "http://localhost/_ping", "X-Unix-Socket: "+path)
	h.do(t, "GET", "http://localhost/_ping", "X-Unix-Socket: /elsewhere.sock")

	evs := h.audit.events(t)
	want := []map[string]any{
		withRule(event(dpd, "domain_rule", "deny", "baseline_policy", "denied", "http", "blocked.example.com", 80, "POST", "127.0.0.1"), "blocked.example.com"),
		event(dpd, "domain_rule", "ask", "baseline_policy", "not_allowed", "http", "other.example.net", 8080, "GET", "127.0.0.1"),
		withRule(event(dpd, "domain_rule", "allow", "baseline_policy", "allowed", "https_connect", "example.com", 443, "CONNECT", "127.0.0.1"), "example.com"),
		withRule(event(dpd, "domain_rule", "allow", "baseline_policy", "allowed", "socks5_tcp", "example.com", 443, "none", "127.0.0.1"), "example.com"),
		event(dpd, "domain_rule", "deny", "baseline_policy", "not_allowed_local", "socks5_tcp", "127.0.0.1", 22, "none", "127.0.0.1"),
		event(dpd, "domain_rule", "allow", "baseline_policy", "allowed", "http", "unix-socket", 0, "GET", "127.0.0.1"),
		event(bd, "domain_rule", "deny", "baseline_policy", "not_allowed", "http", "unix-socket", 0, "GET", "127.0.0.1"),
	}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d: %v", len(evs), len(want), evs)
	}
	for i := range want {
		checkEvent(t, evs[i], want[i])
	}
	// Never a URL, path, query or header value.
	all := h.audit.String()
	for _, leak := range []string{"/secret", "token", "_ping", "elsewhere", path, "http://"} {
		if strings.Contains(all, leak) {
			t.Errorf("audit log contains %q", leak)
		}
	}
}

func TestAuditModeGuardAndFallbacks(t *testing.T) {
	d := policy.Decision{Verdict: policy.VerdictDeny, Reason: policy.ReasonMethodNotAllowed, Source: policy.SourceModeGuard, Host: "example.com"}
	ev := newAuditEvent(time.Date(2026, 3, 19, 9, 15, 30, 123456789, time.FixedZone("CET", 3600)),
		d, policy.Request{Host: "Example.com", Port: 80, Protocol: policy.ProtoHTTP, Method: "POST"}, "", "")
	b, _ := json.Marshal(ev)
	var m map[string]any
	json.Unmarshal(b, &m)
	if m["event.timestamp"] != "2026-03-19T08:15:30.123Z" {
		t.Errorf("timestamp %v", m["event.timestamp"])
	}
	checkEvent(t, m, event(EventBlockDecision, "mode_guard", "deny", "mode_guard", "method_not_allowed", "http", "example.com", 80, "none", "unknown"))

	d = policy.Decision{Verdict: policy.VerdictDeny, Reason: policy.ReasonProxyDisabled, Source: policy.SourceProxyState, Host: "example.com"}
	ev = newAuditEvent(time.Now(), d, policy.Request{Host: "example.com", Port: 443, Protocol: policy.ProtoSOCKS5TCP}, "", "[::1]:5555")
	if ev.Name != EventBlockDecision || ev.Scope != "proxy_state" || ev.Method != "none" || ev.ClientAddress != "::1" {
		t.Errorf("event %+v", ev)
	}
}

func TestAuditFileReopen(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "audit.log")
	f, err := OpenAuditFile(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write([]byte("one\n"))
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("two\n")) // still the renamed file
	if err := f.Reopen(); err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("three\n"))
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(p + ".1")
	cur, _ := os.ReadFile(p)
	if string(old) != "one\ntwo\n" || string(cur) != "three\n" {
		t.Errorf("rotated %q, current %q", old, cur)
	}
}

// Buffered audit lines reach the file within the flush interval, whole, and
// all of them by Close.
func TestAuditFileFlushes(t *testing.T) {
	p := filepath.Join(t.TempDir(), "audit.log")
	f, err := OpenAuditFile(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("first\n"))
	deadline := time.Now().Add(10 * AuditFlushInterval)
	for {
		if b, _ := os.ReadFile(p); string(b) == "first\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a buffered line did not reach the file within 10 flush intervals")
		}
		time.Sleep(AuditFlushInterval / 4)
	}
	line := strings.Repeat("x", 1000) + "\n"
	for i := 0; i < 200; i++ { // more than the buffer holds
		f.Write([]byte(line))
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if want := "first\n" + strings.Repeat(line, 200); string(b) != want {
		t.Errorf("file has %d bytes, want %d", len(b), len(want))
	}
}
