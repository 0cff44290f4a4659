package main

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/netpolicy/netpolicy/lint"
	"github.com/netpolicy/netpolicy/merge"
	"github.com/netpolicy/netpolicy/policy"
)

// Where the policy sources are looked for when no flag or variable names
// them (CLI.md "Policy sources"). Variables so that tests can point them
// into a temporary directory.
var (
	defaultRequirementsPath = "/etc/codex/requirements.toml"
	// lookupEnv tells an unset variable from an empty one, which getenv
	// cannot: NETPOLICY_REQUIREMENTS= means "no requirements file".
	lookupEnv = os.LookupEnv
)

// sourceFlags are the flags shared by effective, check and serve.
func sourceFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "requirements", Usage: "managed requirements `FILE` (env NETPOLICY_REQUIREMENTS; default /etc/codex/requirements.toml if it exists; empty means none)"},
		&cli.StringFlag{Name: "config", Usage: "user config `FILE` (env NETPOLICY_CONFIG; default $CODEX_HOME/config.toml or ~/.codex/config.toml if it exists; empty means none)"},
		&cli.StringFlag{Name: "profile", Usage: "permissions profile `NAME` (default: default_permissions of the config)"},
		&cli.StringFlag{Name: "mode", Value: string(policy.ModeWorkspaceWrite), Usage: "session `MODE`: read-only, workspace-write, full-access (alias danger-full-access)"},
	}
}

// policySources says which files make up the policy of a session.
type policySources struct {
	// RequirementsPath and ConfigPath are "" when there is no such file.
	RequirementsPath, ConfigPath string
	Profile                      string
	Mode                         policy.SessionMode

	// How each was chosen, for the answers that say what was read
	// (session.go); zero when the sources were not built from flags.
	RequirementsNote, ConfigNote sourceNote
	ProfileFlag, ModeFlag        bool // --profile / --mode given
}

// sourceNote says how one policy source was chosen: the flag or variable
// that named it, or the default path, and why there is none when there is
// none.
type sourceNote struct {
	How    string // "--config", "NETPOLICY_CONFIG", "default path"; "" when none
	Absent string // why there is no file: "/etc/codex/requirements.toml does not exist"
}

// sourcesFromFlags resolves the source flags, the environment and the
// default paths. An explicitly named file that does not exist is an error;
// a default path that does not exist just means "no file".
func sourcesFromFlags(c *cli.Context, e *env) (policySources, error) {
	var s policySources
	mode, err := modeFlag(c)
	if err != nil {
		return s, err
	}
	s.Mode = mode
	s.Profile = c.String("profile")
	s.ProfileFlag, s.ModeFlag = c.IsSet("profile"), c.IsSet("mode")

	if s.RequirementsPath, s.RequirementsNote, err = sourcePathNote(c, e, "requirements", "NETPOLICY_REQUIREMENTS", defaultRequirementsPath); err != nil {
		return s, err
	}
	if s.ConfigPath, s.ConfigNote, err = sourcePathNote(c, e, "config", "NETPOLICY_CONFIG", defaultConfigPath(e)); err != nil {
		return s, err
	}
	return s, nil
}

// modeFlag is the session mode of --mode.
func modeFlag(c *cli.Context) (policy.SessionMode, error) {
	mode, ok := policy.ParseSessionMode(c.String("mode"))
	if !ok {
		return "", exitCode(exitUsage, "netpolicy %s: invalid --mode %q: want read-only, workspace-write, full-access or danger-full-access", c.Command.Name, c.String("mode"))
	}
	return mode, nil
}

// codexHome is $CODEX_HOME, else ~/.codex; "" when there is no home.
func codexHome(e *env) string {
	if home := e.getenv("CODEX_HOME"); home != "" {
		return home
	}
	if h := e.getenv("HOME"); h != "" {
		return filepath.Join(h, ".codex")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".codex")
	}
	return ""
}

// allowConfig is the config file `netpolicy allow` would write for these
// sources: the config in effect, else the default path ("" when there is
// no home directory).
func (s policySources) allowConfig(e *env) string {
	return cmp.Or(s.ConfigPath, defaultConfigPath(e))
}

// defaultConfigPath is $CODEX_HOME/config.toml, else ~/.codex/config.toml
// ("" when there is no home directory), whether it exists or not.
func defaultConfigPath(e *env) string {
	if home := codexHome(e); home != "" {
		return filepath.Join(home, "config.toml")
	}
	return ""
}

// sourcePath picks one source: the flag, else the variable, else the
// default if it exists. An empty flag or variable means none.
func sourcePath(c *cli.Context, e *env, flag, envName, def string) (string, error) {
	path, _, err := sourcePathNote(c, e, flag, envName, def)
	return path, err
}

// sourcePathNote is sourcePath that also says how the file was chosen.
func sourcePathNote(c *cli.Context, e *env, flag, envName, def string) (string, sourceNote, error) {
	path, named, how := "", false, ""
	switch {
	case c.IsSet(flag):
		path, named, how = c.String(flag), true, "--"+flag
		if path == "" {
			return "", sourceNote{Absent: "--" + flag + " is empty"}, nil
		}
	case e.getenv(envName) != "":
		path, named, how = e.getenv(envName), true, envName
	default:
		if _, set := lookupEnv(envName); set {
			return "", sourceNote{Absent: envName + " is empty"}, nil // set but empty: no file
		}
		path, how = def, "default path"
	}
	if path == "" {
		return "", sourceNote{Absent: "no default path (no home directory)"}, nil
	}
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return path, sourceNote{How: how}, nil
	case !named && errors.Is(err, fs.ErrNotExist):
		return "", sourceNote{Absent: path + " does not exist"}, nil
	case named && errors.Is(err, fs.ErrNotExist):
		return "", sourceNote{}, exitCode(exitUsage, "netpolicy %s: %s names %s, which does not exist", c.Command.Name, how, path)
	}
	return "", sourceNote{}, exitCode(exitUsage, "netpolicy %s: %v", c.Command.Name, err)
}

