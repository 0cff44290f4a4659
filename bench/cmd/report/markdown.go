package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// target is one promise from the benchmark issue: the paired ratio of a to
// b in figure fig must be at least min, or (for absolute targets) the value
// of a must be at most max.
type target struct {
	fig  string
	a, b series
	min  float64
	max  float64 // absolute upper bound on a's median when b is zero
}

var (
	npHTTP     = series{"netpolicy", "http"}
	npConnect  = series{"netpolicy", "connect"}
	npSocks    = series{"netpolicy", "socks5"}
	rlConnect  = series{"relay", "connect"}
	rlSocks    = series{"relay", "socks5"}
	squidHTTP  = series{"squid", "http"}
	noBaseline = series{}
)

var targets = []target{
	{fig: "tunnel-down", a: npConnect, b: rlConnect, min: 0.95},
	{fig: "tunnel-up", a: npConnect, b: rlConnect, min: 0.95},
	{fig: "tunnel-both", a: npConnect, b: rlConnect, min: 0.95},
	{fig: "tunnel-down", a: npSocks, b: rlSocks, min: 0.95},
	{fig: "tunnel-up", a: npSocks, b: rlSocks, min: 0.95},
	{fig: "tunnel-both", a: npSocks, b: rlSocks, min: 0.95},
	{fig: "small64", a: npConnect, b: rlConnect, min: 0.95},
	{fig: "small1", a: npConnect, b: rlConnect, min: 0.95},
	{fig: "small64", a: npHTTP, b: squidHTTP, min: 1.2},
	{fig: "big", a: npHTTP, b: squidHTTP, min: 2},
	{fig: "post64", a: npHTTP, b: squidHTTP, min: 1.5},
	{fig: "idle", a: npConnect, b: noBaseline, max: 64},
	{fig: "idle", a: npSocks, b: noBaseline, max: 64},
}

func figureByKey(key string) (figure, bool) {
	for _, f := range figures {
		if f.key == key {
			return f, true
		}
	}
	return figure{}, false
}

// paired returns the median over rounds of a/b in one figure, the
// per-round ratios it was taken from, and the median over rounds of b's CPU
// per unit over a's (above 1: a spends less CPU on the same work).
func (d *data) paired(f figure, a, b series) (float64, []float64, float64) {
	va, vb := map[int]float64{}, map[int]float64{}
	ca, cb := map[int]float64{}, map[int]float64{}
	for _, r := range d.runs {
		if !f.match(r) || r.Failed || f.value(r) == 0 {
			continue
		}
		switch (series{r.Label, r.Route}) {
		case a:
			va[r.Round], ca[r.Round] = f.value(r), f.cpuPerUnit(r)
		case b:
			vb[r.Round], cb[r.Round] = f.value(r), f.cpuPerUnit(r)
		}
	}
	for round, x := range ca {
		if x == 0 {
			delete(ca, round)
		}
	}
	var rs []float64
	for round, x := range va {
		if y, ok := vb[round]; ok && y != 0 {
			rs = append(rs, x/y)
		}
	}
	return pairedRatio(va, vb), rs, pairedRatio(cb, ca)
}

