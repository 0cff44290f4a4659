package proxy

// Descriptors one admitted client connection may need at once: its own
// socket and its upstream's, plus, while bytes move, a splice pipe pair for
// each direction of a tunnel.
const fdsPerConn = 6

// fdReserve is kept back from the descriptor limit for what is not a
// client connection: listeners, the audit log, DNS sockets, policy files
// being read, standard streams.
const fdReserve = 64

// FitConnCap returns the default connection cap — DefaultMaxConns, lowered
// so that every admitted connection fits in the process's descriptor limit
// with fdsPerConn descriptors each — and the soft RLIMIT_NOFILE it was
// fitted to (0 where the platform has none to read).
func FitConnCap() (n int, limit uint64) {
	limit = fileLimit()
	return fitConnCap(limit), limit
}

func fitConnCap(limit uint64) int {
	if limit == 0 {
		return DefaultMaxConns
	}
	var n uint64 = 1
	if limit > fdReserve+fdsPerConn {
		n = (limit - fdReserve) / fdsPerConn
	}
	return int(min(n, DefaultMaxConns))
}
