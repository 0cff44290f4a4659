package main

import (
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/urfave/cli/v2"
)

// completionCommand is the `netpolicy completion` command.
func completionCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash, zsh or fish)",
		ArgsUsage: "bash|zsh|fish",
		Description: "Completion prints a script that makes the shell complete netpolicy's\n" +
			"commands and flags. Load it for the running shell, or install it:\n\n" +
			"   bash:  source <(netpolicy completion bash)\n" +
			"          netpolicy completion bash > ~/.local/share/bash-completion/completions/netpolicy\n" +
			"   zsh:   netpolicy completion zsh > \"${fpath[1]}/_netpolicy\"\n" +
			"   fish:  netpolicy completion fish > ~/.config/fish/completions/netpolicy.fish",
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 1 {
				return exitCode(exitUsage, "netpolicy completion: name one shell: bash, zsh or fish")
			}
			switch sh := c.Args().First(); sh {
			case "bash":
				_, err := io.WriteString(e.stdout, bashCompletion)
				return err
			case "zsh":
				_, err := io.WriteString(e.stdout, zshCompletion)
				return err
			case "fish":
				s, err := c.App.ToFishCompletion()
				if err != nil {
					return err
				}
				_, err = io.WriteString(e.stdout, s)
				return err
			default:
				msg := fmt.Sprintf("netpolicy completion: unknown shell %q: want bash, zsh or fish", sh)
				return exitCode(exitUsage, "%s", msg)
			}
		},
	}
}

// manCommand is the `netpolicy man` command.
func manCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "man",
		Usage: "print the manual page (roff)",
		Description: "Man prints netpolicy's manual page, section 1, generated from the same\n" +
			"command and flag definitions as --help. Read it with\n\n" +
			"   netpolicy man | man -l -\n\n" +
			"The repository carries a copy in docs/netpolicy.1.",
		Action: func(c *cli.Context) error {
			s, err := manPage(c.App)
			if err != nil {
				return err
			}
			_, err = io.WriteString(e.stdout, s)
			return err
		},
	}
}

// appDescription is the DESCRIPTION of `netpolicy --help` and of the
// manual page.
const appDescription = "netpolicy reads the network permission policy of a sandboxed coding agent:\n" +
	"the requirements.toml an administrator ships ([experimental_network]) and\n" +
	"the config.toml a user writes ([network], [permissions.<name>.network]).\n" +
	"lint checks them, migrate rewrites legacy forms, effective prints the merged\n" +
	"policy with where each rule came from, check shows the decision for a host,\n" +
	"and serve and exec enforce the policy with a local HTTP and SOCKS5 proxy.\n\n" +
	"Exit status, for every command but exec (which exits as its command did):\n" +
	"0 clean, allowed or written; 1 findings, a file migrate --check would\n" +
	"change, or a blocked target; 2 usage error, unreadable file, refused\n" +
	"migration or refused policy source.\n\n" +
	"Environment: NETPOLICY_REQUIREMENTS and NETPOLICY_CONFIG name the policy\n" +
	"files (empty: none); CODEX_HOME is where config.toml is looked for\n" +
	"(default ~/.codex); NO_COLOR turns colour off. lint and migrate read\n" +
	".netpolicy.toml from the working directory or a parent.\n\n" +
	"Documentation: the docs/ directory of the source repository."

// manPage renders the app's manual page, section 1.
func manPage(app *cli.App) (string, error) { return app.ToManWithSection(1) }

