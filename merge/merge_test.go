package merge

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netpolicy/netpolicy/policy"
)

const (
	reqPath = "/etc/codex/requirements.toml"
	cfgPath = "/home/me/.codex/config.toml"
)

// managedFile loads a requirements.toml whose [experimental_network] table
// holds body (line 1 is the header, so body starts on line 2).
func managedFile(t *testing.T, body string) *policy.File {
	t.Helper()
	return loadFile(t, reqPath, "[experimental_network]\n"+body, policy.KindRequirements)
}

// userDefaults is the user [network] table of VECTORS §0: enabled, full,
// no local binding. A row's keys follow on line 5.
const userDefaults = "[network]\nenabled = true\nmode = \"full\"\nallow_local_binding = false\n"

func userFile(t *testing.T, body string) *policy.File {
	t.Helper()
	return loadFile(t, cfgPath, userDefaults+body, policy.KindConfig)
}

func loadFile(t *testing.T, path, src string, kind policy.FileKind) *policy.File {
	t.Helper()
	f := policy.Load(path, []byte(src), kind)
	if f.SyntaxErr != nil {
		t.Fatalf("%s: %v\n%s", path, f.SyntaxErr, src)
	}
	return f
}

func mustMode(t *testing.T, s string) policy.SessionMode {
	t.Helper()
	m, ok := policy.ParseSessionMode(s)
	if !ok {
		t.Fatalf("bad mode %q", s)
	}
	return m
}

func mustMerge(t *testing.T, m, u *policy.File, profile, mode string) *policy.Effective {
	t.Helper()
	eff, err := Effective(m, u, profile, mustMode(t, mode))
	if err != nil {
		t.Fatalf("Effective: %v", err)
	}
	return eff
}

// rules renders rules as "pattern (m:line)" / "pattern (u:line)", which
// asserts order, origin, line and — through checkFiles — the file.
func rules(t *testing.T, rs []policy.Rule) []string {
	t.Helper()
	var out []string
	for _, r := range rs {
		checkSource(t, r.Pattern, r.Source)
		out = append(out, fmt.Sprintf("%s (%s)", r.Pattern, short(r.Source)))
	}
	return out
}

func sockets(t *testing.T, ss []policy.SocketRule) []string {
	t.Helper()
	var out []string
	for _, s := range ss {
		checkSource(t, s.Path, s.Source)
		out = append(out, fmt.Sprintf("%s=%s (%s)", s.Path, s.Perm, short(s.Source)))
	}
	return out
}

func dropped(t *testing.T, ds []policy.Dropped) []string {
	t.Helper()
	var out []string
	for _, d := range ds {
		checkSource(t, d.What, d.Source)
		out = append(out, fmt.Sprintf("%s (%s)", d.What, short(d.Source)))
	}
	return out
}

func short(s policy.Source) string {
	switch s.Origin {
	case policy.OriginManaged:
		return fmt.Sprintf("m:%d", s.Line)
	case policy.OriginUser:
		return fmt.Sprintf("u:%d", s.Line)
	}
	return "default"
}

// checkSource asserts that a managed entry names the requirements file and a
// user entry the config file.
func checkSource(t *testing.T, what string, s policy.Source) {
	t.Helper()
	want := map[policy.Origin]string{policy.OriginManaged: reqPath, policy.OriginUser: cfgPath, policy.OriginDefault: ""}[s.Origin]
	if s.File != want {
		t.Errorf("%s: source file %q, want %q (origin %s)", what, s.File, want, s.Origin)
	}
	if s.Origin != policy.OriginDefault && s.Line < 1 {
		t.Errorf("%s: source line %d", what, s.Line)
	}
}

// expect is the effective outcome of one merge case.
type expect struct {
	allow, deny []string
	miss        policy.OnMiss
	// dropped are the dropped user entries; droppedWhy, when set, must be a
	// substring of every Why.
	dropped    []string
	droppedWhy string
}

func (w expect) check(t *testing.T, eff *policy.Effective) {
	t.Helper()
	if d := cmp.Diff(w.allow, rules(t, eff.Allow)); d != "" {
		t.Errorf("allow (-want +got):\n%s", d)
	}
	if d := cmp.Diff(w.deny, rules(t, eff.Deny)); d != "" {
		t.Errorf("deny (-want +got):\n%s", d)
	}
	if eff.OnMiss.Value != w.miss {
		t.Errorf("on_miss = %q, want %q", eff.OnMiss.Value, w.miss)
	}
	if d := cmp.Diff(w.dropped, dropped(t, eff.Dropped)); d != "" {
		t.Errorf("dropped (-want +got):\n%s", d)
	}
	for _, d := range eff.Dropped {
		if d.Why == "" || !strings.Contains(d.Why, w.droppedWhy) {
			t.Errorf("dropped %s: why %q, want it to say %q", d.What, d.Why, w.droppedWhy)
		}
	}
}

