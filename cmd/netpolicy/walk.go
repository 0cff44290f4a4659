package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/netpolicy/netpolicy/internal/gitignore"
	"github.com/netpolicy/netpolicy/policy"
)

// walkFlags are the flags lint and migrate share for directory walks.
func walkFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "exclude", Usage: "skip files and directories matching `GLOB` (gitignore syntax, relative to the working directory) in directory walks; repeatable"},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "list on stderr the files a directory walk skipped, and why"},
	}
}

// walker expands lint's and migrate's PATH arguments into the policy files
// to read. A file named on the command line is always read. A directory is
// walked recursively for *.toml files, skipping directories whose name
// starts with ".", what .gitignore files ignore, what --exclude (or the
// project config's exclude) names, and every TOML file that is not a policy
// file (policy.File.Ownership): another tool's files are never read as
// ours, let alone rewritten. Each file is loaded once, as kind, and handed
// to visit.
type walker struct {
	cmd      string
	excludes gitignore.Matcher // --exclude and the project config's exclude
	verbose  io.Writer         // where skipped files are listed; nil: nowhere
	seen     map[string]bool   // files visited, however their path is spelled
	kind     policy.FileKind
	visit    func(*policy.File)
	fail     func(error)

	found   int      // files visited
	walked  []string // directory arguments
	skipped int
}

// newWalker makes a walker for cmd with the --exclude and --verbose flags of
// c and the project config's excludes; it loads the files it finds as kind.
func newWalker(c *cli.Context, cmd string, e *env, proj *projectConfig, kind policy.FileKind, visit func(*policy.File), fail func(error)) (*walker, error) {
	w := &walker{cmd: cmd, seen: map[string]bool{}, kind: kind, visit: visit, fail: fail}
	if c.Bool("verbose") {
		w.verbose = e.stderr
		if proj != nil {
			fmt.Fprintf(e.stderr, "netpolicy %s: using the project config %s\n", cmd, displayPath(proj.path))
		}
	}
	cwd, err := os.Getwd()
	if err != nil {
		return nil, exitCode(exitUsage, "netpolicy %s: %v", cmd, err)
	}
	for _, g := range c.StringSlice("exclude") {
		p, ok := gitignore.Exclude(g, filepath.ToSlash(cwd), "--exclude "+g)
		if !ok {
			return nil, exitCode(exitUsage, "netpolicy %s: invalid --exclude %q: want a glob such as vendor/ or *.gen.toml", cmd, g)
		}
		w.excludes.Add(p)
	}
	if proj != nil {
		w.excludes.Add(proj.excludes...)
	}
	return w, nil
}

// skip notes a skipped path for --verbose.
func (w *walker) skip(path, why string) {
	w.skipped++
	if w.verbose != nil {
		fmt.Fprintf(w.verbose, "netpolicy %s: skipped %s: %s\n", w.cmd, path, why)
	}
}

// once visits a file the first time it is met.
func (w *walker) once(f *policy.File) {
	key := filepath.Clean(f.Path)
	if abs, err := filepath.Abs(f.Path); err == nil {
		key = abs
	}
	if w.seen[key] {
		return
	}
	w.seen[key] = true
	w.found++
	w.visit(f)
}

// walk expands one PATH argument.
func (w *walker) walk(arg string) {
	st, err := os.Stat(arg)
	if err != nil {
		w.fail(err)
		return
	}
	if !st.IsDir() {
		src, err := os.ReadFile(arg)
		if err != nil {
			w.fail(err)
			return
		}
		w.once(policy.Load(arg, src, w.kind))
		return
	}
	w.walked = append(w.walked, arg)
	if lst, err := os.Lstat(arg); err == nil && lst.Mode()&fs.ModeSymlink != 0 {
		// WalkDir does not follow a symlinked root; a trailing separator
		// makes it.
		arg += string(filepath.Separator)
	}
	root, err := filepath.Abs(arg)
	if err != nil {
		w.fail(err)
		return
	}
	var ign gitignore.Matcher
	for _, dir := range repoAncestors(root) {
		w.addIgnoreFile(&ign, dir)
	}
	err = filepath.WalkDir(arg, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			w.fail(err)
			if d != nil && d.IsDir() && path != arg {
				return fs.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(arg, path)
		if err != nil {
			w.fail(err)
			return nil
		}
		abs := filepath.ToSlash(filepath.Join(root, rel))
		if d.IsDir() {
			if path == arg {
				w.addIgnoreFile(&ign, root)
				return nil
			}
			if strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			if why := w.ignored(&ign, abs, true); why != "" {
				w.skip(path+string(filepath.Separator), why)
				return fs.SkipDir
			}
			w.addIgnoreFile(&ign, filepath.FromSlash(abs))
			return nil
		}
		if !strings.HasSuffix(d.Name(), ".toml") {
			return nil
		}
		if why := w.ignored(&ign, abs, false); why != "" {
			w.skip(path, why)
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			w.fail(err)
			return nil
		}
		f := policy.Load(path, src, w.kind)
		if own := f.Ownership(); !own.Policy {
			w.skip(path, "not a policy file ("+own.Why+")")
			return nil
		}
		w.once(f)
		return nil
	})
	if err != nil {
		w.fail(err)
	}
}

// ignored says why a path met in a walk is skipped by --exclude or
// .gitignore, or "" when it is not.
func (w *walker) ignored(ign *gitignore.Matcher, abs string, isDir bool) string {
	if ex, p := w.excludes.Match(abs, isDir); ex {
		return "excluded by " + p.Source
	}
	if ig, p := ign.Match(abs, isDir); ig {
		return fmt.Sprintf("ignored by %s (%s)", p.Source, p.Text)
	}
	return ""
}

// addIgnoreFile adds the patterns of dir/.gitignore, if there is one.
func (w *walker) addIgnoreFile(m *gitignore.Matcher, dir string) {
	name := filepath.Join(dir, ".gitignore")
	data, err := os.ReadFile(name)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			w.fail(err)
		}
		return
	}
	m.Add(gitignore.ParseFile(data, filepath.ToSlash(dir), displayPath(name))...)
}

// repoAncestors returns the directories above root, outermost first, whose
// .gitignore files apply to it: those up to and including the repository
// root (the nearest directory holding .git). Outside a repository there are
// none.
func repoAncestors(root string) []string {
	isRepo := func(dir string) bool {
		_, err := os.Stat(filepath.Join(dir, ".git"))
		return err == nil
	}
	if isRepo(root) {
		return nil
	}
	var dirs []string
	for dir := filepath.Dir(root); ; {
		dirs = append(dirs, dir)
		if isRepo(dir) {
			slices.Reverse(dirs)
			return dirs
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
}

// displayPath is path relative to the working directory when it is below
// it or at most two levels up, else as given.
func displayPath(path string) string {
	cwd, err := os.Getwd()
	if err != nil {
		return path
	}
	rel, err := filepath.Rel(cwd, path)
	if err != nil || strings.Count(filepath.ToSlash(rel), "../") > 2 {
		return path
	}
	return rel
}

// noPolicyFiles is the error of a run whose directory walks found nothing
// to read (a CI job pointed at the wrong directory must fail).
func (w *walker) noPolicyFiles() error {
	return exitCode(exitUsage, "netpolicy %s: no policy files found under %s (%s skipped; --verbose lists them)",
		w.cmd, strings.Join(w.walked, ", "), plural(w.skipped, "file", "files"))
}
