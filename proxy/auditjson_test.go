package proxy

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/netpolicy/netpolicy/policy"
)

// auditEventFields is the number of fields appendAuditLine writes.
const auditEventFields = 14

// TestAuditLineJSON holds appendAuditLine to json.Marshal's bytes (plus the
// newline), for ordinary events and strings that need escaping, and fails
// when AuditEvent gains a field the encoder does not write.
func TestAuditLineJSON(t *testing.T) {
	if n := reflect.TypeOf(AuditEvent{}).NumField(); n != auditEventFields {
		t.Fatalf("AuditEvent has %d fields, appendAuditLine writes %d: add the new one to it", n, auditEventFields)
	}
	yes, no := true, false
	base := newAuditEvent(time.Date(2026, 12, 3, 13, 0, 0, 123e6, time.UTC),
		policy.Decision{Verdict: policy.VerdictAllow, Host: "example.com"},
		policy.Request{Host: "example.com", Port: 443, Protocol: policy.ProtoHTTPS}, "GET", "127.0.0.1:5555")
	weird := []string{
		"", "plain", `quote " and \ backslash`, "<script>&amp;</script>", "tab\tnew\nline\rcr\bbs\fff",
		"\x00\x01\x1f\x7f", "caf\u00e9 \u2028 \u2029 \U0001F600", "bad \xff\xfe utf8 \xc3", "end\\",
	}
	var events []AuditEvent
	events = append(events, base)
	for i, s := range weird {
		ev := base
		ev.ServerAddress, ev.Method, ev.Rule = s, s, s
		ev.ServerPort, ev.Override = -i, i%2 == 0
		switch i % 3 {
		case 0:
			ev.Enforced = &yes
		case 1:
			ev.Enforced = &no
		}
		events = append(events, ev)
	}
	for _, ev := range events {
		checkAuditLine(t, ev)
	}
}

func checkAuditLine(t *testing.T, ev AuditEvent) {
	t.Helper()
	want, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	if got := appendAuditLine(nil, &ev); string(got) != string(want) {
		t.Errorf("appendAuditLine:\n got %s\nwant %s", got, want)
	}
}

// FuzzAuditLineJSON: any strings in any field encode as json.Marshal does.
func FuzzAuditLineJSON(f *testing.F) {
	f.Add("example.com", "GET", "*.example.com", 443, false)
	f.Add("<&>\u2028\xff", "\"\\", "\x00", -1, true)
	f.Fuzz(func(t *testing.T, host, method, rule string, port int, override bool) {
		ev := AuditEvent{Name: host, Timestamp: method, Scope: rule, Decision: host, Source: method, Reason: rule,
			Protocol: host, ServerAddress: host, ServerPort: port, Method: method, ClientAddress: rule, Override: override, Rule: rule}
		if override {
			ev.Enforced = &override
		}
		checkAuditLine(t, ev)
	})
}

// BenchmarkAuditLine is the cost of one audit line as audit builds it
// (append), next to the json.Marshal it replaced (marshal).
func BenchmarkAuditLine(b *testing.B) {
	d := policy.Decision{Verdict: policy.VerdictAllow, Host: "example.com"}
	req := policy.Request{Host: "example.com", Port: 443, Protocol: policy.ProtoHTTPS}
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ev := newAuditEvent(time.Now(), d, req, "GET", "127.0.0.1:5555")
			line, _ := json.Marshal(ev)
			_ = append(line, '\n')
		}
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ev := newAuditEvent(time.Now(), d, req, "GET", "127.0.0.1:5555")
			bp := auditLines.Get().(*[]byte)
			*bp = appendAuditLine((*bp)[:0], &ev)
			auditLines.Put(bp)
		}
	})
}