// TestMergeTable covers every row of the POLICY §3 table with A, D, U and UD
// all present, then with the managed side empty.
func TestMergeTable(t *testing.T) {
	full := "domains = { \"a.example\" = \"allow\", \"d.example\" = \"deny\" }\n"
	user := "domains = { \"u.example\" = \"allow\", \"ud.example\" = \"deny\" }\n"
	only := "managed_allowed_domains_only = true\n"
	cases := []struct {
		name    string
		managed string // "" = no managed file
		mode    string
		want    expect
	}{
		{"restricted/only=false", full, "workspace-write", expect{
			allow: []string{"a.example (m:2)", "u.example (u:5)"},
			deny:  []string{"d.example (m:2)", "ud.example (u:5)"},
			miss:  policy.MissAsk,
		}},
		{"restricted/only=false/read-only", full, "read-only", expect{
			allow: []string{"a.example (m:2)", "u.example (u:5)"},
			deny:  []string{"d.example (m:2)", "ud.example (u:5)"},
			miss:  policy.MissAsk,
		}},
		{"restricted/only=true", only + full, "workspace-write", expect{
			allow:      []string{"a.example (m:3)"},
			deny:       []string{"d.example (m:3)", "ud.example (u:5)"},
			miss:       policy.MissDeny,
			dropped:    []string{`domains."u.example" = "allow" (u:5)`},
			droppedWhy: "managed_allowed_domains_only",
		}},
		{"restricted/only=true/no A", only + "domains = { \"d.example\" = \"deny\" }\n", "read-only", expect{
			deny:       []string{"d.example (m:3)", "ud.example (u:5)"},
			miss:       policy.MissDeny,
			dropped:    []string{`domains."u.example" = "allow" (u:5)`},
			droppedWhy: "managed_allowed_domains_only",
		}},
		{"full/only=false/A and D", full, "full-access", expect{
			allow: []string{"a.example (m:2)"},
			deny:  []string{"d.example (m:2)"},
			miss:  policy.MissDeny,
			dropped: []string{
				`domains."u.example" = "allow" (u:5)`,
				`domains."ud.example" = "deny" (u:5)`,
			},
			droppedWhy: "full-access",
		}},
		{"full/only=false/no A, no D", "enabled = true\n", "full-access", expect{
			allow: []string{"u.example (u:5)"},
			deny:  []string{"ud.example (u:5)"},
			miss:  policy.MissDeny,
		}},
		{"full/only=true", only + full, "full-access", expect{
			allow:      []string{"a.example (m:3)"},
			deny:       []string{"d.example (m:3)"},
			miss:       policy.MissDeny,
			dropped:    []string{`domains."u.example" = "allow" (u:5)`, `domains."ud.example" = "deny" (u:5)`},
			droppedWhy: "",
		}},
		{"full/only=true/no A, no D", only, "danger-full-access", expect{
			deny:       []string{"ud.example (u:5)"},
			miss:       policy.MissDeny,
			dropped:    []string{`domains."u.example" = "allow" (u:5)`},
			droppedWhy: "managed_allowed_domains_only",
		}},
		{"no managed file/restricted", "", "workspace-write", expect{
			allow: []string{"u.example (u:5)"},
			deny:  []string{"ud.example (u:5)"},
			miss:  policy.MissAsk,
		}},
		{"no managed file/full", "", "full-access", expect{
			allow: []string{"u.example (u:5)"},
			deny:  []string{"ud.example (u:5)"},
			miss:  policy.MissDeny,
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var m *policy.File
			if c.managed != "" {
				m = managedFile(t, c.managed)
			}
			c.want.check(t, mustMerge(t, m, userFile(t, user), "", c.mode))
		})
	}
}

// stubResolver answers from a table; "error" fails, "timeout" blocks until
// the context ends, and an unknown name fails the test: the decision must
// not look it up (VECTORS §0 "resolver: not consulted").
type stubResolver struct {
	t       *testing.T
	answers map[string]string
	calls   []string
}

func (s *stubResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	s.calls = append(s.calls, host)
	a, ok := s.answers[host]
	switch {
	case !ok:
		s.t.Errorf("resolver consulted for %q", host)
		return nil, errors.New("unexpected lookup")
	case a == "error":
		return nil, errors.New("no such host")
	case a == "timeout":
		<-ctx.Done()
		return nil, ctx.Err()
	}
	var out []netip.Addr
	for _, x := range strings.Split(a, ",") {
		out = append(out, netip.MustParseAddr(x))
	}
	return out, nil
}

// hostCase is one host decision on an effective policy.
type hostCase struct {
	host    string
	answer  string // resolver answer for host; "" = must not be consulted
	verdict policy.Verdict
	reason  policy.Reason
}

func decide(t *testing.T, eff *policy.Effective, hosts ...hostCase) {
	t.Helper()
	c, err := policy.Compile(eff)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	for _, h := range hosts {
		r := &stubResolver{t: t, answers: map[string]string{}}
		if h.answer != "" {
			r.answers[h.host] = h.answer
		}
		d := c.Decide(context.Background(), policy.Request{Host: h.host, Port: 443, Protocol: policy.ProtoHTTPSConnect}, r)
		if d.Verdict != h.verdict || d.Reason != h.reason {
			t.Errorf("host %s: %s/%s, want %s/%s", h.host, d.Verdict, d.Reason, h.verdict, h.reason)
		}
	}
}

const pub = "93.184.216.34"

