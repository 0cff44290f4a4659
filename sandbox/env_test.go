package sandbox

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestProxyEnv(t *testing.T) {
	base := []string{"PATH=/bin", "HTTP_PROXY=http://old:1", "no_proxy=corp.example", "ALL_PROXY=socks5://old:2", "HOME=/h"}
	for _, tc := range []struct {
		name        string
		http, socks string
		isolated    bool
		want        []string
	}{
		{"no-isolation", "127.0.0.1:3128", "127.0.0.1:8081", false, []string{
			"PATH=/bin", "HOME=/h",
			"HTTP_PROXY=http://127.0.0.1:3128", "HTTPS_PROXY=http://127.0.0.1:3128",
			"http_proxy=http://127.0.0.1:3128", "https_proxy=http://127.0.0.1:3128",
			"ALL_PROXY=socks5h://127.0.0.1:8081", "all_proxy=socks5h://127.0.0.1:8081",
			"NO_PROXY=", "no_proxy=", "NETPOLICY_PROXY=1",
		}},
		{"isolated-no-socks", "127.0.0.1:4000", "", true, []string{
			"PATH=/bin", "HOME=/h",
			"HTTP_PROXY=http://127.0.0.1:4000", "HTTPS_PROXY=http://127.0.0.1:4000",
			"http_proxy=http://127.0.0.1:4000", "https_proxy=http://127.0.0.1:4000",
			"NO_PROXY=localhost,127.0.0.1,::1", "no_proxy=localhost,127.0.0.1,::1", "NETPOLICY_PROXY=1",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(base)
			got := ProxyEnv(in, tc.http, tc.socks, tc.isolated)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("ProxyEnv (-want +got):\n%s", d)
			}
			if !slices.Equal(in, base) {
				t.Errorf("ProxyEnv changed its input: %q", in)
			}
		})
	}
}

func TestStatusExitCode(t *testing.T) {
	for _, tc := range []struct {
		st   Status
		want int
	}{
		{Status{Code: 0}, 0},
		{Status{Code: 7}, 7},
		{Status{Signal: 9}, 137},
		{Status{Signal: 15}, 143},
	} {
		if got := tc.st.ExitCode(); got != tc.want {
			t.Errorf("%+v.ExitCode() = %d, want %d", tc.st, got, tc.want)
		}
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"auto": Auto, "on": On, "off": Off} {
		if got, ok := ParseMode(in); !ok || got != want {
			t.Errorf("ParseMode(%q) = %q, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "yes", "ON"} {
		if _, ok := ParseMode(in); ok {
			t.Errorf("ParseMode(%q) accepted", in)
		}
	}
}
