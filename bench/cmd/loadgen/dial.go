package main

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

const dialTimeout = 10 * time.Second

// conn is a connection to the target through the route. When the proxy sent
// bytes right behind its handshake reply they are kept in r; otherwise r is
// the raw *net.TCPConn so reads stay on the fast path.
//
// After startTLS, tc carries the bytes instead.
type conn struct {
	tcp *net.TCPConn
	r   io.Reader
	tc  *tls.Conn
}

func (c *conn) Read(p []byte) (int, error) {
	if c.tc != nil {
		return c.tc.Read(p)
	}
	return c.r.Read(p)
}

func (c *conn) Write(p []byte) (int, error) {
	if c.tc != nil {
		return c.tc.Write(p)
	}
	return c.tcp.Write(p)
}

func (c *conn) Close() error { return c.tcp.Close() }

// startTLS runs a TLS client handshake over the stream (end to end with the
// origin, or with an intercepting proxy that presents a certificate for it),
// verified against cfg.RootCAs.
func (c *conn) startTLS(cfg *tls.Config) error {
	if c.r != io.Reader(c.tcp) {
		return errors.New("tls: the proxy sent bytes before the handshake")
	}
	c.tcp.SetDeadline(time.Now().Add(dialTimeout))
	tc := tls.Client(c.tcp, cfg)
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("tls handshake: %w", err)
	}
	c.tcp.SetDeadline(time.Time{})
	c.tc = tc
	return nil
}

// dialTarget opens a byte stream to target (host:port) along the route. For
// the http route it returns a plain connection to the proxy: the caller
// speaks absolute-form HTTP on it.
func dialTarget(c *config, target string) (*conn, error) {
	addr := target
	if c.route != "direct" {
		addr = c.proxy
	}
	nc, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		return nil, err
	}
	tc := nc.(*net.TCPConn)
	tc.SetDeadline(time.Now().Add(dialTimeout))
	var out *conn
	switch c.route {
	case "direct", "http":
		out = &conn{tcp: tc, r: tc}
	case "connect":
		out, err = connectHandshake(tc, target)
	case "socks5":
		out, err = socksHandshake(tc, target, c.socksHostname)
	}
	if err != nil {
		tc.Close()
		return nil, err
	}
	tc.SetDeadline(time.Time{})
	return out, nil
}

func connectHandshake(tc *net.TCPConn, target string) (*conn, error) {
	if _, err := fmt.Fprintf(tc, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target); err != nil {
		return nil, err
	}
	br := bufio.NewReader(tc)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		return nil, fmt.Errorf("CONNECT: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("CONNECT %s: %s", target, resp.Status)
	}
	if br.Buffered() > 0 {
		return &conn{tcp: tc, r: io.MultiReader(io.LimitReader(br, int64(br.Buffered())), tc)}, nil
	}
	return &conn{tcp: tc, r: tc}, nil
}

// socksHandshake speaks RFC 1928 CONNECT with no authentication.
func socksHandshake(tc *net.TCPConn, target string, asName bool) (*conn, error) {
	host, portStr, err := net.SplitHostPort(target)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, err
	}
	if _, err := tc.Write([]byte{5, 1, 0}); err != nil {
		return nil, err
	}
	var m [2]byte
	if _, err := io.ReadFull(tc, m[:]); err != nil {
		return nil, fmt.Errorf("socks5 greeting: %w", err)
	}
	if m[0] != 5 || m[1] != 0 {
		return nil, fmt.Errorf("socks5: method %d refused", m[1])
	}
	req := []byte{5, 1, 0}
	ip, perr := netip.ParseAddr(host)
	switch {
	case perr == nil && !asName && ip.Is4():
		a := ip.As4()
		req = append(append(req, 1), a[:]...)
	case perr == nil && !asName:
		a := ip.As16()
		req = append(append(req, 4), a[:]...)
	default:
		req = append(append(req, 3, byte(len(host))), host...)
	}
	req = binary.BigEndian.AppendUint16(req, uint16(port))
	if _, err := tc.Write(req); err != nil {
		return nil, err
	}
	var h [4]byte
	if _, err := io.ReadFull(tc, h[:]); err != nil {
		return nil, fmt.Errorf("socks5 reply: %w", err)
	}
	if h[1] != 0 {
		return nil, fmt.Errorf("socks5 %s: reply code %d", target, h[1])
	}
	var skip int
	switch h[3] {
	case 1:
		skip = 4 + 2
	case 4:
		skip = 16 + 2
	case 3:
		var l [1]byte
		if _, err := io.ReadFull(tc, l[:]); err != nil {
			return nil, err
		}
		skip = int(l[0]) + 2
	default:
		return nil, errors.New("socks5: bad address type in reply")
	}
	if _, err := io.ReadFull(tc, make([]byte, skip)); err != nil {
		return nil, err
	}
	return &conn{tcp: tc, r: tc}, nil
}
