package bench

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// WriteBehind starts the writeback of each piece as soon as it is written
// (sync_file_range SYNC_FILE_RANGE_WRITE), and, with wait, waits for the
// piece before it to reach the disk and drops it from the page cache, so
// that no more than two pieces are ever dirty or in flight. perSecond, if
// not 0, caps the rate at which pieces are written.
func WriteBehind(piece int64, wait bool, perSecond int64) LargeWrite {
	return func(dir string, size int64) error {
		var prevOff, prevN int64
		t0 := time.Now()
		return writeLarge(dir, size, piece, func(f *os.File, off, n int64) error {
			fd := int(f.Fd())
			if err := unix.SyncFileRange(fd, off, n, unix.SYNC_FILE_RANGE_WRITE); err != nil {
				return err
			}
			if wait && prevN > 0 {
				const all = unix.SYNC_FILE_RANGE_WAIT_BEFORE | unix.SYNC_FILE_RANGE_WRITE | unix.SYNC_FILE_RANGE_WAIT_AFTER
				if err := unix.SyncFileRange(fd, prevOff, prevN, all); err != nil {
					return err
				}
				if err := unix.Fadvise(fd, prevOff, prevN, unix.FADV_DONTNEED); err != nil {
					return err
				}
			}
			prevOff, prevN = off, n
			if perSecond > 0 {
				due := t0.Add(time.Duration(float64(off+n) / float64(perSecond) * float64(time.Second)))
				time.Sleep(time.Until(due))
			}
			return nil
		})
	}
}