// bashCompletion asks the binary itself for the candidates: with
// --generate-bash-completion as the last argument, urfave/cli prints the
// commands, or the flags of the command when the word starts with "-".
const bashCompletion = `# bash completion for netpolicy
# Load it with: source <(netpolicy completion bash)
_netpolicy_complete() {
    local cur="${COMP_WORDS[COMP_CWORD]}"
    local words=("${COMP_WORDS[@]:0:COMP_CWORD}")
    local candidates
    if [[ "$cur" == -* ]]; then
        candidates=$("${words[@]}" "$cur" --generate-bash-completion 2>/dev/null)
    else
        candidates=$("${words[@]}" --generate-bash-completion 2>/dev/null)
    fi
    COMPREPLY=($(compgen -W "$candidates" -- "$cur"))
}
complete -o bashdefault -o default -F _netpolicy_complete netpolicy
`

// zshCompletion is the same protocol for zsh, falling back to file names.
const zshCompletion = `#compdef netpolicy
# zsh completion for netpolicy
# Install it as _netpolicy in a directory of $fpath.
_netpolicy() {
    local -a candidates
    local cur="${words[CURRENT]}"
    if [[ "$cur" == -* ]]; then
        candidates=("${(@f)$(${words[1,CURRENT-1]} "$cur" --generate-bash-completion 2>/dev/null)}")
    else
        candidates=("${(@f)$(${words[1,CURRENT-1]} --generate-bash-completion 2>/dev/null)}")
    fi
    if [[ -n "${candidates[1]}" ]]; then
        compadd -a candidates
    fi
    _files
}
compdef _netpolicy netpolicy
`

// completionRequest reports whether args ask for shell completion
// candidates (urfave/cli's protocol: --generate-bash-completion last).
func completionRequest(args []string) bool {
	return len(args) > 0 && args[len(args)-1] == "--generate-bash-completion"
}

// commandNotFound is the message for a misspelt command.
func commandNotFound(app *cli.App, name string) string {
	var names []string
	for _, c := range app.Commands {
		if !c.Hidden {
			names = append(names, c.Names()...)
		}
	}
	msg := fmt.Sprintf("netpolicy: unknown command '%s'", name)
	if s := closest(name, names); s != "" {
		msg += fmt.Sprintf("; did you mean '%s'?", s)
	}
	return msg + "\nRun 'netpolicy --help' for the list of commands."
}

// flagNameRe finds flag names in the flag package's messages ("-format").
var flagNameRe = regexp.MustCompile(`(^|[\s:])-([A-Za-z0-9][A-Za-z0-9-]+)`)

// usageMessage rewrites a flag parsing error of cmd (nil for the global
// flags) in the spelling users type, --double-dash, and suggests the
// closest flag for one that does not exist:
//
//	flag provided but not defined: -formt
//
// becomes
//
//	unknown flag --formt; did you mean --format?
func usageMessage(flags []cli.Flag, err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		var names []string
		for _, f := range flags {
			names = append(names, f.Names()...)
		}
		out := "unknown flag " + dashes(name)
		if s := closest(name, names); s != "" {
			out += "; did you mean " + dashes(s) + "?"
		}
		return out
	}
	return flagNameRe.ReplaceAllStringFunc(msg, func(m string) string {
		i := strings.Index(m, "-")
		return m[:i] + "--" + m[i+1:]
	})
}

// dashes writes a flag name as it is typed: -v, --format.
func dashes(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// closest returns the candidate nearest to s by edit distance, if it is
// near enough to be a likely typo (at most a third of its length, and at
// least 1 and at most 3 edits), else "".
func closest(s string, candidates []string) string {
	best, bestD := "", 0
	for _, c := range candidates {
		d := editDistance(s, c)
		if best == "" || d < bestD {
			best, bestD = c, d
		}
	}
	limit := min(3, max(1, len(s)/3))
	if best == "" || bestD > limit {
		// A prefix is a likely abbreviation too ("effect" for "effective").
		for _, c := range candidates {
			if len(s) >= 3 && strings.HasPrefix(c, s) {
				return c
			}
		}
		return ""
	}
	return best
}

// editDistance is the optimal-string-alignment distance between a and b,
// in bytes: insertions, deletions, substitutions and swaps of two adjacent
// characters ("chekc" is one edit from "check").
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
