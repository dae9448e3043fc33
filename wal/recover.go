package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/raftlite/raftlite"
)

// recover rebuilds the HardState, the entry index and the list of
// snapshots from the directory.
func (l *Log) recover() error {
	names, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return storageErr(err)
	}
	var segNames, snapNames, tmpNames []string
	for _, name := range names {
		switch {
		case strings.HasSuffix(name, ".wal"):
			segNames = append(segNames, name)
		case strings.HasSuffix(name, tmpSuffix):
			tmpNames = append(tmpNames, name)
		case strings.HasSuffix(name, snapSuffix):
			snapNames = append(snapNames, name)
		}
	}
	if err := l.recoverSnapshots(snapNames, tmpNames); err != nil {
		return err
	}
	if err := l.recoverSegments(segNames); err != nil {
		return err
	}
	return l.checkStart()
}

// recoverSegments replays the segments in order.
func (l *Log) recoverSegments(names []string) error {
	var segs []*segment
	for _, name := range names {
		var seq, first uint64
		if _, err := fmt.Sscanf(name, "%016x-%016x.wal", &seq, &first); err != nil || segmentName(seq, first) != name {
			return corruptf("%s: not a segment name", join(l.dir, name))
		}
		if len(segs) > 0 && seq != segs[len(segs)-1].seq+1 {
			return corruptf("%s: segment %d is missing before it", join(l.dir, name), segs[len(segs)-1].seq+1)
		}
		segs = append(segs, &segment{seq: seq, first: first, name: join(l.dir, name)})
	}
	if len(segs) > 0 && segs[len(segs)-1].seq > 1<<32-1 {
		return corruptf("%s: segment number too large", segs[len(segs)-1].name)
	}
	sc := scanner{}
	for i, s := range segs {
		f, err := l.fs.OpenFile(s.name, false)
		if err != nil {
			return storageErr(err)
		}
		s.f = f
		l.segs = append(l.segs, s)
		isLast := i == len(segs)-1
		if err := l.scanSegment(&sc, s, i == 0, isLast); err != nil {
			return err
		}
	}
	// The segments before the last restart hold nothing live: a crash cut
	// short the DiscardLog that was removing them.
	for i := len(l.segs) - 1; i > 0; i-- {
		if l.segs[i].restart {
			return l.removeSegmentsBefore(l.segs[i].seq)
		}
	}
	return nil
}

// checkStart refuses a log that starts after index 1 without a reason: a
// restart (DiscardLog), or a snapshot that covers the entries before it
// (Compact removes segments only then). Anything else means segments were
// lost from the front.
func (l *Log) checkStart() error {
	need := l.coverNeeded()
	if need == 0 {
		return nil
	}
	if snap, ok := l.latestSnapshot(); ok && snap.index >= need {
		return nil
	}
	return corruptf("%s: the log starts at index %d but %s: segments are missing before it",
		l.segs[0].name, l.first, l.describeLatest())
}

// scanner reads a segment through a window that is refilled as needed,
// so that a scan costs one read per megabyte, not one per frame.
type scanner struct {
	f      file
	size   int64
	buf    []byte
	bufOff int64
	pos    []entryPos // reused: positions of the frame being decoded
}

const scanChunk = 1 << 20

func (sc *scanner) reset(f file, size int64) {
	sc.f, sc.size, sc.bufOff, sc.buf = f, size, 0, sc.buf[:0]
}

// bytes returns up to n bytes at off; fewer only at the end of the file.
func (sc *scanner) bytes(off int64, n int) ([]byte, error) {
	if off >= sc.bufOff && off+int64(n) <= sc.bufOff+int64(len(sc.buf)) {
		return sc.buf[off-sc.bufOff : off-sc.bufOff+int64(n)], nil
	}
	want := int64(max(n, scanChunk))
	want = min(want, sc.size-off)
	if want <= 0 {
		return nil, nil
	}
	if int64(cap(sc.buf)) < want {
		sc.buf = make([]byte, want)
	}
	sc.buf = sc.buf[:want]
	sc.bufOff = off
	got, err := sc.f.ReadAt(sc.buf, off)
	sc.buf = sc.buf[:got]
	if err != nil && !(errors.Is(err, io.EOF) && int64(got) == want) {
		return nil, err
	}
	return sc.buf[:min(n, got)], nil
}

// frameAt returns the intact frame at off, or ok == false.
func (sc *scanner) frameAt(off int64) (typ byte, frame []byte, ok bool, err error) {
	h, err := sc.bytes(off, frameHeaderLen)
	if err != nil || len(h) < frameHeaderLen {
		return 0, nil, false, err
	}
	n := binary.LittleEndian.Uint32(h)
	if n > maxFrameLen || int64(n) > sc.size-off-frameHeaderLen || (h[8] != frameSegment && h[8] != frameSave) {
		return 0, nil, false, nil
	}
	b, err := sc.bytes(off, frameHeaderLen+int(n))
	if err != nil {
		return 0, nil, false, err
	}
	typ, _, ok = checkFrame(b)
	return typ, b, ok, nil
}

