package lint_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netpolicy/netpolicy/lint"
	"github.com/netpolicy/netpolicy/policy"
)

// TestConcurrentCheck: Check keeps its fix plans per call, so concurrent
// calls on different files (run with -race) each get exactly what a call
// alone gets, fixes and their NoFix reasons included.
func TestConcurrentCheck(t *testing.T) {
	var files []*policy.File
	for i := range 8 {
		src := fmt.Sprintf("[network]\nallowed_domains = [\"a%d.example:443\", \"b%d.example\"]\ndenied_domains = [\"c%d.example\"]\n[network.domains]\n\"d%d.example\" = \"allow\"\n", i, i, i, i)
		if i%2 == 1 {
			src += "[network_proxy]\nenabled = true\n" // NP013 with a NoFix reason
		}
		files = append(files, policy.Load(fmt.Sprintf("c%d.toml", i), []byte(src), policy.KindConfig))
	}
	want := make([][]lint.Diagnostic, len(files))
	for i, f := range files {
		want[i] = lint.Check(f)
		if len(want[i]) == 0 {
			t.Fatalf("%s: no findings", f.Path)
		}
	}
	got := make([][]lint.Diagnostic, len(files))
	var wg sync.WaitGroup
	for round := range 4 {
		for i, f := range files {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ds := lint.Check(f)
				if round == 0 {
					got[i] = ds
				}
			}()
		}
	}
	wg.Wait()
	for i := range files {
		if d := cmp.Diff(lines(want[i]), lines(got[i])); d != "" {
			t.Errorf("%s: concurrent Check differs (-alone +concurrent):\n%s", files[i].Path, d)
		}
	}
	var noFix int
	for _, ds := range want {
		for _, d := range ds {
			if d.NoFix != "" {
				noFix++
			}
		}
	}
	if noFix == 0 {
		t.Error("no finding carries a NoFix reason; the test lost its point")
	}
}

// lines shows diagnostics with their fixes and NoFix reasons.
func lines(ds []lint.Diagnostic) []string {
	var out []string
	for _, d := range ds {
		s := d.String()
		if d.Fix != nil {
			s += fmt.Sprintf(" fix=%+v", *d.Fix)
		}
		out = append(out, s+" nofix="+d.NoFix)
	}
	return out
}
