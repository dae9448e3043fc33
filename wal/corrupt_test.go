package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/persister/persistertest"
)

// damageLog is a log written on a fault file system, with where each of
// its records is, so that tests can damage any byte of it.
type damageLog struct {
	fsys   *faultFS
	opts   Options
	frames []frame    // every record, in log order
	models []model    // models[k] is the state after the first k Saves
	pos    []entryPos // where entry i+1 is
}

// frame is one record: the segment header (save == -1) or Save number save.
type frame struct {
	seg       string // file name, without the directory
	off, end  int64
	save      int
	lastInSeg bool
	lastSeg   bool
}

// damageSaves are the Saves of a damageLog: every kind of record content,
// a HardState alone, entries alone, both, entries with data and no-ops.
func damageSaves() []op {
	hs := func(term, commit uint64) *raftlite.HardState {
		return &raftlite.HardState{Term: term, VotedFor: 1, Incarnation: 1, Commit: commit}
	}
	return []op{
		{kind: opSave, hs: hs(2, 0), entries: persistertest.Entries(1, 3, 2)},
		{kind: opSave, entries: persistertest.Entries(4, 6, 2)},
		{kind: opSave, hs: hs(3, 2)},
		{kind: opSave, hs: hs(4, 5), entries: persistertest.Entries(7, 8, 4)},
	}
}

// writeDamageLog writes damageSaves in segments of segmentSize bytes.
func writeDamageLog(t *testing.T, segmentSize int64) *damageLog {
	t.Helper()
	d := &damageLog{fsys: newFaultFS(1), models: []model{{floor: 1}}}
	d.opts = Options{SegmentSize: segmentSize, fs: d.fsys}
	l := mustOpen(t, "db", d.opts)
	for _, o := range damageSaves() {
		require.NoError(t, l.Save(o.hs, o.entries))
		d.models = append(d.models, d.models[len(d.models)-1].apply(o))
	}
	d.pos = slices.Clone(l.pos)
	require.NoError(t, l.Close())

	names, err := d.fsys.ReadDir("db")
	require.NoError(t, err)
	save := 0
	for i, name := range names {
		data := d.fsys.names[name].data
		for off := int64(0); off < int64(len(data)); {
			typ, n, ok := checkFrame(data[off:])
			require.True(t, ok, "%s at %d", name, off)
			f := frame{seg: name, off: off, end: off + int64(n), save: -1, lastSeg: i == len(names)-1}
			if typ == frameSave || typ == frameSaveTagged {
				f.save, save = save, save+1
			}
			f.lastInSeg = f.end == int64(len(data))
			d.frames = append(d.frames, f)
			off = f.end
		}
	}
	require.Equal(t, len(damageSaves()), save)
	return d
}

// frameOf returns the record that holds byte off of segment seg.
func (d *damageLog) frameOf(seg string, off int64) frame {
	for _, f := range d.frames {
		if f.seg == seg && f.off <= off && off < f.end {
			return f
		}
	}
	panic(fmt.Sprintf("no record holds byte %d of %s", off, seg))
}

// damaged returns a copy of the log's disk with the byte at off of seg
// flipped. With forgeCRC, the CRC of the record that holds it is
// recomputed, as if the log did not check CRCs.
func (d *damageLog) damaged(seg string, off int64, forgeCRC bool) *faultFS {
	img := d.fsys.crashImage(rand.New(rand.NewPCG(1, 2)), false)
	data := img.names[seg].data
	data[off] ^= 0x40
	if f := d.frameOf(seg, off); forgeCRC && off >= f.off+8 {
		binary.LittleEndian.PutUint32(data[f.off+4:], crc32.Checksum(data[f.off+8:f.end], castagnoli))
	}
	img.names[seg].synced = slices.Clone(data)
	return img
}

