package lint

import (
	"testing"

	"github.com/netpolicy/netpolicy/policy"
)

// Cross-file rules pair a config with the requirements of its own directory
// when a call holds several requirements files, and with the only one
// otherwise.
func TestCrossFilePairing(t *testing.T) {
	onlyManaged := "[experimental_network]\nmanaged_allowed_domains_only = true\ndomains = { \"corp.example.com\" = \"allow\" }\n"
	open := "[experimental_network]\nenabled = true\n"
	user := "[network]\nenabled = true\ndomains = { \"git.example.org\" = \"allow\" }\n"
	load := func(path, src string) *policy.File { return policy.Load(path, []byte(src), policy.KindAuto) }
	count := func(ds []Diagnostic, file string) int {
		n := 0
		for _, d := range ds {
			if d.Rule.ID == "NP061" && d.File == file {
				n++
			}
		}
		return n
	}

	// One requirements file: it applies to every config, wherever it is.
	ds := Check(load("a/requirements.toml", onlyManaged), load("b/config.toml", user))
	if count(ds, "b/config.toml") != 1 {
		t.Errorf("single requirements file: want NP061 on b/config.toml, got %v", ds)
	}

	// Two setups side by side: each config meets only its own requirements.
	ds = Check(load("a/requirements.toml", onlyManaged), load("a/config.toml", user),
		load("b/requirements.toml", open), load("b/config.toml", user))
	if count(ds, "a/config.toml") != 1 || count(ds, "b/config.toml") != 0 {
		t.Errorf("two setups: want NP061 on a/config.toml only, got %v", ds)
	}
}
