package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"

	"github.com/raftlite/raftlite"
)

// A segment is a sequence of frames. Every frame is
//
//	length  uint32 little-endian: bytes of payload
//	crc     uint32 little-endian: CRC-32C of type and payload
//	type    uint8
//	payload [length]byte
//
// In version 4 segments the Save frames are tagged: their payload starts
// with the segment's tag (its sequence number, 4 bytes little-endian),
// which the CRC covers, and the header holds the sequence number too. A
// segment file may be one prepared ahead or recycled from an older
// segment, so past its end it holds zeros or frames of the file's earlier
// lives; those carry another tag, so none of them can pass for a frame of
// this one. See FORMAT.md for the payloads.
const (
	frameHeaderLen = 9
	tagLen         = 4
	// maxFrameLen bounds a single Save; it also keeps a corrupt length field
	// from making recovery allocate gigabytes.
	maxFrameLen = 1 << 30

	frameSegment = 1 // first frame of every segment
	frameSave    = 2 // one per Save in version 2 and 3 segments
	// frameSaveTagged is a Save of a version 4 segment: a type of its own
	// keeps an untagged frame from being read as a tagged one or the
	// reverse. The header stays untagged, type 1, so that a reader that
	// knows only version 3 finds it intact and refuses its version as
	// corruption, rather than take it for a torn header and remove the
	// segment.
	frameSaveTagged = 3

	segmentMagic = "RLWAL"
	// segmentVersion is written in every new segment header: 2 added the
	// commit index to the HardState, 3 a flags byte, 4 tagged frames and
	// the end of the previous segment. Versions 2 and 3 are still read; a
	// reader that knows only 3 refuses a version 4 header as malformed
	// rather than misread the segment.
	segmentVersion   = 4
	segmentVersionV3 = 3
	segmentVersionV2 = 2

	flagHardState = 1 << 0
	// flagDiskID: the HardState is followed by its DiskID. A HardState
	// without one (DiskID 0) is written without the flag, so logs of
	// nodes that never had one read the same as before.
	flagDiskID = 1 << 1

	// segFlagRestart marks a segment written by DiscardLog: the log
	// restarts at the segment's first index, and the segments before it
	// hold nothing live.
	segFlagRestart = 1 << 0
	// segFlagDiskID: the header's HardState is followed by its DiskID.
	segFlagDiskID = 1 << 1
)

// checkTags is what makes a frame left in a recycled file from its
// earlier life unmistakable; only TestStaleRecordsNeedTheTagCheck turns it
// off, to show what it catches.
var checkTags = true

// tagOf is the tag of the frames of segment seq (at most 1<<32-1).
func tagOf(seq uint64) uint32 { return uint32(seq) }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// beginFrame appends a frame header with the length and CRC left blank,
// then, for a tagged type, the tag of segment seq.
func beginFrame(buf []byte, typ byte, seq uint64) ([]byte, int) {
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0, 0, 0, 0, 0, typ)
	if isTagged(typ) {
		buf = binary.LittleEndian.AppendUint32(buf, tagOf(seq))
	}
	return buf, start
}

// endFrame fills in the length and CRC of the frame that starts at start.
func endFrame(buf []byte, start int) error {
	n := len(buf) - start - frameHeaderLen
	if n > maxFrameLen {
		return fmt.Errorf("wal: a Save of %d bytes exceeds the limit of %d", n, maxFrameLen)
	}
	binary.LittleEndian.PutUint32(buf[start:], uint32(n))
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(buf[start+8:], castagnoli))
	return nil
}

// appendHardState appends hs, its DiskID last and only when it has one
// (the caller flags it).
func appendHardState(buf []byte, hs *raftlite.HardState) []byte {
	buf = binary.AppendUvarint(buf, hs.Term)
	buf = binary.AppendUvarint(buf, uint64(hs.VotedFor))
	buf = binary.AppendUvarint(buf, hs.Incarnation)
	buf = binary.AppendUvarint(buf, hs.Commit)
	if hs.DiskID != 0 {
		buf = binary.AppendUvarint(buf, hs.DiskID)
	}
	return buf
}