// checkDamage opens a log whose record f was damaged and checks that
// recovery did the right thing: cut the record if it is the last of the
// log, as a crash in the middle of its write would leave it; otherwise
// refuse with ErrCorrupt, naming the file and the record's offset.
func (d *damageLog) checkDamage(img *faultFS, f frame) error {
	opts := d.opts
	opts.fs = img
	l, err := Open("db", opts)
	if !(f.lastInSeg && f.lastSeg) {
		if err == nil {
			l.Close()
			return errors.New("the damage was not detected: Open succeeded")
		}
		where := fmt.Sprintf("%s at offset %d", join("db", f.seg), f.off)
		if !errors.Is(err, raftlite.ErrCorrupt) || !strings.Contains(err.Error(), where) {
			return fmt.Errorf("Open failed with %q, want ErrCorrupt naming %q", err, where)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("Open failed (%w), want the torn last record cut", err)
	}
	defer l.Close()
	hs, es, err := l.Load()
	if err != nil {
		return err
	}
	if err := matches(d.models[f.save], hs, es); err != nil {
		return fmt.Errorf("the last record was not cut: %w", err)
	}
	// The rest of the file stays, to be overwritten: the next Save goes
	// where the damaged record was.
	if end := l.active().size; end != f.off {
		return fmt.Errorf("the segment's data ends at %d, want it cut to %d", end, f.off)
	}
	return nil
}

// damageClasses are the kinds of byte a record has; each returns the
// offset of one such byte in record f, or -1 if f has none.
var damageClasses = []struct {
	name string
	at   func(d *damageLog, f frame) int64
}{
	{"Length", func(_ *damageLog, f frame) int64 { return f.off }},
	{"CRC", func(_ *damageLog, f frame) int64 { return f.off + 5 }},
	{"Type", func(_ *damageLog, f frame) int64 { return f.off + 8 }},
	{"Tag", func(_ *damageLog, f frame) int64 { return ifSave(f, true, f.off+frameHeaderLen) }},
	{"SegmentHeaderMagic", func(_ *damageLog, f frame) int64 { return ifSave(f, false, f.off+frameHeaderLen+1) }},
	{"SaveFlags", func(_ *damageLog, f frame) int64 { return ifSave(f, true, f.off+frameHeaderLen+tagLen) }},
	{"HardStateTerm", func(_ *damageLog, f frame) int64 { return ifSave(f, true, f.off+frameHeaderLen+tagLen+1) }},
	{"EntryLength", func(d *damageLog, f frame) int64 { return d.firstEntry(f, -1) }},
	{"EntryTerm", func(d *damageLog, f frame) int64 { return d.firstEntry(f, 0) }},
	{"EntryData", func(d *damageLog, f frame) int64 {
		if d.firstIndex(f) == 0 {
			return -1
		}
		return d.firstEntry(f, int64(d.pos[d.firstIndex(f)-1].n)-1) // its last byte
	}},
}

func ifSave(f frame, save bool, off int64) int64 {
	if (f.save >= 0) != save {
		return -1
	}
	return off
}

// firstIndex is the index of the first entry of record f.
func (d *damageLog) firstIndex(f frame) uint64 {
	if f.save < 0 || len(damageSaves()[f.save].entries) == 0 {
		return 0
	}
	return damageSaves()[f.save].entries[0].Index
}

// firstEntry is the offset of the encoding of the first entry of record
// f, plus delta, or -1 if the record has no entry.
func (d *damageLog) firstEntry(f frame, delta int64) int64 {
	i := d.firstIndex(f)
	if i == 0 {
		return -1
	}
	return d.pos[i-1].off + delta
}

// TestEveryKindOfDamagedByteIsDetectedOrCut flips a byte of each kind
// (length, CRC, type, segment header, flags, HardState, entry length, term
// and data) in records followed by intact ones, in the last record of the
// log and in the last record of a segment that is not the last. Open must
// refuse the first and third with ErrCorrupt naming file and offset, and
// cut the second, as a crash in the middle of its write would leave it.
func TestEveryKindOfDamagedByteIsDetectedOrCut(t *testing.T) {
	one := writeDamageLog(t, DefaultSegmentSize)
	tiny := writeDamageLog(t, 1) // a new segment for every Save with entries
	require.True(t, tiny.frames[1].lastInSeg && !tiny.frames[1].lastSeg,
		"the first segment holds the header and the first Save only")
	positions := []struct {
		name   string
		d      *damageLog
		frames []frame // the first that has a byte of the class is damaged
	}{
		{"FollowedByIntactRecords", one, one.frames[:2]},
		{"LastRecordOfTheLog", one, one.frames[len(one.frames)-1:]},
		{"LastRecordOfAnEarlierSegment", tiny, tiny.frames[1:2]},
	}
	for _, pos := range positions {
		for _, class := range damageClasses {
			for _, f := range pos.frames {
				off := class.at(pos.d, f)
				if off < 0 {
					continue
				}
				t.Run(pos.name+"/"+class.name, func(t *testing.T) {
					require.True(t, f.off <= off && off < f.end)
					require.NoError(t, pos.d.checkDamage(pos.d.damaged(f.seg, off, false), f),
						"byte %d of %s, in the record at %d", off, f.seg, f.off)
				})
				break
			}
		}
	}
}

// TestTheCRCIsWhatCatchesAFlippedPayloadByte damages bytes that decode as
// well as the good ones (a term, a byte of data) again with the CRC
// recomputed, as a log that did not check CRCs would read them: the check
// of the test above then fails, so the CRC is what catches them.
func TestTheCRCIsWhatCatchesAFlippedPayloadByte(t *testing.T) {
	d := writeDamageLog(t, DefaultSegmentSize)
	for _, f := range []frame{d.frames[1], d.frames[len(d.frames)-1]} {
		for _, class := range damageClasses {
			if !slices.Contains([]string{"HardStateTerm", "EntryTerm", "EntryData"}, class.name) {
				continue
			}
			off := class.at(d, f)
			require.NoError(t, d.checkDamage(d.damaged(f.seg, off, false), f), "%s of the record at %d", class.name, f.off)
			err := d.checkDamage(d.damaged(f.seg, off, true), f)
			if assert.Error(t, err, "%s of the record at %d is caught even with a good CRC", class.name, f.off) {
				assert.Regexp(t, "not detected|not cut", err.Error())
			}
		}
	}
}

// TestAnyFlippedByteIsDetectedOrCut flips every byte of the log in turn,
// with one segment and with many.
func TestAnyFlippedByteIsDetectedOrCut(t *testing.T) {
	for _, size := range []int64{DefaultSegmentSize, 1} {
		d := writeDamageLog(t, size)
		for _, f := range d.frames {
			for off := f.off; off < f.end; off++ {
				if err := d.checkDamage(d.damaged(f.seg, off, false), f); err != nil {
					t.Fatalf("segment size %d, byte %d of %s (record at %d): %v", size, off, f.seg, f.off, err)
				}
			}
		}
	}
}

// TestMalformedRecordsWithGoodCRCsAreRefused flips every byte of the log
// with the CRC recomputed, so that the decoders see the malformed records a
// buggy writer could leave: Open and Load must fail with ErrCorrupt or
// succeed, never panic nor allocate what a damaged length claims.
func TestMalformedRecordsWithGoodCRCsAreRefused(t *testing.T) {
	for _, size := range []int64{DefaultSegmentSize, 1} {
		d := writeDamageLog(t, size)
		for _, f := range d.frames {
			for off := f.off + 8; off < f.end; off++ {
				opts := d.opts
				opts.fs = d.damaged(f.seg, off, true)
				l, err := Open("db", opts)
				if err == nil {
					_, _, err = l.Load()
					l.Close()
				}
				if err != nil && !errors.Is(err, raftlite.ErrCorrupt) {
					t.Fatalf("segment size %d, byte %d of %s: %v is not ErrCorrupt", size, off, f.seg, err)
				}
			}
		}
	}
}

// TestTornTailIsCut writes garbage after the last record, as a crash in the
// middle of a write leaves it, and expects Open to cut it off.
func TestTornTailIsCut(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{})
	require.NoError(t, l.Save(nil, persistertest.Entries(1, 5, 1)))
	require.NoError(t, l.Save(nil, persistertest.Entries(6, 9, 1)))
	require.NoError(t, l.Close())
	seg := segmentFiles(t, dir)[0]
	fi, err := os.Stat(seg)
	require.NoError(t, err)

	// Cut the last Save short: it is gone, the rest stays.
	require.NoError(t, os.Truncate(seg, fi.Size()-3))
	l = mustOpen(t, dir, Options{})
	persistertest.RequireState(t, l, raftlite.HardState{}, persistertest.Entries(1, 5, 1))
	require.NoError(t, l.Save(nil, persistertest.Entries(6, 6, 2)))
	require.NoError(t, l.Close())
	l = mustOpen(t, dir, Options{})
	defer l.Close()
	persistertest.RequireState(t, l, raftlite.HardState{}, append(persistertest.Entries(1, 5, 1), persistertest.Entries(6, 6, 2)...))
}

func TestMissingSegmentIsCorruption(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{SegmentSize: 100})
	for i := uint64(1); i <= 40; i += 5 {
		require.NoError(t, l.Save(nil, persistertest.Entries(i, i+4, 1)))
	}
	require.NoError(t, l.Close())
	segs := segmentFiles(t, dir)
	require.Greater(t, len(segs), 3)
	require.NoError(t, os.Remove(segs[2]))
	_, err := Open(dir, Options{})
	require.ErrorIs(t, err, raftlite.ErrCorrupt)
	assert.Contains(t, err.Error(), "missing")
}
