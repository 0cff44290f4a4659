package proxy

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// deadlineConn records the deadlines set on it.
type deadlineConn struct {
	net.Conn
	mu           sync.Mutex
	reads, write []time.Time
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads = append(c.reads, t)
	return nil
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.write = append(c.write, t)
	return nil
}

// A pipe sets its deadlines again only when a quarter of the read wait has
// passed, the wait changed, or the read deadline fired; the write deadline
// it returns is the one it set last, writeIn after the read deadline's
// start.
func TestPipeDeadlinesPushLazily(t *testing.T) {
	src, dst := &deadlineConn{}, &deadlineConn{}
	var d pipeDeadlines
	const wait, writeIn = time.Hour, 4 * time.Hour
	before := time.Now()
	wb := d.push(dst, src, wait, writeIn)
	if len(src.reads) != 1 || len(dst.write) != 1 {
		t.Fatalf("first push set %d read, %d write deadlines; want 1, 1", len(src.reads), len(dst.write))
	}
	if r := src.reads[0]; r.Before(before.Add(wait)) || r.After(time.Now().Add(wait)) {
		t.Errorf("read deadline %v, want wait (%v) from now", r, wait)
	}
	if !wb.Equal(dst.write[0]) || wb.Sub(src.reads[0]) != writeIn-wait {
		t.Errorf("write deadline %v returned %v, read deadline %v", dst.write[0], wb, src.reads[0])
	}
	for range 100 {
		if got := d.push(dst, src, wait, writeIn); !got.Equal(wb) {
			t.Fatalf("push within a quarter of wait returned %v, want %v", got, wb)
		}
	}
	if len(src.reads) != 1 || len(dst.write) != 1 {
		t.Fatalf("101 pushes within a quarter of wait set %d read, %d write deadlines; want 1, 1", len(src.reads), len(dst.write))
	}
	d.push(dst, src, wait/2, writeIn) // the wait changed (the upstream ended)
	if len(src.reads) != 2 || len(dst.write) != 2 {
		t.Errorf("a new wait set %d read deadlines, want 2", len(src.reads))
	}
	d.expire() // the read deadline fired
	d.push(dst, src, wait/2, writeIn)
	if len(src.reads) != 3 {
		t.Errorf("after expire %d read deadlines, want 3", len(src.reads))
	}

	// A short wait: after a quarter of it the deadlines move forward.
	src, dst = &deadlineConn{}, &deadlineConn{}
	d = pipeDeadlines{}
	const short = 40 * time.Millisecond
	d.push(dst, src, short, writeIn)
	time.Sleep(short/4 + 5*time.Millisecond)
	d.push(dst, src, short, writeIn)
	if len(src.reads) != 2 || !src.reads[1].After(src.reads[0]) {
		t.Errorf("after a quarter of the wait: read deadlines %v, want a second, later one", src.reads)
	}
}

// Once the upstream has answered, the timer bounding the wait for its
// answer is stopped: no close runs later, and nothing is left to fire.
func TestTunnelAnswerTimerStopped(t *testing.T) {
	client, clientPeer := net.Pipe()
	up, upPeer := net.Pipe()
	defer clientPeer.Close()
	defer upPeer.Close()
	tn := newTunnel(time.Minute)
	tn.awaitAnswer(client, up, 50*time.Millisecond)
	tn.moved(up, client) // the client's first bytes went upstream
	tm := tn.answerBy.Load()
	if tm == nil {
		t.Fatal("no timer after the client's first bytes")
	}
	tn.moved(client, up) // the upstream answered
	if tm.Stop() {
		t.Error("answer timer still running after the answer")
	}
	time.Sleep(100 * time.Millisecond)
	// The conns are open: a write reaches the peer.
	go io.WriteString(client, "x")
	clientPeer.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := clientPeer.Read(make([]byte, 1)); err != nil {
		t.Errorf("client conn closed after the answer: %v", err)
	}

	// Without an answer the timer closes both ends.
	client2, clientPeer2 := net.Pipe()
	up2, upPeer2 := net.Pipe()
	defer clientPeer2.Close()
	defer upPeer2.Close()
	tn = newTunnel(time.Minute)
	tn.awaitAnswer(client2, up2, 50*time.Millisecond)
	tn.moved(up2, client2)
	clientPeer2.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := clientPeer2.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("unanswered tunnel: client read %v, want EOF (closed by the timer)", err)
	}
}

// noReadConn fails the test on any read or deadline: readClientHello must
// not touch the conn when the first bytes already tell.
type noReadConn struct {
	net.Conn
	t *testing.T
}

func (c noReadConn) Read([]byte) (int, error) {
	c.t.Error("conn read")
	return 0, io.EOF
}
func (c noReadConn) SetReadDeadline(time.Time) error { c.t.Error("read deadline set"); return nil }

// A ClientHello that came whole, and bytes that are not TLS, are judged on
// the bytes at hand and returned as they are; a ClientHello cut short is
// still read on.
func TestReadClientHelloAtHand(t *testing.T) {
	hello := recordHello(t, "example.com")
	for _, tc := range []struct {
		name    string
		first   []byte
		kind    helloKind
		sni     string
		sameBuf bool
	}{
		{"whole hello", hello, helloOK, "example.com", true},
		{"plain HTTP", []byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"), helloNotTLS, "", true},
		{"malformed", append([]byte{0x16, 3, 1, 0, 4, 2}, make([]byte, 3)...), helloMalformed, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buf, h, kind := readClientHello(noReadConn{t: t}, tc.first, time.Second)
			if kind != tc.kind || h.ServerName != tc.sni {
				t.Errorf("kind %v sni %q, want %v %q", kind, h.ServerName, tc.kind, tc.sni)
			}
			if !bytes.Equal(buf, tc.first) || tc.sameBuf && &buf[0] != &tc.first[0] {
				t.Errorf("returned %d bytes (same array %v), want the %d bytes at hand", len(buf), &buf[0] == &tc.first[0], len(tc.first))
			}
		})
	}
	// Cut short: the rest is read from the conn.
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go b.Write(hello[10:])
	buf, h, kind := readClientHello(a, hello[:10], 2*time.Second)
	if kind != helloOK || h.ServerName != "example.com" || !bytes.Equal(buf, hello) {
		t.Errorf("split hello: kind %v sni %q, %d of %d bytes", kind, h.ServerName, len(buf), len(hello))
	}
}
