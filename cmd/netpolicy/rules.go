package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/netpolicy/netpolicy/lint"
)

// rulesCommand is the `netpolicy rules` command.
func rulesCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "rules",
		Usage: "list the lint rules with their severity and whether they are fixable",
		Description: "Rules prints one line per lint rule: its ID, severity, whether migrate can\n" +
			"fix it, whether a suppression comment can silence it, and what it catches.\n" +
			"lint --explain all prints the same; lint --explain NPxxx a rule's full\n" +
			"documentation.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "text", Usage: "output `FORMAT`: text, json or markdown"},
		},
		Action: func(c *cli.Context) error {
			if c.Args().Len() > 0 {
				return exitCode(exitUsage, "netpolicy rules: takes no arguments (lint --explain %s documents one rule)", c.Args().First())
			}
			return writeRules(e.stdout, c.String("format"))
		},
	}
}

// jsonRule is one rule in `netpolicy rules --format json`.
type jsonRule struct {
	ID           string `json:"id"`
	Severity     string `json:"severity"`
	Fixable      bool   `json:"fixable"`
	FixableNote  string `json:"fixableNote,omitempty"`
	Suppressible bool   `json:"suppressible"`
	Title        string `json:"title"`
}

// writeRules lists every lint rule.
func writeRules(w io.Writer, format string) error {
	rules := lint.Rules()
	switch format {
	case "markdown":
		_, err := io.WriteString(w, lint.RulesMarkdown())
		return err
	case "json":
		out := make([]jsonRule, 0, len(rules))
		for _, r := range rules {
			jr := jsonRule{ID: r.ID, Severity: r.Severity.String(), Fixable: r.Fixable != "", Suppressible: suppressible(r), Title: r.Title}
			if r.Fixable != "yes" {
				jr.FixableNote = r.Fixable
			}
			out = append(out, jr)
		}
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	case "text":
	default:
		return exitCode(exitUsage, "netpolicy rules: invalid --format %q: want text, json or markdown", format)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSEVERITY\tFIXABLE\tSUPPRESSIBLE\tWHAT")
	for _, r := range rules {
		fix := "no"
		if r.Fixable != "" {
			fix = r.Fixable
		}
		supp := "no"
		if suppressible(r) {
			supp = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Severity, fix, supp, r.Title)
	}
	return tw.Flush()
}

// suppressible reports whether a suppression comment can silence r.
func suppressible(r *lint.Rule) bool { return !r.NotSuppressible && r.Scope != lint.ScopeMeta }
