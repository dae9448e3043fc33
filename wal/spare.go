package wal

import (
	"errors"
	"fmt"
	"strings"
	"sync"
)

// A Save into a file whose blocks are written already costs the device
// its data only; one that grows the file (or fills space fallocate only
// reserved) also costs a journal commit of the new size or extents. So
// the log rolls into segment files written ahead of need: spares, each
// written in full and synced by a goroutine off the commit path, or
// recycled from segments that compaction would have removed.
//
// A spare's name is NNNNNNNNNNNNNNNN.spare; while it is being written,
// NNNNNNNNNNNNNNNN.prep. Open removes both: a spare may hold frames of a
// segment whose roll a crash undid (the rename into place lost, the write
// kept), and reusing it for a segment of the same number could let them
// pass for frames of the new one.
const (
	prepSuffix  = ".prep"
	spareSuffix = ".spare"

	// wantSpares is how many spares the goroutine keeps ready; compaction
	// may recycle up to maxSpares.
	wantSpares = 1
	maxSpares  = 2

	// firstSpareSize is the size of the first spare prepared after Open,
	// doubled for each later one up to the segment size: a log that stays
	// small (a test, a node that has just started) writes little ahead,
	// and a busy one soon rolls into full segments.
	firstSpareSize = 512 << 10
	// prepChunk is the largest write that fills a spare, and how much is
	// written between syncs: see writeSpare.
	prepChunk = snapSyncEvery
)

// spares is the Log's state of its spare segment files, guarded by
// Log.mu.
type spares struct {
	ready     []*spareFile // oldest first
	spareSeq  uint64       // names the spare files
	spareSize int64        // size of the next spare to prepare
	preparing bool         // prepareSpare is writing one

	// With the OS file system, a goroutine prepares spares whenever wake
	// is signalled, until stop is closed. Published is closed (and
	// replaced) whenever a spare is made ready, for tests to wait on.
	wake, stop, published chan struct{}
	done                  sync.WaitGroup
}

// spareFile is a spare segment file, written and synced up to size, open.
type spareFile struct {
	name string // full path
	f    file
	size int64
}

var errStopped = errors.New("wal: log closed while a spare was prepared")

func spareName(n uint64, suffix string) string { return fmt.Sprintf("%016x%s", n, suffix) }

// startPreparing starts the goroutine that prepares spares in background,
// if background (the OS file system); either way prepareSpare works.
func (l *Log) startPreparing(background bool) {
	l.spareSize = min(firstSpareSize, l.opts.SegmentSize)
	l.stop, l.published = make(chan struct{}), make(chan struct{})
	if !background {
		return
	}
	l.wake = make(chan struct{}, 1)
	l.done.Add(1)
	go func() {
		defer l.done.Done()
		for {
			// Errors are not the commit path's: without a spare, a roll
			// creates its segment as it would have without spares, and a
			// disk that fails will fail that Save too.
			for {
				made, err := l.prepareSpare()
				if !made || err != nil {
					break
				}
			}
			select {
			case <-l.stop:
				return
			case <-l.wake:
			}
		}
	}()
	l.wakePreparer()
}

