package proxy

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/netpolicy/netpolicy/policy"
)

// ownAddrs are the addresses of the proxy's own listeners (POLICY §5: the
// proxy never connects to itself). Serve and ServeSOCKS add theirs;
// AddOwnListener adds any other (metrics, exec's relays).
type ownAddrs struct {
	mu    sync.Mutex
	addrs map[netip.AddrPort]struct{}
	// wildcard ports: a listener on 0.0.0.0 or [::] is reached through
	// any local address.
	wild map[uint16]struct{}

	local   map[netip.Addr]struct{} // addresses of the local interfaces
	localAt time.Time
}

// localTTL is how long the list of local interface addresses is reused.
const localTTL = 5 * time.Second

func (o *ownAddrs) add(ap netip.AddrPort) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.addrs == nil {
		o.addrs, o.wild = map[netip.AddrPort]struct{}{}, map[uint16]struct{}{}
	}
	a := ap.Addr().Unmap().WithZone("")
	if a.IsUnspecified() {
		o.wild[ap.Port()] = struct{}{}
		return
	}
	o.addrs[netip.AddrPortFrom(a, ap.Port())] = struct{}{}
}

// has reports whether ap reaches one of the listeners.
func (o *ownAddrs) has(ap netip.AddrPort) bool {
	a := ap.Addr().Unmap().WithZone("")
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.addrs[netip.AddrPortFrom(a, ap.Port())]; ok {
		return true
	}
	if _, ok := o.wild[ap.Port()]; !ok {
		return false
	}
	if a.IsLoopback() || a.IsUnspecified() {
		return true
	}
	if o.local == nil || time.Since(o.localAt) > localTTL {
		o.local = localAddrs()
		o.localAt = time.Now()
	}
	_, ok := o.local[a]
	return ok
}

// hasAny reports whether any of addrs on port reaches one of the listeners.
func (o *ownAddrs) hasAny(addrs []netip.Addr, port uint16) bool {
	for _, a := range addrs {
		if o.has(netip.AddrPortFrom(a, port)) {
			return true
		}
	}
	return false
}

// localAddrs lists the addresses of this machine's interfaces.
func localAddrs() map[netip.Addr]struct{} {
	m := map[netip.Addr]struct{}{}
	ifs, err := net.InterfaceAddrs()
	if err != nil {
		return m
	}
	for _, ia := range ifs {
		if p, err := netip.ParsePrefix(ia.String()); err == nil {
			m[p.Addr().Unmap().WithZone("")] = struct{}{}
		}
	}
	return m
}

// AddOwnListener registers addr ("ip:port", as net.Listener.Addr().String()
// gives it) as a listener of this proxy: a request for it is refused with
// loop_detected, as for the HTTP and SOCKS5 listeners, which Serve and
// ServeSOCKS register themselves. An unspecified IP (0.0.0.0, [::]) stands
// for every local address on that port.
func (s *Server) AddOwnListener(addr string) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return fmt.Errorf("proxy: own listener %q: %w", addr, err)
	}
	s.own.add(ap)
	return nil
}

func (s *Server) addOwn(l net.Listener) {
	if a, ok := l.Addr().(*net.TCPAddr); ok {
		s.own.add(a.AddrPort())
	}
}

// isOwn is policy.Request.Own for every request this proxy decides.
func (s *Server) isOwn(ap netip.AddrPort) bool { return s.own.has(ap) }

// UpstreamLoops reports whether the upstream proxy u (from HTTP_PROXY /
// HTTPS_PROXY, POLICY §4.2) is this proxy itself: its host, resolved with
// the Server's resolver when it is a name, has an address that is one of
// the registered listeners. Call it once the listeners are served or
// registered.
func (s *Server) UpstreamLoops(ctx context.Context, u *url.URL) (bool, error) {
	addrs, port, err := upstreamAddrs(u)
	if err != nil {
		return false, err
	}
	if addrs == nil {
		var r policy.Resolver = net.DefaultResolver
		if s.Resolver != nil {
			r = s.Resolver
		}
		ctx, cancel := context.WithTimeout(ctx, policy.DefaultLookupTimeout)
		defer cancel()
		if addrs, err = r.LookupNetIP(ctx, "ip", policy.NormalizeHost(u.Hostname())); err != nil {
			return false, err
		}
	}
	return s.own.hasAny(addrs, port), nil
}

// upstreamAddrs returns the addresses and port of an upstream proxy URL
// without DNS: addrs is nil when its host is a name other than localhost.
func upstreamAddrs(u *url.URL) (addrs []netip.Addr, port uint16, err error) {
	ps := u.Port()
	if ps == "" {
		ps = "80"
		if u.Scheme == "https" {
			ps = "443"
		}
	}
	n, err := strconv.Atoi(ps)
	if err != nil || !policy.ValidPort(n) {
		return nil, 0, fmt.Errorf("upstream proxy port %q", ps)
	}
	addrs, _ = policy.HostAddrs(policy.NormalizeHost(u.Hostname()))
	return addrs, uint16(n), nil
}

// upstreamIsOwn is the check of UpstreamLoops without DNS, for every
// request that goes through an upstream proxy: a reload may turn
// allow_upstream_proxy on after the check at start.
func (s *Server) upstreamIsOwn(u *url.URL) bool {
	addrs, port, err := upstreamAddrs(u)
	return err == nil && s.own.hasAny(addrs, port)
}
