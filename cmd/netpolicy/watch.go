package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// settleTime is how long a policy file must keep its size, mtime and
// content before a change is acted on (POLICY §5.2): an editor's
// truncate-then-write, or a write that arrives in pieces, is never read
// half-way.
const settleTime = 200 * time.Millisecond

// watcher follows the policy files. It keeps the last sample of each file
// (metadata and content) and when that sample was first seen; a change
// counts once the files have looked the same for settle. The content of
// the settled sample is what a reload reads, so the policy served is
// exactly what was seen to be stable, not a later re-read.
//
// It uses only os.Stat's portable fields (and os.SameFile to notice a file
// replaced by rename), so it builds on every platform.
type watcher struct {
	settle time.Duration
	clock  func() time.Time // time.Now; tests set a fake clock
	paths  []string
	seen   []fileState // the last sample
	since  time.Time   // when the sampling that first saw seen ended
	loaded []fileState // what the serving policy was read from
}

// fileState is one sample of one file.
type fileState struct {
	exist bool
	info  fs.FileInfo
	data  []byte
	err   error // reading failed (other than not existing)
}

// sameSample reports whether a and b look like the same, untouched file:
// same existence, identity, size, mtime and bytes.
func sameSample(a, b fileState) bool {
	if a.exist != b.exist || (a.err == nil) != (b.err == nil) {
		return false
	}
	if !a.exist {
		return true
	}
	return os.SameFile(a.info, b.info) && a.info.Size() == b.info.Size() &&
		a.info.ModTime().Equal(b.info.ModTime()) && bytes.Equal(a.data, b.data)
}

// sameContent reports whether a and b would load the same policy: a touch
// or a rewrite with the same bytes is not a change.
func sameContent(a, b fileState) bool {
	return a.exist == b.exist && (a.err == nil) == (b.err == nil) && bytes.Equal(a.data, b.data)
}

// newWatcher samples paths ("" entries are skipped) and takes that sample
// as what is loaded. clock is nil for time.Now.
func newWatcher(clock func() time.Time, paths ...string) *watcher {
	if clock == nil {
		clock = time.Now
	}
	w := &watcher{settle: settleTime, clock: clock}
	for _, p := range paths {
		if p != "" {
			w.paths = append(w.paths, p)
		}
	}
	w.seen = w.sample()
	w.since = w.clock()
	w.loaded = w.seen
	return w
}

func (w *watcher) sample() []fileState {
	out := make([]fileState, len(w.paths))
	for i, p := range w.paths {
		out[i] = sampleFile(p)
	}
	return out
}

// sampleFile stats and reads path. The stat comes first: a write between
// the two changes the next sample's bytes or mtime, so it is still seen.
func sampleFile(path string) fileState {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fileState{}
	}
	if err != nil {
		return fileState{exist: true, err: err}
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fileState{}
	}
	return fileState{exist: true, info: fi, data: b, err: err}
}

// poll samples the files. settled is true once they have looked the same
// for the settle time; changed is true when, in addition, their content
// differs from what was loaded. When not settled, wait is how long until
// the current sample could be: poll again then.
//
// The clock errs on the safe side of a stall (a busy machine can pause the
// process between reading the clock and reading a file): a new sample
// counts from the end of the sampling that saw it, and is compared with the
// start of the sampling that sees it again.
func (w *watcher) poll() (settled, changed bool, wait time.Duration) {
	now := w.clock()
	cur := w.sample()
	for i := range cur {
		if !sameSample(cur[i], w.seen[i]) {
			w.seen, w.since = cur, w.clock()
			break
		}
	}
	if d := now.Sub(w.since); d < w.settle {
		return false, false, w.settle - d
	}
	for i := range w.seen {
		if !sameContent(w.seen[i], w.loaded[i]) {
			return true, true, 0
		}
	}
	return true, false, 0
}

// changedPaths names the files whose settled content differs from what
// was loaded: what a reload is about to pick up.
func (w *watcher) changedPaths() []string {
	var out []string
	for i, p := range w.paths {
		if !sameContent(w.seen[i], w.loaded[i]) {
			out = append(out, p)
		}
	}
	return out
}

// take records the settled sample as loaded (whether the reload built on it
// succeeded or not: a bad file is reported once, not at every poll) and
// returns a reader for it: the bytes seen, or the error seen.
func (w *watcher) take() func(path string) ([]byte, error) {
	w.loaded = w.seen
	snap := make(map[string]fileState, len(w.paths))
	for i, p := range w.paths {
		snap[p] = w.seen[i]
	}
	return func(path string) ([]byte, error) {
		st, ok := snap[path]
		switch {
		case !ok:
			return os.ReadFile(path)
		case !st.exist:
			// As os.ReadFile says it (ENOENT is fs.ErrNotExist).
			return nil, &fs.PathError{Op: "open", Path: path, Err: syscall.ENOENT}
		case st.err != nil:
			return nil, st.err
		}
		return st.data, nil
	}
}
