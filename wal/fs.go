package wal

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// fileSystem is the little the log needs from the operating system. Tests
// replace it with a fault-injecting one that can lose unsynced writes.
type fileSystem interface {
	// OpenFile opens or creates a segment or snapshot file for reading
	// and writing.
	OpenFile(name string, create bool) (file, error)
	Remove(name string) error
	// Rename atomically gives the file oldName the name newName, which
	// does not exist; like creations and removals, it is durable once
	// SyncDir returns.
	Rename(oldName, newName string) error
	// ReadDir returns the names of the entries of dir, sorted.
	ReadDir(dir string) ([]string, error)
	MkdirAll(dir string) error
	// SyncDir makes file creations and removals in dir durable.
	SyncDir(dir string) error
	// Lock takes an exclusive lock on the file name, failing with ErrLocked
	// if someone holds it.
	Lock(name string) (io.Closer, error)
}

// file is an open segment or snapshot file. Writes go through WriteAt at offsets the log
// tracks itself, so that no file position is shared state.
type file interface {
	io.ReaderAt
	io.WriterAt
	// Sync makes written data and the file size durable (fdatasync).
	Sync() error
	Truncate(size int64) error
	Size() (int64, error)
	Close() error
}

// osFS is the fileSystem of the operating system.
type osFS struct{}

func (osFS) OpenFile(name string, create bool) (file, error) {
	flag := os.O_RDWR
	if create {
		flag |= os.O_CREATE | os.O_EXCL
	}
	f, err := os.OpenFile(name, flag, 0o644)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Remove(name string) error { return os.Remove(name) }

func (osFS) Rename(oldName, newName string) error { return os.Rename(oldName, newName) }

func (osFS) ReadDir(dir string) ([]string, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(des))
	for i, de := range des {
		names[i] = de.Name()
	}
	sort.Strings(names)
	return names, nil
}

func (osFS) MkdirAll(dir string) error { return os.MkdirAll(dir, 0o755) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func (osFS) Lock(name string) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil // closing the file releases the lock
}

type osFile struct{ *os.File }

func (f osFile) Sync() error { return fdatasync(f.File) }

func (f osFile) Size() (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

var errNotSupported = errors.New("not supported on this platform")

func join(dir, name string) string { return filepath.Join(dir, name) }
