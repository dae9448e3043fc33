package wal

import (
	"fmt"
	"math"

	"github.com/raftlite/raftlite"
)

// Save implements raftlite.Persister: one frame, one write and one
// fdatasync, plus a directory fsync when it starts a new segment. The
// HardState, the cut of a conflicting suffix and the new entries are one
// checksummed frame, so after a crash either all of a Save is there or none.
//
// A write or sync error poisons the log: this and every later Save fails
// with an error wrapping raftlite.ErrStorage until the log is reopened,
// because the tail of the segment is no longer known.
func (l *Log) Save(hs *raftlite.HardState, entries []raftlite.Entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if hs == nil && len(entries) == 0 {
		return nil
	}
	if err := l.checkContiguous(entries); err != nil {
		return err
	}
	newSeq, err := l.encode(hs, entries)
	if err != nil {
		return err // nothing written: the log stays usable
	}
	seg, off, err := l.write(newSeq)
	if err != nil {
		return err
	}
	l.apply(hs, entries, seg, off)
	return nil
}

// encode encodes a Save into l.buf and where its entries are into
// l.newPos. When the Save must start a new segment, the buffer begins with
// that segment's header and newSeq is its number; otherwise newSeq is 0.
func (l *Log) encode(hs *raftlite.HardState, entries []raftlite.Entry) (newSeq uint64, err error) {
	seg := l.active()
	if seg != nil && seg.tagged {
		buf, newPos, err := appendSave(l.buf[:0], seg.seq, hs, entries, l.newPos)
		l.buf, l.newPos = buf, newPos
		if err != nil || !l.mustRoll(seg, len(buf)) {
			return 0, err
		}
	}
	newSeq = 1
	if seg != nil {
		newSeq = seg.seq + 1
	}
	if newSeq > math.MaxUint32 {
		return 0, fmt.Errorf("wal: %w: out of segment numbers", raftlite.ErrStorage)
	}
	buf := appendSegmentHeader(l.buf[:0], newSeq, l.lastIndex()+1, uint64(l.activeEnd()), &l.hs, false)
	buf, newPos, err := appendSave(buf, newSeq, hs, entries, l.newPos)
	l.buf, l.newPos = buf, newPos
	return newSeq, err
}

// mustRoll reports whether a Save of n bytes goes to a new segment rather
// than to seg: when it does not fit in the rest of seg (unless it would be
// seg's first Save: a Save larger than a segment gets one of its own), and
// when seg grows as it is written but a spare is ready to be overwritten.
func (l *Log) mustRoll(seg *segment, n int) bool {
	if seg.room == 0 {
		return (seg.saves && seg.size+int64(n) > l.opts.SegmentSize) || len(l.ready) > 0
	}
	return seg.saves && seg.size+int64(n) > seg.room
}

// activeEnd is where the data of the active segment ends, 0 if there is
// none: the next segment's header records it.
func (l *Log) activeEnd() int64 {
	if seg := l.active(); seg != nil {
		return seg.size
	}
	return 0
}

// write makes l.buf durable at the end of the active segment, or in a new
// segment numbered newSeq if that is not 0, and returns the segment and the
// offset it was written at. Any error poisons the log.
func (l *Log) write(newSeq uint64) (*segment, int64, error) {
	seg := l.active()
	if newSeq != 0 {
		var err error
		if seg, err = l.newSegment(newSeq, l.lastIndex()+1); err != nil {
			return nil, 0, l.poison(err)
		}
	}
	off := seg.size
	if _, err := seg.f.WriteAt(l.buf, off); err != nil {
		return nil, 0, l.poisonNew(seg, newSeq != 0, err)
	}
	if err := seg.f.Sync(); err != nil {
		return nil, 0, l.poisonNew(seg, newSeq != 0, err)
	}
	l.syncs.Add(1)
	if newSeq != 0 {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return nil, 0, l.poisonNew(seg, true, err)
		}
		l.dirSyncs.Add(1)
		l.segs = append(l.segs, seg)
	}
	seg.size += int64(len(l.buf))
	seg.saves = true
	return seg, off, nil
}

// apply brings the in-memory state up to a Save written at off in seg.
func (l *Log) apply(hs *raftlite.HardState, entries []raftlite.Entry, seg *segment, off int64) {
	if hs != nil {
		l.hs = *hs
	}
	if len(entries) > 0 {
		l.cutFrom(entries[0].Index)
		for _, p := range l.newPos {
			p.off += off
			p.seq = uint32(seg.seq)
			l.pos = append(l.pos, p)
		}
	}
	if cap(l.buf) > 4<<20 {
		l.buf = nil // do not pin the buffer of one huge Save
	}
}

