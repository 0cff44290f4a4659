package resolve

import (
	"bufio"
	"bytes"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/netpolicy/netpolicy/policy"
)

// hostsTable is the parsed hosts file, read on first use and read again
// when its size or modification time changed (checked at most every
// hostsRecheck).
type hostsTable struct {
	path string

	mu      sync.Mutex
	checked time.Time
	mtime   time.Time
	size    int64
	byName  map[string][]netip.Addr
}

// lookup returns the hosts-file addresses of name (as policy.NormalizeHost
// gives it), in file order.
func (h *hostsTable) lookup(name string, now time.Time) []netip.Addr {
	if h.path == "" {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.byName == nil || now.Sub(h.checked) >= hostsRecheck || now.Before(h.checked) {
		h.refresh(now)
	}
	return h.byName[name]
}

func (h *hostsTable) refresh(now time.Time) {
	h.checked = now
	fi, err := os.Stat(h.path)
	if err != nil {
		h.byName = map[string][]netip.Addr{}
		return
	}
	if h.byName != nil && fi.ModTime().Equal(h.mtime) && fi.Size() == h.size {
		return
	}
	data, err := os.ReadFile(h.path)
	if err != nil {
		h.byName = map[string][]netip.Addr{}
		return
	}
	h.mtime, h.size = fi.ModTime(), fi.Size()
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