// TestVectorsMerge covers VECTORS §6 V075–V084 (domain rules and on_miss).
func TestVectorsMerge(t *testing.T) {
	type sub struct {
		mode  string
		want  expect
		hosts []hostCase
	}
	cases := []struct {
		id      string
		managed string // "" = no managed file
		user    string
		subs    []sub
	}{
		{"V075", "", `domains = { "api.example.com" = "allow", "ads.example.com" = "deny" }`, []sub{
			{"read-only", expect{allow: []string{"api.example.com (u:5)"}, deny: []string{"ads.example.com (u:5)"}, miss: policy.MissAsk}, nil},
			{"workspace-write", expect{allow: []string{"api.example.com (u:5)"}, deny: []string{"ads.example.com (u:5)"}, miss: policy.MissAsk}, nil},
			{"full-access", expect{allow: []string{"api.example.com (u:5)"}, deny: []string{"ads.example.com (u:5)"}, miss: policy.MissDeny}, nil},
			{"danger-full-access", expect{allow: []string{"api.example.com (u:5)"}, deny: []string{"ads.example.com (u:5)"}, miss: policy.MissDeny}, nil},
		}},
		{"V076", `domains = { "*.example.com" = "allow" }`,
			`domains = { "api.example.com" = "allow", "**.example.com" = "allow", "git.example.org" = "allow" }`, []sub{
				{"workspace-write", expect{
					allow: []string{"*.example.com (m:2)", "api.example.com (u:5)", "**.example.com (u:5)", "git.example.org (u:5)"},
					miss:  policy.MissAsk,
				}, nil},
				{"full-access", expect{
					allow: []string{"*.example.com (m:2)"},
					miss:  policy.MissDeny,
					dropped: []string{
						`domains."api.example.com" = "allow" (u:5)`,
						`domains."**.example.com" = "allow" (u:5)`,
						`domains."git.example.org" = "allow" (u:5)`,
					},
					droppedWhy: "full-access",
				}, []hostCase{
					{"example.com", "", policy.VerdictDeny, policy.ReasonNotAllowed},
					{"git.example.org", "", policy.VerdictDeny, policy.ReasonNotAllowed},
					{"api.example.com", pub, policy.VerdictAllow, policy.ReasonAllowed},
				}},
			}},
		{"V077", `domains = { "api.example.com" = "allow" }`,
			`domains = { "API.Example.com" = "allow", "docs.example.net" = "allow" }`, []sub{
				{"workspace-write", expect{
					allow:      []string{"api.example.com (m:2)", "docs.example.net (u:5)"},
					miss:       policy.MissAsk,
					dropped:    []string{`domains."API.Example.com" = "allow" (u:5)`},
					droppedWhy: `same pattern as the managed allow rule "api.example.com" (/etc/codex/requirements.toml:2)`,
				}, nil},
			}},
		{"V078", "[experimental_network.domains]\n\"*.example.com\" = \"allow\"\n\"blocked.example.com\" = \"deny\"",
			"[network.domains]\n\"evil.example.net\" = \"allow\"\n\"more-blocked.example.com\" = \"deny\"", []sub{
				{"workspace-write", expect{
					allow: []string{"*.example.com (m:3)", "evil.example.net (u:6)"},
					deny:  []string{"blocked.example.com (m:4)", "more-blocked.example.com (u:7)"},
					miss:  policy.MissAsk,
				}, []hostCase{
					{"more-blocked.example.com", "", policy.VerdictDeny, policy.ReasonDenied},
					{"evil.example.net", pub, policy.VerdictAllow, policy.ReasonAllowed},
					{"other.example.net", "", policy.VerdictAsk, policy.ReasonNotAllowed},
				}},
				{"full-access", expect{
					allow: []string{"*.example.com (m:3)"},
					deny:  []string{"blocked.example.com (m:4)"},
					miss:  policy.MissDeny,
					dropped: []string{
						`domains."evil.example.net" = "allow" (u:6)`,
						`domains."more-blocked.example.com" = "deny" (u:7)`,
					},
					droppedWhy: "full-access",
				}, []hostCase{
					{"more-blocked.example.com", pub, policy.VerdictAllow, policy.ReasonAllowed},
					{"evil.example.net", "", policy.VerdictDeny, policy.ReasonNotAllowed},
					{"blocked.example.com", "", policy.VerdictDeny, policy.ReasonDenied},
				}},
			}},
		{"V079", `domains = { "api.example.com" = "allow" }`, `domains = { "api.example.com" = "deny" }`, []sub{
			{"workspace-write", expect{
				allow: []string{"api.example.com (m:2)"},
				deny:  []string{"api.example.com (u:5)"},
				miss:  policy.MissAsk,
			}, []hostCase{{"api.example.com", "", policy.VerdictDeny, policy.ReasonDenied}}},
			{"full-access", expect{
				allow: []string{"api.example.com (m:2)"},
				deny:  []string{"api.example.com (u:5)"},
				miss:  policy.MissDeny,
			}, []hostCase{{"api.example.com", "", policy.VerdictDeny, policy.ReasonDenied}}},
		}},
		{"V080a", `domains = { "managed-blocked.example.com" = "deny" }`,
			`domains = { "api.example.com" = "allow", "blocked.example.com" = "deny" }`, []sub{
				{"full-access", expect{
					allow:      []string{"api.example.com (u:5)"},
					deny:       []string{"managed-blocked.example.com (m:2)"},
					miss:       policy.MissDeny,
					dropped:    []string{`domains."blocked.example.com" = "deny" (u:5)`},
					droppedWhy: "managed deny list is not empty",
				}, nil},
				{"workspace-write", expect{
					allow: []string{"api.example.com (u:5)"},
					deny:  []string{"managed-blocked.example.com (m:2)", "blocked.example.com (u:5)"},
					miss:  policy.MissAsk,
				}, nil},
			}},
		{"V080b", `domains = { "managed.example.com" = "allow" }`, `domains = { "blocked.example.com" = "deny" }`, []sub{
			{"full-access", expect{
				allow: []string{"managed.example.com (m:2)"},
				deny:  []string{"blocked.example.com (u:5)"},
				miss:  policy.MissDeny,
			}, nil},
		}},
		{"V081", "managed_allowed_domains_only = true\ndomains = { \"*.example.com\" = \"allow\" }",
			`domains = { "api.example.com" = "allow", "git.example.org" = "allow", "tracker.example.com" = "deny" }`, []sub{
				{"workspace-write", expect{
					allow:      []string{"*.example.com (m:3)"},
					deny:       []string{"tracker.example.com (u:5)"},
					miss:       policy.MissDeny,
					dropped:    []string{`domains."api.example.com" = "allow" (u:5)`, `domains."git.example.org" = "allow" (u:5)`},
					droppedWhy: "managed_allowed_domains_only = true (/etc/codex/requirements.toml:2)",
				}, []hostCase{
					{"git.example.org", "", policy.VerdictDeny, policy.ReasonNotAllowed},
					{"tracker.example.com", "", policy.VerdictDeny, policy.ReasonDenied},
					{"api.example.com", pub, policy.VerdictAllow, policy.ReasonAllowed},
				}},
				{"full-access", expect{
					allow:      []string{"*.example.com (m:3)"},
					deny:       []string{"tracker.example.com (u:5)"},
					miss:       policy.MissDeny,
					dropped:    []string{`domains."api.example.com" = "allow" (u:5)`, `domains."git.example.org" = "allow" (u:5)`},
					droppedWhy: "managed_allowed_domains_only = true",
				}, []hostCase{{"git.example.org", "", policy.VerdictDeny, policy.ReasonNotAllowed}}},
			}},
		{"V082", "managed_allowed_domains_only = true", `domains = { "api.example.com" = "allow" }`, []sub{
			{"read-only", expect{miss: policy.MissDeny, dropped: []string{`domains."api.example.com" = "allow" (u:5)`}, droppedWhy: "managed_allowed_domains_only"},
				[]hostCase{{"api.example.com", "", policy.VerdictDeny, policy.ReasonNotAllowed}}},
			{"workspace-write", expect{miss: policy.MissDeny, dropped: []string{`domains."api.example.com" = "allow" (u:5)`}, droppedWhy: "managed_allowed_domains_only"},
				[]hostCase{{"api.example.com", "", policy.VerdictDeny, policy.ReasonNotAllowed}}},
			{"full-access", expect{miss: policy.MissDeny, dropped: []string{`domains."api.example.com" = "allow" (u:5)`}, droppedWhy: "managed_allowed_domains_only"},
				[]hostCase{{"api.example.com", "", policy.VerdictDeny, policy.ReasonNotAllowed}}},
		}},
		{"V083", "allowed_domains = []\ndenied_domains = []", `domains = { "api.example.com" = "allow" }`, []sub{
			{"workspace-write", expect{allow: []string{"api.example.com (u:5)"}, miss: policy.MissAsk}, nil},
			{"full-access", expect{allow: []string{"api.example.com (u:5)"}, miss: policy.MissDeny},
				[]hostCase{{"api.example.com", pub, policy.VerdictAllow, policy.ReasonAllowed}}},
		}},
		{"V084", `domains = { "*" = "allow" }`, `domains = { "api.example.com" = "allow" }`, []sub{
			{"workspace-write", expect{allow: []string{"* (m:2)", "api.example.com (u:5)"}, miss: policy.MissAsk}, nil},
			{"full-access", expect{
				allow:      []string{"* (m:2)"},
				miss:       policy.MissDeny,
				dropped:    []string{`domains."api.example.com" = "allow" (u:5)`},
				droppedWhy: "full-access",
			}, nil},
		}},
	}
	for _, c := range cases {
		for _, s := range c.subs {
			t.Run(c.id+"/"+s.mode, func(t *testing.T) {
				var m *policy.File
				if c.managed != "" {
					m = managedFile(t, c.managed)
				}
				u := userFile(t, c.user)
				eff := mustMerge(t, m, u, "", s.mode)
				s.want.check(t, eff)
				if s.hosts != nil {
					decide(t, eff, s.hosts...)
				}
			})
		}
	}
}