// appendSegmentHeader appends the frame that opens a segment. It carries
// the HardState in force when the segment was created, so that removing
// older segments never removes the latest HardState, and where the data
// of the segment before ends (prevEnd), since past that its file may hold
// stale bytes.
func appendSegmentHeader(buf []byte, seq, first, prevEnd uint64, hs *raftlite.HardState, restart bool) []byte {
	buf, start := beginFrame(buf, frameSegment, seq)
	buf = append(buf, segmentMagic...)
	var flags byte
	if restart {
		flags |= segFlagRestart
	}
	if hs.DiskID != 0 {
		flags |= segFlagDiskID
	}
	buf = append(buf, segmentVersion, flags)
	buf = binary.AppendUvarint(buf, seq)
	buf = binary.AppendUvarint(buf, first)
	buf = binary.AppendUvarint(buf, prevEnd)
	buf = appendHardState(buf, hs)
	_ = endFrame(buf, start) // a header is small
	return buf
}

// appendSave appends the frame of one Save for segment seq and records
// where each entry's encoding starts (relative to buf) and how long it is
// in pos. Seq 0 makes the untagged frame of versions 2 and 3, for tests
// that build the logs older versions wrote.
func appendSave(buf []byte, seq uint64, hs *raftlite.HardState, entries []raftlite.Entry, pos []entryPos) ([]byte, []entryPos, error) {
	typ := byte(frameSaveTagged)
	if seq == 0 {
		typ = frameSave
	}
	buf, start := beginFrame(buf, typ, seq)
	var flags byte
	if hs != nil {
		flags |= flagHardState
		if hs.DiskID != 0 {
			flags |= flagDiskID
		}
	}
	buf = append(buf, flags)
	if hs != nil {
		buf = appendHardState(buf, hs)
	}
	var first uint64
	if len(entries) > 0 {
		first = entries[0].Index
	}
	buf = binary.AppendUvarint(buf, first)
	buf = binary.AppendUvarint(buf, uint64(len(entries)))
	// Grow once to the record's size: a large batch appended entry by
	// entry would grow the buffer by doubling, copying it each time, and
	// a buffer over the size Save keeps is allocated anew for every one.
	need := 0
	for i := range entries {
		n := entryLen(&entries[i])
		need += uvarintLen(uint64(n)) + n
	}
	buf = slices.Grow(buf, need)
	pos = slices.Grow(pos[:0], len(entries))
	for i := range entries {
		e := &entries[i]
		n := entryLen(e)
		buf = binary.AppendUvarint(buf, uint64(n))
		off := len(buf)
		buf = binary.AppendUvarint(buf, e.Term)
		buf = append(buf, byte(e.Kind))
		buf = binary.AppendUvarint(buf, uint64(e.Origin))
		buf = binary.AppendUvarint(buf, e.Incarnation)
		buf = binary.AppendUvarint(buf, e.Seq)
		buf = append(buf, e.Data...)
		pos = append(pos, entryPos{off: int64(off), n: uint32(n)})
	}
	return buf, pos, endFrame(buf, start)
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// entryLen is the length of an entry's encoding after its length prefix.
// The index is not stored per entry: it follows from the Save's first index.
func entryLen(e *raftlite.Entry) int {
	return uvarintLen(e.Term) + 1 + uvarintLen(uint64(e.Origin)) +
		uvarintLen(e.Incarnation) + uvarintLen(e.Seq) + len(e.Data)
}

var errBadEncoding = errors.New("malformed record")

// decodeEntry decodes an entry encoded by appendSave. data aliases b.
func decodeEntry(b []byte, index uint64) (raftlite.Entry, error) {
	e := raftlite.Entry{Index: index}
	var ok bool
	if e.Term, b, ok = uvarint(b); !ok || len(b) == 0 {
		return e, errBadEncoding
	}
	e.Kind, b = raftlite.EntryKind(b[0]), b[1:]
	var origin uint64
	if origin, b, ok = uvarint(b); !ok {
		return e, errBadEncoding
	}
	e.Origin = raftlite.NodeID(origin)
	if e.Incarnation, b, ok = uvarint(b); !ok {
		return e, errBadEncoding
	}
	if e.Seq, b, ok = uvarint(b); !ok {
		return e, errBadEncoding
	}
	if len(b) > 0 {
		e.Data = b
	}
	return e, nil
}

func uvarint(b []byte) (uint64, []byte, bool) {
	x, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, b, false
	}
	return x, b[n:], true
}

