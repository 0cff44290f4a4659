package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// tunnelChunk is the most one direction of a tunnel moves between two
// updates of its idle deadlines. Each chunk is one call of the kernel's
// splice path (TCPConn.ReadFrom of an io.LimitedReader over a TCPConn); it
// only has to be small next to what a busy tunnel moves in one idle period.
const tunnelChunk = 4 << 20

// errIdle ends a tunnel in which no byte moved either way for the idle
// timeout.
var errIdle = errors.New("tunnel idle timeout")

// tunnel is one byte stream between a client and an upstream. Its idle clock
// is shared by both directions: a download with a silent upload direction is
// not idle.
type tunnel struct {
	idle time.Duration
	last atomic.Int64 // UnixNano of the last byte moved in either direction

	// With awaitAnswer set, the upstream must send its first byte within
	// answerIn of the client's first byte, or both conns are closed: a
	// chain of proxies (the proxy tunnelled into itself through an address
	// it did not know as its own, or into a peer that never accepts) then
	// unwinds within the handshake timeout, not the idle timeout.
	client, up net.Conn
	answerIn   time.Duration
	asked      atomic.Bool
	answered   atomic.Bool
	// answerBy is the timer of the bound on the answer, stopped once the
	// upstream has answered or the tunnel has ended.
	answerBy atomic.Pointer[time.Timer]
	// upEnded is set once the upstream has ended its direction (EOF).
	// From then on the client direction may stay silent for answerIn, not
	// the idle timeout: each hop of a chain whose far end was cut sees
	// its upstream end and would otherwise hold the half that is left
	// open for as long as the attacker keeps its own connection.
	upEnded atomic.Bool
	// counted, if set, is told of the bytes the tunnel moves (the
	// metrics), through count: before they can reach the other side
	// wherever their number is known beforehand (see count).
	counted func(toUpstream bool, n int64)
	// gate, when set, reads and vets the client's first bytes before any
	// of them reach the upstream (the SNI check of POLICY §5).
	gate tunnelGate
}

// tunnelGate vets a tunnel's first client bytes: it gets c and the bytes
// read ahead, reads what it needs, and returns the bytes to send upstream
// first, or false to end the tunnel with nothing sent.
type tunnelGate func(t *tunnel, c net.Conn, pending []byte) ([]byte, bool)

func newTunnel(idle time.Duration) *tunnel {
	t := &tunnel{idle: idle}
	t.touch()
	return t
}

func (t *tunnel) touch() { t.last.Store(time.Now().UnixNano()) }

// awaitAnswer bounds the wait for up's first byte (see tunnel.answerIn).
func (t *tunnel) awaitAnswer(client, up net.Conn, within time.Duration) {
	t.client, t.up, t.answerIn = client, up, within
}

// moved notes that bytes went (or are about to go) from src to dst, for
// awaitAnswer.
func (t *tunnel) moved(dst, src net.Conn) {
	if t.up == nil {
		return
	}
	if src == t.up {
		if !t.answered.Swap(true) {
			t.stopAnswerTimer()
		}
		return
	}
	if dst == t.up && !t.asked.Swap(true) && !t.answered.Load() {
		t.answerBy.Store(time.AfterFunc(t.answerIn, func() {
			if !t.answered.Load() {
				t.client.Close()
				t.up.Close()
			}
		}))
	}
}

// stopAnswerTimer stops the timer of awaitAnswer's bound, if one runs: a
// tunnel that was answered, or has ended, leaves no timer behind to fire.
// (A timer stored just after an answer's check only fires to find the
// answer; run stops it at the end.)
func (t *tunnel) stopAnswerTimer() {
	if tm := t.answerBy.Load(); tm != nil {
		tm.Stop()
	}
}

// upstreamEnded notes that the upstream ended its direction, and makes the
// client direction's pending read wait at most answerIn (see upEnded).
func (t *tunnel) upstreamEnded() {
	if t.client == nil || t.answerIn <= 0 {
		return
	}
	t.upEnded.Store(true)
	_ = t.client.SetReadDeadline(time.Now().Add(t.answerIn))
}

