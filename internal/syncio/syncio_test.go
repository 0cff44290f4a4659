package syncio

import (
	"bytes"
	"strings"
	"sync"
	"testing"
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
