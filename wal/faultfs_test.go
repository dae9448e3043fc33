package wal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
)

// faultFS is an in-memory fileSystem that remembers what has been synced,
// so that a test can crash it at any operation and look at what a disk
// could hold afterwards (crashImage). It can also fail every write from some
// operation on with a given error, like a full or read-only disk.
type faultFS struct {
	mu sync.Mutex

	names   map[string]*inode // the directory as the process sees it
	durable map[string]*inode // the directory as of the last SyncDir
	dirOps  []dirOp           // creations, removals and renames since then
	locked  bool

	ops     int   // mutating operations so far
	crashAt int   // the operation at which the machine crashes; 0: never
	crashed bool  //
	failAt  int   // from this operation on, fail with failErr; 0: never
	failErr error //
	rng     *rand.Rand

	// skipSync makes every file Sync return success without syncing, as
	// if the log skipped its fdatasync (or the disk lied about it): the
	// mutation that TestOneSyncPerSave must catch.
	skipSync  bool
	fileSyncs int // file Syncs that succeeded (and synced)
	dirSyncs  int // SyncDirs that succeeded

	// trace names every mutating operation, in order, so that a test can
	// say which step of which operation a crash point interrupts.
	trace []string
	// beforeRemove, if set, is called with the name of each file about to
	// be removed, without the file system's lock held.
	beforeRemove func(name string)
}

type inode struct {
	data    []byte   // what reads see
	synced  []byte   // what survives any crash
	pending []pendOp // writes and truncations since the last sync
}

// pendOp is an unsynced write of data at off, or a truncation to off.
type pendOp struct {
	off   int64
	data  []byte
	trunc bool
}

// dirOp is a creation of name, a removal of name (ino nil), or a rename
// of from to name. A crash keeps or loses each as a whole: a rename is
// atomic, and keeping it keeps the file under its new name even if its
// creation under the old one was lost, as journaling file systems order
// these operations.
type dirOp struct {
	name string
	ino  *inode // nil: removal
	from string // a rename's old name
}

var (
	errCrash = errors.New("faultfs: machine crashed")
	// errDown is what every operation after the crash returns.
	errDown = fmt.Errorf("%w earlier", errCrash)
)

func newFaultFS(seed uint64) *faultFS {
	return &faultFS{
		names:   map[string]*inode{},
		durable: map[string]*inode{},
		rng:     rand.New(rand.NewPCG(seed, 0x5eed)),
	}
}

// step accounts for one mutating operation; a non-nil error means it must
// not happen (or, for a crash, happen only partly).
func (f *faultFS) step(what string, names ...string) error {
	if f.crashed {
		return errDown
	}
	for _, n := range names {
		what += " " + filepath.Base(n)
	}
	f.trace = append(f.trace, what)
	f.ops++
	if f.crashAt > 0 && f.ops >= f.crashAt {
		f.crashed = true
		return errCrash
	}
	if f.failAt > 0 && f.ops >= f.failAt {
		return f.failErr
	}
	return nil
}

