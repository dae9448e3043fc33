package bench

import (
	"fmt"
	"os"
	"time"
)

// Floor is the machine's own speed, measured in the same run as the cluster.
type Floor struct {
	// A Save writes a block and waits for fdatasync; what that costs
	// depends on whether the file's size and extents change with it, so
	// the floor measures the three ways a log can write: appending, into
	// space reserved with fallocate, and overwriting blocks written before.
	Append, Fallocate, Overwrite SyncFloor
	LoopbackRTT                  time.Duration // p50 of a 128-byte TCP echo on 127.0.0.1
	FsyncSamples                 int
}

// SyncFloor is the cost of a 4 KiB write followed by fdatasync.
type SyncFloor struct {
	Alone time.Duration // p50 of one at a time on one file
	// Quorum is the p50 of the second of three started at once on three
	// files: what a commit of three nodes sharing one disk waits for,
	// since the disk serves the nodes' syncs in turn and the leader needs
	// one follower besides itself.
	Quorum time.Duration
}

// Commit is what a durable commit cannot beat when the log writes this
// way: a quorum's syncs and a round trip.
func (s SyncFloor) Commit(rtt time.Duration) time.Duration { return s.Quorum + rtt }

// String is the floor as the benchmarks log it.
func (s SyncFloor) String() string {
	return fmt.Sprintf("p50 %v, quorum %v", s.Alone, s.Quorum)
}

// String is the floor as the benchmarks log it.
func (f Floor) String() string {
	return fmt.Sprintf("4 KiB write+fdatasync: append %v; fallocate %v; overwrite %v; loopback tcp rtt p50 %v",
		f.Append, f.Fallocate, f.Overwrite, f.LoopbackRTT)
}

// floorBlock is the write each floor sample makes: a page, as a Save of a
// few small entries rounds up to on the device.
const floorBlock = 4 << 10

// MeasureFloor measures the floor with files in dir. The three ways of
// writing take turns sample by sample, so that a disturbance from another
// process lands on all of them alike and their ratios hold.
func MeasureFloor(dir string, samples int) (Floor, error) {
	f := Floor{FsyncSamples: samples}
	alone, err := syncFloors(dir, samples, 1)
	if err != nil {
		return f, err
	}
	quorum, err := syncFloors(dir, samples, 3)
	if err != nil {
		return f, err
	}
	f.Append = SyncFloor{Alone: alone[writeAppend], Quorum: quorum[writeAppend]}
	f.Fallocate = SyncFloor{Alone: alone[writeFallocate], Quorum: quorum[writeFallocate]}
	f.Overwrite = SyncFloor{Alone: alone[writeOverwrite], Quorum: quorum[writeOverwrite]}
	f.LoopbackRTT, err = loopbackRTT(samples)
	return f, err
}

// writeMode is how a floor file is prepared before it is written to.
type writeMode int

const (
	writeAppend    writeMode = iota // empty: every write grows the file
	writeFallocate                  // reserved with fallocate: extents turn written
	writeOverwrite                  // written and synced before: nothing but data changes
	writeModes
)

// syncFloors measures, for each writeMode, the p50 of the time until the
// second of nodes concurrent write+fdatasyncs (the only one if nodes is 1)
// returned, each on a file of its own.
func syncFloors(dir string, samples, nodes int) ([writeModes]time.Duration, error) {
	return syncFloorsOf(dir, samples, nodes, writeAppend, writeFallocate, writeOverwrite)
}

// syncFloorsOf is syncFloors for the given modes only; the others are 0.
func syncFloorsOf(dir string, samples, nodes int, modes ...writeMode) ([writeModes]time.Duration, error) {
	var out [writeModes]time.Duration
	var files [writeModes][]*os.File
	defer func() {
		for _, fs := range files {
			for _, f := range fs {
				f.Close()
				os.Remove(f.Name())
			}
		}
	}()
	size := int64(samples) * floorBlock
	for _, m := range modes {
		for range nodes {
			f, err := os.CreateTemp(dir, "floor-*")
			if err != nil {
				return out, err
			}
			files[m] = append(files[m], f)
			if err := prepareFloorFile(f, m, size); err != nil {
				return out, err
			}
		}
	}
	buf := make([]byte, floorBlock)
	var took [writeModes][]time.Duration
	for i := range samples {
		off := int64(i) * floorBlock
		for _, m := range modes {
			d, err := concurrentSyncs(files[m], buf, off)
			if err != nil {
				return out, err
			}
			took[m] = append(took[m], d)
		}
	}
	for _, m := range modes {
		out[m] = median(took[m])
	}
	return out, nil
}

func prepareFloorFile(f *os.File, m writeMode, size int64) error {
	switch m {
	case writeFallocate:
		if err := fallocate(f, size); err != nil {
			return err
		}
	case writeOverwrite:
		zeros := make([]byte, 1<<20)
		for off := int64(0); off < size; off += int64(len(zeros)) {
			if _, err := f.WriteAt(zeros[:min(int64(len(zeros)), size-off)], off); err != nil {
				return err
			}
		}
	default:
		return nil
	}
	return fdatasync(f)
}

// concurrentSyncs writes buf at off in every file at once, each followed
// by fdatasync, and returns when a majority of them finished: the second
// of three, the first of one.
func concurrentSyncs(files []*os.File, buf []byte, off int64) (time.Duration, error) {
	done := make(chan error, len(files))
	t0 := time.Now()
	for _, f := range files {
		go func() {
			_, err := f.WriteAt(buf, off)
			if err == nil {
				err = fdatasync(f)
			}
			done <- err
		}()
	}
	var took []time.Duration
	for range files {
		if err := <-done; err != nil {
			return 0, err
		}
		took = append(took, time.Since(t0))
	}
	return took[len(took)/2], nil
}

// QuorumFsync is the p50 of the time until a majority of nodes concurrent
// 4 KiB overwrites and fdatasyncs, one per file in dir, returned: what a
// commit of that many nodes sharing one disk waits for when their logs
// overwrite prepared segments, as the WAL's do.
func QuorumFsync(dir string, nodes, samples int) (time.Duration, error) {
	floors, err := syncFloorsOf(dir, samples, nodes, writeOverwrite)
	return floors[writeOverwrite], err
}
