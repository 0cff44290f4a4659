package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runsFor builds one round of results with netpolicy at the given share of
// the relay's and squid's figures.
func runsFor(round int, vsRelay, vsSquid float64) []run {
	return []run{
		{Mode: "tunnel", Dir: "down", Label: "direct", Route: "direct", Round: round, MBps: 4000},
		{Mode: "tunnel", Dir: "down", Label: "relay", Route: "connect", Round: round, MBps: 2000, CPUPerGB: 0.3},
		{Mode: "tunnel", Dir: "down", Label: "netpolicy", Route: "connect", Round: round, MBps: 2000 * vsRelay, CPUPerGB: 0.3 / vsRelay},
		{Mode: "small", Conc: 64, Label: "squid", Route: "http", Round: round, RPS: 10000, CPUPerReqUs: 70},
		{Mode: "small", Conc: 64, Label: "netpolicy", Route: "http", Round: round, RPS: 10000 * vsSquid, CPUPerReqUs: 70 / vsSquid},
		{Mode: "idle", Label: "netpolicy", Route: "connect", Round: round, RSSPerTunnel: 16, Tunnels: 2000},
	}
}

func targetLine(t *testing.T, md, prefix string) string {
	t.Helper()
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, "| "+prefix) {
			return l
		}
	}
	t.Fatalf("no target line %q in:\n%s", prefix, md)
	return ""
}

func TestTargetsUsePairedMedians(t *testing.T) {
	d := &data{meta: map[string]string{}}
	// Round 2 is an outlier in both directions; the median of the three
	// per-round ratios decides.
	d.runs = append(d.runs, runsFor(1, 0.97, 1.3)...)
	d.runs = append(d.runs, runsFor(2, 0.50, 3.0)...)
	d.runs = append(d.runs, runsFor(3, 0.99, 1.1)...)
	var md strings.Builder
	writeMarkdown(&md, d, d.analyse(), "")
	out := md.String()

	tunnel := targetLine(t, out, "netpolicy CONNECT vs relay CONNECT: tunnel throughput, origin → client")
	if !strings.Contains(tunnel, "| 0.97× |") || !strings.Contains(tunnel, "PASS") || !strings.Contains(tunnel, "0.50–0.99×") {
		t.Errorf("tunnel target: %s", tunnel)
	}
	squid := targetLine(t, out, "netpolicy absolute-URI vs squid absolute-URI: small keep-alive requests, c=64")
	if !strings.Contains(squid, "| 1.30× |") || !strings.Contains(squid, "PASS") {
		t.Errorf("squid target: %s", squid)
	}
	idle := targetLine(t, out, "netpolicy CONNECT: proxy RSS growth")
	if !strings.Contains(idle, "16.0 KiB") || !strings.Contains(idle, "PASS") {
		t.Errorf("idle target: %s", idle)
	}
	// Figures that were not run have no target line.
	if strings.Contains(out, "client → origin") {
		t.Errorf("target for a figure that was not measured:\n%s", out)
	}
}

func TestTargetFails(t *testing.T) {
	d := &data{meta: map[string]string{}, runs: runsFor(1, 0.90, 1.1)}
	var md strings.Builder
	writeMarkdown(&md, d, d.analyse(), "")
	for _, p := range []string{
		"netpolicy CONNECT vs relay CONNECT: tunnel throughput, origin → client",
		"netpolicy absolute-URI vs squid absolute-URI: small keep-alive requests, c=64",
	} {
		if l := targetLine(t, md.String(), p); !strings.Contains(l, "FAIL") {
			t.Errorf("want FAIL: %s", l)
		}
	}
}

func TestFailedRunsAreExcluded(t *testing.T) {
	rs := runsFor(1, 1, 1)
	rs = append(rs, run{Mode: "tunnel", Dir: "down", Label: "netpolicy", Route: "connect", Round: 2, Failed: true})
	d := &data{runs: rs}
	for _, tb := range d.analyse() {
		if tb.f.key != "tunnel-down" {
			continue
		}
		st, ok := tb.row(series{"netpolicy", "connect"})
		if !ok || st.n != 1 || st.failed != 1 {
			t.Fatalf("netpolicy CONNECT row: %+v", st)
		}
		if st.vsDirect != 0.5 || st.vsRelay != 1 {
			t.Errorf("ratios: direct %v relay %v", st.vsDirect, st.vsRelay)
		}
		return
	}
	t.Fatal("no tunnel-down table")
}

func TestEmbedReplacesOnlyBetweenMarkers(t *testing.T) {
	dir := t.TempDir()
	readme := filepath.Join(dir, "README.md")
	orig := "# Bench\n\nintro\n\n## Latest results\n\n" + markBegin + "\nold\n" + markEnd + "\n\ntail\n"
	if err := os.WriteFile(readme, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	report := "# netpolicy benchmark: latest run\n\n![chart](latest.svg)\n\n## Targets\n\nrows\n"
	if err := embed(readme, report, filepath.Join(dir, "results", "latest.svg")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(readme)
	got := string(b)
	want := "# Bench\n\nintro\n\n## Latest results\n\n" + markBegin + "\n\n![chart](results/latest.svg)\n\n### Targets\n\nrows\n" + markEnd + "\n\ntail\n"
	if got != want {
		t.Errorf("embed:\n%s\nwant:\n%s", got, want)
	}
	// Running it again gives the same file.
	if err := embed(readme, report, filepath.Join(dir, "results", "latest.svg")); err != nil {
		t.Fatal(err)
	}
	if b2, _ := os.ReadFile(readme); string(b2) != got {
		t.Errorf("second embed changed the file:\n%s", b2)
	}
}

func TestChartIsSVG(t *testing.T) {
	d := &data{runs: runsFor(1, 1, 1)}
	svg := chart(d.analyse())
	if !strings.HasPrefix(svg, "<svg ") || !strings.HasSuffix(svg, "</svg>\n") {
		t.Errorf("not an SVG document:\n%s", svg)
	}
	if !strings.Contains(svg, "netpolicy CONNECT") || !strings.Contains(svg, "0.50×") {
		t.Errorf("chart lacks the netpolicy bar:\n%s", svg)
	}
}
