package policy

import (
	"context"
	"strings"
	"testing"
)

func TestValidHost(t *testing.T) {
	valid := []string{"example.com", "a-b_c.example", "xn--bcher-kva.example", "localhost", "127.0.0.1", "2130706433", "::1", "fe80::1%lo0", strings.Repeat("a", 63) + ".example"}
	invalid := []string{"", "ｂlocked.example", "bücher.example", "evil.example\r\nx-injected: 1", "a..b", ".a", "a b.example", "a*.example", strings.Repeat("a", 64) + ".example", strings.Repeat("a.", 127) + "ab"}
	for _, h := range valid {
		if !ValidHost(NormalizeHost(h)) {
			t.Errorf("ValidHost(%q) = false, want true", h)
		}
	}
	for _, h := range invalid {
		if ValidHost(NormalizeHost(h)) {
			t.Errorf("ValidHost(%q) = true, want false", h)
		}
	}
}

// A host no resolver could answer for is not_allowed even under "*", and is
// never looked up: check and the proxy agree that it goes nowhere.
func TestDecideInvalidHost(t *testing.T) {
	c, err := Compile(&Effective{SessionMode: ModeFullAccess, OnMiss: Setting[OnMiss]{Value: MissDeny},
		Enabled: Setting[bool]{Value: true}, Mode: Setting[NetworkMode]{Value: ModeFull},
		AllowLocalBinding: Setting[bool]{Value: true},
		Allow:             []Rule{{Pattern: "*", Perm: Allow}}})
	if err != nil {
		t.Fatal(err)
	}
	r := newStub(t, nil)
	for _, h := range []string{"ｂlocked.example", "evil.example\r\nx: 1", "a b"} {
		d := c.Decide(context.Background(), Request{Host: h, Port: 80, Protocol: ProtoHTTP}, r)
		if d.Verdict != VerdictDeny || d.Reason != ReasonNotAllowed || d.Resolved {
			t.Errorf("%q: %s %s resolved=%v, want deny not_allowed without DNS", h, d.Verdict, d.Reason, d.Resolved)
		}
	}
}
