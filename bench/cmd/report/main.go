// Command report turns the JSON lines written by loadgen during
// bench/run.sh into a Markdown report (medians, min–max, ratios to a direct
// connection and to the plain relay in the same round, and PASS/FAIL per
// target) and an SVG bar chart of the ratios to direct.
//
// Usage:
//
//	report -in results.jsonl [-meta meta.json] -md latest.md -svg latest.svg
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// run is one loadgen result line (only the fields the report uses).
type run struct {
	Mode         string  `json:"mode"`
	Route        string  `json:"route"`
	Label        string  `json:"label"`
	Round        int     `json:"round"`
	Conc         int     `json:"c"`
	Dir          string  `json:"dir"`
	Requests     int64   `json:"requests"`
	Errors       int64   `json:"errors"`
	Reconnects   int64   `json:"reconnects"`
	RPS          float64 `json:"rps"`
	P50ms        float64 `json:"p50_ms"`
	P99ms        float64 `json:"p99_ms"`
	MBps         float64 `json:"mbps"`
	ProxyCPU     float64 `json:"proxy_cpu_s"`
	CPUPerReqUs  float64 `json:"cpu_per_req_us"`
	CPUPerGB     float64 `json:"cpu_per_gb_s"`
	ProxyHWMKiB  int64   `json:"proxy_hwm_kib"`
	Tunnels      int     `json:"tunnels"`
	RSSBeforeKiB int64   `json:"rss_before_kib"`
	RSSAfterKiB  int64   `json:"rss_after_kib"`
	RSSPerTunnel float64 `json:"rss_per_tunnel_kib"`
	StartupMs    float64 `json:"startup_ms"`
	StartupMinMs float64 `json:"startup_min_ms"`
	StartupMaxMs float64 `json:"startup_max_ms"`
	Command      string  `json:"command"`
	Error        string  `json:"error"`
	Failed       bool    `json:"failed"`
	BodySize     int64   `json:"body_size"`
}

// series names one system reached one way, e.g. netpolicy over CONNECT.
type series struct{ label, route string }

func (s series) String() string {
	if s.route == "direct" {
		return s.label
	}
	return s.label + " " + routeName[s.route]
}

var routeName = map[string]string{"direct": "direct", "http": "absolute-URI", "connect": "CONNECT", "socks5": "SOCKS5"}

var labelOrder = []string{"direct", "netpolicy", "relay", "tinyproxy", "squid"}
var routeOrder = []string{"direct", "http", "connect", "socks5"}

func seriesLess(a, b series) int {
	if d := index(labelOrder, a.label) - index(labelOrder, b.label); d != 0 {
		return d
	}
	if a.label != b.label {
		return strings.Compare(a.label, b.label)
	}
	return index(routeOrder, a.route) - index(routeOrder, b.route)
}

func index(list []string, s string) int {
	if i := slices.Index(list, s); i >= 0 {
		return i
	}
	return len(list)
}

// figure is one measured quantity: which runs belong to it and their value.
type figure struct {
	key, title, unit string
	match            func(run) bool
	value            func(run) float64
	lowerIsBetter    bool
	direct           bool // has a direct baseline
}

// cpuPerUnit is the proxy CPU a run spent per unit of work: per request
// for the small figures, per GB for the throughput ones. It is steadier than
// throughput on a busy machine: another process taking a CPU away slows a
// proxy down, but barely changes what each request costs it.
func (f figure) cpuPerUnit(r run) float64 {
	switch {
	case f.perRequest():
		return r.CPUPerReqUs
	case f.key == "idle":
		return 0
	}
	return r.CPUPerGB
}

// perRequest reports a figure of requests (or connections) per second,
// with latencies and CPU per request.
func (f figure) perRequest() bool {
	switch f.key {
	case "small1", "small64", "post64", "newconn1", "newconn64":
		return true
	}
	return false
}

