package wal

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftlite/raftlite"
)

// DefaultSegmentSize is the size at which the log starts a new segment.
const DefaultSegmentSize = 64 << 20

// Errors returned by the log, to be compared with errors.Is. Failures of
// the disk wrap raftlite.ErrStorage and damaged files wrap
// raftlite.ErrCorrupt.
var (
	// ErrLocked: another Log has the directory open.
	ErrLocked = errors.New("wal: directory is locked by another Log")
	// ErrClosed: the Log was closed.
	ErrClosed = errors.New("wal: log closed")
	// ErrUnavailable: the entries asked for are not in the log.
	ErrUnavailable = errors.New("wal: entries not in the log")
	// ErrNotCovered: Compact was asked to remove entries that the latest
	// snapshot does not cover, or a snapshot would not reach the log.
	ErrNotCovered = errors.New("wal: no snapshot covers the entries")

	// errCompacted: the entries asked for were removed by Compact or
	// DiscardLog.
	errCompacted = fmt.Errorf("%w: compacted", ErrUnavailable)
)

// Options configure a Log. The zero value gives the defaults.
type Options struct {
	// SegmentSize is the most a segment file holds: a Save that does not
	// fit in the rest of the current segment starts a new one (unless it
	// is the first Save of its segment: a Save larger than a segment gets
	// a segment of its own). Segments are prepared ahead of need at up to
	// this size. Zero means DefaultSegmentSize.
	SegmentSize int64

	// SnapshotBytesPerSecond caps how fast a snapshot sink writes, the
	// application's and one received from a leader alike, so that the
	// log's own fdatasyncs find the disk idle often enough (storing
	// 100 MB then takes at least 0.8 s). Zero means
	// DefaultSnapshotBytesPerSecond, a negative value no cap.
	SnapshotBytesPerSecond int64

	// SpareBytesPerSecond caps how fast spare segments are written ahead
	// of need. A spare is never urgent: a log that outruns its spares
	// rolls into a segment that grows as it is written, as it would
	// without them. Zero means DefaultSpareBytesPerSecond, a negative
	// value no cap.
	SpareBytesPerSecond int64

	// fs: tests inject faults here; nil means the OS. On any other file
	// system no goroutine prepares spare segments: the tests call
	// prepareSpare themselves, so that every run of a seed makes the same
	// operations in the same order.
	fs    fileSystem
	clock clock // tests fake the pacing's time here; nil means the real one
}

// clock is the time a snapshot sink paces its writes by.
type clock interface {
	Now() time.Time
	Sleep(time.Duration)
}

type realClock struct{}

func (realClock) Now() time.Time        { return time.Now() }
func (realClock) Sleep(d time.Duration) { time.Sleep(d) }

// pacer keeps synced pieces of a long write (a snapshot, a spare) to at
// most rate bytes a second, so that the log's own fdatasyncs find the
// disk idle often enough. A rate of zero or less is no cap.
type pacer struct {
	clock clock
	rate  int64
	due   time.Time // when the rate cap lets the next piece start
}

// wrote sleeps, after a piece of n bytes begun at start, until the cap
// lets the next one begin. Time spent idle before does not count: a write
// made in bursts (a follower's sink, chunk by chunk) gets no credit for
// the gaps between them.
func (p *pacer) wrote(start time.Time, n int) {
	if p.rate <= 0 {
		return
	}
	if p.due.Before(start) {
		p.due = start
	}
	p.due = p.due.Add(time.Duration(n) * time.Second / time.Duration(p.rate))
	p.clock.Sleep(p.due.Sub(p.clock.Now()))
}

// DefaultSnapshotBytesPerSecond is the default of
// Options.SnapshotBytesPerSecond.
const DefaultSnapshotBytesPerSecond = 128 << 20