func writeMarkdown(w *strings.Builder, d *data, tables []figureTable, svgPath string) {
	fmt.Fprintf(w, "# netpolicy benchmark: latest run\n\n")
	writeMeta(w, d.meta)
	if svgPath != "" {
		fmt.Fprintf(w, "![ratio to a direct connection, per figure](%s)\n\n", filepath.Base(svgPath))
	}

	fmt.Fprintf(w, "## Targets\n\n")
	fmt.Fprintf(w, "Ratios are medians over rounds of the two values measured in the same round. "+
		"The CPU column is the same comparison made on proxy CPU time per request or per GB "+
		"(baseline ÷ netpolicy, above 1× = netpolicy spends less): on a busy machine it is steadier than throughput.\n\n")
	fmt.Fprintf(w, "| target | measured | needed | per round (min–max) | rounds | CPU efficiency | result |\n|---|---|---|---|---|---|---|\n")
	for _, t := range targets {
		f, _ := figureByKey(t.fig)
		if t.b == noBaseline {
			var vals []float64
			for _, r := range d.runs {
				if f.match(r) && !r.Failed && (series{r.Label, r.Route}) == t.a {
					vals = append(vals, f.value(r))
				}
			}
			desc := fmt.Sprintf("%s: %s", t.a, lowerFirst(f.title))
			if len(vals) == 0 && !hasFigure(tables, t.fig) {
				continue
			}
			if len(vals) == 0 {
				fmt.Fprintf(w, "| %s | — | ≤ %.0f %s | — | 0 | — | not measured |\n", desc, t.max, f.unit)
				continue
			}
			m := median(vals)
			fmt.Fprintf(w, "| %s | %.1f %s | ≤ %.0f %s | %.1f–%.1f | %d | — | %s |\n", desc, m, f.unit, t.max, f.unit,
				slices.Min(vals), slices.Max(vals), len(vals), passFail(m <= t.max))
			continue
		}
		r, rs, cpu := d.paired(f, t.a, t.b)
		desc := fmt.Sprintf("%s vs %s: %s", t.a, t.b, lowerFirst(f.title))
		if len(rs) == 0 {
			if hasFigure(tables, t.fig) {
				fmt.Fprintf(w, "| %s | — | ≥ %.2f× | — | 0 | — | not measured |\n", desc, t.min)
			}
			continue
		}
		fmt.Fprintf(w, "| %s | %.2f× | ≥ %.2f× | %.2f–%.2f× | %d | %s | %s |\n", desc, r, t.min,
			slices.Min(rs), slices.Max(rs), len(rs), ratio(cpu), passFail(r >= t.min))
	}
	fmt.Fprintln(w)

	writeSummary(w, tables)

	for _, t := range tables {
		writeFigure(w, t)
	}
	writeMemory(w, d, tables)
	writeStartup(w, d)
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func hasFigure(tables []figureTable, key string) bool {
	return slices.ContainsFunc(tables, func(t figureTable) bool { return t.f.key == key })
}

func passFail(ok bool) string {
	if ok {
		return "**PASS**"
	}
	return "**FAIL**"
}

func writeMeta(w *strings.Builder, meta map[string]string) {
	if len(meta) == 0 {
		return
	}
	if c, ok := meta["command"]; ok {
		fmt.Fprintf(w, "Command: `%s`\n\n", c)
	}
	fmt.Fprintf(w, "| | |\n|---|---|\n")
	for _, k := range []string{"date", "rounds", "duration", "cpu", "cores", "memory", "kernel", "go", "netpolicy", "squid", "tinyproxy", "loadavg_start", "loadavg_end", "note"} {
		if v, ok := meta[k]; ok {
			fmt.Fprintf(w, "| %s | %s |\n", k, strings.ReplaceAll(v, "|", "\\|"))
		}
	}
	fmt.Fprintln(w)
}

// writeSummary is the at-a-glance table in the shape of the issue's
// reference figures: every route against every figure, as a ratio to direct.
func writeSummary(w *strings.Builder, tables []figureTable) {
	var cols []figureTable
	for _, t := range tables {
		if t.f.direct {
			cols = append(cols, t)
		}
	}
	if len(cols) == 0 {
		return
	}
	fmt.Fprintf(w, "## Summary: ratio to direct (same round, median over rounds)\n\n| route |")
	for _, t := range cols {
		fmt.Fprintf(w, " %s |", shortTitle(t.f))
	}
	fmt.Fprintf(w, "\n|---|")
	for range cols {
		fmt.Fprintf(w, "---|")
	}
	fmt.Fprintln(w)
	for _, s := range allSeries(cols) {
		fmt.Fprintf(w, "| %s |", s)
		for _, t := range cols {
			st, ok := t.row(s)
			switch {
			case !ok:
				fmt.Fprintf(w, " — |")
			case st.n == 0:
				fmt.Fprintf(w, " failed |")
			case s.label == "direct":
				fmt.Fprintf(w, " 1.00× (%s %s) |", num(st.med), t.f.unit)
			default:
				fmt.Fprintf(w, " %.2f× |", st.vsDirect)
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

func shortTitle(f figure) string {
	switch f.key {
	case "small1":
		return "small req/s c=1"
	case "small64":
		return "small req/s c=64"
	case "post64":
		return "POST 4 KiB req/s c=64"
	case "newconn1":
		return "new conns/s to a name c=1"
	case "newconn64":
		return "new conns/s to a name c=64"
	case "tunnel-down":
		return "tunnel MB/s ↓"
	case "tunnel-up":
		return "tunnel MB/s ↑"
	case "tunnel-both":
		return "tunnel MB/s ↕"
	case "big":
		return strings.TrimPrefix(strings.TrimSuffix(f.title, " bodies)"), "Large GET (") + " GET MB/s"
	}
	return f.title
}

func allSeries(tables []figureTable) []series {
	var out []series
	for _, t := range tables {
		for _, r := range t.rows {
			if !slices.Contains(out, r.s) {
				out = append(out, r.s)
			}
		}
	}
	slices.SortFunc(out, seriesLess)
	return out
}

func writeFigure(w *strings.Builder, t figureTable) {
	f := t.f
	fmt.Fprintf(w, "## %s\n\n", f.title)
	small := f.perRequest()
	idle := f.key == "idle"
	hdr := "| route | median " + f.unit + " | min–max | rounds |"
	sep := "|---|---|---|---|"
	if f.direct {
		hdr += " × direct |"
		sep += "---|"
	}
	hdr += " × relay |"
	sep += "---|"
	switch {
	case small:
		hdr += " p50 ms | p99 ms | proxy CPU µs/req |"
		sep += "---|---|---|"
	case idle:
		hdr += " tunnels | RSS before | RSS with tunnels |"
		sep += "---|---|---|"
	default:
		hdr += " proxy CPU s/GB |"
		sep += "---|"
	}
	hdr += " errors |"
	sep += "---|"
	fmt.Fprintf(w, "%s\n%s\n", hdr, sep)
	for _, st := range t.rows {
		if st.n == 0 {
			fmt.Fprintf(w, "| %s | failed (%d runs) |\n", st.s, st.failed)
			continue
		}
		fmt.Fprintf(w, "| %s | %s | %s–%s | %d |", st.s, num(st.med), num(st.min), num(st.max), st.n)
		if f.direct {
			fmt.Fprintf(w, " %s |", ratio(st.vsDirect))
		}
		fmt.Fprintf(w, " %s |", ratio(st.vsRelay))
		switch {
		case small:
			fmt.Fprintf(w, " %.2f | %.2f | %s |", st.p50, st.p99, orDash(st.cpuReq, "%.1f"))
		case idle:
			fmt.Fprintf(w, " %d | %s | %s |", st.tunnels, mib(st.rssBefore), mib(st.rssAfter))
		default:
			fmt.Fprintf(w, " %s |", orDash(st.cpuGB, "%.2f"))
		}
		errs := fmt.Sprint(st.errors)
		if st.failed > 0 {
			errs += fmt.Sprintf(" (%d failed runs)", st.failed)
		}
		fmt.Fprintf(w, " %s |\n", errs)
	}
	fmt.Fprintln(w)
}

// writeMemory reports per proxy the peak RSS seen during the load runs and
// the idle-tunnel figures.
func writeMemory(w *strings.Builder, d *data, tables []figureTable) {
	peak := map[string]int64{}
	for _, r := range d.runs {
		if r.Mode != "idle" && r.Label != "direct" && r.ProxyHWMKiB > peak[r.Label] {
			peak[r.Label] = r.ProxyHWMKiB
		}
	}
	if len(peak) == 0 {
		return
	}
	var idleT figureTable
	for _, t := range tables {
		if t.f.key == "idle" {
			idleT = t
		}
	}
	labels := make([]string, 0, len(peak))
	for l := range peak {
		labels = append(labels, l)
	}
	slices.SortFunc(labels, func(a, b string) int { return seriesLess(series{a, ""}, series{b, ""}) })
	fmt.Fprintf(w, "## Proxy memory\n\n")
	fmt.Fprintf(w, "Peak RSS is VmHWM of the proxy process (and its children) over all load runs. Idle tunnels are opened on a freshly started instance; per tunnel = (RSS with tunnels − RSS before) / tunnels.\n\n")
	fmt.Fprintf(w, "| proxy | peak RSS under load | fresh RSS | RSS with idle CONNECT tunnels | per CONNECT tunnel | RSS with idle SOCKS5 tunnels | per SOCKS5 tunnel |\n|---|---|---|---|---|---|---|\n")
	for _, l := range labels {
		c, cok := idleT.row(series{l, "connect"})
		s, sok := idleT.row(series{l, "socks5"})
		fresh := "—"
		if cok && c.n > 0 {
			fresh = mib(c.rssBefore)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", l, mib(float64(peak[l])), fresh,
			idleCell(c, cok, func(st stats) string { return mib(st.rssAfter) }),
			idleCell(c, cok, func(st stats) string { return fmt.Sprintf("%.1f KiB", st.med) }),
			idleCell(s, sok, func(st stats) string { return mib(st.rssAfter) }),
			idleCell(s, sok, func(st stats) string { return fmt.Sprintf("%.1f KiB", st.med) }))
	}
	fmt.Fprintln(w)
}

func idleCell(st stats, ok bool, f func(stats) string) string {
	if !ok {
		return "—"
	}
	if st.n == 0 {
		return "failed"
	}
	return f(st)
}

func writeStartup(w *strings.Builder, d *data) {
	byCmd := map[string][]run{}
	var order []string
	for _, r := range d.runs {
		if r.Mode == "startup" && !r.Failed {
			if _, ok := byCmd[r.Label]; !ok {
				order = append(order, r.Label)
			}
			byCmd[r.Label] = append(byCmd[r.Label], r)
		}
	}
	if len(order) == 0 {
		return
	}
	fmt.Fprintf(w, "## CLI start-up to first output\n\n| command | median ms | min–max ms | runs |\n|---|---|---|---|\n")
	for _, l := range order {
		rs := byCmd[l]
		var meds, mins, maxs []float64
		var n int64
		for _, r := range rs {
			meds = append(meds, r.StartupMs)
			mins = append(mins, r.StartupMinMs)
			maxs = append(maxs, r.StartupMaxMs)
			n += r.Requests
		}
		fmt.Fprintf(w, "| `%s` | %.1f | %.1f–%.1f | %d |\n", l, median(meds), slices.Min(mins), slices.Max(maxs), n)
	}
	fmt.Fprintln(w)
}

func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func ratio(v float64) string {
	if v == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", v)
}

func orDash(v float64, format string) string {
	if v == 0 {
		return "—"
	}
	return fmt.Sprintf(format, v)
}

func mib(kib float64) string {
	if kib == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f MiB", kib/1024)
}
