package wal

import (
	"bytes"
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
	var segNames, snapNames, tmpNames, spareNames []string
	for _, name := range names {
		switch {
		case strings.HasSuffix(name, ".wal"):
			segNames = append(segNames, name)
		case strings.HasSuffix(name, prepSuffix), strings.HasSuffix(name, spareSuffix):
			spareNames = append(spareNames, name)
		case strings.HasSuffix(name, tmpSuffix):
			tmpNames = append(tmpNames, name)
		case strings.HasSuffix(name, snapSuffix):
			snapNames = append(snapNames, name)
		}
	}
	if err := l.removeSpares(spareNames); err != nil {
		return err
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
		var prev *segment
		if i > 0 {
			prev = segs[i-1]
		}
		if err := l.scanSegment(&sc, s, prev); err != nil {
			return err
		}
		if s.size == 0 && i < len(segs)-1 {
			return corruptf("%s at offset 0: damaged record in a segment that is not the last", s.name)
		}
	}
	if err := l.recoverLast(&sc); err != nil {
		return err
	}
	// The segments before the last restart hold nothing live: a crash cut
	// short the DiscardLog that was removing them.
	for i := len(l.segs) - 1; i > 0; i-- {
		if l.segs[i].restart {
			return l.removeSegmentsBefore(l.segs[i].seq, false)
		}
	}
	return nil
}

// checkEnd checks that the frames of prev, which is not the last segment,
// end where the header h of the next one says prev's data ends (a version
// 4 header; before, at the end of prev's file). Past that end the file may
// hold zeros or stale frames; before it, a frame that fails is damage.
func checkEnd(prev *segment, h segmentHeader, next string) error {
	end := prev.fileSize
	if h.version >= segmentVersion {
		end = h.prevEnd
	}
	switch {
	case prev.size < end:
		return corruptf("%s at offset %d: damaged record in a segment that is not the last", prev.name, prev.size)
	case prev.size > end:
		return corruptf("%s at offset %d: records past the end of the segment's data, which %s gives as %d",
			prev.name, end, next, end)
	}
	return nil
}

// recoverLast finds where the data of the last segment ends. A frame that
// fails its checks there, with no intact frame of this segment after it,
// is the end: the torn tail of the write a crash interrupted, or the zeros
// or stale frames of a prepared or recycled file. A last segment without
// even an intact header is removed (a crash interrupted its first write)
// and the segment before it is then the last.
func (l *Log) recoverLast(sc *scanner) error {
	for len(l.segs) > 0 {
		s := l.segs[len(l.segs)-1]
		if s.size < s.fileSize {
			if err := l.checkNothingIntactAfter(sc, s); err != nil {
				return err
			}
		}
		if s.size > 0 {
			return l.endLast(s)
		}
		if err := l.removeHeaderless(s); err != nil {
			return err
		}
	}
	return nil
}

// checkNothingIntactAfter refuses, as corruption, a last segment where an
// intact frame of this segment follows the frame that failed.
func (l *Log) checkNothingIntactAfter(sc *scanner, s *segment) error {
	sc.reset(s.f, s.fileSize, s.seq)
	if s.size > 0 {
		sc.mode = modeUntagged
		if s.tagged {
			sc.mode = modeTagged
		}
	}
	at, found, err := sc.findIntact(s.size + 1)
	if err != nil {
		return fmt.Errorf("wal: %w: reading %s: %w", raftlite.ErrStorage, s.name, err)
	}
	if found {
		return corruptf("%s at offset %d: damaged record followed by an intact one at offset %d", s.name, s.size, at)
	}
	return nil
}

