package policy

import (
	"context"
	"net/http"
	"testing"
)

// TestMethodOverrideInLimitedMode is POLICY §4.3 (issue 9's defect 7): a
// read-only method carrying a method-override header that names any other
// method is refused in limited mode, like that method.
func TestMethodOverrideInLimitedMode(t *testing.T) {
	limited := mustCompile(t, pol(limitedMode, domains("example.com", "allow"), sockets("/run/app.sock", "allow")))
	full := mustCompile(t, pol(domains("example.com", "allow")))
	for _, tc := range []struct {
		method string
		header http.Header
		want   Reason // in limited mode
	}{
		{"GET", nil, ReasonAllowed},
		{"GET", http.Header{"X-Http-Method-Override": {"DELETE"}}, ReasonMethodNotAllowed},
		{"GET", http.Header{"X-Http-Method": {"PUT"}}, ReasonMethodNotAllowed},
		{"HEAD", http.Header{"X-Method-Override": {"POST"}}, ReasonMethodNotAllowed},
		{"OPTIONS", http.Header{"X-Http-Method-Override": {" patch "}}, ReasonMethodNotAllowed},
		{"GET", http.Header{"X-Http-Method-Override": {"GET", "PROPFIND"}}, ReasonMethodNotAllowed},
		{"GET", http.Header{"X-Http-Method-Override": {"HEAD"}, "X-Method-Override": {"options"}}, ReasonAllowed},
		{"GET", http.Header{"X-Http-Method-Override": {""}}, ReasonAllowed},
		{"GET", http.Header{"X-Other-Override": {"DELETE"}}, ReasonAllowed},
		{"POST", http.Header{"X-Http-Method-Override": {"GET"}}, ReasonMethodNotAllowed},
	} {
		ov := MethodOverrides(tc.header)
		for _, socket := range []string{"", "/run/app.sock"} {
			req := Request{Host: "example.com", Port: 80, Protocol: ProtoHTTP, Method: tc.method, MethodOverride: ov, UnixSocket: socket}
			d := limited.Decide(context.Background(), req, newStub(t, map[string]string{"example.com": "93.184.216.34"}))
			if d.Reason != tc.want {
				t.Errorf("limited %s %v socket=%q: reason %s, want %s", tc.method, tc.header, socket, d.Reason, tc.want)
			}
			if tc.want == ReasonMethodNotAllowed && (d.Source != SourceModeGuard || d.Verdict != VerdictDeny || len(d.Addrs) != 0) {
				t.Errorf("limited %s %v: %+v", tc.method, tc.header, d)
			}
		}
		// Full mode has no method guard.
		if tc.method != "POST" {
			req := Request{Host: "example.com", Port: 80, Protocol: ProtoHTTP, Method: tc.method, MethodOverride: ov, NoResolve: true}
			if d := full.Decide(context.Background(), req, nil); !d.Allowed() {
				t.Errorf("full %s %v: %s", tc.method, tc.header, d.Reason)
			}
		}
	}
}
