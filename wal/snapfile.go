package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/raftlite/raftlite"
)

// A snapshot file is
//
//	magic    "RLSNAP", then version byte 1
//	metaLen  uint32 little-endian
//	metaCRC  uint32 little-endian: CRC-32C of magic, version, metaLen and meta
//	meta     [metaLen]byte: the SnapshotMeta as uvarints
//	data     the snapshot's data, of any length
//	dataLen  uint64 little-endian
//	dataCRC  uint32 little-endian: CRC-32C of data
//
// The header is written before the data, whose length is not known until
// the sink is closed, so the data's length and CRC trail it. See FORMAT.md.
const (
	snapMagic   = "RLSNAP"
	snapVersion = 2 // 1: no membership; still read

	snapHeaderLen  = len(snapMagic) + 1 + 4 + 4
	snapTrailerLen = 8 + 4
	// maxMetaLen bounds the metadata, which is read into memory whole,
	// so that a damaged length cannot make Open allocate gigabytes.
	maxMetaLen = 64 << 20
	// minSessionLen is the smallest encoding of a session (three one-byte
	// uvarints): a bound on the count a damaged meta can claim.
	minSessionLen = 3

	snapSuffix = ".snap"
	tmpSuffix  = ".snap.tmp"
)

func snapshotName(seq, index uint64) string {
	return fmt.Sprintf("%016x-%016x%s", seq, index, snapSuffix)
}

func tmpSnapshotName(n uint64) string { return fmt.Sprintf("%016x%s", n, tmpSuffix) }

// parseSnapshotName returns the sequence number and index in a snapshot
// file's name, or false if the name is not exactly one we write.
func parseSnapshotName(name string) (seq, index uint64, ok bool) {
	if _, err := fmt.Sscanf(name, "%016x-%016x.snap", &seq, &index); err != nil {
		return 0, 0, false
	}
	return seq, index, snapshotName(seq, index) == name
}

// encodeSnapshotHeader returns the bytes a snapshot file starts with.
func encodeSnapshotHeader(meta *raftlite.SnapshotMeta) ([]byte, error) {
	var m []byte
	m = binary.AppendUvarint(m, meta.Index)
	m = binary.AppendUvarint(m, meta.Term)
	m = binary.AppendUvarint(m, uint64(len(meta.Sessions)))
	for _, s := range meta.Sessions {
		m = binary.AppendUvarint(m, uint64(s.Origin))
		m = binary.AppendUvarint(m, s.Incarnation)
		m = binary.AppendUvarint(m, s.Seq)
	}
	if meta.Membership != nil {
		conf, _ := meta.Membership.MarshalBinary()
		m = binary.AppendUvarint(m, uint64(len(conf)))
		m = append(m, conf...)
	}
	if len(m) > maxMetaLen {
		return nil, fmt.Errorf("wal: snapshot metadata of %d bytes exceeds the limit of %d", len(m), maxMetaLen)
	}
	buf := make([]byte, 0, snapHeaderLen+len(m))
	buf = append(buf, snapMagic...)
	buf = append(buf, snapVersion)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(m)))
	crc := crc32.Update(crc32.Checksum(buf, castagnoli), castagnoli, m)
	buf = binary.LittleEndian.AppendUint32(buf, crc)
	return append(buf, m...), nil
}

func encodeSnapshotTrailer(dataLen uint64, crc uint32) []byte {
	b := binary.LittleEndian.AppendUint64(nil, dataLen)
	return binary.LittleEndian.AppendUint32(b, crc)
}

// snapshotLayout is where a snapshot file's parts are, once checked.
type snapshotLayout struct {
	meta      raftlite.SnapshotMeta
	dataOff   int64
	dataLen   int64
	dataCRC   uint32
	fileIndex uint64 // the index in the file's name
}

var errSnapshotDamaged = errors.New("damaged snapshot")

