//go:build !unix

package main

import "io/fs"

// fileInode is 0 where FileInfo carries no inode number: the watcher then
// goes by size, mtime and content alone.
func fileInode(fs.FileInfo) uint64 { return 0 }
