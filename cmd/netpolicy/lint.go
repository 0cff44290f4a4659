package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/hashicorp/go-multierror"
	"github.com/urfave/cli/v2"

	"github.com/netpolicy/netpolicy/lint"
	"github.com/netpolicy/netpolicy/policy"
)

// lintCommand is the `netpolicy lint` command.
func lintCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "lint",
		Usage:     "check requirements.toml and config.toml files",
		ArgsUsage: "PATH...",
		Description: "Lint checks network policy files against the rules NP001–NP090 and prints\n" +
			"one finding per line (path:line:col: severity NPxxx message) on stdout and a\n" +
			"summary on stderr.\n\n" +
			"PATH is a file (always read), a directory, or - for stdin. A directory is\n" +
			"walked for policy files: *.toml files named config.toml or requirements*.toml,\n" +
			"or holding a table netpolicy reads ([experimental_network], default_permissions,\n" +
			"[permissions.<p>.network], [network_proxy.policy], or a [network] table with a\n" +
			"key of ours such as domains). Other TOML files (Cargo.toml, pyproject.toml),\n" +
			"directories starting with \".\", what .gitignore ignores and what --exclude\n" +
			"names are skipped; --verbose lists them. A walk that finds no policy file at\n" +
			"all exits 2.\n\n" +
			"A file named requirements*.toml or holding [experimental_network] is a\n" +
			"requirements file, any other a config file, unless --kind says otherwise.\n" +
			"Linting a requirements file and a config file in one call also runs the\n" +
			"cross-file rules (NP061, NP062).\n\n" +
			"Silence one finding with a comment on the line above or at the end of the\n" +
			"line: # netpolicy: ignore[NPxxx] reason. NP021 cannot be silenced.\n\n" +
			"Exit status: 0 clean, 1 findings at or above --fail-on, 2 usage error or\n" +
			"unreadable file. Run lint --explain NPxxx for a rule's documentation.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "format", Value: "text", Usage: "output `FORMAT`: text (with the source line on a terminal), full (always with it), concise (never), json, sarif or github"},
			&cli.StringFlag{Name: "fail-on", Value: "warning", Usage: "lowest `SEVERITY` that makes the exit status 1: error, warning or info (default: the project config's, else warning)"},
			&cli.StringFlag{Name: "severity", Value: "info", Usage: "report only findings of `SEVERITY` or above: error, warning or info"},
			&cli.StringSliceFlag{Name: "select", Usage: "report only the rules matching `CODES` (IDs or prefixes such as NP02, or ALL; comma-separated or repeated)"},
			&cli.StringSliceFlag{Name: "ignore", Usage: "do not report the rules matching `CODES` (IDs or prefixes; comma-separated or repeated)"},
			&cli.BoolFlag{Name: "no-project-config", Usage: "do not read .netpolicy.toml"},
			&cli.StringFlag{Name: "kind", Value: "auto", Usage: "file `KIND`: auto, requirements or config"},
			&cli.StringFlag{Name: "explain", Usage: "print the documentation of `RULE` (NPxxx) and exit"},
			&cli.StringFlag{Name: "color", Value: "auto", Usage: "colour the text output `WHEN`: auto (on a terminal), always or never; NO_COLOR set turns it off"},
			&cli.StringFlag{Name: "stdin-filename", Usage: "`NAME` of the file read from stdin (-), for messages and kind detection"},
		}, walkFlags()...),
		Action: func(c *cli.Context) error { return runLint(c, e) },
	}
}

// stdinName names stdin when --stdin-filename is not given.
const stdinName = "<stdin>"

