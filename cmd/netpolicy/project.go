package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"github.com/netpolicy/netpolicy/internal/gitignore"
	"github.com/netpolicy/netpolicy/lint"
)

// projectConfigName is the project configuration file, looked for in the
// working directory and then in each parent directory, like ruff's
// pyproject.toml / ruff.toml.
const projectConfigName = ".netpolicy.toml"

// projectFile is the document of a .netpolicy.toml (schema/netpolicy.schema.json).
type projectFile struct {
	Lint struct {
		Select         []string            `toml:"select"`
		Ignore         []string            `toml:"ignore"`
		Exclude        []string            `toml:"exclude"`
		FailOn         string              `toml:"fail-on"`
		PerFileIgnores map[string][]string `toml:"per-file-ignores"`
	} `toml:"lint"`
}

// projectConfig is a loaded .netpolicy.toml: its [lint] settings with the
// globs made relative to its directory.
type projectConfig struct {
	path     string
	excludes []gitignore.Pattern
	sel      lint.Selection
	failOn   lint.Severity // 0: not set
}

// findProjectConfig looks for .netpolicy.toml from dir upward and loads the
// first one found; nil when there is none.
func findProjectConfig(dir string) (*projectConfig, error) {
	for {
		p := filepath.Join(dir, projectConfigName)
		if _, err := os.Stat(p); err == nil {
			return loadProjectConfig(p)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil, nil
		}
		dir = parent
	}
}

// loadProjectConfig reads and checks a .netpolicy.toml. Unknown keys, bad
// rule codes and bad globs are errors, not silently ignored settings.
func loadProjectConfig(path string) (*projectConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc projectFile
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		var sm *toml.StrictMissingError
		if errors.As(err, &sm) {
			var keys []string
			for _, e := range sm.Errors {
				keys = append(keys, strings.Join(e.Key(), "."))
			}
			return nil, fmt.Errorf("%s: unknown key %s (known: lint.select, lint.ignore, lint.exclude, lint.fail-on, lint.per-file-ignores)", path, strings.Join(keys, ", "))
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return nil, fmt.Errorf("%s:%d:%d: %v", path, row, col, err)
		}
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	base := filepath.Dir(path)
	if abs, err := filepath.Abs(base); err == nil {
		base = abs
	}
	slashBase := filepath.ToSlash(base)
	pc := &projectConfig{path: path}
	l := doc.Lint
	if pc.sel.Select, err = lint.ParseCodes(l.Select); err != nil {
		return nil, fmt.Errorf("%s: lint.select: %v", path, err)
	}
	if pc.sel.Ignore, err = lint.ParseCodes(l.Ignore); err != nil {
		return nil, fmt.Errorf("%s: lint.ignore: %v", path, err)
	}
	for _, g := range l.Exclude {
		p, ok := gitignore.Exclude(g, slashBase, path+": exclude "+g)
		if !ok {
			return nil, fmt.Errorf("%s: lint.exclude: invalid glob %q", path, g)
		}
		pc.excludes = append(pc.excludes, p)
	}
	if l.FailOn != "" {
		sev, ok := lint.ParseSeverity(l.FailOn)
		if !ok {
			return nil, fmt.Errorf("%s: lint.fail-on = %q: want error, warning or info", path, l.FailOn)
		}
		pc.failOn = sev
	}
	globs := make([]string, 0, len(l.PerFileIgnores))
	for g := range l.PerFileIgnores {
		globs = append(globs, g)
	}
	sort.Strings(globs)
	for _, g := range globs {
		codes, err := lint.ParseCodes(l.PerFileIgnores[g])
		if err != nil {
			return nil, fmt.Errorf("%s: lint.per-file-ignores %q: %v", path, g, err)
		}
		p, ok := gitignore.Exclude(g, slashBase, g)
		if !ok {
			return nil, fmt.Errorf("%s: lint.per-file-ignores: invalid glob %q", path, g)
		}
		var m gitignore.Matcher
		m.Add(p)
		pc.sel.PerFile = append(pc.sel.PerFile, lint.PerFileIgnore{Rules: codes, Match: func(file string) bool {
			abs, err := filepath.Abs(file)
			if err != nil {
				return false
			}
			// The file itself, or a directory it is in ("legacy/").
			name, isDir := filepath.ToSlash(abs), false
			for {
				if hit, _ := m.Match(name, isDir); hit {
					return true
				}
				parent := filepath.ToSlash(filepath.Dir(name))
				if parent == name || !strings.HasPrefix(parent, slashBase) {
					return false
				}
				name, isDir = parent, true
			}
		}})
	}
	return pc, nil
}

// projectConfigFor finds the project config for a lint or migrate run,
// unless --no-project-config says not to.
func projectConfigFor(noConfig bool, cmd string) (*projectConfig, error) {
	if noConfig {
		return nil, nil
	}
	cwd, err := os.Getwd()
	if err != nil {
		return nil, exitCode(exitUsage, "netpolicy %s: %v", cmd, err)
	}
	pc, err := findProjectConfig(cwd)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, exitCode(exitUsage, "netpolicy %s: %v", cmd, err)
	}
	return pc, nil
}