// scanSegment applies the frames of s to l. A damaged frame is corruption
// unless s is the last segment and no intact frame follows it: then it is
// the tail of a write cut short by a crash, and the file is cut there.
func (l *Log) scanSegment(sc *scanner, s *segment, isFirst, isLast bool) error {
	size, err := s.f.Size()
	if err != nil {
		return fmt.Errorf("wal: %w: %w", raftlite.ErrStorage, err)
	}
	sc.reset(s.f, size)
	var off int64
	for off < size {
		typ, frame, ok, err := sc.frameAt(off)
		if err != nil {
			return fmt.Errorf("wal: %w: reading %s: %w", raftlite.ErrStorage, s.name, err)
		}
		if !ok {
			break
		}
		payload := frame[frameHeaderLen:]
		if off == 0 {
			err = l.applyHeader(s, typ, payload, isFirst)
		} else if typ == frameSave {
			err = l.applySave(sc, s, off, payload)
		} else {
			err = errors.New("segment header in the middle of a segment")
		}
		if err != nil {
			return corruptf("%s at offset %d: %v", s.name, off, err)
		}
		off += int64(len(frame))
	}
	s.size = off
	if off == size && off > 0 {
		return nil
	}
	if !isLast {
		return corruptf("%s at offset %d: damaged record in a segment that is not the last", s.name, off)
	}
	for o := off + 1; o+frameHeaderLen <= size; o++ {
		_, _, ok, err := sc.frameAt(o)
		if err != nil {
			return fmt.Errorf("wal: %w: reading %s: %w", raftlite.ErrStorage, s.name, err)
		}
		if ok {
			return corruptf("%s at offset %d: damaged record followed by an intact one at offset %d", s.name, off, o)
		}
	}
	return l.cutTornTail(s, off)
}

// cutTornTail removes the torn end of the last segment (from off), or the
// whole segment if not even its header was written.
func (l *Log) cutTornTail(s *segment, off int64) error {
	if off == 0 {
		l.segs = l.segs[:len(l.segs)-1]
		s.f.Close()
		if err := l.fs.Remove(s.name); err != nil {
			return fmt.Errorf("wal: %w: %w", raftlite.ErrStorage, err)
		}
		if err := l.fs.SyncDir(l.dir); err != nil {
			return fmt.Errorf("wal: %w: %w", raftlite.ErrStorage, err)
		}
		l.dirSyncs.Add(1)
		return nil
	}
	if err := s.f.Truncate(off); err != nil {
		return fmt.Errorf("wal: %w: %w", raftlite.ErrStorage, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("wal: %w: %w", raftlite.ErrStorage, err)
	}
	l.syncs.Add(1)
	return nil
}

func (l *Log) applyHeader(s *segment, typ byte, payload []byte, isFirst bool) error {
	if typ != frameSegment {
		return errors.New("segment does not start with a segment header")
	}
	h, ok := decodeSegmentHeader(payload)
	if !ok {
		return errors.New("malformed segment header")
	}
	if h.seq != s.seq || h.first != s.first {
		return fmt.Errorf("segment header says segment %d from index %d, the file name says %d from %d",
			h.seq, h.first, s.seq, s.first)
	}
	switch {
	case h.first == 0:
		return errors.New("segment header says the segment starts at index 0")
	case h.restart:
		// DiscardLog: nothing before this segment is live.
		l.first, l.pos = h.first, l.pos[:0]
		s.restart = true
	case isFirst:
		l.first = h.first
	case h.first != l.lastIndex()+1:
		return fmt.Errorf("segment starts at index %d but the segments before end at %d: a segment is missing or was cut",
			h.first, l.lastIndex())
	}
	l.hs = h.hs
	return nil
}

// applySave replays one Save frame found at off in s.
func (l *Log) applySave(sc *scanner, s *segment, off int64, p []byte) error {
	payloadOff := off + frameHeaderLen
	start := len(p)
	if len(p) == 0 {
		return errBadEncoding
	}
	flags := p[0]
	if flags&^(flagHardState|flagDiskID) != 0 || flags&(flagHardState|flagDiskID) == flagDiskID {
		return errBadEncoding
	}
	p = p[1:]
	var hs raftlite.HardState
	var ok bool
	if flags&flagHardState != 0 {
		if hs, p, ok = decodeHardState(p, flags&flagDiskID != 0); !ok {
			return errBadEncoding
		}
	}
	var first, count uint64
	var ok1, ok2 bool
	first, p, ok1 = uvarint(p)
	count, p, ok2 = uvarint(p)
	if !ok1 || !ok2 || count > uint64(len(p)) {
		return errBadEncoding
	}
	pos := sc.pos[:0]
	for range count {
		var n uint64
		if n, p, ok = uvarint(p); !ok || n > uint64(len(p)) || n < 5 {
			return errBadEncoding
		}
		pos = append(pos, entryPos{off: payloadOff + int64(start-len(p)), n: uint32(n), seq: uint32(s.seq)})
		p = p[n:]
	}
	sc.pos = pos
	if len(p) != 0 {
		return errBadEncoding
	}
	if count > 0 && (first == 0 || first > l.lastIndex()+1) {
		return fmt.Errorf("save starts at index %d but the log ends at %d", first, l.lastIndex())
	}
	if flags&flagHardState != 0 {
		l.hs = hs
	}
	if count > 0 {
		l.cutFrom(first)
		l.pos = append(l.pos, pos...)
	}
	return nil
}
