package wal

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"

	"github.com/raftlite/raftlite"
)

// Snapshots are files next to the segments (see snapfile.go and
// FORMAT.md). A sink writes a temporary file, which Close syncs and then
// renames to its final name, syncing the directory: a crash leaves either
// the previous snapshot or the new one, complete, never a part of one.

// keepSnapshots is how many snapshots the directory keeps: the latest
// and the one before it, for readers still on it where the platform cannot
// remove an open file.
const keepSnapshots = 2

// snapshotFile is a snapshot stored under its final name.
type snapshotFile struct {
	seq, index uint64
	name       string // full path
}

var errSinkDone = errors.New("wal: snapshot sink already closed or aborted")

// CreateSnapshot implements raftlite.Persister. The sink writes the data
// to a temporary file through one buffer, so a snapshot of any size costs
// a fixed amount of memory; Close makes it durable and the latest.
func (l *Log) CreateSnapshot(meta raftlite.SnapshotMeta) (raftlite.SnapshotSink, error) {
	header, err := encodeSnapshotHeader(&meta)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	err = l.usable()
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	name := join(l.dir, tmpSnapshotName(l.tmpSeq.Add(1)))
	f, err := l.fs.OpenFile(name, true)
	if err != nil {
		return nil, storageErr(err)
	}
	buf := make([]byte, 0, max(snapBufLen, len(header)))
	return &snapshotSink{l: l, f: f, tmp: name, index: meta.Index, buf: append(buf, header...),
		pace: pacer{clock: l.opts.clock, rate: l.opts.SnapshotBytesPerSecond}}, nil
}

// snapshotSink writes a snapshot to its temporary file. It is used from
// one goroutine, as an io.Writer is.
type snapshotSink struct {
	l     *Log
	f     file
	tmp   string // full path of the temporary file
	index uint64

	buf     []byte // bytes not yet written, the header first
	off     int64  // bytes of the file written
	synced  int64  // bytes of the file synced
	pace    pacer
	dataLen uint64
	crc     uint32 // of the data so far
	err     error  // the first failure: the sink is dead
	done    bool   // closed or aborted
}

func (s *snapshotSink) Write(p []byte) (int, error) {
	switch {
	case s.done:
		return 0, errSinkDone
	case s.err != nil:
		return 0, s.err
	}
	s.crc = crc32.Update(s.crc, castagnoli, p)
	s.dataLen += uint64(len(p))
	if len(s.buf)+len(p) > cap(s.buf) {
		if err := s.flush(); err != nil {
			return 0, err
		}
		if len(p) >= cap(s.buf) {
			// Large writes go straight to the file rather than
			// through the buffer.
			if err := s.writeOut(p); err != nil {
				return 0, err
			}
			return len(p), nil
		}
	}
	s.buf = append(s.buf, p...)
	return len(p), nil
}

func (s *snapshotSink) flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	err := s.writeOut(s.buf)
	s.buf = s.buf[:0]
	return err
}

// writeOut writes p in pieces of snapSyncEvery bytes, each synced before
// the next and, with a rate cap, taking at least its share of the time.
// Left for Close, a large snapshot's dirty pages would reach the disk all
// at once, and the log's own fdatasyncs (each a flush of the disk's
// cache) would wait behind them: a little at a time, with the disk idle
// in between, keeps commits flowing.
func (s *snapshotSink) writeOut(p []byte) error {
	for len(p) > 0 {
		n := min(len(p), snapSyncEvery-int(s.off-s.synced))
		start := s.l.opts.clock.Now()
		if _, err := s.f.WriteAt(p[:n], s.off); err != nil {
			s.err = storageErr(err)
			return s.err
		}
		s.off += int64(n)
		p = p[n:]
		if s.off-s.synced < int64(snapSyncEvery) {
			continue
		}
		if err := s.f.Sync(); err != nil {
			s.err = storageErr(err)
			return s.err
		}
		s.synced = s.off
		s.pace.wrote(start, snapSyncEvery)
	}
	return nil
}