// idleLimit is how long the direction toward the upstream (toUpstream) or
// the client may go without a byte moving either way.
func (t *tunnel) idleLimit(toUpstream bool) time.Duration {
	if toUpstream && t.upEnded.Load() {
		return t.answerIn
	}
	return t.idle
}

// count adds n bytes toward the upstream (toUpstream) or the client to the
// metrics. Callers count bytes before handing them to dst when they know
// how many go (read-ahead bytes, a round of exactly the queued bytes): a
// client that has seen an answer, and then reads the metrics, finds the
// bytes of that exchange counted. A write that then fails has counted
// bytes that were taken from their source but never delivered; it ends the
// tunnel.
func (t *tunnel) count(toUpstream bool, n int64) {
	if n > 0 && t.counted != nil {
		t.counted(toUpstream, n)
	}
}

func (t *tunnel) idleFor() time.Duration { return time.Duration(time.Now().UnixNano() - t.last.Load()) }

// pipe copies src to dst until src reaches EOF (nil error), either side
// fails, or the tunnel has been idle for t.idle (errIdle). It does not close
// or half-close anything.
//
// Both conns are used as they are: when they are *net.TCPConn (or unix
// conns), io.Copy reaches TCPConn.ReadFrom with an io.LimitedReader of the
// source, which the runtime turns into splice(2); no byte is copied through
// user space. The idle clock costs no system call per read: each round of
// the loop moves what is there or waits at most half the idle timeout (a
// read deadline), and only then notes the activity and checks the clock.
// The activity mark is never earlier than the last byte really moved, so an
// active tunnel is never cut; an idle one is cut between 1 and 1.5 idle
// timeouts after its last byte.
//
// An idle tunnel holds no splice pipe (POLICY §5: its two sockets, nothing
// more). The runtime's splice takes a pipe (two descriptors) for a call and
// keeps it for as long as the call waits for the rest of its limit, so a
// round never asks for more than is already queued on src (FIONREAD): it
// waits without a pipe (waitReadable), then splices exactly the queued
// bytes, which the kernel hands over without waiting, and the pipe goes
// back to the runtime's pool. Where the queue cannot be measured, a round
// waits the same way and then moves up to tunnelChunk. The wait's peek also
// sees the end of the stream, which then needs no copy at all.
//
// A read deadline that fires loses nothing (no byte was taken from src).
// A write deadline that fires may strand bytes inside the splice pipe, so it
// always ends the tunnel; it is set later (2×idle) than any read deadline,
// so that the two can be told apart by the clock. Both are pushed forward
// only when a quarter of the read wait has passed since they were last set
// (pipeDeadlines): a round of a busy tunnel sets no timer.
//
// Once the upstream has ended its direction, the client direction of a
// tunnel with awaitAnswer set is cut after awaitAnswer's bound of silence
// instead of the idle timeout (tunnel.upEnded).
//
// toUpstream says which way the bytes go, for the byte counters.
func (t *tunnel) pipe(dst, src net.Conn, toUpstream bool) (int64, error) {
	var total int64
	lr := &io.LimitedReader{R: src}
	w := watch(src)
	var dl pipeDeadlines
	for {
		wait := t.idle / 2
		if toUpstream && t.upEnded.Load() {
			wait = t.answerIn
		}
		writeBy := dl.push(dst, src, wait, 2*t.idle)
		var n, pre int64 // pre: counted before the copy
		err := w.waitReadable()
		if err == nil && w.eof {
			// EOF from src, seen by the wait's peek: nothing to move.
			if !toUpstream {
				t.upstreamEnded()
			}
			return total, nil
		}
		if err == nil {
			switch queued := w.queuedBytes(); {
			case queued > 0:
				lr.N = int64(min(queued, tunnelChunk))
				pre = lr.N
				t.count(toUpstream, pre)
			case queued == 0:
				// Readable with nothing queued: EOF or an error,
				// which a one-byte read reports at once.
				lr.N = 1
			default:
				lr.N = tunnelChunk
			}
			n, err = io.Copy(dst, lr)
		}
		total += n
		if n > pre {
			// Moved without a count beforehand (the queue was not
			// measured, or bytes came in after it was).
			t.count(toUpstream, n-pre)
		}
		if n > 0 {
			t.touch()
			t.moved(dst, src)
		}
		switch {
		case err == nil && lr.N > 0:
			if !toUpstream {
				t.upstreamEnded()
			}
			return total, nil // EOF from src
		case err == nil:
			continue // chunk done
		case errors.Is(err, os.ErrDeadlineExceeded) && time.Now().Before(writeBy):
			if t.idleFor() < t.idleLimit(toUpstream) {
				dl.expire() // the read deadline fired: set a new one
				continue
			}
			return total, errIdle
		default:
			return total, err
		}
	}
}

