package bench

import (
	"os"
	"syscall"
)

func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }

// fallocate reserves size bytes for f (and sets its size), without writing
// them: the extents stay unwritten until data lands in them.
func fallocate(f *os.File, size int64) error { return syscall.Fallocate(int(f.Fd()), 0, 0, size) }
