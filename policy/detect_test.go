package policy

import (
	"strings"
	"testing"
)

func TestDetectOwnership(t *testing.T) {
	tests := []struct {
		path, src string
		want      bool
		why       string
	}{
		{"a/config.toml", "[package]\nname = 1\n", true, "named config.toml"},
		{"requirements.managed.toml", "", true, "named requirements.managed.toml"},
		{"Cargo.toml", "[package]\nname = \"x\"\n[dependencies]\nserde = \"1\"\n", false, "no table netpolicy reads"},
		{"pyproject.toml", "[project]\nname = \"x\"\n[tool.ruff]\nline-length = 100\n", false, "no table netpolicy reads"},
		{"x.toml", "[experimental_network]\n", true, "holds [experimental_network]"},
		{"x.toml", "default_permissions = \"dev\"\n", true, "holds default_permissions"},
		{"x.toml", "[permissions.dev.network]\nenabled = true\n", true, "holds [permissions.dev.network]"},
		{"x.toml", "[permissions.dev]\ndescription = \"x\"\n", false, "no table netpolicy reads"},
		{"x.toml", "[permissions.network]\nallowed_domains = []\n", true, "holds [permissions.network] with allowed_domains"},
		{"x.toml", "[permissions.network]\nenabled = true\n", false, "no table netpolicy reads"},
		{"x.toml", "[network_proxy.policy]\n", true, "holds [network_proxy.policy]"},
		{"x.toml", "[network_proxy]\nlisten = \"0.0.0.0:1\"\n", false, "no table netpolicy reads"},
		{"x.toml", "[network_proxy]\ndangerously_allow_all_unix_sockets = true\n", true, "holds [network_proxy] with dangerously_allow_all_unix_sockets"},
		{"x.toml", "[network]\ndomains = {}\n", true, "holds [network] with domains"},
		{"x.toml", "[network]\nenabled = true\nmode = \"full\"\nproxy_url = \"x\"\n", false, "its [network] table has no key netpolicy reads"},
		{"x.toml", "[network]\ntimeout = 3\n", false, "its [network] table has no key netpolicy reads"},
		{"x.toml", "[network\nallowed_domains = [\"a\"]\n", true, "not valid TOML but mentions domains"},
		{"x.toml", "[package\nname = 1\n", false, "not valid TOML and mentions no netpolicy key"},
	}
	for _, tt := range tests {
		got := DetectOwnership(tt.path, []byte(tt.src))
		if got.Policy != tt.want || got.Why != tt.why {
			t.Errorf("DetectOwnership(%q, %q) = %+v, want {%v %q}", tt.path, strings.ReplaceAll(tt.src, "\n", "⏎"), got, tt.want, tt.why)
		}
	}
}
