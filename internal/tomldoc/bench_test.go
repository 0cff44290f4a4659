package tomldoc

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkParseDoc10k parses 10,000 domain rules in the two common shapes;
// time per key must not grow with the size of the table.
func BenchmarkParseDoc10k(b *testing.B) {
	for _, form := range []string{"subtable", "inline"} {
		var sb strings.Builder
		if form == "inline" {
			sb.WriteString("[network]\ndomains = { ")
		} else {
			sb.WriteString("[network.domains]\n")
		}
		for i := 0; i < 10000; i++ {
			if form == "inline" {
				if i > 0 {
					sb.WriteString(", ")
				}
				fmt.Fprintf(&sb, "\"h%d.example.com\" = \"allow\"", i)
			} else {
				fmt.Fprintf(&sb, "\"h%d.example.com\" = \"allow\"\n", i)
			}
		}
		if form == "inline" {
			sb.WriteString(" }\n")
		}
		src := []byte(sb.String())
		b.Run(form, func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			for i := 0; i < b.N; i++ {
				if _, err := ParseDoc(src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
