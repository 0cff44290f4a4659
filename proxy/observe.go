package proxy

import (
	"time"

	"github.com/netpolicy/netpolicy/policy"
)

// Observer is told what the proxy does, for its metrics (POLICY §9). Every
// method must be cheap and safe for concurrent use; none may block.
type Observer interface {
	// Decided is called once per decision, with the request's protocol,
	// as the decision's audit event is written (and only then: a tunnel's
	// later look at its first bytes that lets it go on is no decision of
	// its own).
	Decided(d policy.Decision, proto policy.Protocol)
	// DecisionTook is how long that decision took, DNS included, a
	// person's answer to an ask not. It is called right after Decided.
	DecisionTook(time.Duration)
	// ConnOpened and ConnClosed bracket a client connection: an HTTP proxy
	// connection (http) until it closes or is taken over by a tunnel, a
	// tunnel (https_connect, or http for an upgraded request), a SOCKS5
	// connection (socks5_tcp).
	ConnOpened(proto policy.Protocol)
	ConnClosed(proto policy.Protocol)
	// Moved counts bytes a tunnel relayed in one direction.
	Moved(proto policy.Protocol, toUpstream bool, n int64)
}

func (s *Server) observeConn(proto policy.Protocol) {
	if s.Observer != nil {
		s.Observer.ConnOpened(proto)
	}
}

func (s *Server) observeClose(proto policy.Protocol) {
	if s.Observer != nil {
		s.Observer.ConnClosed(proto)
	}
}

// newTunnel is a tunnel with the server's idle timeout whose bytes are
// counted under proto.
func (s *Server) newTunnel(proto policy.Protocol) *tunnel {
	t := newTunnel(s.idleTimeout())
	if o := s.Observer; o != nil {
		t.counted = func(up bool, n int64) { o.Moved(proto, up, n) }
	}
	return t
}
