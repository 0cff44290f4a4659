package lru

import "testing"

func keepAll(int) bool { return true }

func TestBoundsDropLeastRecentlyUsed(t *testing.T) {
	c := New[string, int](3, 10)
	c.Put("a", 1, 2)
	c.Put("b", 2, 2)
	c.Put("c", 3, 2)
	if _, ok := c.Get("a", keepAll); !ok { // a is now the most recent
		t.Fatal("a missing")
	}
	c.Put("d", 4, 2) // four entries: b, the least recently used, goes
	if _, ok := c.Get("b", keepAll); ok {
		t.Error("b kept past MaxEntries")
	}
	for _, k := range []string{"a", "c", "d"} {
		if _, ok := c.Get(k, keepAll); !ok {
			t.Errorf("%s dropped", k)
		}
	}
	if c.Len() != 3 {
		t.Errorf("Len %d, want 3", c.Len())
	}

	s := New[string, int](10, 10)
	s.Put("a", 1, 4)
	s.Put("b", 2, 4)
	s.Put("c", 3, 4) // 12 > 10: a goes
	if _, ok := s.Get("a", keepAll); ok {
		t.Error("a kept past MaxSize")
	}
	if s.Len() != 2 {
		t.Errorf("Len %d, want 2", s.Len())
	}
}

func TestPutReplacesAndGetDropsRefused(t *testing.T) {
	c := New[string, int](2, 0)
	c.Put("a", 1, 100) // no size bound
	c.Put("a", 2, 100)
	if v, ok := c.Get("a", keepAll); !ok || v != 2 || c.Len() != 1 {
		t.Errorf("Get(a) = %d, %v; Len %d; want 2, true, 1", v, ok, c.Len())
	}
	if _, ok := c.Get("a", func(v int) bool { return v != 2 }); ok {
		t.Error("a refused value was returned")
	}
	if c.Len() != 0 {
		t.Errorf("a refused value stayed: Len %d", c.Len())
	}
}
