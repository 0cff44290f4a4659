// Package sandbox runs the command of `netpolicy exec` under the policy: with
// the proxy variables of its environment pointing at the proxy and, on Linux,
// isolated in new user, network, mount and PID namespaces so that it cannot
// go around the proxy.
//
// Without isolation the command is started directly (Start). With isolation
// (StartIsolated) netpolicy re-executes itself (/proc/self/exe) into a hidden
// internal command (InitCommand), which becomes PID 1 of the new PID
// namespace: it brings the namespace's loopback up, hides the unix sockets
// of daemons behind tmpfs and /dev/null mounts, opens the proxy listeners on
// the namespace's 127.0.0.1, hands those listening sockets to the proxy
// outside over an inherited socket pair, and starts the command. The proxy
// outside accepts the command's connections from those sockets itself, so
// nothing is copied twice and no network address connects the two sides.
//
// The command's stdin, stdout and stderr are those of Spec, passed through
// untouched, so a terminal stays a terminal.
package sandbox
