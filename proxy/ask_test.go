package proxy

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/netpolicy/netpolicy/policy"
)

// fakeAsker answers every question with ans after release is closed, and
// counts the questions.
type fakeAsker struct {
	mu      sync.Mutex
	asked   []Question
	ans     Answer
	release chan struct{}
}

func (f *fakeAsker) Ask(ctx context.Context, q Question) Answer {
	f.mu.Lock()
	f.asked = append(f.asked, q)
	f.mu.Unlock()
	if f.release != nil {
		select {
		case <-f.release:
		case <-time.After(5 * time.Second):
			return AnswerNo
		}
	}
	return f.ans
}

func (f *fakeAsker) questions() []Question {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Question(nil), f.asked...)
}

// TestAsk: an ask goes to the Ask hook; the answer decides, audited with
// network.policy.override; concurrent requests for one host share one
// question; session answers are remembered; denied and invalid hosts and
// report-only mode never ask.
func TestAsk(t *testing.T) {
	e := effective(map[string]string{"ads.example": "deny"})
	t.Run("once", func(t *testing.T) {
		a := &fakeAsker{ans: AnswerOnce}
		h := newHarness(t, e, func(s *Server) { s.Ask = a.Ask })
		h.res.answer("new.example", publicIP)
		resp, body := h.do(t, "GET", "http://new.example/x")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d %s", resp.StatusCode, body)
		}
		ev := h.audit.events(t)[0]
		if ev["network.policy.override"] != true || ev["network.policy.decision"] != "allow" || ev["network.policy.reason"] != "allowed" {
			t.Fatalf("audit %v", ev)
		}
		h.do(t, "GET", "http://new.example/y")
		if q := a.questions(); len(q) != 2 || q[0] != (Question{Host: "new.example", Port: 80, Protocol: policy.ProtoHTTP}) {
			t.Fatalf("questions %v, want two about new.example:80 (once is once)", q)
		}
	})
	t.Run("session", func(t *testing.T) {
		a := &fakeAsker{ans: AnswerSession}
		h := newHarness(t, e, func(s *Server) { s.Ask = a.Ask })
		h.res.answer("new.example", publicIP)
		for i := 0; i < 3; i++ {
			if resp, body := h.do(t, "GET", "http://new.example/x"); resp.StatusCode != 200 {
				t.Fatalf("status %d %s", resp.StatusCode, body)
			}
		}
		// The exact host only, never a pattern.
		h.res.answer("sub.new.example", publicIP)
		h.do(t, "GET", "http://sub.new.example/x")
		if q := a.questions(); len(q) != 2 || q[1].Host != "sub.new.example" {
			t.Fatalf("questions %v", q)
		}
	})
	t.Run("no", func(t *testing.T) {
		a := &fakeAsker{ans: AnswerNo}
		h := newHarness(t, e, func(s *Server) { s.Ask = a.Ask })
		resp, body := h.do(t, "GET", "http://new.example/x")
		wantBlock(t, resp, body, "blocked-by-allowlist", "not_allowed", "ask")
		wantNoDial(t, h)
		wantResolves(t, h)
		if ev := h.audit.events(t)[0]; ev["network.policy.override"] != false {
			t.Fatalf("audit %v", ev)
		}
	})
	t.Run("concurrent requests share one question", func(t *testing.T) {
		a := &fakeAsker{ans: AnswerOnce, release: make(chan struct{})}
		h := newHarness(t, e, func(s *Server) { s.Ask = a.Ask })
		h.res.answer("new.example", publicIP)
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for i := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, _ := h.do(t, "GET", "http://new.example/x")
				codes[i] = resp.StatusCode
			}()
		}
		// Both requests wait on the question before the answer comes.
		deadline := time.Now().Add(5 * time.Second)
		for {
			h.srv.askMu.Lock()
			n := 0
			if p := h.srv.asking["new.example"]; p != nil {
				n = p.waiters
			}
			h.srv.askMu.Unlock()
			if n == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d requests waiting, want 2", n)
			}
			time.Sleep(5 * time.Millisecond)
		}
		close(a.release)
		wg.Wait()
		if codes[0] != 200 || codes[1] != 200 {
			t.Fatalf("statuses %v", codes)
		}
		if q := a.questions(); len(q) != 1 {
			t.Fatalf("%d questions, want 1: %v", len(q), q)
		}
	})
	t.Run("never asked", func(t *testing.T) {
		a := &fakeAsker{ans: AnswerAlways}
		h := newHarness(t, e, func(s *Server) { s.Ask = a.Ask })
		resp, body := h.do(t, "GET", "http://ads.example/x")
		wantBlock(t, resp, body, "blocked-by-denylist", "denied", "deny")
		resp, body = h.do(t, "GET", "http://10.0.0.9/x")
		wantBlock(t, resp, body, "blocked-by-allowlist", "not_allowed_local", "deny")
		ro := newHarness(t, e, func(s *Server) { s.Ask, s.ReportOnly = a.Ask, true })
		ro.res.answer("new.example", publicIP)
		if resp, _ := ro.do(t, "GET", "http://new.example/x"); resp.StatusCode != http.StatusOK {
			t.Fatalf("report-only: %d", resp.StatusCode)
		}
		if q := a.questions(); len(q) != 0 {
			t.Fatalf("asked %v", q)
		}
	})
}
