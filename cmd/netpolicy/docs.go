package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// Markers of the generated part of docs/cli.md; the text around them is
// written by hand.
const (
	cliRefBegin = "<!-- reference:begin (generated: go test ./cmd/netpolicy -run TestGeneratedDocs -update) -->"
	cliRefEnd   = "<!-- reference:end -->"
)

// cliReference renders every visible command of app as Markdown: usage,
// description and a table of its flags, from the same definitions as
// --help, so docs/cli.md cannot drift from the binary.
func cliReference(app *cli.App) string {
	var sb strings.Builder
	for _, c := range app.VisibleCommands() {
		if c.Name == "help" {
			continue
		}
		fmt.Fprintf(&sb, "### `netpolicy %s`\n\n", c.Name)
		if u := strings.TrimSuffix(c.Usage, "."); u != "" {
			fmt.Fprintf(&sb, "%s.\n\n", strings.ToUpper(u[:1])+u[1:])
		}
		usage := "netpolicy " + c.Name
		if c.UsageText != "" {
			usage = c.UsageText
		} else {
			if len(c.VisibleFlags()) > 0 {
				usage += " [flags]"
			}
			if c.ArgsUsage != "" {
				usage += " " + c.ArgsUsage
			}
		}
		fmt.Fprintf(&sb, "```\n%s\n```\n\n", usage)
		if c.Description != "" {
			fmt.Fprintf(&sb, "```text\n%s\n```\n\n", strings.TrimRight(c.Description, "\n"))
		}
		var rows []string
		for _, f := range c.VisibleFlags() {
			df, ok := f.(cli.DocGenerationFlag)
			if !ok {
				continue
			}
			var names []string
			for _, n := range f.Names() {
				names = append(names, "`"+dashes(n)+"`")
			}
			def := ""
			if df.TakesValue() {
				if v := df.GetDefaultText(); v != "" {
					def = "`" + v + "`"
				} else if v := df.GetValue(); v != "" {
					def = "`" + v + "`"
				}
			}
			env := ""
			if ev := df.GetEnvVars(); len(ev) > 0 {
				env = "`" + strings.Join(ev, "`, `") + "`"
			}
			usage := strings.ReplaceAll(df.GetUsage(), "`", "")
			usage = strings.ReplaceAll(usage, "|", `\|`)
			rows = append(rows, fmt.Sprintf("| %s | %s | %s | %s |", strings.Join(names, ", "), usage, def, env))
		}
		if len(rows) > 0 {
			sb.WriteString("| flag | what | default | env |\n|---|---|---|---|\n")
			sb.WriteString(strings.Join(rows, "\n") + "\n\n")
		}
	}
	return sb.String()
}
