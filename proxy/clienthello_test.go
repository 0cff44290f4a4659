package proxy

import (
	"bytes"
	"crypto/tls"
	"net"
	"testing"
	"time"
)

// recordHello returns the first flight crypto/tls sends as a client with
// the given server name.
func recordHello(t testing.TB, sni string) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go tls.Client(a, &tls.Config{ServerName: sni, InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}}).Handshake()
	b.SetReadDeadline(time.Now().Add(3 * time.Second))
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := b.Read(buf)
		out = append(out, buf[:n]...)
		if _, _, perr := parseClientHello(out); perr != errNeedMore || err != nil {
			return out
		}
	}
}

func TestParseClientHello(t *testing.T) {
	hello := recordHello(t, "api.example.com")
	h, kind, err := parseClientHello(hello)
	if err != nil || kind != helloOK || h.ServerName != "api.example.com" {
		t.Fatalf("crypto/tls hello: %q %v %v", h.ServerName, kind, err)
	}
	noSNI := recordHello(t, "")
	if h, kind, _ := parseClientHello(noSNI); kind != helloOK || h.ServerName != "" {
		t.Errorf("hello without SNI: %q %v", h.ServerName, kind)
	}
	// Every proper prefix needs more bytes.
	for i := 0; i < len(hello); i++ {
		if _, _, err := parseClientHello(hello[:i]); err != errNeedMore {
			t.Fatalf("prefix of %d bytes: %v, want errNeedMore", i, err)
		}
	}
	// The same hello split into two records.
	msg := hello[5:]
	split := []byte{0x16, 3, 1, 0, 10}
	split = append(split, msg[:10]...)
	split = append(split, 0x16, 3, 1, byte((len(msg)-10)>>8), byte(len(msg)-10))
	split = append(split, msg[10:]...)
	if h, kind, err := parseClientHello(split); kind != helloOK || err != nil || h.ServerName != "api.example.com" {
		t.Errorf("fragmented hello: %q %v %v", h.ServerName, kind, err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want helloKind
	}{
		{"plain HTTP", []byte("GET / HTTP/1.1\r\n"), helloNotTLS},
		{"SSH", []byte("SSH-2.0-x\r\n"), helloNotTLS},
		{"handshake record, not TLS 3.x", []byte{0x16, 0x02, 0, 0, 1, 1}, helloNotTLS},
		{"empty record", []byte{0x16, 3, 1, 0, 0}, helloMalformed},
		{"server hello", []byte{0x16, 3, 1, 0, 4, 2, 0, 0, 0}, helloMalformed},
		{"trailing message", append(bytes.Clone(hello[:len(hello):len(hello)]), 0x16, 3, 1, 0, 4, 1, 0, 0, 0), helloOK},
	} {
		_, kind, err := parseClientHello(tc.b)
		if err != nil || kind != tc.want {
			t.Errorf("%s: kind %v, err %v; want %v", tc.name, kind, err, tc.want)
		}
	}
	// Two server_name extensions: refused.
	dup := duplicateSNI(t, hello)
	if _, kind, _ := parseClientHello(dup); kind != helloMalformed {
		t.Errorf("duplicate server_name: %v", kind)
	}
}

// duplicateSNI appends a second server_name extension to a one-record
// hello, fixing up the lengths.
func duplicateSNI(t testing.TB, hello []byte) []byte {
	ext := []byte{0, 0, 0, 8, 0, 6, 0, 0, 3, 'x', '.', 'y'}
	out := append(bytes.Clone(hello), ext...)
	add := func(off, width int) {
		v := 0
		for i := 0; i < width; i++ {
			v = v<<8 | int(out[off+i])
		}
		v += len(ext)
		for i := width - 1; i >= 0; i-- {
			out[off+i] = byte(v)
			v >>= 8
		}
	}
	add(3, 2) // record length
	add(6, 3) // handshake length
	// extensions length: walk the body to find it
	r := &reader{b: out[9:], ok: true}
	r.skip(34)
	r.vec(1)
	r.vec(2)
	r.vec(1)
	if !r.ok {
		t.Fatal("cannot walk the hello")
	}
	add(len(out)-len(r.b), 2)
	return out
}

// FuzzClientHello: the parser never panics, never reads past its input,
// and a hello it accepts keeps its name when more bytes follow.
func FuzzClientHello(f *testing.F) {
	f.Add(recordHello(f, "example.com"))
	f.Add(recordHello(f, ""))
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Add([]byte{0x16, 3, 1, 0, 4, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, kind, err := parseClientHello(b)
		if err == errNeedMore && kind == helloOK {
			t.Fatal("need more, yet OK")
		}
		if kind != helloOK && h.ServerName != "" {
			t.Fatal("a name from a hello that is not OK")
		}
		for _, c := range []byte(h.ServerName) {
			if c == 0 || c >= 0x80 {
				t.Fatalf("name %q holds a byte the parser must refuse", h.ServerName)
			}
		}
	})
}
