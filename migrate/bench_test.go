package migrate

import (
	"fmt"
	"strings"
	"testing"

	"github.com/netpolicy/netpolicy/policy"
)

// legacy10k is a requirements file with 10,000 legacy entries (7,000
// allowed, 3,000 denied) over several lines, with a comment every tenth.
func legacy10k() []byte {
	var sb strings.Builder
	sb.WriteString("# generated\n[experimental_network]\nenabled = true\n")
	list := func(key string, from, n int) {
		sb.WriteString(key + " = [\n")
		for i := from; i < from+n; i++ {
			fmt.Fprintf(&sb, "  \"host%d.example.com\",", i)
			if i%10 == 0 {
				fmt.Fprintf(&sb, " # team %d", i/10)
			}
			sb.WriteString("\n")
		}
		sb.WriteString("]\n")
	}
	list("allowed_domains", 0, 7000)
	list("denied_domains", 7000, 3000)
	return []byte(sb.String())
}

func reportMS(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}

// BenchmarkMigrate10k migrates the 10,000-entry file: lint, fix, re-lint,
// verify.
func BenchmarkMigrate10k(b *testing.B) {
	src := legacy10k()
	for b.Loop() {
		f := policy.Load("requirements.toml", src, policy.KindRequirements)
		out, _, err := Apply(f)
		if err != nil || len(out) == 0 {
			b.Fatal(err)
		}
	}
	reportMS(b)
}

// BenchmarkDiff10k diffs the 10,000-entry file against its migration.
func BenchmarkDiff10k(b *testing.B) {
	src := legacy10k()
	out, _, err := Apply(policy.Load("requirements.toml", src, policy.KindRequirements))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if Diff("requirements.toml", src, out) == "" {
			b.Fatal("no diff")
		}
	}
	reportMS(b)
}
