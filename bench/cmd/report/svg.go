package main

import (
	"fmt"
	"html"
	"strings"
)

// Colours per system, so netpolicy stands out against the baselines.
var colours = map[string]string{
	"netpolicy": "#2563eb",
	"relay":     "#6b7280",
	"tinyproxy": "#ea580c",
	"squid":     "#16a34a",
}

// chart draws one horizontal bar per route and figure: the median ratio to
// a direct connection in the same round, with a rule at 1.0 (direct) and
// the figure's absolute direct value in its title.
func chart(tables []figureTable) string {
	const (
		width    = 960
		labelW   = 210
		barW     = 620
		rowH     = 18
		titleH   = 28
		groupGap = 10
		top      = 56
	)
	type group struct {
		title string
		rows  []stats
	}
	var groups []group
	maxRatio := 1.0
	for _, t := range tables {
		if !t.f.direct {
			continue
		}
		g := group{title: t.f.title}
		for _, st := range t.rows {
			if st.s.label == "direct" {
				if st.n > 0 {
					g.title += fmt.Sprintf(" (direct = %s %s)", num(st.med), t.f.unit)
				}
				continue
			}
			g.rows = append(g.rows, st)
			maxRatio = max(maxRatio, st.vsDirect)
		}
		if len(g.rows) > 0 {
			groups = append(groups, g)
		}
	}
	scale := float64(barW) / (maxRatio * 1.05)
	height := top + 50
	for _, g := range groups {
		height += titleH + len(g.rows)*rowH + groupGap
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	fmt.Fprintf(&b, `<text x="16" y="24" font-size="16" font-weight="bold">Throughput relative to a direct connection (same round, median over rounds; higher is better)</text>`+"\n")
	fmt.Fprintf(&b, `<text x="16" y="42" fill="#555">Each bar: route ÷ direct. The dashed line is direct (1.0×); on a shared 2-core machine about 0.5× is the ceiling for any proxy.</text>`+"\n")

	x0 := labelW
	y := top
	for _, g := range groups {
		fmt.Fprintf(&b, `<text x="16" y="%d" font-weight="bold">%s</text>`+"\n", y+18, html.EscapeString(g.title))
		y += titleH
		for _, st := range g.rows {
			c := colours[st.s.label]
			if c == "" {
				c = "#9ca3af"
			}
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", x0-8, y+13, html.EscapeString(st.s.String()))
			if st.n == 0 || st.vsDirect == 0 {
				fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#b91c1c">failed</text>`+"\n", x0+4, y+13)
			} else {
				w := st.vsDirect * scale
				fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", x0, y+2, w, rowH-4, c)
				fmt.Fprintf(&b, `<text x="%.1f" y="%d">%.2f×</text>`+"\n", float64(x0)+w+4, y+13, st.vsDirect)
			}
			y += rowH
		}
		y += groupGap
	}
	// Reference lines at 0.5× and 1.0×, drawn last so they sit on top.
	for _, r := range []float64{0.5, 1} {
		x := float64(x0) + r*scale
		dash := "4,3"
		if r == 1 {
			dash = "6,3"
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#111" stroke-width="1" stroke-dasharray="%s"/>`+"\n", x, top, x, y, dash)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#111">%.1f×</text>`+"\n", x, y+14, r)
	}
	// Legend.
	lx := x0
	for _, l := range []string{"netpolicy", "relay", "tinyproxy", "squid"} {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n", lx+80, y+24, colours[l], lx+96, y+34, l)
		lx += 110
	}
	b.WriteString("</svg>\n")
	return b.String()
}