// endLast makes the end of the data of the last segment s where the next
// Save goes. An untagged segment (an older version's) is cut there and
// synced, as that version did; a tagged one keeps its size, since what
// follows is overwritten.
func (l *Log) endLast(s *segment) error {
	if s.tagged {
		if s.fileSize > s.size {
			s.room = s.fileSize // prepared or recycled: Saves overwrite
		}
		return nil
	}
	if s.size == s.fileSize {
		return nil
	}
	if err := s.f.Truncate(s.size); err != nil {
		return fmt.Errorf("wal: %w: %w", raftlite.ErrStorage, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("wal: %w: %w", raftlite.ErrStorage, err)
	}
	l.syncs.Add(1)
	return nil
}

// removeHeaderless removes the last segment, which has no intact header.
func (l *Log) removeHeaderless(s *segment) error {
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
	tag    uint32     // the tag of the segment's frames
	mode   scanMode
}

// scanMode says which frames a segment may hold: until its header is read,
// untagged ones or ones with its tag.
type scanMode int

const (
	modeAny scanMode = iota
	modeUntagged
	modeTagged
)

// frameView is an intact frame found by the scanner.
type frameView struct {
	kind       byte   // frameSegment or frameSave, tagged or not
	tagged     bool   //
	payload    []byte // after the tag
	payloadOff int64  // offset of payload in the file
	n          int    // length of the whole frame
}

const scanChunk = 1 << 20

func (sc *scanner) reset(f file, size int64, seq uint64) {
	sc.f, sc.size, sc.bufOff, sc.buf = f, size, 0, sc.buf[:0]
	sc.tag, sc.mode = tagOf(seq), modeAny
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

// accepts reports whether a frame of type typ, with tag at the start of
// its payload if tagged, may belong to this segment: it is checked no
// further if not, which keeps stale frames cheap to pass over.
func (sc *scanner) accepts(typ byte, tag []byte) bool {
	switch {
	case !knownType(typ):
		return false
	case isTagged(typ):
		if sc.mode == modeUntagged {
			return false
		}
		return len(tag) < tagLen || !checkTags || binary.LittleEndian.Uint32(tag) == sc.tag
	default:
		return sc.mode != modeTagged
	}
}

// frameAt returns the intact frame of this segment at off, or ok == false.
func (sc *scanner) frameAt(off int64) (fr frameView, ok bool, err error) {
	h, err := sc.bytes(off, frameHeaderLen+tagLen)
	if err != nil || len(h) < frameHeaderLen {
		return fr, false, err
	}
	n, typ := binary.LittleEndian.Uint32(h), h[8]
	if n > maxFrameLen || int64(n) > sc.size-off-frameHeaderLen || !sc.accepts(typ, h[frameHeaderLen:]) {
		return fr, false, nil
	}
	b, err := sc.bytes(off, frameHeaderLen+int(n))
	if err != nil {
		return fr, false, err
	}
	if _, _, ok = checkFrame(b); !ok {
		return fr, false, nil
	}
	fr = frameView{kind: typ, payload: b[frameHeaderLen:], payloadOff: off + frameHeaderLen, n: len(b)}
	if isTagged(typ) {
		fr.tagged, fr.kind = true, frameSave
		fr.payload, fr.payloadOff = fr.payload[tagLen:], fr.payloadOff+tagLen
	}
	return fr, true, nil
}

// findIntact returns the offset of the first intact frame of this segment
// at or after from. Most offsets are passed over on their type byte or
// tag alone (in a tagged segment, by searching for the tag), so that
// searching the zeros or stale frames of a prepared or recycled segment
// costs little more than reading it.
func (sc *scanner) findIntact(from int64) (int64, bool, error) {
	for o := from; o+frameHeaderLen <= sc.size; {
		w, err := sc.window(o)
		if err != nil {
			return 0, false, err
		}
		at, examined := sc.candidate(w)
		if at < 0 {
			o += int64(examined)
			continue
		}
		_, ok, err := sc.frameAt(o + int64(at))
		if err != nil || ok {
			return o + int64(at), ok, err
		}
		o += int64(at) + 1
	}
	return 0, false, nil
}

// window returns the bytes from off on: the rest of the buffer if it still
// holds a useful part of them, so that passing over a candidate that
// failed does not read the file again.
func (sc *scanner) window(off int64) ([]byte, error) {
	end := sc.bufOff + int64(len(sc.buf))
	if off >= sc.bufOff && off < end && (end-off >= 64<<10 || end == sc.size) {
		return sc.buf[off-sc.bufOff:], nil
	}
	return sc.bytes(off, scanChunk)
}

// candidate returns the first offset in w where a frame of this segment
// may start, or -1 and how many offsets of w it examined (at least one).
func (sc *scanner) candidate(w []byte) (at, examined int) {
	if sc.mode == modeTagged && checkTags {
		// The tag follows the type byte: look for the tag.
		var tag [tagLen]byte
		binary.LittleEndian.PutUint32(tag[:], sc.tag)
		for j := 0; j+frameHeaderLen+tagLen <= len(w); {
			k := bytes.Index(w[j+frameHeaderLen:], tag[:])
			if k < 0 {
				break
			}
			if i := j + k; isTagged(w[i+8]) {
				return i, 0
			}
			j += k + 1
		}
		return -1, max(1, len(w)-frameHeaderLen-tagLen+1)
	}
	for i := 0; i+frameHeaderLen <= len(w); i++ {
		if sc.accepts(w[i+8], w[i+frameHeaderLen:min(len(w), i+frameHeaderLen+tagLen)]) {
			return i, 0
		}
	}
	return -1, max(1, len(w)-frameHeaderLen+1)
}

// scanSegment applies the frames of s to l from its start until one fails
// its checks, and sets s.size where they end. Prev is the segment before,
// nil if s is the first.
func (l *Log) scanSegment(sc *scanner, s *segment, prev *segment) error {
	size, err := s.f.Size()
	if err != nil {
		return fmt.Errorf("wal: %w: %w", raftlite.ErrStorage, err)
	}
	s.fileSize = size
	sc.reset(s.f, size, s.seq)
	var off int64
	for off < size {
		fr, ok, err := sc.frameAt(off)
		if err != nil {
			return fmt.Errorf("wal: %w: reading %s: %w", raftlite.ErrStorage, s.name, err)
		}
		if !ok {
			break
		}
		switch {
		case off == 0:
			var h segmentHeader
			h, err = decodeHeader(fr)
			if err == nil && h.version >= segmentVersion && h.seq != s.seq {
				// The header of the file's earlier life: the write of
				// this segment's header was lost.
				s.size = 0
				return nil
			}
			if err == nil && prev != nil {
				// Before the header's other checks, which would blame
				// this segment for the damage at the end of prev.
				if err := checkEnd(prev, h, s.name); err != nil {
					return err
				}
			}
			if err == nil {
				err = l.applyHeader(s, h, prev == nil)
			}
			sc.mode = modeUntagged
			if s.tagged {
				sc.mode = modeTagged
			}
		case fr.kind == frameSave:
			err = l.applySave(sc, s, fr)
		default:
			err = errors.New("segment header in the middle of a segment")
		}
		if err != nil {
			return corruptf("%s at offset %d: %v", s.name, off, err)
		}
		off += int64(fr.n)
	}
	s.size = off
	return nil
}

func decodeHeader(fr frameView) (segmentHeader, error) {
	if fr.kind != frameSegment {
		return segmentHeader{}, errors.New("segment does not start with a segment header")
	}
	h, ok := decodeSegmentHeader(fr.payload)
	if !ok {
		return h, errors.New("malformed segment header")
	}
	return h, nil
}

func (l *Log) applyHeader(s *segment, h segmentHeader, isFirst bool) error {
	s.tagged = h.version >= segmentVersion
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

// applySave replays one Save frame of s.
func (l *Log) applySave(sc *scanner, s *segment, fr frameView) error {
	p, payloadOff := fr.payload, fr.payloadOff
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
	s.saves = true
	if flags&flagHardState != 0 {
		l.hs = hs
	}
	if count > 0 {
		l.cutFrom(first)
		l.pos = append(l.pos, pos...)
	}
	return nil
}
