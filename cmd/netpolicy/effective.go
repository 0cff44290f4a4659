package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/netpolicy/netpolicy/internal/tomldoc"
	"github.com/netpolicy/netpolicy/policy"
)

// effectiveCommand is the `netpolicy effective` command.
func effectiveCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "effective",
		Usage:     "print the merged policy for a session mode",
		ArgsUsage: " ",
		Description: "Effective merges the managed requirements and the user's config for the\n" +
			"session mode (see docs/policy.md, Merging) and prints the result: TOML by\n" +
			"default, or the app-server NetworkRequirements shape with --format json.\n" +
			"--explain says which files were read, which profile was selected and why,\n" +
			"where every rule and setting came from and which entries were dropped.\n\n" +
			"In the domains map a pattern that is both allowed and denied (for instance a\n" +
			"managed allow and the user's deny of the same pattern) appears once, as\n" +
			"\"deny\": deny rules are decided first, so deny is what takes effect.",
		Flags: append(sourceFlags(),
			&cli.StringFlag{Name: "format", Value: "toml", Usage: "output `FORMAT`: toml or json"},
			&cli.BoolFlag{Name: "explain", Usage: "show provenance of every rule and setting, and dropped entries"},
		),
		Action: func(c *cli.Context) error { return runEffective(c, e) },
	}
}

func runEffective(c *cli.Context, e *env) error {
	format := c.String("format")
	if format != "toml" && format != "json" {
		return exitCode(exitUsage, "netpolicy effective: invalid --format %q: want toml or json", format)
	}
	if c.Args().Len() > 0 {
		return exitCode(exitUsage, "netpolicy effective: unexpected argument %q (use --requirements / --config to name files)", c.Args().First())
	}
	src, err := sourcesFromFlags(c, e)
	if err != nil {
		return err
	}
	eff, rep, err := src.loadReported(c, e)
	if err != nil {
		return err
	}
	if c.Bool("explain") {
		// The tables the profile selection left out are dropped too.
		eff.Dropped = append(eff.Dropped, rep.Ignored...)
	}
	if format == "json" {
		return writeEffectiveJSONReport(e.stdout, eff, c.Bool("explain"), rep)
	}
	return writeEffectiveTOMLReport(e.stdout, eff, c.Bool("explain"), rep)
}

func permWord(p policy.Permission) string { return p.String() }

// listenerPort returns the port of a listener address, or nil when there is
// no listener.
func listenerPort(addr string) *int {
	if addr == "" {
		return nil
	}
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return nil
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return nil
	}
	return &n
}

// effectiveJSON is the --format json shape: sessionMode, onMiss and
// networkMode, the app-server NetworkRequirements fields, then netpolicy's
// other settings, http and socks (CLI.md). MarshalJSON writes the fields in
// that order; the settings come from the key table.
type effectiveJSON struct {
	SessionMode      string            `json:"sessionMode"`
	OnMiss           string            `json:"onMiss"`
	NetworkMode      string            `json:"networkMode"`
	HTTPPort         *int              `json:"httpPort"`
	SocksPort        *int              `json:"socksPort"`
	Domains          map[string]string `json:"domains"`
	UnixSockets      map[string]string `json:"unixSockets"`
	AllowedDomains   []string          `json:"allowedDomains"`
	DeniedDomains    []string          `json:"deniedDomains"`
	AllowUnixSockets []string          `json:"allowUnixSockets"`
	HTTP             *string           `json:"http"`
	Socks            *string           `json:"socks"`
	Explain          *explainJSON      `json:"explain,omitempty"`
	// Settings are the boolean settings by JSON name.
	Settings map[string]bool `json:"-"`
}

// MarshalJSON writes j's fields in the documented order.
func (j *effectiveJSON) MarshalJSON() ([]byte, error) {
	// The NetworkRequirements fields effective computes rather than copies.
	derived := map[string]any{
		"httpPort": j.HTTPPort, "socksPort": j.SocksPort,
		"domains": j.Domains, "unixSockets": j.UnixSockets,
		"allowedDomains": j.AllowedDomains, "deniedDomains": j.DeniedDomains, "allowUnixSockets": j.AllowUnixSockets,
	}
	value := func(k *policy.KeySpec) any {
		if v, ok := j.Settings[k.JSON]; ok {
			return v
		}
		return derived[k.JSON]
	}
	obj := jsonObject{{"sessionMode", j.SessionMode}, {"onMiss", j.OnMiss}, {"networkMode", j.NetworkMode}}
	var reqs []*policy.KeySpec
	for i := range policy.NetworkKeys {
		if k := &policy.NetworkKeys[i]; k.Requirement > 0 {
			reqs = append(reqs, k)
		}
	}
	sort.Slice(reqs, func(a, b int) bool { return reqs[a].Requirement < reqs[b].Requirement })
	for _, k := range reqs {
		obj = append(obj, jsonField{k.JSON, value(k)})
	}
	for i := range policy.NetworkKeys {
		if k := &policy.NetworkKeys[i]; k.Requirement == 0 && k.Type == policy.TypeBool && k.JSON != "" {
			obj = append(obj, jsonField{k.JSON, value(k)})
		}
	}
	obj = append(obj, jsonField{"http", j.HTTP}, jsonField{"socks", j.Socks})
	if j.Explain != nil {
		obj = append(obj, jsonField{"explain", j.Explain})
	}
	return json.Marshal(obj)
}

