// Package syncio has the writers that several goroutines share: a Writer
// that keeps each write whole on a shared stream, and a Buffer that can be
// read while it is written (a server's log or audit stream in a test).
package syncio

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"time"
)

// Writer serialises the writes to W, so that log lines and audit events
// that share one stream are never interleaved. Set W before the first
// write.
type Writer struct {
	mu sync.Mutex
	W  io.Writer
}

// Write writes p to W, one write at a time.
func (w *Writer) Write(p []byte) (int, error) { return locked(&w.mu, w.W, p) }

// Buffer is a bytes.Buffer that goroutines may write and read at once.
// The zero value is empty and ready to use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p to the buffer.
func (b *Buffer) Write(p []byte) (int, error) { return locked(&b.mu, &b.buf, p) }

// String returns what has been written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Await waits until the text written after offset from holds want,
// looking every few milliseconds, and returns the offset just past it; ok
// is false when timeout passes first. Tests wait so for what a terminal
// or a log shows.
func (b *Buffer) Await(from int, want string, timeout time.Duration) (next int, ok bool) {
	deadline := time.Now().Add(timeout)
	for {
		txt := b.String()
		if i := strings.Index(txt[min(from, len(txt)):], want); i >= 0 {
			return from + i + len(want), true
		}
		if time.Now().After(deadline) {
			return from, false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Reset empties the buffer.
func (b *Buffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

func locked(mu *sync.Mutex, w io.Writer, p []byte) (int, error) {
	mu.Lock()
	defer mu.Unlock()
	return w.Write(p)
}
