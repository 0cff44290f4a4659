//go:build unix

package main

import (
	"io/fs"
	"syscall"
)

// fileInode is fi's inode number, so the watcher notices a file replaced
// by rename even when its size and mtime match.
func fileInode(fi fs.FileInfo) uint64 {
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(sys.Ino)
	}
	return 0
}