// TestV085Ceilings: managed scalars are copied in and cap the user's value.
func TestV085Ceilings(t *testing.T) {
	for _, k := range policy.CeilingKeys {
		t.Run("a/"+k, func(t *testing.T) {
			m := managedFile(t, k+" = false\n")
			u := loadFile(t, cfgPath, "[network]\n"+k+" = true\n", policy.KindConfig)
			eff := mustMerge(t, m, u, "", "workspace-write")
			s := boolSetting(eff, k)
			if s.Value || !s.Forced || s.Source.Origin != policy.OriginManaged || s.Source.File != reqPath || s.Source.Line != 2 {
				t.Errorf("%s = %+v, want false forced by %s:2", k, s, reqPath)
			}
			if !strings.Contains(s.Note, "forced to false by the managed ceiling") || !strings.Contains(s.Note, cfgPath+":2") {
				t.Errorf("note %q", s.Note)
			}
		})
	}
	t.Run("a/allow_local_binding/host", func(t *testing.T) {
		m := managedFile(t, "allow_local_binding = false\n")
		u := loadFile(t, cfgPath, "[network]\nenabled = true\nallow_local_binding = true\ndomains = { \"db.corp.example\" = \"allow\" }\n", policy.KindConfig)
		eff := mustMerge(t, m, u, "", "workspace-write")
		if eff.AllowLocalBinding.Value {
			t.Fatal("allow_local_binding not forced down")
		}
		decide(t, eff, hostCase{"db.corp.example", "10.1.2.3", policy.VerdictDeny, policy.ReasonNotAllowedLocal})
	})
	cases := []struct {
		name, managed, user, key string
		want                     bool
		origin                   policy.Origin
	}{
		{"b/user false", "allow_local_binding = true\n", "allow_local_binding = false\n", "allow_local_binding", true, policy.OriginManaged},
		{"b/user unset", "allow_local_binding = true\n", "", "allow_local_binding", true, policy.OriginManaged},
		{"c", "enabled = true\n", "enabled = false\n", "enabled", true, policy.OriginManaged},
		{"d", "", "allow_local_binding = true\n", "allow_local_binding", true, policy.OriginUser},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var m *policy.File
			if c.managed != "" {
				m = managedFile(t, c.managed)
			}
			u := loadFile(t, cfgPath, "[network]\n"+c.user, policy.KindConfig)
			eff := mustMerge(t, m, u, "", "workspace-write")
			s := boolSetting(eff, c.key)
			if s.Value != c.want || s.Forced || s.Source.Origin != c.origin {
				t.Errorf("%s = %+v, want %v from %s, not forced", c.key, s, c.want, c.origin)
			}
		})
	}
	t.Run("d/host", func(t *testing.T) {
		u := loadFile(t, cfgPath, "[network]\nenabled = true\nallow_local_binding = true\ndomains = { \"db.corp.example\" = \"allow\" }\n", policy.KindConfig)
		eff := mustMerge(t, nil, u, "", "workspace-write")
		decide(t, eff, hostCase{"db.corp.example", "10.1.2.3", policy.VerdictAllow, policy.ReasonAllowed})
	})
}