func decodeHardState(b []byte, withDiskID bool) (raftlite.HardState, []byte, bool) {
	var hs raftlite.HardState
	var vote uint64
	var ok1, ok2, ok3, ok4 bool
	hs.Term, b, ok1 = uvarint(b)
	vote, b, ok2 = uvarint(b)
	hs.Incarnation, b, ok3 = uvarint(b)
	hs.Commit, b, ok4 = uvarint(b)
	hs.VotedFor = raftlite.NodeID(vote)
	ok5 := true
	if withDiskID {
		hs.DiskID, b, ok5 = uvarint(b)
		ok5 = ok5 && hs.DiskID != 0
	}
	return hs, b, ok1 && ok2 && ok3 && ok4 && ok5
}

// segmentHeader is the payload of a segment header frame.
type segmentHeader struct {
	seq, first uint64
	hs         raftlite.HardState
	restart    bool  // the log restarts at first (DiscardLog)
	version    byte  //
	prevEnd    int64 // version 4: where the data of the segment before ends
}

// decodeSegmentHeader decodes the payload of a segment header frame.
func decodeSegmentHeader(p []byte) (segmentHeader, bool) {
	var h segmentHeader
	if len(p) < len(segmentMagic)+1 || string(p[:len(segmentMagic)]) != segmentMagic {
		return h, false
	}
	h.version = p[len(segmentMagic)]
	p = p[len(segmentMagic)+1:]
	withDiskID := false
	switch {
	case h.version == segmentVersionV2: // no flags
	case h.version == segmentVersionV3, h.version == segmentVersion:
		if len(p) == 0 || p[0]&^(segFlagRestart|segFlagDiskID) != 0 {
			return h, false
		}
		h.restart = p[0]&segFlagRestart != 0
		withDiskID = p[0]&segFlagDiskID != 0
		p = p[1:]
	default:
		return h, false
	}
	var ok1, ok2, ok3, ok4 bool
	h.seq, p, ok1 = uvarint(p)
	h.first, p, ok2 = uvarint(p)
	ok3 = true
	if h.version >= segmentVersion {
		var end uint64
		end, p, ok3 = uvarint(p)
		ok3 = ok3 && end <= math.MaxInt64
		h.prevEnd = int64(end)
	}
	h.hs, p, ok4 = decodeHardState(p, withDiskID)
	return h, ok1 && ok2 && ok3 && ok4 && len(p) == 0
}

// checkFrame reports whether a whole, intact frame starts at b[0], and its
// total length.
func checkFrame(b []byte) (typ byte, n int, ok bool) {
	if len(b) < frameHeaderLen {
		return 0, 0, false
	}
	l := binary.LittleEndian.Uint32(b)
	typ = b[8]
	if l > maxFrameLen || int(l) > len(b)-frameHeaderLen || !knownType(typ) ||
		(isTagged(typ) && l < tagLen) {
		return typ, 0, false
	}
	n = frameHeaderLen + int(l)
	if crc32.Checksum(b[8:n], castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return typ, 0, false
	}
	return typ, n, true
}

func knownType(typ byte) bool { return typ >= frameSegment && typ <= frameSaveTagged }

func isTagged(typ byte) bool { return typ == frameSaveTagged }
