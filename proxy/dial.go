package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/netpolicy/netpolicy/policy"
)

// dialPlan is everything one allowed request may connect to, taken from its
// decision: the checked addresses and the port, or the allowed unix socket,
// or the upstream proxy with the target to ask it for. Nothing else is ever
// dialled.
type dialPlan struct {
	addrs    []netip.Addr
	port     int
	socket   string
	upstream *url.URL
	target   string // host:port, for the upstream proxy's CONNECT
}

type planKey struct{}

func withPlan(ctx context.Context, p *dialPlan) context.Context {
	return context.WithValue(ctx, planKey{}, p)
}

func planFrom(ctx context.Context) *dialPlan {
	p, _ := ctx.Value(planKey{}).(*dialPlan)
	return p
}

// errNoPlan guards against a dial that no decision asked for.
var errNoPlan = errors.New("proxy: dial without a checked destination")

// plan builds the dial plan of an allowed decision. scheme is the forwarded
// request's ("http" or "https"), or "https" for a tunnel; it only chooses
// which upstream proxy variable applies.
func (s *Server) plan(pol *policy.Compiled, d policy.Decision, port int, scheme string) (*dialPlan, error) {
	p := &dialPlan{addrs: d.Addrs, port: port}
	if s.Upstream == nil || !pol.Effective().AllowUpstreamProxy.Value {
		return p, nil
	}
	p.target = net.JoinHostPort(upstreamHost(d), strconv.Itoa(port))
	u, err := s.Upstream(&url.URL{Scheme: scheme, Host: p.target})
	if err != nil {
		return nil, fmt.Errorf("upstream proxy: %w", err)
	}
	if u != nil && s.upstreamIsOwn(u) {
		return nil, fmt.Errorf("upstream proxy %s is this proxy's own listener", u.Host)
	}
	p.upstream = u
	return p, nil
}

// upstreamHost is the host an upstream proxy is asked for: the checked IP
// for a literal (whatever numeric spelling the client used), else the
// normalised name, which the upstream resolves (POLICY §4.2).
func upstreamHost(d policy.Decision) string {
	if _, ok := policy.ParseHostIP(d.Host); ok && len(d.Addrs) > 0 {
		return d.Addrs[0].Unmap().String()
	}
	return d.Host
}

func (s *Server) initTransports() {
	base := func() *http.Transport {
		return &http.Transport{
			MaxIdleConns:          1024,
			MaxIdleConnsPerHost:   256, // the default 2 would redial for most requests under load
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   s.dialTimeout(),
			ResponseHeaderTimeout: s.idleTimeout(),
			ExpectContinueTimeout: time.Second,
			// A proxy passes bodies through as they are: no added
			// Accept-Encoding, no transparent decompression.
			DisableCompression: true,
		}
	}
	s.direct = base()
	s.direct.DialContext = s.dialPlanned
	s.viaUpstream = base()
	s.viaUpstream.DialContext = s.dial
	s.viaUpstream.Proxy = func(r *http.Request) (*url.URL, error) {
		if p := planFrom(r.Context()); p != nil && p.upstream != nil {
			return p.upstream, nil
		}
		return nil, errNoPlan
	}
	// Connections to unix sockets are not pooled: the pool is keyed by the
	// URL's host, which is the same ("localhost") for every socket.
	s.unix = base()
	s.unix.DisableKeepAlives = true
	s.unix.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
		p := planFrom(ctx)
		if p == nil || p.socket == "" {
			return nil, errNoPlan
		}
		return s.dialUnix(ctx, p.socket)
	}
}

