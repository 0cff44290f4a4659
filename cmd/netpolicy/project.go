package main

import "github.com/netpolicy/netpolicy/internal/gitignore"

// projectConfig is the [lint] table of a .netpolicy.toml.
type projectConfig struct {
	excludes []gitignore.Pattern
}
