package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// procSample is the CPU time and memory of a process tree at one moment.
type procSample struct {
	cpuTicks int64 // utime + stime of every process in the tree
	rssKiB   int64 // sum of VmRSS
	hwmKiB   int64 // sum of VmHWM (peak RSS)
}

// sampleTree reads /proc for pid and every descendant: squid and others may
// fork helpers, and their cost belongs to the proxy.
func sampleTree(pid int) procSample {
	var s procSample
	if pid <= 0 {
		return s
	}
	for _, p := range treePIDs(pid) {
		s.cpuTicks += cpuTicks(p)
		rss, hwm := memKiB(p)
		s.rssKiB += rss
		s.hwmKiB += hwm
	}
	return s
}

func treePIDs(root int) []int {
	parent := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp, ok := statField(pid, 4); ok {
			parent[pid] = int(pp)
		}
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		for p, pp := range parent {
			if pp == out[i] {
				out = append(out, p)
			}
		}
	}
	return out
}

// statField returns field n (1-based, as in proc(5)) of /proc/PID/stat.
func statField(pid, n int) (int64, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	// The command name (field 2) may hold spaces: count from its closing paren.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if n-3 < 0 || n-3 >= len(f) {
		return 0, false
	}
	v, err := strconv.ParseInt(f[n-3], 10, 64)
	return v, err == nil
}

func cpuTicks(pid int) int64 {
	u, _ := statField(pid, 14)
	s, _ := statField(pid, 15)
	return u + s
}

func memKiB(pid int) (rss, hwm int64) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var dst *int64
		switch {
		case strings.HasPrefix(line, "VmRSS:"):
			dst = &rss
		case strings.HasPrefix(line, "VmHWM:"):
			dst = &hwm
		default:
			continue
		}
		fs := strings.Fields(line)
		if len(fs) >= 2 {
			*dst, _ = strconv.ParseInt(fs[1], 10, 64)
		}
	}
	return rss, hwm
}

// meter measures the proxy and this process over one run.
type meter struct {
	c          *config
	before     procSample
	selfBefore time.Duration
}

func startMeter(c *config) *meter {
	return &meter{c: c, before: sampleTree(c.pid), selfBefore: selfCPU()}
}

// finish fills the proxy and client CPU figures of r.
func (m *meter) finish(r *result) {
	r.ClientCPU = (selfCPU() - m.selfBefore).Seconds()
	if m.c.pid <= 0 {
		return
	}
	after := sampleTree(m.c.pid)
	r.ProxyCPU = float64(after.cpuTicks-m.before.cpuTicks) / float64(m.c.clkTck)
	r.ProxyRSSKiB = after.rssKiB
	r.ProxyHWMKiB = after.hwmKiB
	if r.Requests > 0 {
		r.CPUPerReqUs = r.ProxyCPU / float64(r.Requests) * 1e6
	}
	if r.Bytes > 0 {
		r.CPUPerGB = r.ProxyCPU / (float64(r.Bytes) / 1e9)
	}
}
