package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/netpolicy/netpolicy/merge"
	"github.com/netpolicy/netpolicy/policy"
)

// V113: the listener addresses serve uses, as computed by the merge, and a
// flag's address clamped the same way. Nothing here binds a socket.
func TestV113Listeners(t *testing.T) {
	const nonLoop = "proxy_url = \"http://0.0.0.0:3128\"\nsocks_url = \"http://0.0.0.0:8081\"\n"
	const danger = "dangerously_allow_non_loopback_proxy = true\n"
	for _, tc := range []struct {
		name, config    string
		http, socks     string // from the policy
		flagIn, flagOut string // --http 0.0.0.0:0 becomes
	}{
		{"a-defaults", "", "127.0.0.1:3128", "127.0.0.1:8081", "0.0.0.0:0", "127.0.0.1:0"},
		{"b-clamped", nonLoop, "127.0.0.1:3128", "127.0.0.1:8081", "0.0.0.0:0", "127.0.0.1:0"},
		{"c-allowed", nonLoop + danger, "0.0.0.0:3128", "0.0.0.0:8081", "0.0.0.0:0", "0.0.0.0:0"},
		{"d-socket-allowed", nonLoop + danger + "unix_sockets = { \"/var/run/docker.sock\" = \"allow\" }\n", "127.0.0.1:3128", "127.0.0.1:8081", "0.0.0.0:0", "127.0.0.1:0"},
		{"e-all-sockets", nonLoop + danger + "dangerously_allow_all_unix_sockets = true\n", "127.0.0.1:3128", "127.0.0.1:8081", "0.0.0.0:0", "127.0.0.1:0"},
		{"f-socket-none", nonLoop + danger + "unix_sockets = { \"/var/run/docker.sock\" = \"none\" }\n", "0.0.0.0:3128", "0.0.0.0:8081", "[::]:0", "[::]:0"},
		{"g-no-socks5", "enable_socks5 = false\n", "127.0.0.1:3128", "", ":0", "127.0.0.1:0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.toml")
			src := "[network]\nenabled = true\n" + tc.config
			if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			eff, _, err := policySources{ConfigPath: path, Mode: policy.ModeWorkspaceWrite}.Load()
			if err != nil {
				t.Fatal(err)
			}
			if eff.HTTPAddr.Value != tc.http || eff.SocksAddr.Value != tc.socks {
				t.Errorf("listeners http=%q socks=%q, want %q %q", eff.HTTPAddr.Value, eff.SocksAddr.Value, tc.http, tc.socks)
			}
			got, _, err := merge.ClampListener(tc.flagIn, eff)
			if err != nil || got != tc.flagOut {
				t.Errorf("clampListener(%q) = %q, %v; want %q", tc.flagIn, got, err, tc.flagOut)
			}
		})
	}
}

func TestClampListenerRejects(t *testing.T) {
	eff := &policy.Effective{}
	for _, bad := range []string{"127.0.0.1", "127.0.0.1:65536", "127.0.0.1:+80", "127.0.0.1:080", "127.0.0.1:-1"} {
		if _, _, err := merge.ClampListener(bad, eff); err == nil {
			t.Errorf("clampListener(%q) accepted", bad)
		}
	}
	for _, ok := range []string{"localhost:0", "[::1]:8080", "127.0.0.2:1"} {
		if got, note, err := merge.ClampListener(ok, eff); err != nil || got != ok || note != "" {
			t.Errorf("clampListener(%q) = %q %q %v", ok, got, note, err)
		}
	}
}
