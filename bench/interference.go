package bench

import (
	"errors"
	"os"
	"time"
)

// Interference is the floor of a commit while a large file is written: the
// p99 of the small appends each followed by an fdatasync that a WAL does,
// alone and while another file of the same disk is written and synced, as
// a snapshot being taken or received is.
type Interference struct {
	Alone, During time.Duration // p99 of a 128-byte append and fdatasync
	Write         time.Duration // writing and syncing the large file
	DuringSamples int           // syncs while it was written
}

// MeasureInterference measures Interference with files in dir, a large
// file of size bytes written as a snapshot sink without pacing would (one
// fdatasync at the end), and samples syncs alone.
func MeasureInterference(dir string, size int64, samples int) (Interference, error) {
	return MeasureInterferenceOf(dir, size, samples, WriteOnce)
}

// LargeWrite writes a large file of size bytes in dir, syncs it and
// removes it: one of the ways a snapshot could reach the disk.
type LargeWrite func(dir string, size int64) error

// MeasureInterferenceOf is MeasureInterference with the large file
// written by large.
func MeasureInterferenceOf(dir string, size int64, samples int, large LargeWrite) (Interference, error) {
	small, err := os.CreateTemp(dir, "floor-*")
	if err != nil {
		return Interference{}, err
	}
	defer os.Remove(small.Name())
	defer small.Close()
	buf := make([]byte, 128)
	// sync appends to small and syncs it until stop is closed, or n times.
	sync := func(n int, stop <-chan struct{}) ([]time.Duration, error) {
		var took []time.Duration
		for n < 0 || len(took) < n {
			select {
			case <-stop:
				return took, nil
			default:
			}
			t0 := time.Now()
			if _, err := small.Write(buf); err != nil {
				return nil, err
			}
			if err := fdatasync(small); err != nil {
				return nil, err
			}
			took = append(took, time.Since(t0))
		}
		return took, nil
	}
	alone, err := sync(samples, nil)
	if err != nil {
		return Interference{}, err
	}
	type result struct {
		took []time.Duration
		err  error
	}
	stop, done := make(chan struct{}), make(chan result, 1)
	go func() {
		took, err := sync(-1, stop)
		done <- result{took, err}
	}()
	t0 := time.Now()
	werr := large(dir, size)
	write := time.Since(t0)
	close(stop)
	during := <-done
	if err := errors.Join(werr, during.err); err != nil {
		return Interference{}, err
	}
	if len(during.took) == 0 {
		during.took = []time.Duration{write} // one sync, waiting the whole write
	}
	return Interference{Alone: summarize(alone, 0, 0).P99, During: summarize(during.took, 0, 0).P99,
		Write: write, DuringSamples: len(during.took)}, nil
}

// WriteOnce writes the file whole and then syncs it once.
func WriteOnce(dir string, size int64) error {
	return writeLarge(dir, size, 0, func(*os.File, int64, int64) error { return nil })
}

// WriteSyncEvery syncs the file after every piece bytes and, if
// perSecond is not 0, waits after each sync until the average rate is down
// to perSecond.
func WriteSyncEvery(piece, perSecond int64) LargeWrite {
	return func(dir string, size int64) error {
		t0 := time.Now()
		return writeLarge(dir, size, piece, func(f *os.File, off, n int64) error {
			if err := fdatasync(f); err != nil {
				return err
			}
			if perSecond > 0 {
				time.Sleep(time.Until(t0.Add(time.Duration(float64(off+n) / float64(perSecond) * float64(time.Second)))))
			}
			return nil
		})
	}
}

// writeLarge writes a file of size bytes in dir, calling written after
// each piece bytes (with the piece's offset and length), then syncs it and
// removes it.
func writeLarge(dir string, size, piece int64, written func(f *os.File, off, n int64) error) error {
	f, err := os.CreateTemp(dir, "floor-large-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	var off, from int64
	for off < size {
		k := min(size-off, int64(len(padBlock)))
		if _, err := f.Write(padBlock[:k]); err != nil {
			return errors.Join(err, f.Close())
		}
		off += k
		if piece > 0 && (off-from >= piece || off == size) {
			if err := written(f, from, off-from); err != nil {
				return errors.Join(err, f.Close())
			}
			from = off
		}
	}
	return errors.Join(fdatasync(f), f.Close())
}
