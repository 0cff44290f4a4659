package testnet

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestServe: every connection reaches handle, concurrently (the first
// stays open while the others are served), on 127.0.0.1.
func TestServe(t *testing.T) {
	release := make(chan struct{})
	addr := Serve(t, func(c net.Conn) {
		defer c.Close()
		line, _ := bufio.NewReader(c).ReadString('\n')
		if line == "hold\n" {
			<-release
		}
		fmt.Fprintf(c, "got %s", line)
	})
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("address %s, want 127.0.0.1", addr)
	}
	held, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	fmt.Fprint(held, "hold\n")
	for i := range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "%d\n", i)
		got, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if want := fmt.Sprintf("got %d\n", i); got != want || err != nil {
			t.Fatalf("connection %d: %q, %v; want %q", i, got, err, want)
		}
	}
	close(release)
	held.SetDeadline(time.Now().Add(5 * time.Second))
	if got, _ := bufio.NewReader(held).ReadString('\n'); got != "got hold\n" {
		t.Errorf("held connection: %q", got)
	}
}

// TestEcho: what a client sends comes back, in pieces larger than the
// buffer too, until the client half-closes.
func TestEcho(t *testing.T) {
	addr := Echo(t, 16)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	msg := strings.Repeat("0123456789", 100)
	go func() {
		io.WriteString(c, msg)
		c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != msg {
		t.Fatalf("echoed %d bytes, %v; want the %d sent", len(got), err, len(msg))
	}
}