func boolSetting(eff *policy.Effective, key string) policy.Setting[bool] {
	switch key {
	case "enabled":
		return eff.Enabled
	case "allow_local_binding":
		return eff.AllowLocalBinding
	case "allow_upstream_proxy":
		return eff.AllowUpstreamProxy
	case "dangerously_allow_non_loopback_proxy":
		return eff.DangerouslyAllowNonLoopbackProxy
	case "dangerously_allow_all_unix_sockets":
		return eff.DangerouslyAllowAllUnixSockets
	}
	panic(key)
}

// TestV086Sockets: managed socket rules replace the user's allow sockets.
func TestV086Sockets(t *testing.T) {
	user := "[network.unix_sockets]\n\"/run/dev.sock\" = \"allow\"\n\"/run/secret.sock\" = \"none\"\n"
	cases := []struct {
		name, managed string
		want          []string
		dropped       []string
	}{
		{"a/canonical", `unix_sockets = { "/var/run/docker.sock" = "allow" }`,
			[]string{"/var/run/docker.sock=allow (m:2)", "/run/secret.sock=none (u:7)"},
			[]string{`unix_sockets."/run/dev.sock" = "allow" (u:6)`}},
		{"a/legacy", `allow_unix_sockets = ["/var/run/docker.sock"]`,
			[]string{"/var/run/docker.sock=allow (m:2)", "/run/secret.sock=none (u:7)"},
			[]string{`unix_sockets."/run/dev.sock" = "allow" (u:6)`}},
		{"b", `unix_sockets = { "/run/x.sock" = "none" }`,
			[]string{"/run/x.sock=none (m:2)", "/run/secret.sock=none (u:7)"},
			[]string{`unix_sockets."/run/dev.sock" = "allow" (u:6)`}},
		{"c", "",
			[]string{"/run/dev.sock=allow (u:6)", "/run/secret.sock=none (u:7)"}, nil},
		{"c/empty managed map", "unix_sockets = {}",
			[]string{"/run/dev.sock=allow (u:6)", "/run/secret.sock=none (u:7)"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var m *policy.File
			if c.managed != "" {
				m = managedFile(t, c.managed)
			}
			eff := mustMerge(t, m, userFile(t, user), "", "workspace-write")
			if d := cmp.Diff(c.want, sockets(t, eff.Sockets)); d != "" {
				t.Errorf("sockets (-want +got):\n%s", d)
			}
			if d := cmp.Diff(c.dropped, dropped(t, eff.Dropped)); d != "" {
				t.Errorf("dropped (-want +got):\n%s", d)
			}
			for _, d := range eff.Dropped {
				if !strings.Contains(d.Why, "managed unix_sockets rules (/etc/codex/requirements.toml:2)") {
					t.Errorf("why %q", d.Why)
				}
			}
			c2, err := policy.Compile(eff)
			if err != nil {
				t.Fatal(err)
			}
			dev := c2.Decide(context.Background(), policy.Request{Host: "localhost", Port: 80, Protocol: policy.ProtoHTTP, Method: "GET", UnixSocket: "/run/dev.sock"}, &stubResolver{t: t})
			if wantDev := c.managed == "" || c.name == "c/empty managed map"; dev.Allowed() != wantDev {
				t.Errorf("/run/dev.sock allowed = %v, want %v", dev.Allowed(), wantDev)
			}
			sec := c2.Decide(context.Background(), policy.Request{Host: "localhost", Port: 80, Protocol: policy.ProtoHTTP, Method: "GET", UnixSocket: "/run/secret.sock"}, &stubResolver{t: t})
			if sec.Allowed() {
				t.Errorf("/run/secret.sock allowed")
			}
		})
	}
	t.Run("allow-all forced off", func(t *testing.T) {
		m := managedFile(t, `unix_sockets = { "/var/run/docker.sock" = "allow" }`)
		u := userFile(t, "dangerously_allow_all_unix_sockets = true\n")
		eff := mustMerge(t, m, u, "", "workspace-write")
		s := eff.DangerouslyAllowAllUnixSockets
		if s.Value || !s.Forced || s.Source.Origin != policy.OriginManaged || !strings.Contains(s.Note, cfgPath+":5") {
			t.Errorf("dangerously_allow_all_unix_sockets = %+v", s)
		}
	})
	t.Run("allow-all kept when managed sets it", func(t *testing.T) {
		m := managedFile(t, "dangerously_allow_all_unix_sockets = true\nunix_sockets = { \"/var/run/docker.sock\" = \"allow\" }")
		u := userFile(t, "dangerously_allow_all_unix_sockets = true\n")
		eff := mustMerge(t, m, u, "", "workspace-write")
		if s := eff.DangerouslyAllowAllUnixSockets; !s.Value || s.Forced {
			t.Errorf("dangerously_allow_all_unix_sockets = %+v", s)
		}
	})
}

