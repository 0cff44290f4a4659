package resolve

import (
	"bufio"
	"bytes"
	"io/fs"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/netpolicy/netpolicy/policy"
)

// fileStamp is how a watched file (the hosts file, resolv.conf) is read
// again only when it changed: its size and modification time when last
// read, and when it was last looked at.
type fileStamp struct {
	checked time.Time
	mtime   time.Time
	size    int64
}

// due reports whether hostsRecheck has passed since the last look (or the
// clock went back), and if so counts now as a look.
func (s *fileStamp) due(now time.Time) bool {
	if now.Sub(s.checked) < hostsRecheck && !now.Before(s.checked) {
		return false
	}
	s.checked = now
	return true
}

// same reports whether fi is the file as last read.
func (s *fileStamp) same(fi fs.FileInfo) bool {
	return fi.ModTime().Equal(s.mtime) && fi.Size() == s.size
}

// set records fi as the file last read.
func (s *fileStamp) set(fi fs.FileInfo) { s.mtime, s.size = fi.ModTime(), fi.Size() }

// hostsTable is the parsed hosts file, read on first use and read again
// when its size or modification time changed (checked at most every
// hostsRecheck).
type hostsTable struct {
	path string

	mu     sync.Mutex
	stamp  fileStamp
	byName map[string][]netip.Addr
}

// lookup returns the hosts-file addresses of name (as policy.NormalizeHost
// gives it), in file order.
func (h *hostsTable) lookup(name string, now time.Time) []netip.Addr {
	if h.path == "" {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stamp.due(now) { // at once on first use: never looked at
		h.refresh()
	}
	return h.byName[name]
}

func (h *hostsTable) refresh() {
	fi, err := os.Stat(h.path)
	if err != nil {
		h.byName = map[string][]netip.Addr{}
		return
	}
	if h.byName != nil && h.stamp.same(fi) {
		return
	}
	data, err := os.ReadFile(h.path)
	if err != nil {
		h.byName = map[string][]netip.Addr{}
		return
	}
	h.stamp.set(fi)
	h.byName = parseHosts(data)
}

// parseHosts reads hosts(5) lines: an address, then names; '#' starts a
// comment. Lines whose address does not parse are skipped.
func parseHosts(data []byte) map[string][]netip.Addr {
	m := map[string][]netip.Addr{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		for _, name := range f[1:] {
			name = policy.NormalizeHost(name)
			m[name] = append(m[name], a)
		}
	}
	return m
}
