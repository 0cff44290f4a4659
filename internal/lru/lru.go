// Package lru is a least-recently-used cache bounded in entries and in
// size, safe for concurrent use: the resolver's answers and the CA's
// leaves.
package lru

import (
	"container/list"
	"sync"
)

// Cache holds at most MaxEntries values whose sizes add up to at most
// MaxSize (no bound on size if zero), dropping the least recently used
// first. The bounds may be changed only before the cache is used.
type Cache[K comparable, V any] struct {
	MaxEntries int
	MaxSize    int

	mu    sync.Mutex
	order *list.List // of *item[K, V], most recently used first
	byKey map[K]*list.Element
	size  int
}

type item[K comparable, V any] struct {
	key  K
	val  V
	size int
}

// New returns an empty cache with the bounds given.
func New[K comparable, V any](maxEntries, maxSize int) *Cache[K, V] {
	return &Cache[K, V]{MaxEntries: maxEntries, MaxSize: maxSize, order: list.New(), byKey: map[K]*list.Element{}}
}

// Get returns the value of key and marks it most recently used, if it is
// cached and keep accepts it; a value keep refuses (an expired one, say)
// is dropped.
func (c *Cache[K, V]) Get(key K, keep func(V) bool) (v V, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		return v, false
	}
	it := el.Value.(*item[K, V])
	if !keep(it.val) {
		c.remove(el)
		return v, false
	}
	c.order.MoveToFront(el)
	return it.val, true
}

// Put stores v under key as the most recently used value, replacing any
// value there, and counts size toward MaxSize; then it drops the least
// recently used values beyond the bounds.
func (c *Cache[K, V]) Put(key K, v V, size int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		c.remove(el)
	}
	c.byKey[key] = c.order.PushFront(&item[K, V]{key: key, val: v, size: size})
	c.size += size
	for c.order.Len() > c.MaxEntries || c.MaxSize > 0 && c.size > c.MaxSize {
		c.remove(c.order.Back())
	}
}

func (c *Cache[K, V]) remove(el *list.Element) {
	it := c.order.Remove(el).(*item[K, V])
	delete(c.byKey, it.key)
	c.size -= it.size
}

// Len returns the number of values cached.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
