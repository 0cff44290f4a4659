package policy

import "sort"

// Fold is one key of a rule map after folding: the entry that takes effect
// and the other entries with the same key, in order.
type Fold[T any] struct {
	Win    T
	Shadow []T
	// First is the key's first entry: Win, unless a later entry beat it.
	First T
}

// FoldRules folds domain rules by key: a pattern both allowed and denied is
// deny, since deny rules are decided first (POLICY §4.1); among rules of one
// permission the first, managed before user and then in file order, takes
// effect. The folds come in the order of their winners. This is the one
// "deny wins" fold: effective's domains map, --explain, migrate's
// same-meaning check, lint's fix planner and NP024, and the legacy lists'
// reading all read it (FoldBy is the same fold over values that carry a
// rule).
func FoldRules(rules []Rule, key func(Rule) string) []Fold[Rule] {
	rules = append([]Rule(nil), rules...)
	sortBySource(rules, func(r Rule) Source { return r.Source })
	return FoldBy(rules, func(r Rule) Permission { return r.Perm }, key)
}

// FoldBy is FoldRules over xs as given, each carrying a domain rule's
// permission (perm): xs are taken in the order that decides "first"
// rather than sorted by source, so that callers holding their own entries
// (lint's planner, the legacy lists) fold them without copying them into
// rules and back.
func FoldBy[T any](xs []T, perm func(T) Permission, key func(T) string) []Fold[T] {
	return foldByKey(xs, key, func(x, w T) bool { return perm(x) == Deny && perm(w) != Deny })
}

// FoldSockets folds unix_sockets entries by key: "none" wins over "allow"
// for the same path, as deny does for domains.
func FoldSockets(sockets []SocketRule, key func(SocketRule) string) []Fold[SocketRule] {
	sockets = append([]SocketRule(nil), sockets...)
	sortBySource(sockets, func(s SocketRule) Source { return s.Source })
	return foldByKey(sockets, key, func(s, w SocketRule) bool { return s.Perm != Allow && w.Perm == Allow })
}

// DomainMap is e's effective domains map: its rules folded by the pattern
// as written (FoldRules), managed first, then user, each in file order.
func (e *Effective) DomainMap() []Fold[Rule] {
	rules := append(append([]Rule{}, e.Allow...), e.Deny...)
	return FoldRules(rules, func(r Rule) string { return r.Pattern })
}

// SocketMap is e's effective unix_sockets map, folded by exact path.
func (e *Effective) SocketMap() []Fold[SocketRule] {
	return FoldSockets(e.Sockets, func(s SocketRule) string { return s.Path })
}

// foldByKey folds the entries of each key of xs, in the order given: the
// first one wins unless a later one beats it. The result is in the order
// of the winners. Linear in len(xs): policies may hold many thousand rules.
func foldByKey[T any](xs []T, key func(T) string, beats func(x, win T) bool) []Fold[T] {
	win := map[string]int{}
	group := map[string][]int{}
	for i, x := range xs {
		k := key(x)
		group[k] = append(group[k], i)
		if w, ok := win[k]; !ok || beats(x, xs[w]) {
			win[k] = i
		}
	}
	var out []Fold[T]
	for i, x := range xs {
		k := key(x)
		if win[k] != i {
			continue
		}
		f := Fold[T]{Win: x, First: xs[group[k][0]]}
		for _, j := range group[k] {
			if j != i {
				f.Shadow = append(f.Shadow, xs[j])
			}
		}
		out = append(out, f)
	}
	return out
}

// sortBySource orders managed before user, then by file and line, keeping
// the given order for ties.
func sortBySource[T any](xs []T, src func(T) Source) {
	sort.SliceStable(xs, func(i, j int) bool {
		x, y := src(xs[i]), src(xs[j])
		if x.Origin != y.Origin {
			return x.Origin < y.Origin // OriginManaged < OriginUser
		}
		if x.File != y.File {
			return x.File < y.File
		}
		return x.Line < y.Line
	})
}
