package lint_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/netpolicy/netpolicy/lint"
	"github.com/netpolicy/netpolicy/policy"
)

// Linting a 4,000-deep extends chain (each profile with a rule, a listener
// and a mode to resolve through its ancestors) takes time linear in the
// chain; it took minutes when every rule resolved every profile afresh. A
// cycle at the end of the chain is still found.
func TestLintDeepExtendsChainIsFast(t *testing.T) {
	const depth = 4000
	var b strings.Builder
	fmt.Fprintf(&b, "default_permissions = \"p%d\"\n\n", depth-1)
	for i := range depth {
		fmt.Fprintf(&b, "[permissions.p%d]\n", i)
		if i > 0 {
			fmt.Fprintf(&b, "extends = \"p%d\"\n", i-1)
		}
		fmt.Fprintf(&b, "[permissions.p%d.network]\nenabled = true\nmitm = true\nproxy_url = \"http://127.0.0.1:3128\"\ndomains = { \"h%d.example.com\" = \"allow\" }\n", i, i)
		if i == 0 {
			b.WriteString("mode = \"limited\"\n")
		}
		b.WriteString("\n")
	}
	b.WriteString("[permissions.x]\nextends = \"y\"\n[permissions.y]\nextends = \"x\"\n")
	f := policy.Load("config.toml", []byte(b.String()), policy.KindConfig)
	start := time.Now()
	diags := lint.Check(f)
	took := time.Since(start)
	t.Logf("depth %d: %v, %d diagnostics", depth, took, len(diags))
	var cycles, mitm int
	for _, d := range diags {
		switch d.Rule.ID {
		case "NP050":
			cycles++
		case "NP043":
			mitm++
		}
	}
	if cycles != 2 || mitm != 0 {
		t.Errorf("NP050 ×%d (want 2, the x↔y cycle), NP043 ×%d (want 0: every profile inherits mode = limited)", cycles, mitm)
	}
	if took > 5*time.Second {
		t.Errorf("linting a %d-deep chain took %v", depth, took)
	}
}
