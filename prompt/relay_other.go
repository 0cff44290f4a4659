//go:build !linux

package prompt

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/netpolicy/netpolicy/proxy"
)

// Relay is the terminal relay; asking on the terminal needs Linux
// pseudo-terminals, so elsewhere Open fails and nothing is ever asked.
type Relay struct {
	Timeout time.Duration
	Always  func(host string) error
}

// Open fails: questions need Linux here.
func Open(tty *os.File) (*Relay, error) {
	return nil, errors.New("asking on the terminal is supported on Linux only")
}

// Slave is nil.
func (r *Relay) Slave() *os.File { return nil }

// Close does nothing.
func (r *Relay) Close() error { return nil }

// Ask answers no.
func (r *Relay) Ask(ctx context.Context, q proxy.Question) proxy.Answer { return proxy.AnswerNo }

// IsTerminal reports false: questions need Linux here.
func IsTerminal(f *os.File) bool { return false }
