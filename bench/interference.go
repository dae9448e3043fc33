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
// file of size bytes, and samples syncs alone.
func MeasureInterference(dir string, size int64, samples int) (Interference, error) {
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
	werr := writeSynced(dir, size)
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

// writeSynced writes a file of size bytes in dir, as a snapshot sink
// would, syncs it and removes it.
func writeSynced(dir string, size int64) error {
	f, err := os.CreateTemp(dir, "floor-large-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	for left := size; left > 0; {
		k := min(left, int64(len(padBlock)))
		if _, err := f.Write(padBlock[:k]); err != nil {
			return errors.Join(err, f.Close())
		}
		left -= k
	}
	return errors.Join(fdatasync(f), f.Close())
}