// readSnapshotLayout reads and checks a snapshot file's header, metadata
// and trailer, but not its data: the caller checks that against dataCRC as
// it reads it. Any inconsistency is reported as errSnapshotDamaged with
// what is wrong; a failed read as it is.
func readSnapshotLayout(f file) (snapshotLayout, error) {
	var lay snapshotLayout
	size, err := f.Size()
	if err != nil {
		return lay, err
	}
	if size < int64(snapHeaderLen+snapTrailerLen) {
		return lay, fmt.Errorf("%w: %d bytes is too short", errSnapshotDamaged, size)
	}
	h := make([]byte, snapHeaderLen)
	if err := readFull(f, h, 0); err != nil {
		return lay, err
	}
	if v := h[len(snapMagic)]; string(h[:len(snapMagic)]) != snapMagic || (v != snapVersion && v != 1) {
		return lay, fmt.Errorf("%w: not a snapshot file of version %d", errSnapshotDamaged, snapVersion)
	}
	metaLen := binary.LittleEndian.Uint32(h[len(snapMagic)+1:])
	if metaLen > maxMetaLen || int64(metaLen) > size-int64(snapHeaderLen+snapTrailerLen) {
		return lay, fmt.Errorf("%w: metadata length %d does not fit", errSnapshotDamaged, metaLen)
	}
	m := make([]byte, metaLen)
	if err := readFull(f, m, int64(snapHeaderLen)); err != nil {
		return lay, err
	}
	crc := crc32.Update(crc32.Checksum(h[:snapHeaderLen-4], castagnoli), castagnoli, m)
	if crc != binary.LittleEndian.Uint32(h[snapHeaderLen-4:]) {
		return lay, fmt.Errorf("%w: the header's CRC does not match", errSnapshotDamaged)
	}
	if lay.meta, err = decodeSnapshotMeta(m); err != nil {
		return lay, err
	}
	t := make([]byte, snapTrailerLen)
	if err := readFull(f, t, size-int64(snapTrailerLen)); err != nil {
		return lay, err
	}
	lay.dataOff = int64(snapHeaderLen) + int64(metaLen)
	lay.dataLen = size - int64(snapTrailerLen) - lay.dataOff
	if n := binary.LittleEndian.Uint64(t); n != uint64(lay.dataLen) {
		return lay, fmt.Errorf("%w: the trailer says %d bytes of data, the file holds %d", errSnapshotDamaged, n, lay.dataLen)
	}
	lay.dataCRC = binary.LittleEndian.Uint32(t[8:])
	return lay, nil
}

func decodeSnapshotMeta(m []byte) (raftlite.SnapshotMeta, error) {
	var meta raftlite.SnapshotMeta
	var n uint64
	var ok1, ok2, ok3 bool
	meta.Index, m, ok1 = uvarint(m)
	meta.Term, m, ok2 = uvarint(m)
	n, m, ok3 = uvarint(m)
	if !ok1 || !ok2 || !ok3 || n > uint64(len(m)/minSessionLen) {
		return meta, fmt.Errorf("%w: malformed metadata", errSnapshotDamaged)
	}
	if n > 0 {
		meta.Sessions = make([]raftlite.BroadcastID, n)
	}
	for i := range meta.Sessions {
		s := &meta.Sessions[i]
		var origin uint64
		origin, m, ok1 = uvarint(m)
		s.Incarnation, m, ok2 = uvarint(m)
		s.Seq, m, ok3 = uvarint(m)
		if !ok1 || !ok2 || !ok3 {
			return meta, fmt.Errorf("%w: malformed session %d", errSnapshotDamaged, i)
		}
		s.Origin = raftlite.NodeID(origin)
	}
	if len(m) != 0 {
		n, rest, ok := uvarint(m)
		if !ok || n != uint64(len(rest)) {
			return meta, fmt.Errorf("%w: malformed membership", errSnapshotDamaged)
		}
		var conf raftlite.Membership
		if err := conf.UnmarshalBinary(rest); err != nil {
			return meta, fmt.Errorf("%w: %w", errSnapshotDamaged, err)
		}
		meta.Membership, m = &conf, nil
	}
	if len(m) != 0 {
		return meta, fmt.Errorf("%w: %d bytes after the metadata", errSnapshotDamaged, len(m))
	}
	return meta, nil
}

// snapBufLen is the size of the buffers that snapshot data goes through:
// the sink's write buffer and the buffer of the check at Open.
const snapBufLen = 256 << 10

// checkSnapshotData reads the data of a snapshot through one buffer and
// checks it against its CRC.
func checkSnapshotData(f file, lay snapshotLayout) error {
	buf := make([]byte, min(int64(snapBufLen), max(lay.dataLen, 1)))
	crc := uint32(0)
	for off := int64(0); off < lay.dataLen; {
		n := min(int64(len(buf)), lay.dataLen-off)
		if err := readFull(f, buf[:n], lay.dataOff+off); err != nil {
			return err
		}
		crc = crc32.Update(crc, castagnoli, buf[:n])
		off += n
	}
	if crc != lay.dataCRC {
		return fmt.Errorf("%w: the data does not match its CRC", errSnapshotDamaged)
	}
	return nil
}

// readFull fills p from off. io.ReaderAt may report io.EOF along with a
// full read that ends at the end of the file; a short read is an error.
func readFull(f io.ReaderAt, p []byte, off int64) error {
	n, err := f.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}