func (l *Log) usable() error {
	if l.closed {
		return ErrClosed
	}
	return l.err
}

func (l *Log) checkContiguous(entries []raftlite.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	first := entries[0].Index
	if first == 0 || first > l.lastIndex()+1 {
		return corruptf("save starts at index %d but the log ends at %d", first, l.lastIndex())
	}
	if first < l.first {
		// The entries before first were compacted or discarded: the log
		// would have a hole where the snapshot should be.
		return corruptf("save starts at index %d but the log starts at %d", first, l.first)
	}
	for i := range entries {
		if entries[i].Index != first+uint64(i) {
			return corruptf("save is not contiguous: entry %d has index %d, want %d",
				i, entries[i].Index, first+uint64(i))
		}
	}
	return nil
}

// cutFrom removes the live entries at and after index. An index before
// first restarts the log there: Save refuses one, but replaying a segment
// whose older segments compaction removed may meet a Save that cut into
// them.
func (l *Log) cutFrom(index uint64) {
	if index < l.first {
		l.first, l.pos = index, l.pos[:0]
		return
	}
	l.pos = l.pos[:index-l.first]
}

// newSegment gives segment seq its file: a spare renamed into place if
// one is ready, otherwise a new file that grows as it is written.
func (l *Log) newSegment(seq, first uint64) (*segment, error) {
	name := join(l.dir, segmentName(seq, first))
	if seg, err := l.takeSpare(seq, first, name); seg != nil || err != nil {
		return seg, err
	}
	f, err := l.fs.OpenFile(name, true)
	if err != nil {
		return nil, err
	}
	return &segment{seq: seq, first: first, name: name, f: f, tagged: true}, nil
}

func (l *Log) poison(err error) error {
	l.err = fmt.Errorf("wal: %w: %w (the log must be reopened)", raftlite.ErrStorage, err)
	return l.err
}

// poisonNew poisons the log and, if seg was created by the failed Save,
// closes it; recovery will find whatever reached the disk.
func (l *Log) poisonNew(seg *segment, created bool, err error) error {
	if created {
		seg.f.Close()
	}
	return l.poison(err)
}

// maxRead bounds one read of several entries from a segment.
const maxRead = 4 << 20

// read decodes the live entries pos[from:to] from disk, stopping once their
// encoded size exceeds maxBytes (if > 0) with at least one entry read. The
// entries own fresh buffers: nothing later written can change them.
func (l *Log) read(from, to, maxBytes int) ([]raftlite.Entry, error) {
	if from == to {
		return nil, nil
	}
	// Stop where maxBytes does, before allocating: a bounded read of the
	// rest of a long log returns a few of its entries, and a slice sized
	// for all of them would cost each read the whole log's size.
	end := to
	if maxBytes > 0 {
		end = from + 1
		for total := int(l.pos[from].n); end < to && total+int(l.pos[end].n) <= maxBytes; end++ {
			total += int(l.pos[end].n)
		}
	}
	out := make([]raftlite.Entry, 0, end-from)
	total := 0
	for i := from; i < to; {
		p := l.pos[i]
		if maxBytes > 0 && i > from && total+int(p.n) > maxBytes {
			break
		}
		j := i + 1
		total += int(p.n)
		for j < to && l.pos[j].seq == p.seq && l.pos[j].off+int64(l.pos[j].n)-p.off <= maxRead {
			if maxBytes > 0 && total+int(l.pos[j].n) > maxBytes {
				break
			}
			total += int(l.pos[j].n)
			j++
		}
		seg := l.segment(p.seq)
		last := l.pos[j-1]
		buf := make([]byte, last.off+int64(last.n)-p.off)
		if _, err := seg.f.ReadAt(buf, p.off); err != nil {
			return nil, fmt.Errorf("wal: %w: reading %s: %w", raftlite.ErrStorage, seg.name, err)
		}
		for k := i; k < j; k++ {
			q := l.pos[k]
			b := buf[q.off-p.off : q.off-p.off+int64(q.n) : q.off-p.off+int64(q.n)]
			e, err := decodeEntry(b, l.first+uint64(k))
			if err != nil {
				return nil, corruptf("%s at offset %d: entry %d: %v", seg.name, q.off, e.Index, err)
			}
			out = append(out, e)
		}
		i = j
	}
	return out, nil
}
