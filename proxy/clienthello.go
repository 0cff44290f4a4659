package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"time"
)

// The first client bytes of a tunnel are read once, before anything reaches
// the origin, to check the TLS server name against the CONNECT target (POLICY
// §5) and to decide whether an intercepted tunnel speaks TLS at all (§6).
// The parser below reads just enough of a ClientHello (RFC 8446 §4.1.2,
// RFC 6066 §3) for that and is strict: anything it cannot read is not a
// ClientHello it vouches for.

// maxHelloBytes bounds what is read ahead while waiting for a whole
// ClientHello: a handshake message may span several records, but no real
// ClientHello (even with post-quantum key shares) comes near it.
const maxHelloBytes = 64 << 10

// helloKind is what the first bytes of a tunnel were.
type helloKind uint8

const (
	// helloNotTLS: not a TLS handshake record (plain HTTP, SSH, …).
	helloNotTLS helloKind = iota
	// helloOK: a complete, well-formed ClientHello.
	helloOK
	// helloMalformed: a TLS handshake record whose ClientHello is broken,
	// truncated by EOF, or too large. A server might still read a name
	// out of it that the parser did not see, so it is refused.
	helloMalformed
)

// clientHello is what the proxy needs of a ClientHello.
type clientHello struct {
	// ServerName is the host_name of the server_name extension ("" when
	// there is none).
	ServerName string
}

var errNeedMore = errors.New("clienthello: need more bytes")

// parseClientHello reads a ClientHello from the start of b, which holds TLS
// records. It returns errNeedMore when b is a valid prefix but incomplete.
func parseClientHello(b []byte) (clientHello, helloKind, error) {
	// Record layer: type 22 (handshake), version 3.x, length; the handshake
	// message may be fragmented over several records.
	if len(b) < 1 {
		return clientHello{}, helloNotTLS, errNeedMore
	}
	if b[0] != 0x16 {
		return clientHello{}, helloNotTLS, nil
	}
	if len(b) >= 2 && b[1] != 3 {
		return clientHello{}, helloNotTLS, nil
	}
	var msg []byte
	want := -1 // handshake message length once its header is in
	for rest := b; ; {
		if len(rest) < 5 {
			return clientHello{}, helloMalformed, errNeedMore
		}
		if rest[0] != 0x16 || rest[1] != 3 {
			return clientHello{}, helloMalformed, nil
		}
		n := int(rest[3])<<8 | int(rest[4])
		if n == 0 || n > 1<<14 {
			return clientHello{}, helloMalformed, nil
		}
		if len(rest) < 5+n {
			return clientHello{}, helloMalformed, errNeedMore
		}
		msg = append(msg, rest[5:5+n]...)
		rest = rest[5+n:]
		if want < 0 && len(msg) >= 4 {
			if msg[0] != 1 { // client_hello
				return clientHello{}, helloMalformed, nil
			}
			want = 4 + (int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3]))
			if want > maxHelloBytes {
				return clientHello{}, helloMalformed, nil
			}
		}
		if want >= 0 && len(msg) >= want {
			if len(msg) > want {
				// Another handshake message in the same flight
				// before the server answered: not a ClientHello.
				return clientHello{}, helloMalformed, nil
			}
			break
		}
	}
	h, ok := parseHelloBody(msg[4:])
	if !ok {
		return clientHello{}, helloMalformed, nil
	}
	return h, helloOK, nil
}

// reader is a tiny cursor over a byte slice; every read fails once a
// length runs past the end.
type reader struct {
	b  []byte
	ok bool
}