// TestV045SocketDenySynonym: "deny" and "none" give the same socket policy.
func TestV045SocketDenySynonym(t *testing.T) {
	var got [][]string
	for _, perm := range []string{"deny", "none"} {
		eff := mustMerge(t, nil, userFile(t, `unix_sockets = { "/run/a.sock" = "`+perm+`" }`), "", "workspace-write")
		got = append(got, sockets(t, eff.Sockets))
		c, err := policy.Compile(eff)
		if err != nil {
			t.Fatal(err)
		}
		d := c.Decide(context.Background(), policy.Request{Host: "localhost", Port: 80, Protocol: policy.ProtoHTTP, Method: "GET", UnixSocket: "/run/a.sock"}, &stubResolver{t: t})
		if d.Allowed() {
			t.Errorf("%s: /run/a.sock allowed", perm)
		}
		if pe := d.Reason.ProxyError(); pe != "blocked-by-allowlist" {
			t.Errorf("%s: x-proxy-error %q", perm, pe)
		}
	}
	want := []string{"/run/a.sock=none (u:5)"}
	for _, g := range got {
		if d := cmp.Diff(want, g); d != "" {
			t.Errorf("sockets (-want +got):\n%s", d)
		}
	}
}

// TestV087ManagedPorts: managed ports pin loopback listeners.
func TestV087ManagedPorts(t *testing.T) {
	m := managedFile(t, "http_port = 9000\nsocks_port = 9001\n")
	u := userFile(t, "proxy_url = \"http://0.0.0.0:3128\"\ndangerously_allow_non_loopback_proxy = true\n")
	eff := mustMerge(t, m, u, "", "workspace-write")
	if eff.HTTPAddr.Value != "127.0.0.1:9000" || eff.SocksAddr.Value != "127.0.0.1:9001" {
		t.Errorf("listeners %q %q", eff.HTTPAddr.Value, eff.SocksAddr.Value)
	}
	if eff.HTTPAddr.Source.Origin != policy.OriginManaged || eff.HTTPAddr.Source.Line != 2 || eff.SocksAddr.Source.Line != 3 {
		t.Errorf("listener sources %+v %+v", eff.HTTPAddr.Source, eff.SocksAddr.Source)
	}
	if eff.HTTPPort == nil || eff.HTTPPort.Value != 9000 || eff.SocksPort == nil || eff.SocksPort.Value != 9001 {
		t.Errorf("ports %+v %+v", eff.HTTPPort, eff.SocksPort)
	}
}

// TestV088Defaults: an empty config and no managed file.
func TestV088Defaults(t *testing.T) {
	for _, u := range []*policy.File{nil, loadFile(t, cfgPath, "", policy.KindConfig)} {
		eff := mustMerge(t, nil, u, "", "workspace-write")
		got := fmt.Sprintf("%s %s enabled=%v mode=%s alb=%v daaus=%v mado=%v aup=%v danlp=%v socks5=%v udp=%v http=%s socks=%s allow=%d deny=%d sockets=%d dropped=%d",
			eff.SessionMode, eff.OnMiss.Value, eff.Enabled.Value, eff.Mode.Value, eff.AllowLocalBinding.Value,
			eff.DangerouslyAllowAllUnixSockets.Value, eff.ManagedAllowedDomainsOnly.Value, eff.AllowUpstreamProxy.Value,
			eff.DangerouslyAllowNonLoopbackProxy.Value, eff.EnableSocks5.Value, eff.EnableSocks5UDP.Value,
			eff.HTTPAddr.Value, eff.SocksAddr.Value, len(eff.Allow), len(eff.Deny), len(eff.Sockets), len(eff.Dropped))
		want := "workspace-write ask enabled=false mode=full alb=false daaus=false mado=false aup=false danlp=false socks5=true udp=false http=127.0.0.1:3128 socks=127.0.0.1:8081 allow=0 deny=0 sockets=0 dropped=0"
		if got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
		for name, s := range map[string]policy.Source{"enabled": eff.Enabled.Source, "mode": eff.Mode.Source, "http": eff.HTTPAddr.Source, "socks": eff.SocksAddr.Source} {
			if s.Origin != policy.OriginDefault {
				t.Errorf("%s: origin %s, want default", name, s.Origin)
			}
		}
		if eff.HTTPPort != nil || eff.SocksPort != nil {
			t.Errorf("managed ports set without a managed file")
		}
	}
}