// pipeDeadlines sets the deadlines of one direction of a tunnel: src's read
// deadline wait from now, dst's write deadline writeIn from now. It sets
// them again only when a quarter of wait has passed since the last time, or
// wait changed: the read deadline then always lies between 3/4 of wait and
// wait ahead, which keeps pipe's idle bounds, and a busy tunnel does not
// move two runtime timers for every chunk.
type pipeDeadlines struct {
	at      time.Time // when they were last set; zero: never
	wait    time.Duration
	writeBy time.Time
}

// push sets the deadlines if they are due and returns dst's write deadline.
func (d *pipeDeadlines) push(dst, src net.Conn, wait, writeIn time.Duration) time.Time {
	now := time.Now()
	if !d.at.IsZero() && wait == d.wait && now.Sub(d.at) < wait/4 {
		return d.writeBy
	}
	d.at, d.wait, d.writeBy = now, wait, now.Add(writeIn)
	_ = src.SetReadDeadline(now.Add(wait))
	_ = dst.SetWriteDeadline(d.writeBy)
	return d.writeBy
}

// expire makes the next push set both deadlines.
func (d *pipeDeadlines) expire() { d.at = time.Time{} }

// srcWatch waits on a tunnel source and measures its queue (waitReadable,
// queuedBytes) through one RawConn and one callback each, made once per
// pipe: a round of the copy allocates nothing for them.
type srcWatch struct {
	rc    syscall.RawConn // nil when the conn is not a socket
	b     [1]byte         // waitReadable's peek
	n     int             // queuedBytes' answer
	eof   bool            // waitReadable's peek found the end of the stream
	peek  func(fd uintptr) bool
	ioctl func(fd uintptr)
}

func watch(c net.Conn) *srcWatch {
	w := &srcWatch{}
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			w.rc = rc
		}
	}
	return w
}

// writeAll writes bytes that were read ahead (a pipelined request body, the
// first bytes of a TLS handshake…) before the tunnel's stream begins. They
// are counted like the stream's, toward the upstream (toUpstream) or the
// client, before they are written.
func (t *tunnel) writeAll(dst net.Conn, p []byte, toUpstream bool) error {
	if len(p) == 0 {
		return nil
	}
	t.count(toUpstream, int64(len(p)))
	_ = dst.SetWriteDeadline(time.Now().Add(2 * t.idle))
	_, err := dst.Write(p)
	t.touch()
	t.moved(dst, nil)
	return err
}

// closeWrite half-closes c when it can, so the peer sees EOF while the other
// direction keeps flowing.
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

// run relays between client and upstream until both directions have ended
// or one has failed, then closes both. toUpstream and toClient are bytes
// already read from one side that the other must get first. EOF on one side
// half-closes the other, so request/response protocols that signal the end of
// a request with a shutdown keep working.
func (t *tunnel) run(client, upstream net.Conn, toUpstream, toClient []byte) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if t.gate != nil {
			var ok bool
			if toUpstream, ok = t.gate(t, client, toUpstream); !ok {
				client.Close()
				upstream.Close()
				return
			}
		}
		t.half(upstream, client, toUpstream, true)
	}()
	t.half(client, upstream, toClient, false)
	<-done
	t.stopAnswerTimer()
	client.Close()
	upstream.Close()
}

// half is one direction of run: the read-ahead bytes, the stream, then a
// half-close of dst. On an error both conns are closed, which ends the other
// direction too.
func (t *tunnel) half(dst, src net.Conn, pending []byte, up bool) error {
	err := t.writeAll(dst, pending, up)
	if err == nil {
		_, err = t.pipe(dst, src, up)
	}
	if err != nil {
		dst.Close()
		src.Close()
		return err
	}
	closeWrite(dst)
	return nil
}