// DefaultSpareBytesPerSecond is the default of Options.SpareBytesPerSecond.
// Written at the snapshot rate, spares stalled every commit for 5 to 18 ms
// about every 100 ms while a busy new log prepared them (64 clients on
// tcp: p99 7.8 ms against p50 1.4 ms); at 16 MiB/s those stalls are gone,
// and a 64 MiB segment is ready 4 s after the last.
const DefaultSpareBytesPerSecond = 16 << 20

// Log is a durable raftlite.Persister backed by segment files in one
// directory. It is safe for concurrent use.
type Log struct {
	dir  string
	fs   fileSystem
	opts Options

	syncs    atomic.Int64
	dirSyncs atomic.Int64

	mu     sync.Mutex
	lock   io.Closer
	segs   []*segment // ordered by seq, without gaps; the last one is appended to
	hs     raftlite.HardState
	first  uint64     // index of pos[0]; first-1 is the last index when pos is empty
	pos    []entryPos // where the live entries first, first+1, ... are
	err    error      // set when a write failed: the tail of the log is unknown
	closed bool

	buf    []byte     // reused encoding buffer
	newPos []entryPos // reused positions of the entries being saved

	snaps   []snapshotFile // kept snapshots, oldest first: the last is the latest
	snapSeq uint64         // the number of the latest snapshot's file
	tmpSeq  atomic.Uint64  // names the temporary files of snapshot sinks

	spares
}

// segment is one open segment file.
type segment struct {
	seq   uint64
	first uint64 // the next index when the segment was created
	name  string // full path
	f     file
	size  int64 // where its data ends: the next frame goes there
	// room is how far the file was written before the segment's first
	// Save (a prepared or recycled file): Saves up to there overwrite.
	// 0: the file grows as Saves append (created when no spare was
	// ready, or by an older version).
	room    int64
	tagged  bool // version 4: its frames carry its tag
	saves   bool // it holds a Save after its header
	restart bool // written by DiscardLog: the log restarts at first

	fileSize int64 // recovery: the file's size when opened
}

// entryPos locates the encoding of one entry (after its length prefix).
type entryPos struct {
	off int64
	n   uint32
	seq uint32
}

var (
	_ raftlite.Persister   = (*Log)(nil)
	_ raftlite.EntryReader = (*Log)(nil)
)

// Open opens the log in dir, creating the directory if needed, and recovers
// it: a record torn by a crash at the end of the last segment is cut off,
// and what a crash left of an unfinished snapshot or DiscardLog is
// removed; any other damage makes Open fail with an error wrapping
// raftlite.ErrCorrupt that names the file (and offset). Open reads the
// latest snapshot's data once to check it. Only one Log may have a
// directory open at a time; another Open fails with ErrLocked.
func Open(dir string, opts Options) (*Log, error) {
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	if opts.SnapshotBytesPerSecond == 0 {
		opts.SnapshotBytesPerSecond = DefaultSnapshotBytesPerSecond
	}
	if opts.SpareBytesPerSecond == 0 {
		opts.SpareBytesPerSecond = DefaultSpareBytesPerSecond
	}
	if opts.fs == nil {
		opts.fs = osFS{}
	}
	if opts.clock == nil {
		opts.clock = realClock{}
	}
	l := &Log{dir: dir, fs: opts.fs, opts: opts, first: 1}
	// Syncing the parent makes a directory MkdirAll just created durable;
	// otherwise it costs one cheap fsync per Open.
	if err := l.fs.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("wal: %w: %w", raftlite.ErrStorage, err)
	}
	if err := l.fs.SyncDir(filepath.Dir(dir)); err != nil {
		return nil, fmt.Errorf("wal: %w: %w", raftlite.ErrStorage, err)
	}
	lock, err := l.fs.Lock(join(dir, "LOCK"))
	if err != nil {
		if errors.Is(err, ErrLocked) {
			return nil, err
		}
		return nil, fmt.Errorf("wal: %w: %w", raftlite.ErrStorage, err)
	}
	l.lock = lock
	if err := l.recover(); err != nil {
		l.closeFiles()
		return nil, err
	}
	l.startPreparing(opts.fs == (osFS{}))
	return l, nil
}

