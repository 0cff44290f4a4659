//go:build !unix

package sandbox

import "os"

var forwardedSignals = []os.Signal{os.Interrupt}

func fromKeyboard(os.Signal, []*os.File) bool { return false }
