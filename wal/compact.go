package wal

import (
	"fmt"
	"math"

	"github.com/raftlite/raftlite"
)

// Compact implements raftlite.Persister: it removes the segments all of
// whose live entries are at or before through, never the last one, so
// entries before through may stay and the last index never changes. It
// fails with ErrNotCovered unless the latest snapshot reaches through: a
// log that starts after index 1 is accepted by Open only if the latest
// snapshot covers what is missing.
func (l *Log) Compact(through uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if snap, ok := l.latestSnapshot(); !ok || snap.index < through {
		return fmt.Errorf("%w: compacting through index %d (%s)", ErrNotCovered, through, l.describeLatest())
	}
	if len(l.segs) < 2 || through < l.first {
		return nil
	}
	keepFrom := l.active().seq // the first segment to keep
	if through < l.lastIndex() {
		keepFrom = uint64(l.pos[through+1-l.first].seq)
	}
	return l.removeSegmentsBefore(keepFrom, true)
}

// DiscardLog implements raftlite.Persister. It starts a segment whose
// header marks a restart at index+1, synced with the directory: from then
// on Open replays nothing before it. The older segments are then removed;
// a crash in the middle leaves some, which Open removes.
func (l *Log) DiscardLog(index uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if index == math.MaxUint64 {
		return fmt.Errorf("wal: cannot restart the log after index %d", index)
	}
	seq := uint64(1)
	if a := l.active(); a != nil {
		seq = a.seq + 1
	}
	if seq > math.MaxUint32 {
		return fmt.Errorf("wal: %w: out of segment numbers", raftlite.ErrStorage)
	}
	l.buf = appendSegmentHeader(l.buf[:0], seq, index+1, uint64(l.activeEnd()), &l.hs, true)
	seg, err := l.newSegment(seq, index+1)
	if err != nil {
		return l.poison(err)
	}
	if _, err := seg.f.WriteAt(l.buf, 0); err != nil {
		return l.poisonNew(seg, true, err)
	}
	if err := seg.f.Sync(); err != nil {
		return l.poisonNew(seg, true, err)
	}
	l.syncs.Add(1)
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.poisonNew(seg, true, err)
	}
	l.dirSyncs.Add(1)
	seg.size, seg.restart = int64(len(l.buf)), true
	l.segs = append(l.segs, seg)
	l.first, l.pos = index+1, l.pos[:0]
	return l.removeSegmentsBefore(seq, true)
}

// removeSegmentsBefore forgets the live entries in the segments numbered
// below keepFrom, which must be at most the active one, then removes those
// segments oldest first (or, if recycle, renames them to spares while
// fewer than maxSpares are ready), syncing the directory after each so
// that a crash leaves a run of segments without a gap. A failure poisons
// the log: what the directory holds is no longer known.
func (l *Log) removeSegmentsBefore(keepFrom uint64, recycle bool) error {
	// Live entries are in segment order, so the ones left are a suffix.
	// They are forgotten first so that no read goes to a removed file.
	drop := 0
	for drop < len(l.pos) && uint64(l.pos[drop].seq) < keepFrom {
		drop++
	}
	l.first += uint64(drop)
	l.pos = append(l.pos[:0], l.pos[drop:]...)
	for len(l.segs) > 0 && l.segs[0].seq < keepFrom {
		s := l.segs[0]
		l.segs = l.segs[1:]
		if recycle {
			recycled, err := l.recycle(s)
			if err != nil {
				s.f.Close()
				return l.poison(err)
			}
			if recycled {
				continue
			}
		}
		if err := s.f.Close(); err != nil {
			return l.poison(err)
		}
		if err := l.fs.Remove(s.name); err != nil {
			return l.poison(err)
		}
		if err := l.fs.SyncDir(l.dir); err != nil {
			return l.poison(err)
		}
		l.dirSyncs.Add(1)
	}
	return nil
}

// coverNeeded is the index the latest snapshot must reach for the log as
// it is on disk to be whole: 0 if the log starts at index 1 or at a
// restart (DiscardLog), otherwise the index before its first entry, which
// compaction removed.
func (l *Log) coverNeeded() uint64 {
	if len(l.segs) == 0 || l.segs[0].restart {
		return 0
	}
	return l.first - 1
}

func (l *Log) describeLatest() string {
	snap, ok := l.latestSnapshot()
	if !ok {
		return "there is no snapshot"
	}
	return fmt.Sprintf("the latest snapshot is at index %d", snap.index)
}
