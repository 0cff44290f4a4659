package schema

// keyDocs are the editor hover texts of the network keys. A key of
// policy.NetworkKeys without one still gets its type and tables; the text
// only helps the reader.
var keyDocs = map[string]string{
	"enabled":                              "Turn the network proxy on. Off means every request is refused. A managed value caps the user's.",
	"mode":                                 "full lets every method through; limited allows only GET, HEAD and OPTIONS on plain HTTP (HTTPS is refused unless intercepted).",
	"allow_local_binding":                  "Allow names that resolve to local or private addresses, and local IP literals. A managed value caps the user's.",
	"allow_upstream_proxy":                 "Send requests through the upstream proxy of the environment (HTTP_PROXY and friends). A managed value caps the user's.",
	"dangerously_allow_non_loopback_proxy": "Let the proxy listen on a non-loopback address. Otherwise listeners are clamped to 127.0.0.1. A managed value caps the user's.",
	"dangerously_allow_all_unix_sockets":   "Allow every unix socket not set to none or deny. A managed value caps the user's.",
	"managed_allowed_domains_only":         "Only the managed allow rules count: the user's allow rules are ignored (deny rules still apply).",
	"enable_socks5":                        "Start the SOCKS5 listener (default true).",
	"enable_socks5_udp":                    "Ask for SOCKS5 UDP ASSOCIATE. The proxy does not support it and answers 'command not supported'.",
	"mitm":                                 "Intercept HTTPS in limited mode with the local CA, so that the method guard can see the requests.",
	"http_port":                            "The port of the HTTP proxy listener (managed only).",
	"socks_port":                           "The port of the SOCKS5 listener (managed only).",
	"proxy_url":                            "The address of the HTTP proxy listener, such as http://127.0.0.1:3128.",
	"socks_url":                            "The address of the SOCKS5 listener, such as socks5://127.0.0.1:8081.",
	"domains":                              "Domain rules: pattern = \"allow\" or \"deny\".",
	"unix_sockets":                         "Unix socket rules: absolute path = \"allow\", \"none\" or \"deny\".",
	"allowed_domains":                      "Hosts to allow.",
	"denied_domains":                       "Hosts to deny.",
	"allow_unix_sockets":                   "Unix socket paths to allow.",
	"admin_url":                            "The old admin listener.",
	"dangerously_allow_non_loopback_admin": "The old admin listener's non-loopback switch.",
	"danger_full_access_denylist_only":     "The old full-access switch.",
}

func keyDoc(name string) string { return keyDocs[name] }
