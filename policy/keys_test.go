package policy

import (
	"fmt"
	"strings"
	"testing"
)

// TestKeyTable checks the rows are consistent: unique names, a field for
// every setting, NetworkRequirements positions 1..n without gaps.
func TestKeyTable(t *testing.T) {
	names, jsons, reqs := map[string]bool{}, map[string]bool{}, map[int]string{}
	for i := range NetworkKeys {
		k := &NetworkKeys[i]
		if names[k.Name] {
			t.Errorf("%s: listed twice", k.Name)
		}
		names[k.Name] = true
		if k.JSON != "" {
			if jsons[k.JSON] {
				t.Errorf("%s: JSON name %s used twice", k.Name, k.JSON)
			}
			jsons[k.JSON] = true
		}
		if k.Requirement > 0 {
			if o, dup := reqs[k.Requirement]; dup {
				t.Errorf("%s and %s share NetworkRequirements position %d", o, k.Name, k.Requirement)
			}
			reqs[k.Requirement] = k.Name
		}
		if !k.Managed && !k.User {
			t.Errorf("%s: accepted in no table", k.Name)
		}
		if k.Ceiling && (k.Type != TypeBool || !k.Managed || !k.User) {
			t.Errorf("%s: a ceiling must be a boolean of both tables", k.Name)
		}
		setting := (k.Type == TypeBool || k.Type == TypeString || k.Type == TypePort) && !k.Obsolete
		if k.Setting() != setting {
			t.Errorf("%s: Setting() = %v, want %v", k.Name, k.Setting(), setting)
		}
		if k.Type == TypeBool && setting && k.JSON == "" {
			t.Errorf("%s: a boolean setting needs a JSON name for effective", k.Name)
		}
		if k.EffectiveBool(&Effective{}) != nil && k.Type != TypeBool {
			t.Errorf("%s: effective boolean field for a %v key", k.Name, k.Type)
		}
	}
	for i := 1; i <= len(reqs); i++ {
		if _, ok := reqs[i]; !ok {
			t.Errorf("no key at NetworkRequirements position %d", i)
		}
	}
}

// TestKeyTableReadAndExtends writes every setting of the table into a
// parent and a child profile and checks each is read with its line and
// that extends takes the child's value.
func TestKeyTableReadAndExtends(t *testing.T) {
	value := func(k *KeySpec, child bool) (toml, text string) {
		switch k.Type {
		case TypeBool:
			return fmt.Sprint(child), fmt.Sprint(child)
		case TypePort:
			if child {
				return "2000", "2000"
			}
			return "1000", "1000"
		}
		if child {
			return `"c"`, `"c"`
		}
		return `"p"`, `"p"`
	}
	var parent, child strings.Builder
	parent.WriteString("[permissions.p.network]\n")
	child.WriteString("[permissions.c]\nextends = \"p\"\n[permissions.c.network]\n")
	for i := range NetworkKeys {
		k := &NetworkKeys[i]
		if !k.Setting() {
			continue
		}
		pv, _ := value(k, false)
		cv, _ := value(k, true)
		fmt.Fprintf(&parent, "%s = %s\n", k.Name, pv)
		fmt.Fprintf(&child, "%s = %s\n", k.Name, cv)
	}
	f := mustLoad(t, "config.toml", parent.String()+child.String())
	p := f.Profile("p").Network
	n, err := f.UserNetwork("c")
	if err != nil {
		t.Fatal(err)
	}
	line := 2
	for i := range NetworkKeys {
		k := &NetworkKeys[i]
		if !k.Setting() {
			continue
		}
		_, want := value(k, false)
		if got, src, ok := k.Value(p); !ok || got != want || src.Line != line {
			t.Errorf("parent %s = %q line %d (set %v), want %q line %d", k.Name, got, src.Line, ok, want, line)
		}
		_, want = value(k, true)
		if got, _, ok := k.Value(n); !ok || got != want {
			t.Errorf("extended %s = %q (set %v), want the child's %q", k.Name, got, ok, want)
		}
		if k.Type == TypeBool && n.Bool(k.Name) != k.Bool(n) {
			t.Errorf("Network.Bool(%s) differs from the key's Bool", k.Name)
		}
		line++
	}
}
