// Package proxy is the egress proxy that enforces a compiled network policy:
// an HTTP forward proxy (absolute-form requests, WebSocket upgrades, CONNECT
// tunnels, unix sockets through the x-unix-socket header) and a SOCKS5 proxy
// (CONNECT only, no authentication), both answering every request with
// policy.Compiled.Decide — the same decision function `netpolicy check` uses.
//
// Three promises shape the code:
//
//   - It dials what it checked. A name is resolved once, inside Decide and
//     only when the rules allow it; the proxy then connects to the checked
//     addresses of that decision and never asks DNS again, so an answer that
//     changes between check and connect (DNS rebinding) cannot reach a
//     private address. Host spellings are never dialled as written.
//   - Tunnels stay on the kernel fast path. CONNECT, SOCKS5 and upgraded
//     connections copy between the raw *net.TCPConn values, so Go uses
//     splice(2); idle timeouts are kept by pushing deadlines forward once per
//     large chunk instead of wrapping the conns.
//   - Nothing waits forever. Request headers, the SOCKS5 handshake, upstream
//     dials, idle tunnels, stalled bodies and the number of connections are
//     all bounded.
//
// The policy is held in an atomic pointer: SetPolicy swaps it, and each
// request (each tunnel, each SOCKS5 connection) reads it once, so work in
// flight finishes under the policy it started with.
package proxy
