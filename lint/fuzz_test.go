package lint_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/netpolicy/netpolicy/internal/tomldoc"
	"github.com/netpolicy/netpolicy/lint"
	"github.com/netpolicy/netpolicy/policy"
)

// FuzzLint feeds arbitrary bytes to Check, as a requirements file and a
// config file linted together (so the cross-file rules run too): it must
// never panic, and every position and edit must lie inside the file with
// line and column agreeing with the byte offset.
func FuzzLint(f *testing.F) {
	for _, v := range vectors {
		for _, s := range v.files {
			f.Add([]byte(s.text))
		}
	}
	paths, _ := filepath.Glob(filepath.Join(fixtureDir, "*.toml"))
	more, _ := filepath.Glob(filepath.Join(fixtureDir, "*", "*.toml"))
	for _, p := range append(paths, more...) {
		if src, err := os.ReadFile(p); err == nil {
			f.Add(src)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		files := []*policy.File{
			policy.Load("requirements.toml", src, policy.KindRequirements),
			policy.Load("config.toml", src, policy.KindConfig),
		}
		for _, d := range lint.Check(files...) {
			if d.Rule == nil {
				t.Fatalf("diagnostic without a rule: %+v", d)
			}
			checkPos(t, src, d, "start", d.Pos)
			checkPos(t, src, d, "end", d.End)
			if d.End.Offset < d.Pos.Offset {
				t.Fatalf("%s: end %v before start %v", d.Rule.ID, d.End, d.Pos)
			}
			if d.Fix != nil {
				for _, e := range d.Fix.Edits {
					if e.Start < 0 || e.End < e.Start || e.End > len(src) {
						t.Fatalf("%s: edit [%d,%d) outside a %d-byte file", d.Rule.ID, e.Start, e.End, len(src))
					}
				}
			}
		}
	})
}

// checkPos checks that p lies inside src and that its line and column
// (Unicode characters, 1-based) are those of its byte offset.
func checkPos(t *testing.T, src []byte, d lint.Diagnostic, which string, p tomldoc.Pos) {
	t.Helper()
	lines := bytes.Count(src, []byte("\n")) + 1
	if p.Offset < 0 || p.Offset > len(src) || p.Line < 1 || p.Line > lines || p.Column < 1 {
		t.Fatalf("%s %s position %+v outside the file (%d bytes, %d lines): %s", d.Rule.ID, which, p, len(src), lines, d.Message)
	}
	ls := bytes.LastIndexByte(src[:p.Offset], '\n') + 1
	line := bytes.Count(src[:p.Offset], []byte("\n")) + 1
	col := utf8.RuneCount(src[ls:p.Offset]) + 1
	if line != p.Line || col != p.Column {
		t.Fatalf("%s %s position %+v: offset %d is line %d column %d", d.Rule.ID, which, p, p.Offset, line, col)
	}
}

// genDomains writes a config whose [network.domains] holds n entries: a
// mix of exact names, wildcards, IP literals and deny rules, as a large
// generated allowlist would.
func genDomains(n int) []byte {
	var sb strings.Builder
	sb.WriteString("[network]\nenabled = true\n\n[network.domains]\n")
	for i := 0; i < n; i++ {
		switch i % 10 {
		case 0:
			fmt.Fprintf(&sb, "\"*.svc%d.example.com\" = \"allow\"\n", i)
		case 1:
			fmt.Fprintf(&sb, "\"**.cdn%d.example.net\" = \"allow\"\n", i)
		case 2:
			fmt.Fprintf(&sb, "\"10.%d.%d.1\" = \"allow\"\n", i/256%256, i%256)
		case 3:
			fmt.Fprintf(&sb, "\"ads%d.example.org\" = \"deny\"\n", i)
		case 4:
			fmt.Fprintf(&sb, "\"*.track%d.example.org\" = \"deny\"\n", i)
		case 5:
			fmt.Fprintf(&sb, "\"edge*.r%d.example.com\" = \"allow\"  # regional edges\n", i)
		default:
			fmt.Fprintf(&sb, "\"host%d.team%d.example.com\" = \"allow\"\n", i, i%97)
		}
	}
	return []byte(sb.String())
}

// BenchmarkLint10k loads and lints a 10,000-entry domains file, which is
// what `netpolicy lint` does per file.
func BenchmarkLint10k(b *testing.B) {
	src := genDomains(10000)
	if ds := lint.Check(policy.Load("config.toml", src, policy.KindAuto)); len(ds) != 0 {
		b.Fatalf("generated file has findings: %d, first %s %s", len(ds), ds[0].Rule.ID, ds[0].Message)
	}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		lint.Check(policy.Load("config.toml", src, policy.KindAuto))
	}
}

// BenchmarkCheck10k is BenchmarkLint10k without the parse.
func BenchmarkCheck10k(b *testing.B) {
	f := policy.Load("config.toml", genDomains(10000), policy.KindAuto)
	b.ReportAllocs()
	for b.Loop() {
		lint.Check(f)
	}
}