// roundTrip sends a forwarded request over the transport its plan calls
// for: a unix socket, an upstream proxy, or the checked addresses.
func (s *Server) roundTrip(r *http.Request) (*http.Response, error) {
	p := planFrom(r.Context())
	switch {
	case p == nil:
		return nil, errNoPlan
	case p.socket != "":
		return s.unix.RoundTrip(r)
	case p.upstream != nil:
		return s.viaUpstream.RoundTrip(r)
	}
	return s.direct.RoundTrip(r)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// dial makes one connection attempt, bounded by DialTimeout.
func (s *Server) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, s.dialTimeout())
	defer cancel()
	if s.Dial != nil {
		return s.Dial(ctx, network, addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func (s *Server) dialUnix(ctx context.Context, path string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, s.dialTimeout())
	defer cancel()
	if s.DialUnix != nil {
		return s.DialUnix(ctx, path)
	}
	var d net.Dialer
	return d.DialContext(ctx, "unix", path)
}

// dialPlanned is the DialContext of the direct transport: it ignores the
// address the transport asks for (the client's spelling of the host) and
// dials the checked addresses of the request's plan.
func (s *Server) dialPlanned(ctx context.Context, _, _ string) (net.Conn, error) {
	p := planFrom(ctx)
	if p == nil || p.socket != "" || p.upstream != nil {
		return nil, errNoPlan
	}
	return s.dialAddrs(ctx, p.addrs, p.port)
}

// dialAddrs connects to the first checked address that accepts, in the
// resolver's order. An unspecified address is skipped even though Decide
// never allows one: dialling 0.0.0.0 or [::] reaches local listeners.
func (s *Server) dialAddrs(ctx context.Context, addrs []netip.Addr, port int) (net.Conn, error) {
	c, _, err := s.dialAddrsAt(ctx, addrs, port)
	return c, err
}

// dialAddrsAt is dialAddrs that also returns the address it connected to.
func (s *Server) dialAddrsAt(ctx context.Context, addrs []netip.Addr, port int) (net.Conn, netip.AddrPort, error) {
	var first error
	for _, a := range addrs {
		if !a.IsValid() || policy.IsUnspecified(a) {
			continue
		}
		ap := netip.AddrPortFrom(a.Unmap(), uint16(port))
		c, err := s.dial(ctx, "tcp", ap.String())
		if err == nil {
			return c, ap, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	if first == nil {
		first = errors.New("proxy: no checked address to dial")
	}
	return nil, netip.AddrPort{}, first
}

// dialTunnel connects the upstream end of a tunnel (CONNECT, SOCKS5, an
// upgraded request).
func (s *Server) dialTunnel(ctx context.Context, p *dialPlan) (net.Conn, error) {
	switch {
	case p.socket != "":
		return s.dialUnix(ctx, p.socket)
	case p.upstream != nil:
		return s.connectVia(ctx, p.upstream, p.target)
	}
	return s.dialAddrs(ctx, p.addrs, p.port)
}

// maxUpstreamHead bounds the upstream proxy's answer to CONNECT.
const maxUpstreamHead = 16 << 10

// connectVia opens a tunnel to target through an HTTP(S) upstream proxy
// with CONNECT. The answer is read byte by byte so that nothing of the
// tunnel's stream is left behind in a buffer, and the raw TCP conn (splice)
// is what the tunnel gets when the upstream speaks plain HTTP.
func (s *Server) connectVia(ctx context.Context, proxyURL *url.URL, target string) (net.Conn, error) {
	addr := proxyURL.Host
	if proxyURL.Port() == "" {
		port := "80"
		if proxyURL.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(proxyURL.Hostname(), port)
	}
	c, err := s.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(s.dialTimeout()))
	if proxyURL.Scheme == "https" {
		tc := tls.Client(c, &tls.Config{ServerName: proxyURL.Hostname()})
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, err
		}
		c = tc
	}
	var req bytes.Buffer
	fmt.Fprintf(&req, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", target, target)
	if u := proxyURL.User; u != nil {
		pw, _ := u.Password()
		fmt.Fprintf(&req, "Proxy-Authorization: Basic %s\r\n", base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pw)))
	}
	req.WriteString("\r\n")
	if _, err := c.Write(req.Bytes()); err != nil {
		c.Close()
		return nil, err
	}
	head := make([]byte, 0, 256)
	b := make([]byte, 1)
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		if len(head) >= maxUpstreamHead {
			c.Close()
			return nil, errors.New("upstream proxy: answer to CONNECT too long")
		}
		if _, err := c.Read(b); err != nil {
			c.Close()
			return nil, fmt.Errorf("upstream proxy: %w", err)
		}
		head = append(head, b[0])
	}
	line, _, _ := bytes.Cut(head, []byte("\r\n"))
	f := bytes.Fields(line)
	if len(f) < 2 || !bytes.HasPrefix(f[0], []byte("HTTP/1.")) || len(f[1]) != 3 || f[1][0] != '2' {
		c.Close()
		return nil, fmt.Errorf("upstream proxy refused CONNECT: %q", line)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}
