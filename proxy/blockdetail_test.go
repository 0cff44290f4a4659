package proxy

import (
	"context"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

// slowResolver answers some names from a table and waits for the context
// on the others, as a nameserver that never answers.
type slowResolver struct {
	*fakeResolver
	slow map[string]bool
}

func (r slowResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if r.slow[host] {
		// Never answers: the lookup times out, here after 100 ms so the
		// test need not wait the proxy's whole budget (the detail names
		// that budget).
		ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return r.fakeResolver.LookupNetIP(ctx, network, host)
}

// TestBlockBodiesSayWhatHappened checks whole 403 answers against goldens
// (testdata/blocks/*.golden; -update rewrites them): the rule that matched
// the host, also when a later step blocked, the detail of a DNS step that
// failed, and the path of a refused unix socket. The audit event of each
// block carries the same rule and never the socket path.
func TestBlockBodiesSayWhatHappened(t *testing.T) {
	for _, tc := range []struct {
		name    string
		limited bool
		req     []string // method, target, header lines…
	}{
		{"lookup-failure", false, []string{"GET", "http://gone.example.net/"}},
		{"lookup-timeout", false, []string{"GET", "http://slow.example.net/"}},
		{"private-answer", false, []string{"GET", "http://priv.example.net/"}},
		{"loopback-answer-connect", false, []string{"CONNECT", "lo.example.net:443"}},
		{"answer-denied-by-ip-rule", false, []string{"GET", "http://bad.example.net/"}},
		{"denied", false, []string{"GET", "http://blocked.example.net/"}},
		{"not-allowed", false, []string{"GET", "http://other.example.org/"}},
		{"method-guard", true, []string{"POST", "http://pub.example.net/"}},
		{"mitm-required", true, []string{"CONNECT", "pub.example.net:443"}},
		{"upgrade-in-limited-mode", true, []string{"GET", "http://pub.example.net/ws", "Connection: Upgrade", "Upgrade: websocket"}},
		{"unix-socket", false, []string{"GET", "http://localhost/_ping", "X-Unix-Socket: /run/secret/nope.sock"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := effective(map[string]string{"*.example.net": "allow", "blocked.example.net": "deny", "93.184.216.99": "deny"})
			if tc.limited {
				e.Mode.Value = "limited"
			}
			res := newResolver(t).
				answer("pub.example.net", publicIP).
				answer("priv.example.net", publicIP, "10.0.0.5").
				answer("lo.example.net", "::1").
				answer("bad.example.net", "93.184.216.99")
			h := newHarness(t, e, func(s *Server) {
				s.Resolver = slowResolver{res, map[string]bool{"slow.example.net": true}}
			})

			resp, body := h.do(t, tc.req[0], tc.req[1], tc.req[2:]...)
			b := blockBodyOf(t, resp, body)
			got := "x-proxy-error: " + resp.Header.Get("x-proxy-error") + "\n" + body
			golden := filepath.Join("testdata", "blocks", tc.name+".golden")
			if *updateGolden {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("403 answer:\n%s\nwant (%s):\n%s", got, golden, want)
			}
			wantNoDial(t, h)

			evs := h.audit.events(t)
			if len(evs) != 1 {
				t.Fatalf("audit events = %v, want 1", evs)
			}
			rule, has := evs[0]["network.policy.rule"]
			if b.Rule == "" && has || b.Rule != "" && rule != b.Rule {
				t.Errorf("audit network.policy.rule = %v (present %v), want %q", rule, has, b.Rule)
			}
			if b.Path != "" {
				line := h.audit.String()
				if strings.Contains(line, b.Path) || strings.Contains(line, "nope.sock") {
					t.Errorf("audit event names the socket path: %s", line)
				}
				if evs[0]["server.address"] != "unix-socket" || evs[0]["server.port"] != 0.0 {
					t.Errorf("audit server = %v:%v", evs[0]["server.address"], evs[0]["server.port"])
				}
			}
		})
	}
}
