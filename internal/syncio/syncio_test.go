package syncio

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConcurrentWrites: writes from many goroutines arrive whole, in a
// Buffer and through a Writer, while the Buffer is being read (run with
// -race to see the reads are safe too).
func TestConcurrentWrites(t *testing.T) {
	const goroutines, lines = 8, 200
	var b Buffer
	var shared bytes.Buffer
	w := &Writer{W: &shared}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			line := []byte(strings.Repeat(string(rune('a'+g)), 40) + "\n")
			for range lines {
				b.Write(line)
				w.Write(line)
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	for name, s := range map[string]string{"Buffer": b.String(), "Writer": shared.String()} {
		got := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
		if len(got) != goroutines*lines {
			t.Fatalf("%s: %d lines, want %d", name, len(got), goroutines*lines)
		}
		for _, l := range got {
			if len(l) != 40 || strings.Count(l, l[:1]) != 40 {
				t.Fatalf("%s: torn line %q", name, l)
			}
		}
	}
	b.Reset()
	if b.String() != "" {
		t.Errorf("after Reset: %q", b.String())
	}
}

// TestAwait: Await finds text written later, only after the offset, and
// gives up after its timeout.
func TestAwait(t *testing.T) {
	var b Buffer
	b.Write([]byte("ready\n"))
	go func() {
		time.Sleep(20 * time.Millisecond)
		b.Write([]byte("question? "))
		b.Write([]byte("ready again\n"))
	}()
	next, ok := b.Await(0, "ready", time.Second)
	if !ok || next != len("ready") {
		t.Fatalf("Await(0, ready) = %d, %v", next, ok)
	}
	next, ok = b.Await(next, "ready", 5*time.Second)
	if want := len("ready\nquestion? ready"); !ok || next != want {
		t.Fatalf("Await after the first ready = %d, %v; want %d", next, ok, want)
	}
	start := time.Now()
	if _, ok := b.Await(next, "ready", 50*time.Millisecond); ok {
		t.Error("found a third ready")
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > 2*time.Second {
		t.Errorf("gave up after %v, want about 50ms", d)
	}
	if _, ok := b.Await(1000, "x", 0); ok {
		t.Error("found text past the end")
	}
}
