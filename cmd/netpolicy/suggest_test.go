package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const suggestDir = "../../testdata/suggest"

// TestSuggestGoldens: for every testdata/suggest/NAME.log, suggest with
// NAME.input as the config prints NAME.golden; --write then leaves the
// config the diff describes, and suggest on it proposes nothing more.
func TestSuggestGoldens(t *testing.T) {
	logs, err := filepath.Glob(filepath.Join(suggestDir, "*.log"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("no cases in %s (%v)", suggestDir, err)
	}
	for _, logPath := range logs {
		base := strings.TrimSuffix(logPath, ".log")
		t.Run(filepath.Base(base), func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "config.toml")
			if input, err := os.ReadFile(base + ".input"); err == nil {
				if err := os.WriteFile(cfg, input, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			args := []string{"suggest", "--from", logPath, "--config", cfg, "--requirements="}
			code, out := runEditCmd(args, nil, dir)
			got := fmt.Sprintf("exit %d\n%s", code, out)
			if *updateEdit {
				writeOrRemove(t, base+".golden", []byte(got), true)
			} else {
				compareFile(t, base+".golden", []byte(got))
			}
			before, _ := os.ReadFile(cfg)
			code, out = runEditCmd(append(args, "--write"), nil, dir)
			if code != 0 {
				t.Fatalf("--write: exit %d\n%s", code, out)
			}
			after, _ := os.ReadFile(cfg)
			// Every line the diff adds is in the written file; nothing
			// else changed but additions.
			for _, l := range strings.Split(got, "\n") {
				if strings.HasPrefix(l, "+") && !strings.HasPrefix(l, "+++") && !bytes.Contains(after, []byte(l[1:])) {
					t.Fatalf("--write lacks %q:\n%s", l[1:], after)
				}
			}
			if len(after) < len(before) {
				t.Fatalf("--write removed bytes")
			}
			code, out = runEditCmd(args, nil, dir)
			if code != 0 || strings.Contains(out, "\n+\"") {
				t.Fatalf("suggest after --write still suggests:\n%s", out)
			}
			for _, bad := range []string{"\x1b", "*.com", "invalid"} {
				if bytes.Contains(after, []byte(bad)) {
					t.Fatalf("hostile host %q written:\n%s", bad, after)
				}
			}
		})
	}
}

// genLog is an audit log of n lines produced on the fly: most are blocks
// of a few dozen hosts, some allowed events and some garbage.
type genLog struct {
	n, i int
	buf  []byte
	peak uint64
	sent int64
	next int64
}

func (g *genLog) Read(p []byte) (int, error) {
	for len(g.buf) == 0 {
		if g.i == g.n {
			return 0, io.EOF
		}
		reason, decision := "not_allowed", "ask"
		switch g.i % 5 {
		case 3:
			reason, decision = "allowed", "allow"
		case 4:
			reason, decision = "denied", "deny"
		}
		line := fmt.Sprintf(`{"event.name":"codex.network_proxy.domain_policy_decision","event.timestamp":"2026-03-19T08:%02d:%02d.%03dZ","network.policy.scope":"domain_rule","network.policy.decision":%q,"network.policy.source":"baseline_policy","network.policy.reason":%q,"network.transport.protocol":"https_connect","server.address":"host%d.example","server.port":443,"http.request.method":"none","client.address":"127.0.0.1","network.policy.override":false}`+"\n",
			(g.n-g.i)/60000%60, (g.n-g.i)/1000%60, (g.n-g.i)%1000, decision, reason, g.i%40)
		if g.i%1000 == 7 {
			line = strings.Repeat("x", 100<<10) + "\n" // an overlong line
		}
		g.buf = []byte(line)
		g.i++
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	g.sent += int64(n)
	if g.sent >= g.next {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		g.peak = max(g.peak, ms.HeapInuse)
		g.next = g.sent + 8<<20
	}
	return n, nil
}

// TestSuggestStreams reads a generated log of about 60 MB and checks that
// the heap in use stays far below the log's size, and that the counts and
// first-seen times come out right.
func TestSuggestStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("large log")
	}
	runtime.GC()
	g := &genLog{n: 120000}
	b, read, err := readBlocked(g)
	if err != nil {
		t.Fatal(err)
	}
	const bound = 16 << 20
	t.Logf("read %d lines, %d MB; peak heap in use %.1f MB", read, g.sent>>20, float64(g.peak)/(1<<20))
	if g.sent < 55<<20 {
		t.Fatalf("generated only %d bytes", g.sent)
	}
	if g.peak > bound {
		t.Fatalf("peak heap in use %d bytes for a %d-byte log, want < %d", g.peak, g.sent, bound)
	}
	if overlong := g.n / 1000; read != g.n-overlong {
		t.Fatalf("read %d lines, want %d (the %d overlong ones skipped)", read, g.n-overlong, overlong)
	}
	// host(i%40) is not_allowed when i%5 < 3, denied when i%5 == 4.
	if len(b.notAllowed) != 24 || len(b.denied) != 8 {
		t.Fatalf("%d not_allowed hosts, %d denied, want 24 and 8", len(b.notAllowed), len(b.denied))
	}
	s := b.notAllowed["host0.example"]
	// Lines 0, 40, 80, … are host0.
	if s == nil || s.count != g.n/40 || s.first.IsZero() {
		t.Fatalf("host0.example: %+v", s)
	}
}

// TestSuggestHostBound: a log of endless distinct names keeps at most
// maxSuggestHosts of them.
func TestSuggestHostBound(t *testing.T) {
	var sb strings.Builder
	for i := 0; i < maxSuggestHosts+50; i++ {
		fmt.Fprintf(&sb, `{"event.name":"x","network.policy.reason":"not_allowed","network.policy.decision":"ask","server.address":"h%d.example"}`+"\n", i)
	}
	b, _, err := readBlocked(strings.NewReader(sb.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.notAllowed) != maxSuggestHosts || b.overflow != 50 {
		t.Fatalf("%d hosts kept, %d overflow", len(b.notAllowed), b.overflow)
	}
}
