package sandbox

import "strings"

// proxyVarNames are the variables ProxyEnv sets or removes.
var proxyVarNames = []string{
	"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy",
	"ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy", "NETPOLICY_PROXY",
}

// IsolatedNoProxy is NO_PROXY under isolation: the namespace's loopback
// belongs to the command, so its own local servers are reached directly.
const IsolatedNoProxy = "localhost,127.0.0.1,::1"

// ProxyEnv returns base with the proxy variables of POLICY §7 for a proxy
// whose HTTP listener is httpAddr and SOCKS5 listener socksAddr ("" when
// SOCKS5 is off, which leaves ALL_PROXY unset). Variables of those names
// already in base are replaced. Without isolation NO_PROXY is empty, so
// that loopback goes through the policy too.
func ProxyEnv(base []string, httpAddr, socksAddr string, isolated bool) []string {
	out := make([]string, 0, len(base)+len(proxyVarNames))
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if !isProxyVar(name) {
			out = append(out, kv)
		}
	}
	httpURL := "http://" + httpAddr
	out = append(out,
		"HTTP_PROXY="+httpURL, "HTTPS_PROXY="+httpURL,
		"http_proxy="+httpURL, "https_proxy="+httpURL)
	if socksAddr != "" {
		out = append(out, "ALL_PROXY=socks5h://"+socksAddr, "all_proxy=socks5h://"+socksAddr)
	}
	noProxy := ""
	if isolated {
		noProxy = IsolatedNoProxy
	}
	out = append(out, "NO_PROXY="+noProxy, "no_proxy="+noProxy, "NETPOLICY_PROXY=1")
	return out
}

func isProxyVar(name string) bool {
	for _, n := range proxyVarNames {
		if name == n {
			return true
		}
	}
	return false
}