// Load implements raftlite.Persister. It reads the entries back from disk,
// from FirstIndex on.
func (l *Log) Load() (raftlite.HardState, []raftlite.Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return raftlite.HardState{}, nil, ErrClosed
	}
	es, err := l.read(0, len(l.pos), 0)
	return l.hs, es, err
}

// Entries returns the entries with indices in [lo, hi), stopping early once
// their encoded size exceeds maxBytes (but returning at least one entry);
// maxBytes <= 0 means no limit. It fails with an error wrapping
// ErrUnavailable unless FirstIndex <= lo <= hi <= LastIndex+1.
func (l *Log) Entries(lo, hi uint64, maxBytes int) ([]raftlite.Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return nil, ErrClosed
	case lo < l.first:
		err := ErrUnavailable // index 0 is never an entry
		if lo > 0 {
			err = errCompacted
		}
		return nil, fmt.Errorf("%w: asked from %d, log starts at %d", err, lo, l.first)
	case hi > l.lastIndex()+1 || lo > hi:
		return nil, fmt.Errorf("%w: asked for [%d, %d), log ends at %d", ErrUnavailable, lo, hi, l.lastIndex())
	}
	return l.read(int(lo-l.first), int(hi-l.first), maxBytes)
}

// LoadState implements raftlite.EntryReader: the HardState and the range
// of saved indices, without reading entries.
func (l *Log) LoadState() (raftlite.HardState, uint64, uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return raftlite.HardState{}, 0, 0, ErrClosed
	}
	return l.hs, l.first, l.lastIndex(), nil
}

// FirstIndex is the index of the first entry Load returns: 1 until
// Compact removed segments or DiscardLog restarted the log.
func (l *Log) FirstIndex() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first
}

// LastIndex is the index of the last saved entry, FirstIndex-1 if none.
func (l *Log) LastIndex() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastIndex()
}

func (l *Log) lastIndex() uint64 { return l.first + uint64(len(l.pos)) - 1 }

// Syncs reports how many fdatasyncs of a segment have succeeded: one per
// Save that had something to save, and one when Open cuts a torn tail off
// a segment of an older version. The syncs of spares prepared in the
// background are not counted.
func (l *Log) Syncs() int64 { return l.syncs.Load() }

// DirSyncs reports how many fsyncs of the directory have succeeded: one per
// segment started, removed or recycled, and one per snapshot stored (those
// of spares prepared in the background are not counted).
func (l *Log) DirSyncs() int64 { return l.dirSyncs.Load() }

// Close implements raftlite.Persister. It waits for the spare segment
// being prepared, if any, to stop.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	l.stopPreparing()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closeFiles()
}

func (l *Log) closeFiles() error {
	var errs []error
	for _, s := range l.segs {
		errs = append(errs, s.f.Close())
	}
	l.segs = nil
	for _, sp := range l.ready {
		errs = append(errs, sp.f.Close())
	}
	l.ready = nil
	if l.lock != nil {
		errs = append(errs, l.lock.Close())
		l.lock = nil
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("wal: %w: %w", raftlite.ErrStorage, err)
	}
	return nil
}

func (l *Log) active() *segment {
	if len(l.segs) == 0 {
		return nil
	}
	return l.segs[len(l.segs)-1]
}

func (l *Log) segment(seq uint32) *segment { return l.segs[uint64(seq)-l.segs[0].seq] }

func segmentName(seq, first uint64) string { return fmt.Sprintf("%016x-%016x.wal", seq, first) }

func storageErr(err error) error { return fmt.Errorf("wal: %w: %w", raftlite.ErrStorage, err) }

func corruptf(format string, args ...any) error {
	return fmt.Errorf("wal: %w: "+format, append([]any{raftlite.ErrCorrupt}, args...)...)
}
