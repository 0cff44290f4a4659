package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/netpolicy/netpolicy/policy"
)

// newServeLogger makes serve's logger: format "text" writes human lines
// with a timestamp and level ("2026-12-03T09:00:00.123Z INFO netpolicy
// serve: listening http=…"), "json" one JSON object per line (slog's JSON
// handler: time, level, msg and the attributes).
func newServeLogger(w io.Writer, format, name string) (*slog.Logger, error) {
	switch format {
	case "text", "":
		return slog.New(&lineHandler{w: w, prefix: "netpolicy " + name + ": ", mu: &sync.Mutex{}}), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})).With("logger", "netpolicy "+name), nil
	}
	return nil, fmt.Errorf("invalid --log-format %q: want text or json", format)
}

// lineHandler is a slog.Handler writing one human line per record:
// RFC 3339 UTC time with milliseconds, level, the program prefix, the
// message, then the attributes as key=value (values with spaces quoted).
type lineHandler struct {
	w      io.Writer
	prefix string
	attrs  []slog.Attr
	group  string
	mu     *sync.Mutex
}

func (h *lineHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	var sb strings.Builder
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	sb.WriteString(t.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
	sb.WriteString(" " + r.Level.String() + " " + h.prefix + r.Message)
	write := func(a slog.Attr) {
		if a.Equal(slog.Attr{}) {
			return
		}
		key := a.Key
		if h.group != "" {
			key = h.group + "." + key
		}
		v := a.Value.Resolve().String()
		if v == "" || strings.ContainsAny(v, " \t\"=") {
			v = fmt.Sprintf("%q", v)
		}
		sb.WriteString(" " + key + "=" + v)
	}
	for _, a := range h.attrs {
		write(a)
	}
	r.Attrs(func(a slog.Attr) bool { write(a); return true })
	sb.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, sb.String())
	return err
}

func (h *lineHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &c
}

func (h *lineHandler) WithGroup(name string) slog.Handler {
	c := *h
	if c.group != "" {
		name = c.group + "." + name
	}
	c.group = name
	return &c
}

// policyChange summarises in one line what a reload changed between two
// effective policies: rules added and removed (the first few named), and
// settings whose value changed. "no change to rules or settings" when the
// files changed without changing the policy.
func policyChange(old, cur *policy.Effective) string {
	if old == nil || cur == nil {
		return "new policy"
	}
	ruleSet := func(e *policy.Effective) map[string]bool {
		m := map[string]bool{}
		for _, r := range e.Allow {
			m["allow "+r.Pattern] = true
		}
		for _, r := range e.Deny {
			m["deny "+r.Pattern] = true
		}
		for _, s := range e.Sockets {
			m["socket "+s.Perm.String()+" "+s.Path] = true
		}
		return m
	}
	added, removed := setDiff(ruleSet(old), ruleSet(cur))
	var parts []string
	if len(added) > 0 {
		parts = append(parts, fmt.Sprintf("%s added (%s)", plural(len(added), "rule", "rules"), firstFew(added)))
	}
	if len(removed) > 0 {
		parts = append(parts, fmt.Sprintf("%s removed (%s)", plural(len(removed), "rule", "rules"), firstFew(removed)))
	}
	var changed []string
	for i := range policy.NetworkKeys {
		k := &policy.NetworkKeys[i]
		a, ok1 := k.Effective(old)
		b, ok2 := k.Effective(cur)
		if ok1 && ok2 && fmt.Sprint(a.Value) != fmt.Sprint(b.Value) {
			changed = append(changed, fmt.Sprintf("%s %v → %v", k.Name, a.Value, b.Value))
		}
	}
	if old.OnMiss.Value != cur.OnMiss.Value {
		changed = append(changed, fmt.Sprintf("on_miss %s → %s", old.OnMiss.Value, cur.OnMiss.Value))
	}
	if len(changed) > 0 {
		parts = append(parts, "settings changed: "+strings.Join(changed, ", "))
	}
	if len(parts) == 0 {
		return "no change to rules or settings"
	}
	return strings.Join(parts, "; ")
}

// setDiff returns the keys only in b (added) and only in a (removed), sorted.
func setDiff(a, b map[string]bool) (added, removed []string) {
	for k := range b {
		if !a[k] {
			added = append(added, k)
		}
	}
	for k := range a {
		if !b[k] {
			removed = append(removed, k)
		}
	}
	sort.Strings(added)
	sort.Strings(removed)
	return added, removed
}

// firstFew lists up to three items, then how many more.
func firstFew(items []string) string {
	const n = 3
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(", and %d more", len(items)-n)
}