// jsonField is one member of a jsonObject.
type jsonField struct {
	Key   string
	Value any
}

// jsonObject is a JSON object whose members keep their order.
type jsonObject []jsonField

// MarshalJSON writes the members in order.
func (o jsonObject) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, f := range o {
		if i > 0 {
			b = append(b, ',')
		}
		k, err := json.Marshal(f.Key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(f.Value)
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, k...), ':'), v...)
	}
	return append(b, '}'), nil
}

// explainJSON is the --explain object: where everything came from.
type explainJSON struct {
	OnMiss      string                    `json:"onMiss"`
	Settings    map[string]settingExplain `json:"settings"`
	Domains     []ruleExplain             `json:"domains"`
	UnixSockets []ruleExplain             `json:"unixSockets"`
	Dropped     []droppedExplain          `json:"dropped"`
	// Session is what the policy was made of: sources, profile, mode.
	Session *sessionReport `json:"session,omitempty"`
}

type settingExplain struct {
	Value  any    `json:"value"`
	Origin string `json:"origin"`
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"`
	Forced bool   `json:"forced,omitempty"`
	Note   string `json:"note,omitempty"`
}

type ruleExplain struct {
	Pattern    string `json:"pattern,omitempty"`
	Path       string `json:"path,omitempty"`
	Permission string `json:"permission"`
	Origin     string `json:"origin"`
	File       string `json:"file"`
	Line       int    `json:"line"`
	Note       string `json:"note,omitempty"`
}

type droppedExplain struct {
	What   string `json:"what"`
	Origin string `json:"origin"`
	File   string `json:"file"`
	Line   int    `json:"line"`
	Why    string `json:"why"`
}

func explainSetting(s policy.SettingView) settingExplain {
	return settingExplain{Value: s.Value, Origin: s.Source.Origin.String(), File: s.Source.File, Line: s.Source.Line, Forced: s.Forced, Note: s.Note}
}

// buildEffectiveJSON computes the JSON document for eff.
func buildEffectiveJSON(eff *policy.Effective, explain bool) *effectiveJSON {
	j := &effectiveJSON{
		SessionMode: string(eff.SessionMode),
		OnMiss:      string(eff.OnMiss.Value),
		NetworkMode: string(eff.Mode.Value),
		HTTPPort:    listenerPort(eff.HTTPAddr.Value),
		SocksPort:   listenerPort(eff.SocksAddr.Value),
		Domains:     map[string]string{},
		UnixSockets: map[string]string{},
		Settings:    map[string]bool{},
	}
	for i := range policy.NetworkKeys {
		k := &policy.NetworkKeys[i]
		if s := k.EffectiveBool(eff); s != nil {
			j.Settings[k.JSON] = s.Value
		}
	}
	if v := eff.HTTPAddr.Value; v != "" {
		j.HTTP = &v
	}
	if v := eff.SocksAddr.Value; v != "" {
		j.Socks = &v
	}
	for _, d := range eff.DomainMap() {
		j.Domains[d.Win.Pattern] = permWord(d.Win.Perm)
		switch d.Win.Perm {
		case policy.Allow:
			j.AllowedDomains = append(j.AllowedDomains, d.Win.Pattern)
		case policy.Deny:
			j.DeniedDomains = append(j.DeniedDomains, d.Win.Pattern)
		}
	}
	for _, s := range eff.SocketMap() {
		j.UnixSockets[s.Win.Path] = permWord(s.Win.Perm)
		if s.Win.Perm == policy.Allow {
			j.AllowUnixSockets = append(j.AllowUnixSockets, s.Win.Path)
		}
	}
	sort.Strings(j.AllowedDomains)
	sort.Strings(j.DeniedDomains)
	sort.Strings(j.AllowUnixSockets)
	if explain {
		j.Explain = buildExplain(eff)
	}
	return j
}

