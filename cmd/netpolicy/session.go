package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/netpolicy/netpolicy/internal/tomldoc"
	"github.com/netpolicy/netpolicy/policy"
)

// sessionReport says what the policy of a session was made of: which
// sources were read (and which default paths were absent), which profile
// was selected and why, and what that left out. effective --explain, check
// and serve print it, so nobody has to guess which file was in effect.
type sessionReport struct {
	Requirements sourceReport `json:"requirements"`
	Config       sourceReport `json:"config"`
	// Profile is one sentence: the profile and why it was selected.
	Profile string `json:"profile"`
	Mode    string `json:"mode"`
	// Ignored are tables of the config that the selection left out (the
	// standalone [network] when a profile is selected).
	Ignored []policy.Dropped `json:"-"`
}

// sourceReport is one policy source.
type sourceReport struct {
	Path   string `json:"path,omitempty"`
	How    string `json:"how,omitempty"`    // "--config", "NETPOLICY_CONFIG", "default path"
	Absent string `json:"absent,omitempty"` // why there is none
}

func (r sourceReport) String() string {
	if r.Path == "" {
		if r.Absent != "" {
			return "none (" + r.Absent + ")"
		}
		return "none"
	}
	return r.Path + " (" + r.How + ")"
}

// report describes the session of s whose files l read (l may hold no
// files, or be nil when nothing was read).
func (s policySources) report(l *loaded) *sessionReport {
	r := &sessionReport{
		Requirements: sourceReport{Path: s.RequirementsPath, How: s.RequirementsNote.How, Absent: s.RequirementsNote.Absent},
		Config:       sourceReport{Path: s.ConfigPath, How: s.ConfigNote.How, Absent: s.ConfigNote.Absent},
	}
	mode := s.Mode
	if mode == "" {
		mode = policy.ModeWorkspaceWrite
	}
	r.Mode = string(mode)
	if s.ModeFlag {
		r.Mode += " (--mode)"
	} else {
		r.Mode += " (default)"
	}
	var user *policy.File
	if l != nil {
		user = l.user
	}
	r.Profile, r.Ignored = profileReport(s.Profile, s.ProfileFlag, user)
	return r
}

// profileReport says which profile a session selects and why, and which
// table of the config that leaves out.
func profileReport(flagProfile string, flagSet bool, user *policy.File) (string, []policy.Dropped) {
	name, why := flagProfile, "--profile"
	if name == "" && flagSet {
		why = "--profile is empty"
	}
	if name == "" && user != nil && user.DefaultPermissions != nil {
		dp := user.DefaultPermissions
		name, why = dp.Value, fmt.Sprintf("default_permissions, %s:%d", dp.Source.File, dp.Source.Line)
	}
	networkTable := func() (policy.Source, bool) {
		if user == nil || user.Network == nil || user.Doc == nil {
			return policy.Source{}, false
		}
		line := 0
		if e := user.Doc.Root.Get("network"); e != nil {
			line = e.KeySpan.Start.Line
		}
		return policy.Source{File: user.Path, Line: line, Origin: policy.OriginUser}, true
	}
	switch {
	case user == nil && name == "":
		return "none (no config file): only the managed policy and the defaults apply", nil
	case name == "":
		if _, ok := networkTable(); ok {
			return "none selected (no --profile, no default_permissions): [network] applies", nil
		}
		return "none selected (no --profile, no default_permissions) and no [network] table: the defaults apply", nil
	case policy.IsBuiltinProfile(name):
		return fmt.Sprintf("%s (%s): a built-in profile with no network rules of its own, so [network] applies", name, why), nil
	}
	text := fmt.Sprintf("%q (%s)", name, why)
	if user != nil {
		if chain, err := user.ProfileChain(name); err == nil && len(chain) > 1 {
			var names []string
			for _, p := range chain[1:] {
				names = append(names, tomldoc.QuoteString(p.Name))
			}
			text += ", extending " + strings.Join(names, " → ")
		}
	}
	var ignored []policy.Dropped
	if src, ok := networkTable(); ok {
		text += "; [network] is ignored because a profile is selected"
		ignored = append(ignored, policy.Dropped{What: "[network]", Source: src,
			Why: fmt.Sprintf("ignored: profile %q is selected (%s), and [network] applies only when no custom profile is", name, why)})
	}
	return text, ignored
}

// lines are the report as human lines, for stderr and TOML comments.
func (r *sessionReport) lines() []string {
	return []string{
		"requirements: " + r.Requirements.String(),
		"config: " + r.Config.String(),
		"profile: " + r.Profile,
		"mode: " + r.Mode,
	}
}

// write prints the report on w, one "netpolicy CMD: " line each.
func (r *sessionReport) write(w io.Writer, cmd string) {
	for _, l := range r.lines() {
		fmt.Fprintf(w, "netpolicy %s: %s\n", cmd, l)
	}
}