// refusedError is a policy source refused because lint found errors in it.
type refusedError struct {
	Diags []lint.Diagnostic // the error-severity diagnostics
}

// lintRefusal is the refusal of sources with diagnostics ds: nil when none
// of them is an error.
func lintRefusal(ds []lint.Diagnostic) *refusedError {
	var errs []lint.Diagnostic
	for _, d := range ds {
		if d.Severity() == lint.SevError {
			errs = append(errs, d)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &refusedError{Diags: errs}
}

func (e *refusedError) Error() string {
	var sb strings.Builder
	sb.WriteString("refusing policy sources with lint errors:")
	for _, d := range e.Diags {
		sb.WriteString("\n" + d.String())
	}
	return sb.String()
}

// migrateHint says, for each file with fixable errors, the command that
// fixes them; "" when none is fixable.
func (e *refusedError) migrateHint() string {
	fixable := map[string]int{}
	var files []string
	for _, d := range e.Diags {
		if d.Fixable() {
			if fixable[d.File] == 0 {
				files = append(files, d.File)
			}
			fixable[d.File]++
		}
	}
	var sb strings.Builder
	for _, f := range files {
		fmt.Fprintf(&sb, "\nnetpolicy migrate --write %s fixes %d of them (netpolicy migrate %s shows the diff first)", f, fixable[f], f)
	}
	return sb.String()
}

// withMigrateHint adds the migrate hint to a refusal.
func withMigrateHint(err error) string {
	var re *refusedError
	if errors.As(err, &re) {
		return err.Error() + re.migrateHint()
	}
	return err.Error()
}

// Load reads both files (kinds forced: requirements / config), lints them
// together, refuses them when any diagnostic is an error (a *refusedError
// listing them), and merges them. The diagnostics are returned in every case
// so callers can show warnings.
func (s policySources) Load() (*policy.Effective, []lint.Diagnostic, error) {
	return s.loadWith(os.ReadFile)
}

// loadWith is Load with the files' bytes coming from read: serve's reloads
// use the bytes its watcher saw to be stable, not a second read.
func (s policySources) loadWith(read func(path string) ([]byte, error)) (*policy.Effective, []lint.Diagnostic, error) {
	l, err := s.loadFiles(read)
	return l.eff, l.diags, err
}

// loaded is what loadFiles read: the files, their diagnostics and the
// merged policy (nil on error).
type loaded struct {
	managed, user *policy.File
	eff           *policy.Effective
	diags         []lint.Diagnostic
}

// loadFiles is loadWith keeping the files, for the answers that say which
// profile was selected and why (session.go). It never returns nil.
func (s policySources) loadFiles(read func(path string) ([]byte, error)) (*loaded, error) {
	l := &loaded{}
	eff, diags, err := s.loadInto(l, read)
	l.eff, l.diags = eff, diags
	return l, err
}

func (s policySources) loadInto(l *loaded, read func(path string) ([]byte, error)) (*policy.Effective, []lint.Diagnostic, error) {
	var managed, user *policy.File
	var files []*policy.File
	if s.RequirementsPath != "" {
		src, err := read(s.RequirementsPath)
		if err != nil {
			return nil, nil, err
		}
		managed = policy.Load(s.RequirementsPath, src, policy.KindRequirements)
		files = append(files, managed)
		l.managed = managed
	}
	if s.ConfigPath != "" {
		src, err := read(s.ConfigPath)
		if err != nil {
			return nil, nil, err
		}
		user = policy.Load(s.ConfigPath, src, policy.KindConfig)
		files = append(files, user)
		l.user = user
	}
	var diags []lint.Diagnostic
	if len(files) > 0 {
		diags = lint.SortDiagnostics(lint.Check(files...))
	}
	if r := lintRefusal(diags); r != nil {
		return nil, diags, r
	}
	mode := s.Mode
	if mode == "" {
		mode = policy.ModeWorkspaceWrite
	}
	eff, err := merge.Effective(managed, user, s.Profile, mode)
	if err != nil {
		return nil, diags, err
	}
	return eff, diags, nil
}

// loadReported runs the load for effective and check: warnings go to
// stderr, any failure becomes exit 2 with the reason (and the migrate
// command that fixes what it can), and the report says what the session was
// made of (session.go).
func (s policySources) loadReported(c *cli.Context, e *env) (*policy.Effective, *sessionReport, error) {
	l, err := s.loadFiles(os.ReadFile)
	if err != nil {
		return nil, s.report(l), exitCode(exitUsage, "netpolicy %s: %s", c.Command.Name, withMigrateHint(err))
	}
	for _, d := range l.diags {
		if d.Severity() == lint.SevWarning {
			fmt.Fprintln(e.stderr, d.String())
		}
	}
	return l.eff, s.report(l), nil
}