const v089 = `default_permissions = "dev"

[permissions.dev.network]
enabled = true
domains = { "dev.example.com" = "allow" }

[permissions.ops.network]
enabled = true
domains = { "ops.example.com" = "allow" }

[network]
enabled = true
domains = { "plain.example.com" = "allow" }
`

// TestV089Profiles: which user table counts.
func TestV089Profiles(t *testing.T) {
	cases := []struct {
		name, src, profile string
		want               []string
	}{
		{"a/default_permissions", v089, "", []string{"dev.example.com (u:5)"}},
		{"b/--profile ops", v089, "ops", []string{"ops.example.com (u:9)"}},
		{"c/no default_permissions", strings.Replace(v089, "default_permissions = \"dev\"\n", "\n", 1), "", []string{"plain.example.com (u:13)"}},
		{"builtin profile", v089, ":workspace", []string{"plain.example.com (u:13)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			eff := mustMerge(t, nil, loadFile(t, cfgPath, c.src, policy.KindConfig), c.profile, "workspace-write")
			if d := cmp.Diff(c.want, rules(t, eff.Allow)); d != "" {
				t.Errorf("allow (-want +got):\n%s", d)
			}
			if !eff.Enabled.Value {
				t.Error("enabled = false")
			}
		})
	}
	t.Run("undefined profile", func(t *testing.T) {
		_, err := Effective(nil, loadFile(t, cfgPath, v089, policy.KindConfig), "nope", policy.ModeWorkspaceWrite)
		var pe *policy.ProfileError
		if !errors.As(err, &pe) {
			t.Fatalf("err = %v, want a ProfileError", err)
		}
	})
	t.Run("profile without config", func(t *testing.T) {
		if _, err := Effective(nil, nil, "dev", policy.ModeWorkspaceWrite); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("custom profile without network table has defaults", func(t *testing.T) {
		src := "default_permissions = \"bare\"\n[permissions.bare]\ndescription = \"x\"\n[network]\nenabled = true\ndomains = { \"plain.example.com\" = \"allow\" }\n"
		eff := mustMerge(t, nil, loadFile(t, cfgPath, src, policy.KindConfig), "", "workspace-write")
		if len(eff.Allow) != 0 || eff.Enabled.Value {
			t.Errorf("allow %v enabled %v, want defaults", rules(t, eff.Allow), eff.Enabled.Value)
		}
	})
}

const v090 = `default_permissions = "child"

[permissions.base.network]
enabled = true
mode = "limited"
domains = { "base.example.com" = "allow", "SHARED.EXAMPLE.COM." = "deny" }
unix_sockets = { "/run/base.sock" = "allow", "/run/keep.sock" = "allow" }

[permissions.child]
extends = "base"

[permissions.child.network]
mode = "full"
allow_local_binding = true
domains = { "shared.example.com" = "allow", "child.example.com" = "allow" }
unix_sockets = { "/run/base.sock" = "none" }
`

// TestV090Extends: the parent is applied first, then the child.
func TestV090Extends(t *testing.T) {
	eff := mustMerge(t, nil, loadFile(t, cfgPath, v090, policy.KindConfig), "", "workspace-write")
	if !eff.Enabled.Value || eff.Enabled.Source.Line != 4 {
		t.Errorf("enabled = %+v, want true from line 4", eff.Enabled)
	}
	if eff.Mode.Value != "full" || eff.Mode.Source.Line != 13 {
		t.Errorf("mode = %+v, want full from line 13", eff.Mode)
	}
	if !eff.AllowLocalBinding.Value {
		t.Error("allow_local_binding = false")
	}
	want := []string{"base.example.com (u:6)", "shared.example.com (u:15)", "child.example.com (u:15)"}
	if d := cmp.Diff(want, rules(t, eff.Allow)); d != "" {
		t.Errorf("allow (-want +got):\n%s", d)
	}
	if len(eff.Deny) != 0 {
		t.Errorf("deny = %v, want none", rules(t, eff.Deny))
	}
	wantS := []string{"/run/keep.sock=allow (u:7)", "/run/base.sock=none (u:16)"}
	if d := cmp.Diff(wantS, sockets(t, eff.Sockets)); d != "" {
		t.Errorf("sockets (-want +got):\n%s", d)
	}
	// The parent rules the child replaced are reported as dropped.
	var dropped []string
	for _, d := range eff.Dropped {
		dropped = append(dropped, fmt.Sprintf("%s (u:%d)", d.What, d.Source.Line))
		if !strings.Contains(d.Why, "replaced through extends") {
			t.Errorf("dropped %s: why %q", d.What, d.Why)
		}
	}
	wantD := []string{`domains."SHARED.EXAMPLE.COM." = "deny" (u:6)`, `unix_sockets."/run/base.sock" = "allow" (u:7)`}
	if d := cmp.Diff(wantD, dropped); d != "" {
		t.Errorf("dropped (-want +got):\n%s", d)
	}
}

// TestV113Listeners: computed listener addresses.
func TestV113Listeners(t *testing.T) {
	b := "proxy_url = \"http://0.0.0.0:3128\"\nsocks_url = \"http://0.0.0.0:8081\"\n"
	c := b + "dangerously_allow_non_loopback_proxy = true\n"
	cases := []struct {
		id, user    string
		http, socks string
		forced      bool
	}{
		{"a", "", "127.0.0.1:3128", "127.0.0.1:8081", false},
		{"b", b, "127.0.0.1:3128", "127.0.0.1:8081", true},
		{"c", c, "0.0.0.0:3128", "0.0.0.0:8081", false},
		{"d", c + "unix_sockets = { \"/var/run/docker.sock\" = \"allow\" }\n", "127.0.0.1:3128", "127.0.0.1:8081", true},
		{"e", c + "dangerously_allow_all_unix_sockets = true\n", "127.0.0.1:3128", "127.0.0.1:8081", true},
		{"f", c + "unix_sockets = { \"/var/run/docker.sock\" = \"none\" }\n", "0.0.0.0:3128", "0.0.0.0:8081", false},
		{"g", "enable_socks5 = false\n", "127.0.0.1:3128", "", false},
		{"ipv6 loopback kept", "proxy_url = \"http://[::1]:3000\"\n", "[::1]:3000", "127.0.0.1:8081", false},
		{"ipv6 any clamped", "proxy_url = \"http://[::]:3000\"\n", "127.0.0.1:3000", "127.0.0.1:8081", true},
		{"scheme ignored, no port", "socks_url = \"socks5://127.0.0.1\"\n", "127.0.0.1:3128", "127.0.0.1:8081", false},
		{"invalid url falls back", "proxy_url = \"http://:0\"\n", "127.0.0.1:3128", "127.0.0.1:8081", false},
	}
	for _, tc := range cases {
		t.Run("V113"+tc.id, func(t *testing.T) {
			eff := mustMerge(t, nil, userFile(t, tc.user), "", "workspace-write")
			if eff.HTTPAddr.Value != tc.http || eff.SocksAddr.Value != tc.socks {
				t.Errorf("http %q socks %q, want %q %q", eff.HTTPAddr.Value, eff.SocksAddr.Value, tc.http, tc.socks)
			}
			if eff.HTTPAddr.Forced != tc.forced {
				t.Errorf("forced = %v, note %q", eff.HTTPAddr.Forced, eff.HTTPAddr.Note)
			}
			if tc.forced && !strings.Contains(eff.HTTPAddr.Note, "loopback") {
				t.Errorf("note %q", eff.HTTPAddr.Note)
			}
		})
	}
	t.Run("managed allow socket forces loopback", func(t *testing.T) {
		m := managedFile(t, `unix_sockets = { "/var/run/docker.sock" = "allow" }`)
		eff := mustMerge(t, m, userFile(t, c), "", "workspace-write")
		if eff.HTTPAddr.Value != "127.0.0.1:3128" {
			t.Errorf("http %q", eff.HTTPAddr.Value)
		}
	})
	t.Run("managed ceiling on non-loopback", func(t *testing.T) {
		m := managedFile(t, "dangerously_allow_non_loopback_proxy = false\n")
		eff := mustMerge(t, m, userFile(t, c), "", "workspace-write")
		if eff.HTTPAddr.Value != "127.0.0.1:3128" || eff.SocksAddr.Value != "127.0.0.1:8081" {
			t.Errorf("http %q socks %q", eff.HTTPAddr.Value, eff.SocksAddr.Value)
		}
	})
}

// TestUserManagedOnlyKeys: keys only a managed file may set are ignored in
// a user table, and say so.
func TestUserManagedOnlyKeys(t *testing.T) {
	u := userFile(t, "managed_allowed_domains_only = true\nhttp_port = 9999\ndomains = { \"a.example\" = \"allow\" }\n")
	eff := mustMerge(t, nil, u, "", "workspace-write")
	if eff.ManagedAllowedDomainsOnly.Value || eff.OnMiss.Value != policy.MissAsk || len(eff.Allow) != 1 {
		t.Errorf("user managed_allowed_domains_only took effect: %+v", eff.ManagedAllowedDomainsOnly)
	}
	if eff.HTTPAddr.Value != "127.0.0.1:3128" {
		t.Errorf("user http_port took effect: %s", eff.HTTPAddr.Value)
	}
	want := []string{"managed_allowed_domains_only = true (u:5)", "http_port = 9999 (u:6)"}
	if d := cmp.Diff(want, dropped(t, eff.Dropped)); d != "" {
		t.Errorf("dropped (-want +got):\n%s", d)
	}
}

func TestBadMode(t *testing.T) {
	if _, err := Effective(nil, nil, "", "yolo"); err == nil {
		t.Fatal("no error for an unknown session mode")
	}
}

// TestOnMissNote: merge says why misses are asked or denied, and where
// that came from, next to the value it decided.
func TestOnMissNote(t *testing.T) {
	for _, c := range []struct {
		managed, mode string
		miss          policy.OnMiss
		source        string
		note          string
	}{
		{"", "workspace-write", policy.MissAsk, "default", "workspace-write is a restricted session: misses are asked"},
		{"", "full-access", policy.MissDeny, "default", "full-access session: misses are denied"},
		{"managed_allowed_domains_only = true\n", "read-only", policy.MissDeny, "m:2", "managed_allowed_domains_only = true: misses are denied, never asked"},
		{"managed_allowed_domains_only = false\n", "read-only", policy.MissAsk, "default", "read-only is a restricted session: misses are asked"},
	} {
		var m *policy.File
		if c.managed != "" {
			m = managedFile(t, c.managed)
		}
		eff := mustMerge(t, m, nil, "", c.mode)
		got := eff.OnMiss
		if got.Value != c.miss || got.Note != c.note || short(got.Source) != c.source || got.Forced {
			t.Errorf("%s %q: on_miss %+v, want %s from %s (%q)", c.mode, c.managed, got, c.miss, c.source, c.note)
		}
	}
}
