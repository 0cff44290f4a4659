package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/netpolicy/netpolicy/policy"
	"github.com/netpolicy/netpolicy/proxy"
)

// userCouldAllow decides when the summary offers `netpolicy allow`: only
// where a user rule for the exact host changes the decision.
func TestUserCouldAllow(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	req := write("requirements.toml", "[experimental_network]\nenabled = true\ndomains = { \"managed.example\" = \"deny\", \"*.corp.example\" = \"deny\" }\n")
	only := write("only.toml", "[experimental_network]\nenabled = true\nmanaged_allowed_domains_only = true\ndomains = { \"ok.example\" = \"allow\" }\n")
	user := write("config.toml", "[network]\nenabled = true\ndomains = { \"ok.example\" = \"allow\", \"bad.example\" = \"deny\", \"*.wild.example\" = \"deny\" }\n")
	load := func(reqPath string) *policy.Effective {
		eff, _, err := policySources{RequirementsPath: reqPath, ConfigPath: user, Mode: policy.ModeWorkspaceWrite}.Load()
		if err != nil {
			t.Fatal(err)
		}
		return eff
	}
	eff, effOnly := load(req), load(only)
	for _, tc := range []struct {
		name string
		eff  *policy.Effective
		k    blockKey
		want bool
	}{
		{"unlisted", eff, blockKey{Host: "new.example", Port: 443, Protocol: "https_connect", Reason: "not_allowed"}, true},
		{"user-exact-deny", eff, blockKey{Host: "bad.example", Port: 80, Protocol: "http", Reason: "denied"}, true},
		{"user-wildcard-deny", eff, blockKey{Host: "a.wild.example", Port: 80, Protocol: "http", Reason: "denied"}, false},
		{"managed-deny", eff, blockKey{Host: "managed.example", Port: 80, Protocol: "http", Reason: "denied"}, false},
		{"managed-wildcard-deny", eff, blockKey{Host: "x.corp.example", Port: 80, Protocol: "http", Reason: "denied"}, false},
		{"local-literal", eff, blockKey{Host: "10.1.2.3", Port: 80, Protocol: "http", Reason: "not_allowed_local"}, true},
		{"private-answer", eff, blockKey{Host: "ok.example", Port: 80, Protocol: "http", Reason: "not_allowed_local"}, false},
		{"unspecified", eff, blockKey{Host: "0.0.0.0", Port: 80, Protocol: "http", Reason: "not_allowed_local"}, false},
		{"mode-guard", eff, blockKey{Host: "ok.example", Port: 443, Protocol: "https_connect", Reason: "mitm_required"}, false},
		{"unix-socket", eff, blockKey{Host: "unix-socket", Protocol: "http", Reason: "not_allowed"}, false},
		{"invalid", eff, blockKey{Host: "invalid", Port: 80, Protocol: "http", Reason: "not_allowed"}, false},
		{"managed-only", effOnly, blockKey{Host: "new.example", Port: 443, Protocol: "https_connect", Reason: "not_allowed"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := userCouldAllow(tc.k, tc.eff); got != tc.want {
				t.Errorf("userCouldAllow(%+v) = %v, want %v", tc.k, got, tc.want)
			}
		})
	}
}

func TestAllowCommandQuoting(t *testing.T) {
	for _, tc := range []struct {
		t    suggestTarget
		want string
	}{
		{suggestTarget{config: "/home/u/.codex/config.toml"}, "netpolicy allow api.example.com --config /home/u/.codex/config.toml"},
		{suggestTarget{config: "/home/u/my dir/config.toml", profile: "work"}, "netpolicy allow api.example.com --config '/home/u/my dir/config.toml' --profile work"},
		{suggestTarget{config: "/tmp/it's.toml"}, `netpolicy allow api.example.com --config '/tmp/it'\''s.toml'`},
	} {
		if got := allowCommand("api.example.com", tc.t); got != tc.want {
			t.Errorf("allowCommand = %s, want %s", got, tc.want)
		}
	}
}

// The summary counts each block once and no allow, from the events the
// proxy's Events hook passes on (ahead of the OTLP export).
func TestBlockSummaryCountsBlocks(t *testing.T) {
	b := newBlockSummary()
	deny := proxy.AuditEvent{Decision: "deny", Reason: "denied", Protocol: "http", ServerAddress: "bad.example", ServerPort: 80}
	allow := proxy.AuditEvent{Decision: "allow", Reason: "allowed", Protocol: "http", ServerAddress: "ok.example", ServerPort: 80}
	var exported []string
	hook := b.hookEvents(func(ev proxy.AuditEvent) { exported = append(exported, ev.ServerAddress) })
	hook(deny)
	hook(allow)
	hook(deny)
	if want := []string{"bad.example", "ok.example", "bad.example"}; !slices.Equal(exported, want) {
		t.Errorf("next hook got %v, want %v", exported, want)
	}
	rep := b.report(&policy.Effective{}, suggestTarget{})
	if len(rep.Blocked) != 1 || rep.Blocked[0].Count != 2 || rep.Blocked[0].Host != "bad.example" || !rep.Blocked[0].Enforced {
		t.Fatalf("report = %+v, want bad.example twice", rep.Blocked)
	}
	var out bytes.Buffer
	execReport{}.writeText(&out)
	if out.Len() != 0 {
		t.Errorf("empty report printed %q", out.String())
	}
}