var figures = []figure{
	{key: "small1", title: "Small keep-alive requests, c=1", unit: "req/s", direct: true,
		match: func(r run) bool { return r.Mode == "small" && r.Conc == 1 }, value: func(r run) float64 { return r.RPS }},
	{key: "small64", title: "Small keep-alive requests, c=64", unit: "req/s", direct: true,
		match: func(r run) bool { return r.Mode == "small" && r.Conc == 64 }, value: func(r run) float64 { return r.RPS }},
	{key: "post64", title: "4 KiB POSTs on keep-alive connections, c=64", unit: "req/s", direct: true,
		match: func(r run) bool { return r.Mode == "post" && r.Conc == 64 }, value: func(r run) float64 { return r.RPS }},
	{key: "newconn1", title: "New connections to one allowed name (DNS 20 ms, TTL 60 s), one after another", unit: "conns/s",
		match: func(r run) bool { return r.Mode == "newconn" && r.Conc == 1 }, value: func(r run) float64 { return r.RPS }},
	{key: "newconn64", title: "New connections to one allowed name (DNS 20 ms, TTL 60 s), c=64", unit: "conns/s",
		match: func(r run) bool { return r.Mode == "newconn" && r.Conc == 64 }, value: func(r run) float64 { return r.RPS }},
	{key: "tunnel-down", title: "Tunnel throughput, origin → client", unit: "MB/s", direct: true,
		match: func(r run) bool { return r.Mode == "tunnel" && r.Dir == "down" }, value: func(r run) float64 { return r.MBps }},
	{key: "tunnel-up", title: "Tunnel throughput, client → origin", unit: "MB/s", direct: true,
		match: func(r run) bool { return r.Mode == "tunnel" && r.Dir == "up" }, value: func(r run) float64 { return r.MBps }},
	{key: "tunnel-both", title: "Tunnel throughput, both ways at once", unit: "MB/s", direct: true,
		match: func(r run) bool { return r.Mode == "tunnel" && r.Dir == "both" }, value: func(r run) float64 { return r.MBps }},
	{key: "big", title: "Large GET", unit: "MB/s", direct: true,
		match: func(r run) bool { return r.Mode == "big" }, value: func(r run) float64 { return r.MBps }},
	{key: "idle", title: "Proxy RSS growth per idle tunnel (fresh process)", unit: "KiB", lowerIsBetter: true,
		match: func(r run) bool { return r.Mode == "idle" }, value: func(r run) float64 { return r.RSSPerTunnel }},
}

// stats summarises one series in one figure.
type stats struct {
	s                   series
	n, failed           int
	errors              int64
	med, min, max       float64
	vsDirect, vsRelay   float64 // medians of per-round ratios; 0 when not defined
	p50, p99            float64 // medians, small requests only
	cpuReq, cpuGB       float64 // medians
	rssBefore, rssAfter float64 // medians, idle only
	tunnels             int
}

type data struct {
	runs []run
	meta map[string]string
}

func main() {
	in := flag.String("in", "", "loadgen JSON lines (results.jsonl)")
	metaPath := flag.String("meta", "", "run metadata JSON written by run.sh")
	mdPath := flag.String("md", "", "write the Markdown report here (default stdout)")
	svgPath := flag.String("svg", "", "write the SVG chart here")
	readme := flag.String("readme", "", "also embed the report in this file between the "+markBegin+" and "+markEnd+" lines")
	flag.Parse()
	if *in == "" {
		log.Fatal("report: -in is required")
	}
	d, err := load(*in, *metaPath)
	if err != nil {
		log.Fatal(err)
	}
	var md strings.Builder
	tables := d.analyse()
	writeMarkdown(&md, d, tables, *svgPath)
	if *mdPath == "" {
		io.WriteString(os.Stdout, md.String())
	} else if err := writeFile(*mdPath, md.String()); err != nil {
		log.Fatal(err)
	}
	if *svgPath != "" {
		if err := writeFile(*svgPath, chart(tables)); err != nil {
			log.Fatal(err)
		}
	}
	if *readme != "" {
		if err := embed(*readme, md.String(), *svgPath); err != nil {
			log.Fatal(err)
		}
	}
}

// Markers around the generated part of bench/README.md.
const (
	markBegin = "<!-- results:begin (generated by bench/run.sh) -->"
	markEnd   = "<!-- results:end -->"
)

