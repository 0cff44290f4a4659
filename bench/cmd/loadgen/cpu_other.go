//go:build !unix

package main

import "time"

// selfCPU is not measured here (no getrusage): 0.
func selfCPU() time.Duration { return 0 }
