package main

import (
	"bytes"
	"encoding/json"
	"regexp"
	"testing"

	"github.com/netpolicy/netpolicy/merge"
	"github.com/netpolicy/netpolicy/policy"
)

func TestServeLogger(t *testing.T) {
	var buf bytes.Buffer
	l, err := newServeLogger(&buf, "text", "serve")
	if err != nil {
		t.Fatal(err)
	}
	l.Info("listening http=127.0.0.1:1 socks=off")
	l.Warn("reload failed", "file", "/tmp/my config.toml", "n", 2)
	want := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO netpolicy serve: listening http=127.0.0.1:1 socks=off\n` +
		`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARN netpolicy serve: reload failed file="/tmp/my config.toml" n=2\n$`)
	if !want.MatchString(buf.String()) {
		t.Errorf("text log:\n%s", buf.String())
	}

	buf.Reset()
	if l, err = newServeLogger(&buf, "json", "serve"); err != nil {
		t.Fatal(err)
	}
	l.Info("reloaded the policy", "file", "cfg.toml")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	if rec["level"] != "INFO" || rec["msg"] != "reloaded the policy" || rec["file"] != "cfg.toml" || rec["time"] == nil || rec["logger"] != "netpolicy serve" {
		t.Errorf("json log record: %v", rec)
	}
	if _, err := newServeLogger(&buf, "xml", "serve"); err == nil {
		t.Error("an unknown --log-format must be refused")
	}
}

func TestPolicyChange(t *testing.T) {
	eff := func(src string) *policy.Effective {
		t.Helper()
		f := policy.Load("cfg.toml", []byte(src), policy.KindConfig)
		e, err := merge.Effective(nil, f, "", policy.ModeWorkspaceWrite)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	a := eff("[network]\nenabled = true\ndomains = { \"a.example\" = \"allow\", \"b.example\" = \"deny\" }\n")
	for _, tc := range []struct{ src, want string }{
		{"[network]\nenabled = true\ndomains = { \"a.example\" = \"allow\", \"b.example\" = \"deny\" }\n# a comment\n",
			"no change to rules or settings"},
		{"[network]\nenabled = true\ndomains = { \"a.example\" = \"allow\", \"c.example\" = \"allow\" }\n",
			"1 rule added (allow c.example); 1 rule removed (deny b.example)"},
		{"[network]\nenabled = false\nallow_local_binding = true\ndomains = { \"a.example\" = \"allow\", \"b.example\" = \"deny\" }\nunix_sockets = { \"/run/x.sock\" = \"allow\" }\n",
			"1 rule added (socket allow /run/x.sock); settings changed: enabled true → false, allow_local_binding false → true"},
		{"[network]\nenabled = true\ndomains = { \"a.example\" = \"allow\", \"b.example\" = \"deny\", \"1.example\" = \"allow\", \"2.example\" = \"allow\", \"3.example\" = \"allow\", \"4.example\" = \"allow\" }\n",
			"4 rules added (allow 1.example, allow 2.example, allow 3.example, and 1 more)"},
	} {
		if got := policyChange(a, eff(tc.src)); got != tc.want {
			t.Errorf("policyChange:\n got %s\nwant %s", got, tc.want)
		}
	}
}