// embed replaces the text between the markers in path with the report,
// its image path made relative to path.
func embed(path, report, svgPath string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(b)
	i, j := strings.Index(s, markBegin), strings.Index(s, markEnd)
	if i < 0 || j < i {
		return fmt.Errorf("%s: markers %q and %q not found", path, markBegin, markEnd)
	}
	// The README has its own heading: drop the report's title and nest its
	// sections one level deeper.
	body := report
	if strings.HasPrefix(body, "# ") {
		_, body, _ = strings.Cut(body, "\n")
	}
	body = strings.ReplaceAll(body, "\n## ", "\n### ")
	if svgPath != "" {
		if rel, err := filepath.Rel(filepath.Dir(path), svgPath); err == nil {
			body = strings.Replace(body, "]("+filepath.Base(svgPath)+")", "]("+filepath.ToSlash(rel)+")", 1)
		}
	}
	out := s[:i+len(markBegin)] + "\n" + body + s[j:]
	return os.WriteFile(path, []byte(out), 0o644)
}

func load(in, metaPath string) (*data, error) {
	f, err := os.Open(in)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d := &data{meta: map[string]string{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		b := strings.TrimSpace(sc.Text())
		if b == "" {
			continue
		}
		var r run
		if err := json.Unmarshal([]byte(b), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", in, line, err)
		}
		d.runs = append(d.runs, r)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if metaPath != "" {
		b, err := os.ReadFile(metaPath)
		if err != nil {
			return nil, err
		}
		// "key: value" lines, easy to write from a shell script.
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) != "" {
				d.meta[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	}
	return d, nil
}

// figureTable is the analysed form of one figure.
type figureTable struct {
	f    figure
	rows []stats
}

func (t figureTable) row(s series) (stats, bool) {
	for _, r := range t.rows {
		if r.s == s {
			return r, true
		}
	}
	return stats{}, false
}

func (d *data) analyse() []figureTable {
	var out []figureTable
	for _, f := range figures {
		// value[series][round]
		vals := map[series]map[int]float64{}
		byS := map[series][]run{}
		for _, r := range d.runs {
			if !f.match(r) {
				continue
			}
			s := series{r.Label, r.Route}
			byS[s] = append(byS[s], r)
			if !r.Failed && f.value(r) != 0 {
				if vals[s] == nil {
					vals[s] = map[int]float64{}
				}
				vals[s][r.Round] = f.value(r)
			}
		}
		if len(byS) == 0 {
			continue
		}
		t := figureTable{f: f}
		if f.key == "big" {
			for _, rs := range byS {
				if size := rs[0].BodySize; size > 0 {
					t.f.title = fmt.Sprintf("Large GET (%s bodies)", sizeName(size))
				}
			}
		}
		for s, runs := range byS {
			st := stats{s: s}
			var vs, p50, p99, cr, cg, rb, ra []float64
			for _, r := range runs {
				st.errors += r.Errors
				if r.Failed || f.value(r) == 0 {
					st.failed++
					continue
				}
				vs = append(vs, f.value(r))
				p50 = append(p50, r.P50ms)
				p99 = append(p99, r.P99ms)
				cr = append(cr, r.CPUPerReqUs)
				cg = append(cg, r.CPUPerGB)
				rb = append(rb, float64(r.RSSBeforeKiB))
				ra = append(ra, float64(r.RSSAfterKiB))
				st.tunnels = max(st.tunnels, r.Tunnels)
			}
			st.n = len(vs)
			if st.n > 0 {
				st.med, st.min, st.max = median(vs), slices.Min(vs), slices.Max(vs)
				st.p50, st.p99, st.cpuReq, st.cpuGB = median(p50), median(p99), median(cr), median(cg)
				st.rssBefore, st.rssAfter = median(rb), median(ra)
			}
			if f.direct {
				st.vsDirect = pairedRatio(vals[s], vals[series{"direct", "direct"}])
			}
			if s.label != "direct" {
				st.vsRelay = pairedRatio(vals[s], vals[series{"relay", s.route}])
			}
			t.rows = append(t.rows, st)
		}
		slices.SortFunc(t.rows, func(a, b stats) int { return seriesLess(a.s, b.s) })
		out = append(out, t)
	}
	return out
}

// pairedRatio is the median over rounds of a/b measured in the same round,
// so that load from elsewhere on the machine cancels out.
func pairedRatio(a, b map[int]float64) float64 {
	var rs []float64
	for round, x := range a {
		if y, ok := b[round]; ok && y != 0 {
			rs = append(rs, x/y)
		}
	}
	if len(rs) == 0 {
		return 0
	}
	return median(rs)
}

func sizeName(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d-byte", n)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func writeFile(path, s string) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	return os.WriteFile(path, []byte(s), 0o644)
}