// wakePreparer asks the goroutine, if any, to prepare spares.
func (l *Log) wakePreparer() {
	if l.wake == nil {
		return
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *Log) stopPreparing() {
	if l.stop != nil {
		close(l.stop)
	}
	l.done.Wait()
}

// prepareSpare writes one spare if fewer than wantSpares are ready, and
// reports whether it did. It holds l.mu only to look and to publish, so
// Saves go on while it writes.
func (l *Log) prepareSpare() (bool, error) {
	l.mu.Lock()
	if l.closed || l.err != nil || l.preparing || len(l.ready) >= wantSpares {
		l.mu.Unlock()
		return false, nil
	}
	l.preparing = true
	l.spareSeq++
	n, size := l.spareSeq, l.spareSize
	l.mu.Unlock()

	sp, err := l.writeSpare(n, size)

	l.mu.Lock()
	defer l.mu.Unlock()
	l.preparing = false
	if err != nil {
		return false, storageErr(err)
	}
	if l.closed {
		sp.f.Close() // Open removes it
		return false, nil
	}
	l.ready = append(l.ready, sp)
	l.spareSize = min(2*l.spareSize, l.opts.SegmentSize)
	close(l.published)
	l.published = make(chan struct{})
	return true, nil
}

// zeroPiece is what every spare is written with, piece by piece: shared
// and never written to, so that preparing a spare allocates nothing (a
// buffer per spare was garbage the size of a piece, every roll).
var zeroPiece = make([]byte, prepChunk)

// writeSpare writes spare n of size bytes of zeros under its temporary
// name, syncs it, renames it and syncs the directory: once it is ready,
// rolling into it costs a rename and no change of the file's size or
// extents. A crash at any step leaves a file Open removes.
func (l *Log) writeSpare(n uint64, size int64) (*spareFile, error) {
	prep := join(l.dir, spareName(n, prepSuffix))
	f, err := l.fs.OpenFile(prep, true)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*spareFile, error) {
		f.Close()
		l.fs.Remove(prep) // best effort: Open removes it otherwise
		return nil, err
	}
	// Written all at once and synced at the end, a 64 MiB spare would
	// make the log's own fdatasyncs wait behind it, as a snapshot would
	// (BenchmarkInterference: 50-76x their p99): it goes in synced pieces,
	// no faster than SpareBytesPerSecond.
	pace := pacer{clock: l.opts.clock, rate: l.opts.SpareBytesPerSecond}
	for off := int64(0); off < size; off += prepChunk {
		select {
		case <-l.stop:
			return fail(errStopped)
		default:
		}
		start := l.opts.clock.Now()
		piece := zeroPiece[:min(prepChunk, size-off)]
		if _, err := f.WriteAt(piece, off); err != nil {
			return fail(err)
		}
		if err := f.Sync(); err != nil {
			return fail(err)
		}
		pace.wrote(start, len(piece))
	}
	name := join(l.dir, spareName(n, spareSuffix))
	if err := l.fs.Rename(prep, name); err != nil {
		return fail(err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		f.Close()
		return nil, err
	}
	return &spareFile{name: name, f: f, size: size}, nil
}

// takeSpare renames the oldest ready spare to segment name and returns it
// as that segment, or nil if no spare is ready. The rename is durable with
// the directory sync that follows the segment's first write.
func (l *Log) takeSpare(seq, first uint64, name string) (*segment, error) {
	if len(l.ready) == 0 {
		return nil, nil
	}
	sp := l.ready[0]
	l.ready = l.ready[1:]
	if err := l.fs.Rename(sp.name, name); err != nil {
		sp.f.Close()
		return nil, err
	}
	l.wakePreparer()
	return &segment{seq: seq, first: first, name: name, f: sp.f, room: sp.size, tagged: true}, nil
}

// recycle makes segment s, which compaction no longer needs, a spare
// instead of removing it, if it is worth it; it reports whether it did.
// Only a tagged segment is recycled: whatever it holds carries its own
// tag, which no later segment has. Like a removal, the rename is durable
// before the next segment goes.
func (l *Log) recycle(s *segment) (bool, error) {
	if !s.tagged || len(l.ready) >= maxSpares {
		return false, nil
	}
	size, err := s.f.Size()
	if err != nil {
		return false, err
	}
	if size < l.spareSize/2 || size > 2*l.opts.SegmentSize {
		// Too small to save more than it costs in rolls, or made large by
		// one huge Save: the goroutine writes a spare of the right size.
		return false, nil
	}
	l.spareSeq++
	name := join(l.dir, spareName(l.spareSeq, spareSuffix))
	if err := l.fs.Rename(s.name, name); err != nil {
		return false, err
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return false, err
	}
	l.dirSyncs.Add(1)
	l.ready = append(l.ready, &spareFile{name: name, f: s.f, size: size})
	return true, nil
}

// removeSpares removes the spare files Open found, and numbers the new
// ones after them. Their removal need not be durable: Open removes any
// that come back.
func (l *Log) removeSpares(names []string) error {
	for _, name := range names {
		var n uint64
		if _, err := fmt.Sscanf(strings.TrimSuffix(strings.TrimSuffix(name, prepSuffix), spareSuffix), "%016x", &n); err == nil {
			l.spareSeq = max(l.spareSeq, n)
		}
		if err := l.fs.Remove(join(l.dir, name)); err != nil {
			return storageErr(err)
		}
	}
	return nil
}
