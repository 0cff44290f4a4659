package policy

import "sort"

// Fold is one key of a rule map after folding: the entry that takes effect
// and the other entries with the same key, in source order.
type Fold[T any] struct {
	Win    T
	Shadow []T
}

// FoldRules folds domain rules by key: a pattern both allowed and denied is
// deny, since deny rules are decided first (POLICY §4.1); among rules of one
// permission the first, managed before user and then in file order, takes
// effect. The folds come in the order of their winners. This is the one
// "deny wins" fold: effective's domains map, --explain and migrate's
// same-meaning check all read it.
func FoldRules(rules []Rule, key func(Rule) string) []Fold[Rule] {
	return foldByKey(rules, key,
		func(r Rule) Source { return r.Source },
		func(r, w Rule) bool { return r.Perm == Deny && w.Perm != Deny })
}

// FoldSockets folds unix_sockets entries by key: "none" wins over "allow"
// for the same path, as deny does for domains.
func FoldSockets(sockets []SocketRule, key func(SocketRule) string) []Fold[SocketRule] {
	return foldByKey(sockets, key,
		func(s SocketRule) Source { return s.Source },
		func(s, w SocketRule) bool { return s.Perm != Allow && w.Perm == Allow })
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

// foldByKey sorts a copy of xs by source and folds the entries of each key:
// the first one wins unless a later one beats it. The result is in the order
// of the winners. Linear in len(xs): policies may hold many thousand rules.
func foldByKey[T any](xs []T, key func(T) string, src func(T) Source, beats func(x, win T) bool) []Fold[T] {
	xs = append([]T(nil), xs...)
	sortBySource(xs, src)
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
		f := Fold[T]{Win: x}
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
