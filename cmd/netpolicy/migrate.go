package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/go-multierror"
	"github.com/urfave/cli/v2"

	"github.com/netpolicy/netpolicy/internal/atomicfile"
	"github.com/netpolicy/netpolicy/migrate"
	"github.com/netpolicy/netpolicy/policy"
)

// migrateCommand is the `netpolicy migrate` command.
func migrateCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "migrate",
		Usage:     "rewrite legacy and obsolete forms into canonical ones",
		ArgsUsage: "PATH...",
		Description: "Migrate applies the fixes of the fixable lint rules (NP010-NP014, NP022,\n" +
			"NP023, NP025): legacy allowed_domains / denied_domains / allow_unix_sockets\n" +
			"lists become domains / unix_sockets tables, [network_proxy] and\n" +
			"[permissions.network] become [network], obsolete keys go, ports and\n" +
			"non-ASCII leave patterns, duplicate rules go. Comments (also those inside\n" +
			"and after the lists), key order, quoting and line endings of everything\n" +
			"else stay byte for byte.\n\n" +
			"Before anything is shown or written, the result must parse, lint with no\n" +
			"fixable finding left and have the same effective rules as the original;\n" +
			"otherwise the file is left alone and migrate says why (exit 2). A mixed\n" +
			"block whose entries conflict is refused with the entries named.\n\n" +
			"By default migrate prints a unified diff (git apply and patch -p1 accept\n" +
			"it). PATH is a file, a directory (walked for policy files exactly as lint\n" +
			"does: another tool's TOML is never touched; --exclude and .gitignore are\n" +
			"respected), or - to read stdin and write the migrated document to stdout.\n" +
			"With -l (--list) only the names of the files that would change are printed,\n" +
			"one per line, as gofmt -l does.\n\n" +
			"Exit status: 0 done, 1 with --check when a file would change, 2 usage\n" +
			"error, unreadable file or refused migration.",
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "check", Usage: "print the diff and exit 1 if any file would change"},
			&cli.BoolFlag{Name: "write", Aliases: []string{"w"}, Usage: "rewrite the files in place (safely: temporary file, fsync, rename)"},
			&cli.BoolFlag{Name: "list", Aliases: []string{"l"}, Usage: "print only the names of the files that would change (with --write: that changed), one per line, instead of the diff"},
			&cli.BoolFlag{Name: "no-project-config", Usage: "do not read .netpolicy.toml (its lint.exclude applies to migrate's walks too)"},
			&cli.StringFlag{Name: "kind", Value: "auto", Usage: "file `KIND`: auto, requirements or config"},
			&cli.StringFlag{Name: "color", Value: "auto", Usage: "colour the diff (`MODE`): auto (on a terminal), always or never; NO_COLOR turns it off"},
			&cli.StringFlag{Name: "stdin-filename", Usage: "`NAME` of the file read from stdin (-), for messages and kind detection"},
		}, walkFlags()...),
		Action: func(c *cli.Context) error { return runMigrate(c, e) },
	}
}

func runMigrate(c *cli.Context, e *env) error {
	kind, ok := policy.ParseFileKind(c.String("kind"))
	if !ok {
		return exitCode(exitUsage, "netpolicy migrate: invalid --kind %q: want auto, requirements or config", c.String("kind"))
	}
	color, err := useColor("migrate", c.String("color"), true, e)
	if err != nil {
		return err
	}
	if c.Bool("check") && c.Bool("write") {
		return exitCode(exitUsage, "netpolicy migrate: --check and --write exclude each other")
	}
	if c.Args().Len() == 0 {
		return exitCode(exitUsage, "netpolicy migrate: no PATH given (a file, a directory, or - for stdin)\nusage: netpolicy migrate [--check|--write] PATH...")
	}
	proj, err := projectConfigFor(c.Bool("no-project-config"), "migrate")
	if err != nil {
		return err
	}
	m := &migration{e: e, kind: kind, check: c.Bool("check"), write: c.Bool("write"), list: c.Bool("list"), color: color}
	w, err := newWalker(c, "migrate", e, proj, kind, m.file, m.fail)
	if err != nil {
		return err
	}
	stdin := false
	for _, arg := range c.Args().Slice() {
		if arg == "-" {
			stdin = true
			m.stdin(c.String("stdin-filename"))
			continue
		}
		w.walk(arg)
	}
	if !stdin && w.found == 0 && len(w.walked) > 0 {
		return w.noPolicyFiles()
	}
	switch {
	case m.errs != nil:
		reportFileErrors(e.stderr, "migrate", m.errs)
		return exitCode(exitUsage, "")
	case m.changed && m.check:
		return exitCode(exitFindings, "")
	}
	return nil
}

// migration is one run of the command over its paths.
type migration struct {
	e                   *env
	kind                policy.FileKind
	check, write, color bool
	list                bool              // names only
	errs                *multierror.Error // per-file errors: unreadable, refused
	changed             bool              // some file would change
}

func (m *migration) fail(err error) { m.errs = multierror.Append(m.errs, err) }

// file migrates one file: diff, check or write.
func (m *migration) file(f *policy.File) {
	path := f.Path
	out, _, err := migrate.Apply(f)
	if err != nil {
		m.fail(fmt.Errorf("%s: %v", path, err))
		return
	}
	if bytes.Equal(out, f.Src) {
		return
	}
	m.changed = true
	if m.write {
		if err := atomicfile.WriteFile(path, out); err != nil {
			m.fail(fmt.Errorf("%s: %v (the file is unchanged)", path, err))
			return
		}
		if m.list {
			fmt.Fprintln(m.e.stdout, path)
		}
		fmt.Fprintf(m.e.stderr, "migrated %s\n", path)
		return
	}
	if m.list {
		fmt.Fprintln(m.e.stdout, path)
		return
	}
	m.printDiff(migrate.Diff(path, f.Src, out))
}

// stdin migrates standard input to standard output (the whole document,
// changed or not).
func (m *migration) stdin(name string) {
	src, err := io.ReadAll(m.e.stdin)
	if err != nil {
		m.fail(fmt.Errorf("reading stdin: %w", err))
		return
	}
	if name == "" {
		name = stdinName
	}
	f := policy.Load(name, src, m.kind)
	out, _, err := migrate.Apply(f)
	if err != nil {
		m.fail(fmt.Errorf("%s: %v", name, err))
		return
	}
	if !bytes.Equal(out, src) {
		m.changed = true
	}
	m.e.stdout.Write(out)
}

// printDiff writes a diff, coloured on request: headers bold, hunk lines
// cyan, removals red, additions green.
func (m *migration) printDiff(d string) {
	if !m.color {
		io.WriteString(m.e.stdout, d)
		return
	}
	for _, line := range strings.SplitAfter(d, "\n") {
		if line == "" {
			continue
		}
		body := strings.TrimSuffix(line, "\n")
		code := ""
		switch {
		case strings.HasPrefix(body, "--- ") || strings.HasPrefix(body, "+++ "):
			code = "1"
		case strings.HasPrefix(body, "@@"):
			code = "36"
		case strings.HasPrefix(body, "-"):
			code = "31"
		case strings.HasPrefix(body, "+"):
			code = "32"
		}
		if code == "" {
			io.WriteString(m.e.stdout, line)
			continue
		}
		fmt.Fprintf(m.e.stdout, "\x1b[%sm%s\x1b[0m%s", code, body, line[len(body):])
	}
}
