package policy

import (
	"fmt"
	"sync"

	"github.com/netpolicy/netpolicy/internal/tomldoc"
)

// profileIndex makes profile lookups by name constant-time and remembers
// each profile's inherited settings, so that resolving every profile of a
// file (lint does) costs time linear in the number of profiles even when
// they form one deep extends chain.
type profileIndex struct {
	count  int // len(File.Profiles) when built: a File changed since is scanned instead
	byName map[string]*Profile

	mu       sync.Mutex
	settings map[string]settingsResult
}

type settingsResult struct {
	n   *Network
	err error
}

func newProfileIndex(ps []*Profile) *profileIndex {
	x := &profileIndex{count: len(ps), byName: make(map[string]*Profile, len(ps)), settings: map[string]settingsResult{}}
	for _, p := range ps {
		if _, dup := x.byName[p.Name]; !dup {
			x.byName[p.Name] = p // the first, as a scan would find
		}
	}
	return x
}

// InheritedSettings returns the scalar settings of a profile's network
// with what it inherits through extends, as UserNetwork would resolve them,
// but without the domain and socket rules (which UserNetwork builds). It is
// for callers that ask about many profiles of one file: each profile is
// resolved once, on top of its parent's remembered result. The error is
// UserNetwork's for an undefined profile, parent or a cycle.
func (f *File) InheritedSettings(profile string) (*Network, error) {
	x := f.profiles
	if x == nil || x.count != len(f.Profiles) {
		return f.inheritedSettings(profile, nil)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return f.inheritedSettings(profile, x.settings)
}

// inheritedSettings resolves profile, using and filling memo when not nil.
func (f *File) inheritedSettings(profile string, memo map[string]settingsResult) (*Network, error) {
	if r, ok := memo[profile]; ok {
		return r.n, r.err
	}
	if f.Profile(profile) == nil {
		return nil, &ProfileError{Profile: profile, Msg: fmt.Sprintf("profile %q is not defined%s", profile, f.definedProfiles())}
	}
	// Walk up to the root or to the first profile already resolved.
	path, stop, err := f.profileChain(profile, func(name string) bool {
		_, ok := memo[name]
		return ok
	})
	var base *Network
	if stop != "" {
		base, err = memo[stop].n, memo[stop].err
	}
	if err != nil {
		// Every profile on the way shares its ancestor's failure.
		for _, p := range path {
			if memo != nil {
				memo[p.Name] = settingsResult{err: err}
			}
		}
		return nil, err
	}
	var n *Network
	for i := len(path) - 1; i >= 0; i-- {
		p := path[i]
		n = &Network{Path: "permissions." + tomldoc.QuoteKey(p.Name) + ".network", Origin: OriginUser, File: f.Path}
		if base != nil {
			n.overlaySettings(base)
		}
		if p.Network != nil {
			n.overlaySettings(p.Network)
			n.Table, n.Path = p.Network.Table, p.Network.Path
		}
		if memo != nil {
			memo[p.Name] = settingsResult{n: n}
		}
		base = n
	}
	return n, nil
}