// snapSyncEvery is how much snapshot data a sink writes between syncs.
// BenchmarkInterference measured a 100 MB file's effect on the p99 of a
// small append and fdatasync: 55-76x with one sync at the end, 2.7-3.6x
// with one every 1 MiB, 1.5-1.8x every 256 KiB, 1.0-1.7x every 256 KiB at
// 128 MiB/s.
const snapSyncEvery = 256 << 10

// Close writes the trailer, syncs the file, and renames it to its final
// name with the directory synced: from then on it is the latest snapshot,
// and older ones but the one before are removed. On an error nothing is
// stored, except that a failure to sync the directory after the rename
// leaves it unknown whether a crash keeps the snapshot, as a crash in the
// middle of Close would.
func (s *snapshotSink) Close() error {
	if s.done {
		return errSinkDone
	}
	s.done = true
	err := s.err
	if err == nil {
		s.buf = append(s.buf, encodeSnapshotTrailer(s.dataLen, s.crc)...)
		err = s.flush()
	}
	if err == nil {
		if serr := s.f.Sync(); serr != nil {
			err = storageErr(serr)
		}
	}
	if cerr := s.f.Close(); err == nil && cerr != nil {
		err = storageErr(cerr)
	}
	s.buf = nil
	if err == nil {
		err = s.l.installSnapshot(s.tmp, s.index)
	}
	if err != nil {
		_ = s.l.fs.Remove(s.tmp) // Open removes it if this fails
		return err
	}
	return nil
}

// Abort removes the temporary file; it is a no-op after Close.
func (s *snapshotSink) Abort() error {
	if s.done {
		return nil
	}
	s.done = true
	s.buf = nil
	s.f.Close()
	if err := s.l.fs.Remove(s.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return storageErr(err) // Open removes it
	}
	return nil
}

// installSnapshot gives the synced temporary file tmp its final name,
// making it the latest snapshot, and removes the snapshots it replaces.
// They are removed after the lock is released: removing a file of 100 MB
// took ext4 40-75 ms (BenchmarkSnapshotLoad), a wait every Save would
// share if it held the lock.
func (l *Log) installSnapshot(tmp string, index uint64) error {
	superseded, old, err := l.renameSnapshot(tmp, index)
	if superseded {
		if err := l.fs.Remove(tmp); err != nil {
			return storageErr(err)
		}
	}
	// No directory sync: Open removes any that come back, or that a
	// failure left (as where an open file cannot be removed).
	for _, name := range old {
		_ = l.fs.Remove(name)
	}
	return err
}

// renameSnapshot does installSnapshot's part under the lock: it returns
// whether tmp is superseded by a snapshot of a later index stored
// meanwhile (tmp is then for the caller to remove), or else the files of
// the snapshots that the new one leaves out of the latest keepSnapshots.
func (l *Log) renameSnapshot(tmp string, index uint64) (superseded bool, old []string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return false, nil, err
	}
	if need := l.coverNeeded(); index < need {
		// Open would find entries missing between the snapshot and the
		// log, and refuse the directory.
		return false, nil, fmt.Errorf("%w: a snapshot at index %d does not reach the log, which starts at %d",
			ErrNotCovered, index, need+1)
	}
	if latest, ok := l.latestSnapshot(); ok && index <= latest.index {
		// A later snapshot was stored while this one was written (the
		// application's, say, while one from the leader was installed):
		// the latest is the one with the highest index, so this one goes.
		return true, nil, nil
	}
	seq := l.snapSeq + 1
	name := join(l.dir, snapshotName(seq, index))
	if err := l.fs.Rename(tmp, name); err != nil {
		return false, nil, storageErr(err)
	}
	l.snapSeq = seq // even if what follows fails: the name may exist
	if err := l.fs.SyncDir(l.dir); err != nil {
		_ = l.fs.Remove(name)
		return false, nil, storageErr(err)
	}
	l.dirSyncs.Add(1)
	l.snaps = append(l.snaps, snapshotFile{seq: seq, index: index, name: name})
	for len(l.snaps) > keepSnapshots {
		old = append(old, l.snaps[0].name)
		l.snaps = l.snaps[1:]
	}
	return false, old, nil
}

