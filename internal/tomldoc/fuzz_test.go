package tomldoc

import (
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// docSeeds are documents on the edges of TOML's key and table rules.
var docSeeds = []string{
	"[a]\nb = 1\n[a]\nc = 2\n",
	"[a.b]\nc = 1\n[a]\nd = 2\n",
	"[a]\nb.c = 1\n[a.b]\nd = 2\n",
	"[a]\nb.c = 1\n[a.b.d]\ne = 2\n",
	"a.b = 1\n[a]\nc = 2\n",
	"a = { b = 1 }\n[a.c]\nd = 1\n",
	"a = { b = 1 }\na.c = 2\n",
	"a = [ { b = 1 } ]\n[[a]]\nb = 2\n",
	"[[a]]\nb = 1\n[[a]]\nb = 2\n[a.c]\nd = 1\n",
	"[[a]]\n[a]\n",
	"[a]\n[[a]]\n",
	"[a.b.c]\nz = 9\n[a]\nb.c.t = 1\n",
	"[a.b.c]\n[a]\nb.d = 1\n",
	"a.b.c = 1\na.b.d = 2\n",
	"a.b = 1\na.b.c = 2\n",
	"a = 1\na = 2\n",
	"a = 1\n[a]\n",
	"x = { a.b = 1, a.c = 2 }\n",
	"x = { a = 1, a = 2 }\n",
	"i = 9223372036854775807\n",
	"i = 9223372036854775808\n",
	"i = 0x7fffffffffffffff\n",
	"i = 0xffffffffffffffff\n",
	"f = 1e400\n",
	"f = -nan\nf2 = +inf\n",
	"d = 2021-13-45\n",
	"d = 2021-02-29\n",
	"t = 25:00:00\n",
	"dt = 1979-05-27T07:32:00Z\n",
	"[experimental_network]\ndomains = { \"a.example\" = \"allow\" }\n[experimental_network.domains]\n\"b.example\" = \"deny\"\n",
	"[network.domains]\n\"a\" = \"allow\"\n[network]\ndomains.\"b\" = \"deny\"\n",
}

// FuzzParseDoc holds ParseDoc's own key and table checks to go-toml's
// decoder: both accept or both reject every document.
func FuzzParseDoc(f *testing.F) {
	for _, s := range docSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		_, err := ParseDoc(src)
		derr := toml.Unmarshal(src, new(map[string]any))
		if (err == nil) != (derr == nil) {
			t.Fatalf("ParseDoc error %v, decoder error %v, for:\n%s", err, derr, src)
		}
	})
}
