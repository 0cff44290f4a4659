package policy

import (
	"bytes"
	"path/filepath"

	"github.com/netpolicy/netpolicy/internal/tomldoc"
)

// Ownership says whether a TOML file met in a directory walk is a policy
// file, and why. Lint and migrate only read (and migrate only rewrites) the
// files a walk finds to be policy files; files named on the command line are
// always read.
type Ownership struct {
	// Policy is true when the file is a netpolicy file.
	Policy bool
	// Why is a short phrase for --verbose: "named config.toml",
	// "holds [experimental_network]", "no table netpolicy reads".
	Why string
}

// genericNetworkKeys are the network keys another tool's [network] or
// [network_proxy] table may well have too; they do not make such a table
// ours. Every other key of NetworkKeys (domains, allowed_domains,
// dangerously_allow_all_unix_sockets, …) does.
var genericNetworkKeys = map[string]bool{
	"enabled": true, "mode": true, "proxy_url": true, "socks_url": true,
	"http_port": true, "socks_port": true, "admin_url": true,
}

// isPolicyName reports whether a file name alone makes a file a policy file:
// config.toml, or requirements*.toml.
func isPolicyName(path string) bool {
	return filepath.Base(path) == "config.toml" || isRequirementsName(path)
}

// DetectOwnership decides whether a TOML file found in a directory walk is a
// policy file. The rule, in order:
//
//  1. named config.toml or requirements*.toml: yes;
//  2. not valid TOML: yes when the text names a key only netpolicy uses
//     (experimental_network, default_permissions, domains, unix_sockets, the
//     legacy lists, …), so that a broken policy file still gets NP001; no
//     otherwise;
//  3. holds [experimental_network], a default_permissions key, a
//     [permissions.<name>.network] table, or [network_proxy.policy]: yes;
//  4. holds a [network], [network_proxy] or [permissions.network] table with
//     at least one key of ours that is not generic (anything in NetworkKeys
//     except enabled, mode, proxy_url, socks_url, http_port, socks_port and
//     admin_url): yes;
//  5. anything else (Cargo.toml, pyproject.toml, another tool's [network]):
//     no.
func DetectOwnership(path string, src []byte) Ownership {
	d, err := tomldoc.ParseDoc(src)
	if err != nil {
		d = nil
	}
	return ownership(path, src, d)
}

// Ownership is DetectOwnership of a loaded file, from the document Load
// parsed: a walk loads each file once and asks it.
func (f *File) Ownership() Ownership { return ownership(f.Path, f.Src, f.Doc) }

// ownership is DetectOwnership of src parsed into d (nil when src is not
// valid TOML).
func ownership(path string, src []byte, d *tomldoc.Doc) Ownership {
	if isPolicyName(path) {
		return Ownership{true, "named " + filepath.Base(path)}
	}
	if d == nil {
		for _, k := range distinctiveWords() {
			if bytes.Contains(src, []byte(k)) {
				return Ownership{true, "not valid TOML but mentions " + k}
			}
		}
		return Ownership{false, "not valid TOML and mentions no netpolicy key"}
	}
	root := d.Root
	if root.Sub("experimental_network") != nil {
		return Ownership{true, "holds [experimental_network]"}
	}
	if root.Get("default_permissions") != nil {
		return Ownership{true, "holds default_permissions"}
	}
	if np := root.Sub("network_proxy"); np != nil {
		if np.Sub("policy") != nil {
			return Ownership{true, "holds [network_proxy.policy]"}
		}
		if k := distinctiveKey(np); k != "" {
			return Ownership{true, "holds [network_proxy] with " + k}
		}
	}
	if perms := root.Sub("permissions"); perms != nil {
		for _, e := range perms.Entries {
			if e.Value.Kind != tomldoc.KindTable {
				continue
			}
			if e.Key == "network" {
				if k := distinctiveKey(e.Value.Table); k != "" {
					return Ownership{true, "holds [permissions.network] with " + k}
				}
			}
			if e.Value.Table.Sub("network") != nil {
				return Ownership{true, "holds [permissions." + tomldoc.QuoteKey(e.Key) + ".network]"}
			}
		}
	}
	if n := root.Sub("network"); n != nil {
		if k := distinctiveKey(n); k != "" {
			return Ownership{true, "holds [network] with " + k}
		}
		return Ownership{false, "its [network] table has no key netpolicy reads"}
	}
	return Ownership{false, "no table netpolicy reads"}
}

// distinctiveKey returns the first key of t that makes it a network table of
// ours, or "".
func distinctiveKey(t *tomldoc.Table) string {
	for _, e := range t.Entries {
		if !genericNetworkKeys[e.Key] && Key(e.Key) != nil {
			return e.Key
		}
	}
	return ""
}

// distinctiveWords are the key names whose mere mention in a file that does
// not parse makes it ours.
func distinctiveWords() []string {
	words := []string{"experimental_network", "default_permissions"}
	for i := range NetworkKeys {
		if !genericNetworkKeys[NetworkKeys[i].Name] {
			words = append(words, NetworkKeys[i].Name)
		}
	}
	return words
}