func (f *faultFS) OpenFile(name string, create bool) (file, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	base := filepath.Base(name)
	ino, ok := f.names[base]
	switch {
	case create && ok:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	case create:
		if err := f.step("create", name); err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		ino = &inode{}
		f.names[base] = ino
		f.dirOps = append(f.dirOps, dirOp{name: base, ino: ino})
	case !ok:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &faultFile{fs: f, ino: ino, name: name}, nil
}

func (f *faultFS) Remove(name string) error {
	if f.beforeRemove != nil {
		f.beforeRemove(name)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	base := filepath.Base(name)
	if _, ok := f.names[base]; !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	if err := f.step("remove", name); err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	delete(f.names, base)
	f.dirOps = append(f.dirOps, dirOp{name: base})
	return nil
}

func (f *faultFS) Rename(oldName, newName string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	from, to := filepath.Base(oldName), filepath.Base(newName)
	ino, ok := f.names[from]
	switch {
	case !ok:
		return &os.LinkError{Op: "rename", Old: oldName, New: newName, Err: fs.ErrNotExist}
	case f.names[to] != nil:
		// POSIX would replace it; the log never renames over a file.
		return &os.LinkError{Op: "rename", Old: oldName, New: newName, Err: fs.ErrExist}
	}
	if err := f.step("rename", oldName, newName); err != nil {
		return &os.LinkError{Op: "rename", Old: oldName, New: newName, Err: err}
	}
	delete(f.names, from)
	f.names[to] = ino
	f.dirOps = append(f.dirOps, dirOp{name: to, ino: ino, from: from})
	return nil
}

func (f *faultFS) ReadDir(string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := make([]string, 0, len(f.names))
	for n := range f.names {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

func (f *faultFS) MkdirAll(string) error { return nil }

func (f *faultFS) SyncDir(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.step("syncdir"); err != nil {
		return &fs.PathError{Op: "fsync", Path: dir, Err: err}
	}
	f.durable = maps(f.names)
	f.dirOps = nil
	f.dirSyncs++
	return nil
}

func (f *faultFS) Lock(name string) (io.Closer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.locked {
		return nil, fmt.Errorf("%w: %s", ErrLocked, name)
	}
	f.locked = true
	return closerFunc(func() error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.locked = false
		return nil
	}), nil
}

type closerFunc func() error

func (c closerFunc) Close() error { return c() }

func maps(m map[string]*inode) map[string]*inode {
	c := make(map[string]*inode, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// crashImage returns the disk as a machine that crashed now could find it
// on reboot: what was synced and, if keepUnsynced, a random part of what was
// not: each unsynced creation or removal, and each 512-byte piece of each
// unsynced write, independently; the last write's pieces may also be torn
// at any byte.
func (f *faultFS) crashImage(rng *rand.Rand, keepUnsynced bool) *faultFS {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := maps(f.durable)
	if keepUnsynced {
		for _, op := range f.dirOps {
			if rng.IntN(2) == 0 {
				continue
			}
			switch {
			case op.ino == nil:
				delete(names, op.name)
			case op.from != "":
				delete(names, op.from)
				names[op.name] = op.ino
			default:
				names[op.name] = op.ino
			}
		}
	}
	img := newFaultFS(rng.Uint64())
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, n := range sorted {
		ino := names[n]
		data := slices.Clone(ino.synced)
		if keepUnsynced {
			data = applySome(rng, data, ino.pending)
		}
		img.names[n] = &inode{data: data, synced: slices.Clone(data)}
	}
	img.durable = maps(img.names)
	return img
}

const sector = 512

func applySome(rng *rand.Rand, data []byte, pending []pendOp) []byte {
	lastWrite := -1
	for i, op := range pending {
		if !op.trunc {
			lastWrite = i
		}
	}
	for i, op := range pending {
		if op.trunc {
			if rng.IntN(2) == 0 {
				data = truncate(data, op.off)
			}
			continue
		}
		for lo := int64(0); lo < int64(len(op.data)); {
			hi := min(int64(len(op.data)), (op.off+lo)/sector*sector+sector-op.off)
			if rng.IntN(2) == 0 {
				if i == lastWrite && rng.IntN(4) == 0 {
					hi = lo + rng.Int64N(hi-lo+1) // torn within the piece
				}
				data = writeAt(data, op.data[lo:hi], op.off+lo)
			}
			lo = max(hi, lo+1)
		}
	}
	return data
}

func writeAt(data, p []byte, off int64) []byte {
	if end := off + int64(len(p)); end > int64(len(data)) {
		data = append(data, make([]byte, end-int64(len(data)))...)
	}
	copy(data[off:], p)
	return data
}

func truncate(data []byte, size int64) []byte {
	if size <= int64(len(data)) {
		return data[:size]
	}
	return append(data, make([]byte, size-int64(len(data)))...)
}

// nameOf is the name h's file has now: it may have been renamed since h
// was opened.
func (f *faultFS) nameOf(h *faultFile) string {
	for name, ino := range f.names {
		if ino == h.ino {
			return name
		}
	}
	return h.name
}

type faultFile struct {
	fs   *faultFS
	ino  *inode
	name string
}

func (h *faultFile) ReadAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if off >= int64(len(h.ino.data)) {
		return 0, io.EOF
	}
	n := copy(p, h.ino.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (h *faultFile) WriteAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.fs.step(fmt.Sprintf("write@%d", off), h.fs.nameOf(h)); err != nil {
		if err == errCrash {
			// The crash came in the middle of the write.
			p = p[:h.fs.rng.IntN(len(p)+1)]
			h.write(p, off)
		}
		return 0, &fs.PathError{Op: "write", Path: h.name, Err: err}
	}
	h.write(p, off)
	return len(p), nil
}

func (h *faultFile) write(p []byte, off int64) {
	h.ino.data = writeAt(h.ino.data, p, off)
	h.ino.pending = append(h.ino.pending, pendOp{off: off, data: slices.Clone(p)})
}

func (h *faultFile) Sync() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.fs.skipSync {
		return nil
	}
	if err := h.fs.step("sync", h.fs.nameOf(h)); err != nil {
		if err == errCrash && h.fs.rng.IntN(2) == 0 {
			h.sync() // the data reached the disk before the machine died
		}
		return &fs.PathError{Op: "fdatasync", Path: h.name, Err: err}
	}
	h.sync()
	h.fs.fileSyncs++
	return nil
}

// crashAfter makes the machine crash at the at-th mutating operation from
// now; 0 means never.
func (f *faultFS) crashAfter(at int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.crashAt = 0
	if at > 0 {
		f.crashAt = f.ops + at
	}
}

// hasCrashed reports whether the machine has crashed.
func (f *faultFS) hasCrashed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.crashed
}

// syncCounts returns how many file Syncs and SyncDirs have succeeded.
func (f *faultFS) syncCounts() (files, dirs int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fileSyncs, f.dirSyncs
}

// unsynced returns how many bytes were written to files and not synced.
func (f *faultFS) unsynced() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, ino := range f.names {
		for _, op := range ino.pending {
			n += len(op.data)
		}
	}
	return n
}

func (h *faultFile) sync() {
	h.ino.synced = slices.Clone(h.ino.data)
	h.ino.pending = nil
}

func (h *faultFile) Truncate(size int64) error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.fs.step("truncate", h.fs.nameOf(h)); err != nil {
		return &fs.PathError{Op: "truncate", Path: h.name, Err: err}
	}
	h.ino.data = truncate(h.ino.data, size)
	h.ino.pending = append(h.ino.pending, pendOp{off: size, trunc: true})
	return nil
}

func (h *faultFile) Size() (int64, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	return int64(len(h.ino.data)), nil
}

func (h *faultFile) Close() error { return nil }
