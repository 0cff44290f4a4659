package proxy

import (
	"net"
	"sync"
	"time"
)

// idleConns are the HTTP client connections waiting between two requests
// (http.StateIdle), with the time each became idle: at the connection cap
// the oldest is closed to make room for a new client (POLICY §5), so that
// idle keep-alive connections cannot hoard the slots. Tunnels, SOCKS5
// connections and connections in the middle of a request are never here.
type idleConns struct {
	mu    sync.Mutex
	since map[net.Conn]time.Time
	// became is signalled (without blocking) when a connection turns idle,
	// so that an acquire waiting at the cap looks again.
	became chan struct{}
}

func (ic *idleConns) init() {
	ic.since = map[net.Conn]time.Time{}
	ic.became = make(chan struct{}, 1)
}

func (ic *idleConns) add(c net.Conn) {
	ic.mu.Lock()
	ic.since[c] = time.Now()
	ic.mu.Unlock()
	select {
	case ic.became <- struct{}{}:
	default:
	}
}

func (ic *idleConns) remove(c net.Conn) {
	ic.mu.Lock()
	delete(ic.since, c)
	ic.mu.Unlock()
}

// evictOldest closes the connection idle the longest and reports whether
// there was one. Its slot comes back when the HTTP server sees it closed.
func (ic *idleConns) evictOldest() bool {
	ic.mu.Lock()
	var oldest net.Conn
	var at time.Time
	for c, t := range ic.since {
		if oldest == nil || t.Before(at) {
			oldest, at = c, t
		}
	}
	if oldest != nil {
		delete(ic.since, oldest)
	}
	ic.mu.Unlock()
	if oldest == nil {
		return false
	}
	oldest.Close()
	return true
}

// acquire takes a connection slot for a newly accepted client; false once
// the server closes. At the cap it closes the oldest idle keep-alive
// connection and takes its slot; when none is idle it waits until a slot
// frees or a connection turns idle. Listeners take the slot after Accept,
// so that a listener waiting for a client holds none: while the cap is
// reached, each listener holds at most one accepted connection, unserved,
// and accepts no more.
func (s *Server) acquire() bool {
	for {
		select {
		case s.slots <- struct{}{}:
			return true
		case <-s.closed:
			return false
		default:
		}
		if s.idle.evictOldest() {
			s.evictions.Add(1)
			select {
			case s.slots <- struct{}{}:
				return true
			case <-s.closed:
				return false
			}
		}
		select {
		case s.slots <- struct{}{}:
			return true
		case <-s.closed:
			return false
		case <-s.idle.became:
		}
	}
}

// ConnCap is the number of client connections the server admits at once:
// MaxConns, or the default fitted to the descriptor limit (FitConnCap).
func (s *Server) ConnCap() int {
	s.init()
	return cap(s.slots)
}
