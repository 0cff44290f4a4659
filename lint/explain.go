package lint

import (
	"strings"
)

// severityCell is the severity as the rules table writes it.
func severityCell(r *Rule) string {
	s := r.Severity.String()
	if r.NotSuppressible {
		s += ", not suppressible"
	}
	return s
}

// RulesMarkdown returns the rules table of the README (and CLI.md):
// id | severity | fixable | what, one row per registered rule.
func RulesMarkdown() string {
	var sb strings.Builder
	sb.WriteString("| id | severity | fixable | what |\n|---|---|---|---|\n")
	for _, r := range Rules() {
		sb.WriteString("| " + r.ID + " | " + severityCell(r) + " |" + mdCell(r.Fixable) + "|" + mdCell(r.Title) + "|\n")
	}
	return sb.String()
}

// mdCell pads a table cell; an empty cell is a single space.
func mdCell(s string) string {
	if s == "" {
		return " "
	}
	return " " + strings.ReplaceAll(s, "|", `\|`) + " "
}

// Explain returns the documentation `netpolicy lint --explain` prints for r.
func Explain(r *Rule) string {
	var sb strings.Builder
	sb.WriteString(r.ID + ": " + r.Title + "\n\n")
	fix := r.Fixable
	if fix == "" {
		fix = "no"
	}
	supp := "yes"
	if r.NotSuppressible || r.Scope == ScopeMeta {
		supp = "no"
	}
	scope := "each file"
	switch r.Scope {
	case ScopeCross:
		scope = "a requirements and a config file linted together"
	case ScopeMeta:
		scope = "reported by the linter itself"
	}
	sb.WriteString("severity:     " + r.Severity.String() + "\n")
	sb.WriteString("fixable:      " + fix + "\n")
	sb.WriteString("suppressible: " + supp + "\n")
	sb.WriteString("checks:       " + scope + "\n")
	if r.Doc != "" {
		sb.WriteString("\n" + strings.TrimSpace(r.Doc) + "\n")
	}
	if r.Example != "" {
		sb.WriteString("\nExample:\n\n" + indent(r.Example) + "\n")
	}
	if r.Fixed != "" {
		label := "Instead:"
		if r.Fixable != "" {
			label = "Fix (netpolicy migrate):"
		}
		sb.WriteString("\n" + label + "\n\n" + indent(r.Fixed) + "\n")
	}
	if r.Scope != ScopeMeta && !r.NotSuppressible {
		sb.WriteString("\nSuppress one finding with a comment on the line above or at the end of\nthe line, giving a reason:\n\n    # netpolicy: ignore[" + r.ID + "] why this is fine\n")
	}
	return sb.String()
}

// explainMarkdown is Explain for SARIF's help.markdown.
func explainMarkdown(r *Rule) string {
	var sb strings.Builder
	sb.WriteString("**" + r.ID + "**: " + r.Title + "\n\n")
	if r.Doc != "" {
		sb.WriteString(strings.TrimSpace(r.Doc) + "\n")
	}
	if r.Example != "" {
		sb.WriteString("\nExample:\n\n```toml\n" + strings.TrimSpace(r.Example) + "\n```\n")
	}
	if r.Fixed != "" {
		sb.WriteString("\nFixed:\n\n```toml\n" + strings.TrimSpace(r.Fixed) + "\n```\n")
	}
	return sb.String()
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "    " + l
		}
	}
	return strings.Join(lines, "\n")
}