func buildExplain(eff *policy.Effective) *explainJSON {
	x := &explainJSON{
		OnMiss: eff.OnMiss.Note,
		Settings: map[string]settingExplain{
			"http":  explainSetting(eff.HTTPAddr.View()),
			"socks": explainSetting(eff.SocksAddr.View()),
		},
		Domains:     []ruleExplain{},
		UnixSockets: []ruleExplain{},
		Dropped:     []droppedExplain{},
	}
	for i := range policy.NetworkKeys {
		k := &policy.NetworkKeys[i]
		if v, ok := k.Effective(eff); ok {
			x.Settings[k.JSON] = explainSetting(v)
		}
	}
	if eff.SocksAddr.Value == "" {
		s := x.Settings["socks"]
		s.Value = nil
		x.Settings["socks"] = s
	}
	for _, f := range domainFolds(eff) {
		for _, m := range f.entries() {
			x.Domains = append(x.Domains, ruleExplain{Pattern: m.key, Permission: permWord(m.perm), Origin: m.src.Origin.String(), File: m.src.File, Line: m.src.Line, Note: m.note})
		}
	}
	for _, f := range socketFolds(eff) {
		for _, m := range f.entries() {
			x.UnixSockets = append(x.UnixSockets, ruleExplain{Path: m.key, Permission: permWord(m.perm), Origin: m.src.Origin.String(), File: m.src.File, Line: m.src.Line, Note: m.note})
		}
	}
	for _, d := range eff.Dropped {
		x.Dropped = append(x.Dropped, droppedExplain{What: d.What, Origin: d.Source.Origin.String(), File: d.Source.File, Line: d.Source.Line, Why: d.Why})
	}
	return x
}

// mapEntry is one entry of the effective domains or unix_sockets map as
// effective shows it: its key, permission and source, and for an entry
// another one shadows, the note saying why.
type mapEntry struct {
	key  string
	perm policy.Permission
	src  policy.Source
	note string
}

// shownFold is one key of a folded map (policy.Fold) as effective shows
// it: the entry that takes effect, then those it shadows.
type shownFold struct {
	win    mapEntry
	shadow []mapEntry
}

// entries are the winner, then the shadowed entries.
func (f shownFold) entries() []mapEntry { return append([]mapEntry{f.win}, f.shadow...) }

// showFolds turns folds into what effective shows of them: entry gives an
// entry's key, permission and source, note why the winner w shadows an
// entry of permission p.
func showFolds[T any](folds []policy.Fold[T], entry func(T) mapEntry, note func(p policy.Permission, w T) string) []shownFold {
	out := make([]shownFold, 0, len(folds))
	for _, f := range folds {
		s := shownFold{win: entry(f.Win)}
		for _, o := range f.Shadow {
			m := entry(o)
			m.note = note(m.perm, f.Win)
			s.shadow = append(s.shadow, m)
		}
		out = append(out, s)
	}
	return out
}

// domainFolds is eff's domains map (policy.Effective.DomainMap) as shown.
func domainFolds(eff *policy.Effective) []shownFold {
	return showFolds(eff.DomainMap(), func(r policy.Rule) mapEntry { return mapEntry{key: r.Pattern, perm: r.Perm, src: r.Source} }, shadowNote)
}

// socketFolds is eff's unix_sockets map (SocketMap) as shown.
func socketFolds(eff *policy.Effective) []shownFold {
	return showFolds(eff.SocketMap(), func(s policy.SocketRule) mapEntry { return mapEntry{key: s.Path, perm: s.Perm, src: s.Source} }, socketShadowNote)
}

// shadowNote explains a rule whose pattern string another rule also uses.
func shadowNote(p policy.Permission, w policy.Rule) string {
	if p == w.Perm {
		return "same rule as " + srcText(w.Source)
	}
	return "deny wins: the same pattern is denied at " + srcText(w.Source)
}

func socketShadowNote(p policy.Permission, w policy.SocketRule) string {
	if p == w.Perm {
		return "same rule as " + srcText(w.Source)
	}
	return "none wins: the same path is \"none\" at " + srcText(w.Source)
}

// srcText is the human form of a source: "file:line, managed".
func srcText(s policy.Source) string {
	if s.Origin == policy.OriginDefault {
		return "default"
	}
	return s.String() + ", " + s.Origin.String()
}

func writeEffectiveJSON(w io.Writer, eff *policy.Effective, explain bool) error {
	return writeEffectiveJSONReport(w, eff, explain, nil)
}