// latestSnapshot returns the latest snapshot, if any.
func (l *Log) latestSnapshot() (snapshotFile, bool) {
	if len(l.snaps) == 0 {
		return snapshotFile{}, false
	}
	return l.snaps[len(l.snaps)-1], true
}

// OpenSnapshot implements raftlite.Persister. It checks the snapshot's
// metadata; the reader checks the data against its CRC as it goes and
// fails with an error wrapping raftlite.ErrCorrupt at the end if they
// differ. The reader holds the file open, so it stays valid while newer
// snapshots replace it.
func (l *Log) OpenSnapshot() (raftlite.SnapshotMeta, io.ReadCloser, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return raftlite.SnapshotMeta{}, nil, ErrClosed
	}
	snap, ok := l.latestSnapshot()
	if !ok {
		l.mu.Unlock()
		return raftlite.SnapshotMeta{}, nil, raftlite.ErrNoSnapshot
	}
	// Opened under the lock, so that no newer snapshot removes it first.
	f, err := l.fs.OpenFile(snap.name, false)
	l.mu.Unlock()
	if err != nil {
		return raftlite.SnapshotMeta{}, nil, storageErr(err)
	}
	lay, err := checkSnapshotFile(f, snap, false)
	if err != nil {
		f.Close()
		return raftlite.SnapshotMeta{}, nil, err
	}
	return lay.meta, &snapshotReader{f: f, name: snap.name, off: lay.dataOff, end: lay.dataOff + lay.dataLen, want: lay.dataCRC}, nil
}

// checkSnapshotFile reads the layout of snap, open as f, and with
// withData its data too, and checks them: damage is reported as
// raftlite.ErrCorrupt naming the file.
func checkSnapshotFile(f file, snap snapshotFile, withData bool) (snapshotLayout, error) {
	lay, err := readSnapshotLayout(f)
	if err == nil && withData {
		err = checkSnapshotData(f, lay)
	}
	switch {
	case errors.Is(err, errSnapshotDamaged):
		return lay, corruptf("%s: %v", snap.name, err)
	case err != nil:
		return lay, fmt.Errorf("wal: %w: reading %s: %w", raftlite.ErrStorage, snap.name, err)
	case lay.meta.Index != snap.index:
		return lay, corruptf("%s: holds a snapshot at index %d, its name says %d", snap.name, lay.meta.Index, snap.index)
	}
	return lay, nil
}

// snapshotReader streams a snapshot's data straight into the caller's
// buffers, checking it against its CRC.
type snapshotReader struct {
	f        file
	name     string
	off, end int64
	crc      uint32
	want     uint32
	err      error // sticky: io.EOF at the end, or the failure
}

func (r *snapshotReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.off == r.end {
		r.err = io.EOF
		if r.crc != r.want {
			r.err = corruptf("%s: the data does not match its CRC", r.name)
		}
		return 0, r.err
	}
	if rest := r.end - r.off; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := r.f.ReadAt(p, r.off)
	r.crc = crc32.Update(r.crc, castagnoli, p[:n])
	r.off += int64(n)
	if n < len(p) {
		if err == nil || errors.Is(err, io.EOF) {
			r.err = corruptf("%s: the file ends at offset %d, before the end of its data", r.name, r.off)
		} else {
			r.err = fmt.Errorf("wal: %w: reading %s: %w", raftlite.ErrStorage, r.name, err)
		}
		return n, r.err
	}
	return n, nil
}

func (r *snapshotReader) Close() error {
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	if r.err == nil {
		r.err = errReaderClosed
	}
	return err
}

var errReaderClosed = errors.New("wal: snapshot reader closed")