func (r *reader) skip(n int) []byte {
	if !r.ok || n < 0 || n > len(r.b) {
		r.ok = false
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() int {
	v := r.skip(1)
	if v == nil {
		return 0
	}
	return int(v[0])
}

func (r *reader) u16() int {
	v := r.skip(2)
	if v == nil {
		return 0
	}
	return int(v[0])<<8 | int(v[1])
}

// vec reads a vector with a length prefix of one or two bytes.
func (r *reader) vec(prefix int) []byte {
	n := r.u8()
	if prefix == 2 {
		n = n<<8 | r.u8()
	}
	return r.skip(n)
}

func parseHelloBody(body []byte) (clientHello, bool) {
	r := &reader{b: body, ok: true}
	r.skip(2)  // legacy_version
	r.skip(32) // random
	if sid := r.vec(1); len(sid) > 32 {
		return clientHello{}, false
	}
	if cs := r.vec(2); len(cs) == 0 || len(cs)%2 != 0 {
		return clientHello{}, false
	}
	if cm := r.vec(1); len(cm) == 0 {
		return clientHello{}, false
	}
	if !r.ok {
		return clientHello{}, false
	}
	var h clientHello
	if len(r.b) == 0 {
		return h, true // no extensions (SSL 3.0-style hello): no name
	}
	exts := &reader{b: r.vec(2), ok: r.ok}
	if !r.ok || len(r.b) != 0 {
		return clientHello{}, false
	}
	seen := map[int]bool{}
	for exts.ok && len(exts.b) > 0 {
		typ := exts.u16()
		data := exts.vec(2)
		if !exts.ok || seen[typ] {
			return clientHello{}, false // duplicate extensions are illegal
		}
		seen[typ] = true
		if typ != 0 { // server_name
			continue
		}
		name, ok := parseServerName(data)
		if !ok {
			return clientHello{}, false
		}
		h.ServerName = name
	}
	return h, exts.ok
}

// parseServerName reads the server_name extension: exactly one host_name
// entry (RFC 6066 forbids two of one type; other types are unknown).
func parseServerName(data []byte) (string, bool) {
	r := &reader{b: data, ok: true}
	list := &reader{b: r.vec(2), ok: r.ok}
	if !r.ok || len(r.b) != 0 {
		return "", false
	}
	name := ""
	for list.ok && len(list.b) > 0 {
		typ := list.u8()
		v := list.vec(2)
		if !list.ok || typ != 0 || name != "" || len(v) == 0 {
			return "", false
		}
		for _, c := range v {
			if c == 0 || c >= 0x80 {
				return "", false
			}
		}
		name = string(v)
	}
	return name, list.ok && name != ""
}

// readClientHello completes a ClientHello whose first bytes (pending, not
// empty) have been read: it reads on from c for up to wait. It returns
// everything read (to be sent on unchanged), and what it was. Bytes that
// are not TLS, and a ClientHello that came whole in pending (the usual
// case), are returned at once: pending itself, with no copy, no read and
// no deadline set.
func readClientHello(c net.Conn, pending []byte, wait time.Duration) ([]byte, clientHello, helloKind) {
	if h, kind, err := parseClientHello(pending); err != errNeedMore {
		return pending, h, kind
	}
	buf := append(make([]byte, 0, max(2048, len(pending))), pending...)
	_ = c.SetReadDeadline(time.Now().Add(wait))
	defer c.SetReadDeadline(time.Time{})
	// buf needs more (parsed above, or at the end of the last round).
	for {
		if len(buf) >= maxHelloBytes {
			return buf, clientHello{}, helloMalformed
		}
		if cap(buf)-len(buf) < 1024 {
			buf = append(buf, make([]byte, 4096)...)[:len(buf)]
		}
		n, rerr := c.Read(buf[len(buf):min(cap(buf), maxHelloBytes)])
		buf = buf[:len(buf)+n]
		if rerr != nil && n == 0 {
			// EOF or the deadline in the middle of a handshake record:
			// what there is still needs more.
			if len(buf) == 0 {
				return buf, clientHello{}, helloNotTLS
			}
			return buf, clientHello{}, helloMalformed
		}
		if h, kind, err := parseClientHello(buf); err != errNeedMore {
			return buf, h, kind
		}
	}
}

// firstBytes waits for a tunnel's first client bytes (or returns pending,
// when bytes were read ahead). Waiting counts as activity only when the
// tunnel's other direction moves: an idle tunnel ends after its idle
// timeout here as in tunnel.pipe, and a server that speaks first (SSH,
// SMTP) keeps the tunnel alive while the client only listens.
func firstBytes(c net.Conn, pending []byte, t *tunnel) ([]byte, error) {
	if len(pending) > 0 {
		return pending, nil
	}
	defer c.SetReadDeadline(time.Time{})
	b := make([]byte, 2048)
	for {
		wait := t.idle / 2
		if t.upEnded.Load() { // the upstream has ended: see tunnel.upEnded
			wait = t.answerIn
		}
		_ = c.SetReadDeadline(time.Now().Add(wait))
		n, err := c.Read(b)
		if n > 0 {
			t.touch()
			return b[:n], nil
		}
		if errors.Is(err, os.ErrDeadlineExceeded) && t.idleFor() < t.idleLimit(true) {
			continue
		}
		if err == nil {
			err = io.ErrNoProgress
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = errIdle
		}
		return nil, err
	}
}
