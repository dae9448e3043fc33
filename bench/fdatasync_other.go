//go:build !linux

package bench

import "os"

func fdatasync(f *os.File) error { return f.Sync() }

// fallocate only sets the size where there is no fallocate: the fallocate
// floor is then that of a sparse file.
func fallocate(f *os.File, size int64) error { return f.Truncate(size) }
