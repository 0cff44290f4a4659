package proxy

import (
	"context"

	"github.com/netpolicy/netpolicy/policy"
)

// Answer is a person's answer to a question about a host (POLICY §8).
type Answer uint8

const (
	// AnswerNo blocks the request (also the answer to a question nobody
	// answered in time).
	AnswerNo Answer = iota
	// AnswerOnce admits this request or tunnel (and the ones waiting on
	// the same question).
	AnswerOnce
	// AnswerSession admits this exact host until the proxy is dropped.
	AnswerSession
	// AnswerAlways is AnswerSession after the asker wrote an allow rule
	// for the host.
	AnswerAlways
)

func (a Answer) String() string {
	switch a {
	case AnswerOnce:
		return "once"
	case AnswerSession:
		return "session"
	case AnswerAlways:
		return "always"
	}
	return "no"
}

// Question is what the proxy asks about: a valid host name or IP literal
// (normalised) that the policy would ask for, with the port and protocol
// of the request.
type Question struct {
	Host     string
	Port     int
	Protocol policy.Protocol
}

// pendingAsk is a question in flight; requests for the same host wait on it.
type pendingAsk struct {
	done    chan struct{}
	ans     Answer
	waiters int // requests sharing the question, the asker included
}

// approve asks s.Ask about q.Host, unless the host was allowed for the
// session or a question about it is already waiting, in which case it
// shares that answer. It reports whether the request may go on. The
// question outlives the request that raised it (the others may still
// wait on it); a request whose client goes away stops waiting.
func (s *Server) approve(ctx context.Context, q Question) bool {
	if !policy.ValidHost(q.Host) {
		return false // never ask about what is not a host name or literal
	}
	s.askMu.Lock()
	if s.session[q.Host] {
		s.askMu.Unlock()
		return true
	}
	if s.asking == nil {
		s.asking, s.session = map[string]*pendingAsk{}, map[string]bool{}
	}
	p, waiting := s.asking[q.Host]
	if !waiting {
		p = &pendingAsk{done: make(chan struct{})}
		s.asking[q.Host] = p
	}
	p.waiters++
	s.askMu.Unlock()
	if !waiting {
		ans := s.Ask(context.WithoutCancel(ctx), q)
		s.askMu.Lock()
		delete(s.asking, q.Host)
		if ans == AnswerSession || ans == AnswerAlways {
			s.session[q.Host] = true
		}
		p.ans = ans
		s.askMu.Unlock()
		close(p.done)
	}
	select {
	case <-p.done:
		return p.ans != AnswerNo
	case <-ctx.Done():
		return false
	}
}