// writeEffectiveJSONReport is writeEffectiveJSON with, under --explain,
// the session report (sources read, profile selected) in the explain
// object.
func writeEffectiveJSONReport(w io.Writer, eff *policy.Effective, explain bool, rep *sessionReport) error {
	j := buildEffectiveJSON(eff, explain)
	if j.Explain != nil {
		j.Explain.Session = rep
	}
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// tomlWriter writes `key = value` lines with an optional trailing comment.
type tomlWriter struct {
	sb      strings.Builder
	explain bool
}

func (t *tomlWriter) line(key, value, comment string) {
	t.sb.WriteString(key + " = " + value)
	if t.explain && comment != "" {
		t.sb.WriteString(" # " + tomldoc.CommentText(comment))
	}
	t.sb.WriteByte('\n')
}

// foldedMap writes the table of a folded map: a line for each winner and,
// under --explain, a comment for each entry it shadows (none: the comment
// none).
func (t *tomlWriter) foldedMap(table, none string, folds []shownFold) {
	t.sb.WriteString("\n[" + table + "]\n")
	if t.explain && len(folds) == 0 {
		t.comment(none)
	}
	for _, f := range folds {
		t.line(tomldoc.QuoteString(f.win.key), tomldoc.QuoteString(permWord(f.win.perm)), srcText(f.win.src))
		if t.explain {
			for _, o := range f.shadow {
				t.comment(fmt.Sprintf("  also %s = %s (%s): %s", tomldoc.QuoteString(o.key), tomldoc.QuoteString(permWord(o.perm)), srcText(o.src), o.note))
			}
		}
	}
}

func (t *tomlWriter) comment(text string) {
	t.sb.WriteString("# " + tomldoc.CommentText(text) + "\n")
}

// settingComment is the --explain comment of a setting.
func settingComment(s policy.SettingView) string {
	c := srcText(s.Source)
	if s.Forced {
		c += "; forced"
	}
	if s.Note != "" {
		c += "; " + s.Note
	}
	return c
}

// tomlValue writes a setting's value as TOML.
func tomlValue(v any) string {
	if b, ok := v.(bool); ok {
		return strconv.FormatBool(b)
	}
	return tomldoc.QuoteString(fmt.Sprint(v))
}

// writeEffectiveTOML writes the TOML form (CLI.md): the session scalars, then
// [network] settings, [network.domains] managed first then user, and
// [network.unix_sockets]. Built by hand so patterns are quoted with TOML's
// escapes and --explain can add comments.
func writeEffectiveTOML(w io.Writer, eff *policy.Effective, explain bool) error {
	return writeEffectiveTOMLReport(w, eff, explain, nil)
}

// writeEffectiveTOMLReport is writeEffectiveTOML with, under --explain, the
// session report as comments at the top.
func writeEffectiveTOMLReport(w io.Writer, eff *policy.Effective, explain bool, rep *sessionReport) error {
	t := &tomlWriter{explain: explain}
	if explain && rep != nil {
		for _, l := range rep.lines() {
			t.comment(l)
		}
		t.sb.WriteString("\n")
	}
	t.line("mode", tomldoc.QuoteString(string(eff.SessionMode)), "session mode (--mode)")
	t.line("on_miss", tomldoc.QuoteString(string(eff.OnMiss.Value)), eff.OnMiss.Note)

	t.sb.WriteString("\n[network]\n")
	for i := range policy.NetworkKeys {
		k := &policy.NetworkKeys[i]
		if v, ok := k.Effective(eff); ok {
			t.line(k.Name, tomlValue(v.Value), settingComment(v))
		}
	}
	if p := listenerPort(eff.HTTPAddr.Value); p != nil {
		t.line("http_port", strconv.Itoa(*p), "")
	}
	if p := listenerPort(eff.SocksAddr.Value); p != nil {
		t.line("socks_port", strconv.Itoa(*p), "")
	}
	t.line("http", tomldoc.QuoteString(eff.HTTPAddr.Value), settingComment(eff.HTTPAddr.View()))
	if eff.SocksAddr.Value != "" {
		t.line("socks", tomldoc.QuoteString(eff.SocksAddr.Value), settingComment(eff.SocksAddr.View()))
	} else if explain {
		t.comment("socks: " + settingComment(eff.SocksAddr.View()))
	}

	t.foldedMap("network.domains", "no domain rules", domainFolds(eff))
	t.foldedMap("network.unix_sockets", "no unix socket rules", socketFolds(eff))

	if explain {
		t.sb.WriteString("\n")
		if len(eff.Dropped) == 0 {
			t.comment("dropped: nothing")
		} else {
			t.comment("dropped:")
			for _, d := range eff.Dropped {
				t.comment(fmt.Sprintf("  %s (%s): %s", d.What, srcText(d.Source), d.Why))
			}
		}
	}
	_, err := io.WriteString(w, t.sb.String())
	return err
}