func runLint(c *cli.Context, e *env) error {
	if id := c.String("explain"); c.IsSet("explain") {
		if strings.EqualFold(strings.TrimSpace(id), "all") {
			return writeRules(e.stdout, "text")
		}
		r := lint.Lookup(strings.TrimSpace(id))
		if r == nil {
			return exitCode(exitUsage, "netpolicy lint: unknown rule %q (netpolicy rules lists them)", id)
		}
		_, err := io.WriteString(e.stdout, lint.Explain(r))
		return err
	}
	format, ok := lint.ParseFormat(c.String("format"))
	if !ok {
		return exitCode(exitUsage, "netpolicy lint: invalid --format %q: want text, full, concise, json, sarif or github", c.String("format"))
	}
	proj, err := projectConfigFor(c.Bool("no-project-config"), "lint")
	if err != nil {
		return err
	}
	failOn := lint.SevWarning
	if proj != nil && proj.failOn != 0 {
		failOn = proj.failOn
	}
	if c.IsSet("fail-on") {
		if failOn, ok = lint.ParseSeverity(c.String("fail-on")); !ok {
			return exitCode(exitUsage, "netpolicy lint: invalid --fail-on %q: want error, warning or info", c.String("fail-on"))
		}
	}
	minSev, ok := lint.ParseSeverity(c.String("severity"))
	if !ok {
		return exitCode(exitUsage, "netpolicy lint: invalid --severity %q: want error, warning or info", c.String("severity"))
	}
	var sel lint.Selection
	if proj != nil {
		sel = proj.sel
	}
	if c.IsSet("select") {
		if sel.Select, err = lint.ParseCodes(c.StringSlice("select")); err != nil {
			return exitCode(exitUsage, "netpolicy lint: invalid --select: %v", err)
		}
	}
	if c.IsSet("ignore") {
		if sel.Ignore, err = lint.ParseCodes(c.StringSlice("ignore")); err != nil {
			return exitCode(exitUsage, "netpolicy lint: invalid --ignore: %v", err)
		}
	}
	kind, ok := policy.ParseFileKind(c.String("kind"))
	if !ok {
		return exitCode(exitUsage, "netpolicy lint: invalid --kind %q: want auto, requirements or config", c.String("kind"))
	}
	text := format == lint.FormatText || format == lint.FormatFull || format == lint.FormatConcise
	color, err := useColor("lint", c.String("color"), text, e)
	if err != nil {
		return err
	}
	switch format {
	case lint.FormatText:
		// The source snippet on a terminal; one line per finding in a pipe.
		if isTerminal(e.stdout) {
			format = lint.FormatFull
		}
	case lint.FormatConcise:
		format = lint.FormatText
	}
	if c.Args().Len() == 0 {
		return exitCode(exitUsage, "netpolicy lint: no PATH given (a file, a directory, or - for stdin)\nusage: netpolicy lint [flags] PATH...")
	}

	files, fileErrs, err := loadLintFiles(c, kind, e, proj)
	if err != nil {
		return err
	}
	ds := sel.Filter(lint.Check(files...), minSev)
	out := ds
	if fileErrs != nil && format != lint.FormatText && format != lint.FormatFull {
		// Machine formats carry unreadable files too (NP000): a CI job
		// reading only stdout must see them.
		out = append(append([]lint.Diagnostic(nil), ds...), unreadableDiagnostics(fileErrs)...)
	}
	sources := map[string][]byte{}
	for _, f := range files {
		sources[f.Path] = f.Src
	}
	if err := lint.Write(e.stdout, format, out, lint.WriteOptions{Color: color, ToolVersion: versionString(), Sources: sources}); err != nil {
		return exitCode(exitUsage, "netpolicy lint: %v", err)
	}
	fmt.Fprintln(e.stderr, summary(ds, len(files)))

	switch {
	case fileErrs != nil:
		reportFileErrors(e.stderr, "lint", fileErrs)
		return exitCode(exitUsage, "")
	case worst(ds) >= failOn:
		return exitCode(exitFindings, "")
	}
	return nil
}

// unreadableDiagnostics turns the per-file errors of a run into NP000
// diagnostics, one per file.
func unreadableDiagnostics(err error) []lint.Diagnostic {
	var errs []error
	var merr *multierror.Error
	if errors.As(err, &merr) {
		errs = merr.Errors
	} else {
		errs = []error{err}
	}
	var out []lint.Diagnostic
	for _, e := range errs {
		path := ""
		var pe *fs.PathError
		if errors.As(e, &pe) {
			path = pe.Path
		}
		var se *stdinError
		if errors.As(e, &se) {
			path = se.name
		}
		out = append(out, lint.Unreadable(path, e))
	}
	return out
}

// stdinError is a failure to read stdin, named as the run names stdin.
type stdinError struct {
	name string
	err  error
}

func (e *stdinError) Error() string { return "reading stdin: " + e.err.Error() }
func (e *stdinError) Unwrap() error { return e.err }

// loadLintFiles expands the PATH arguments and loads every file. Files that
// cannot be read are skipped and their errors gathered (nil when none); the
// rest are linted. A run whose directory walks find no policy file at all is
// a usage error.
func loadLintFiles(c *cli.Context, kind policy.FileKind, e *env, proj *projectConfig) ([]*policy.File, error, error) {
	var files []*policy.File
	var errs *multierror.Error
	fail := func(err error) { errs = multierror.Append(errs, err) }
	w, err := newWalker(c, "lint", e, proj, kind, func(f *policy.File) {
		files = append(files, f)
	}, fail)
	if err != nil {
		return nil, nil, err
	}
	stdin := false
	for _, arg := range c.Args().Slice() {
		if arg == "-" {
			stdin = true
			name := c.String("stdin-filename")
			if name == "" {
				name = stdinName
			}
			src, err := io.ReadAll(e.stdin)
			if err != nil {
				fail(&stdinError{name, err})
				continue
			}
			files = append(files, policy.Load(name, src, kind))
			continue
		}
		w.walk(arg)
	}
	if !stdin && w.found == 0 && len(w.walked) > 0 {
		return nil, nil, w.noPolicyFiles()
	}
	return files, errs.ErrorOrNil(), nil
}

// reportFileErrors prints the per-file operational errors gathered by lint or
// migrate (unreadable files, refused migrations), one line each, after the
// results so that they are the last thing a person sees.
func reportFileErrors(w io.Writer, cmd string, err error) {
	var merr *multierror.Error
	if !errors.As(err, &merr) {
		fmt.Fprintf(w, "netpolicy %s: %v\n", cmd, err)
		return
	}
	for _, e := range merr.Errors {
		fmt.Fprintf(w, "netpolicy %s: %v\n", cmd, e)
	}
}

// useColor decides whether cmd's output is coloured, for lint and migrate
// alike: only text, never with NO_COLOR set; with auto, only when stdout is
// a terminal. mode is the --color value.
func useColor(cmd, mode string, text bool, e *env) (bool, error) {
	switch mode {
	case "auto", "always", "never":
	default:
		return false, exitCode(exitUsage, "netpolicy %s: invalid --color %q: want auto, always or never", cmd, mode)
	}
	if mode == "never" || !text || e.getenv("NO_COLOR") != "" {
		return false, nil
	}
	if mode == "always" {
		return true, nil
	}
	return isTerminal(e.stdout), nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// worst returns the highest severity among ds, or 0.
func worst(ds []lint.Diagnostic) lint.Severity {
	var w lint.Severity
	for i := range ds {
		w = max(w, ds[i].Severity())
	}
	return w
}

// summary is the human line on stderr: "3 findings (1 error, 2 warnings)
// in 2 files", or "no findings in 2 files".
func summary(ds []lint.Diagnostic, nfiles int) string {
	filesText := plural(nfiles, "file", "files")
	if len(ds) == 0 {
		return "no findings in " + filesText
	}
	counts := map[lint.Severity]int{}
	for i := range ds {
		counts[ds[i].Severity()]++
	}
	var parts []string
	if n := counts[lint.SevError]; n > 0 {
		parts = append(parts, plural(n, "error", "errors"))
	}
	if n := counts[lint.SevWarning]; n > 0 {
		parts = append(parts, plural(n, "warning", "warnings"))
	}
	if n := counts[lint.SevInfo]; n > 0 {
		parts = append(parts, plural(n, "info", "info"))
	}
	return fmt.Sprintf("%s (%s) in %s", plural(len(ds), "finding", "findings"), strings.Join(parts, ", "), filesText)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
