package wal

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/persister/persistertest"
)

var flagSnapMiB = flag.Int("wal.snapmib", 64, "size in MiB of the snapshot TestSnapshotMemoryIsBounded streams (1024 for the 1 GiB claim)")

// patternReader yields n bytes that vary with their offset, without
// holding them: a snapshot of any size for the price of one block.
type patternReader struct {
	block []byte
	off   int64
	n     int64
}

func newPatternReader(n int64) *patternReader {
	block := make([]byte, 64<<10+13) // not a power of two: pieces straddle buffers
	for i := range block {
		block[i] = byte(i*7 + i>>8)
	}
	return &patternReader{block: block, n: n}
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.off == r.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n-r.off)]
	for i := 0; i < len(p); {
		k := int((r.off + int64(i)) % int64(len(r.block)))
		i += copy(p[i:], r.block[k:])
	}
	r.off += int64(len(p))
	return len(p), nil
}

// crcWriter checksums what it is given, holding none of it.
type crcWriter struct {
	crc uint32
	n   int64
}

func (w *crcWriter) Write(p []byte) (int, error) {
	w.crc = crc32.Update(w.crc, castagnoli, p)
	w.n += int64(len(p))
	return len(p), nil
}

func allocated() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// TestSnapshotMemoryIsBounded streams a large snapshot into a sink, opens
// the log again (which checks the whole snapshot) and reads it back, and
// checks that each costs a few buffers of memory, not the snapshot's size.
// -wal.snapmib=1024 runs it at 1 GiB.
func TestSnapshotMemoryIsBounded(t *testing.T) {
	size := int64(*flagSnapMiB) << 20
	const budget = 4 << 20 // bytes allocated per step, whatever the size
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{})
	meta := raftlite.SnapshotMeta{Index: 7, Term: 2, Sessions: []raftlite.BroadcastID{{Origin: 1, Incarnation: 2, Seq: 3}}}

	before := allocated()
	sink, err := l.CreateSnapshot(meta)
	require.NoError(t, err)
	want := &crcWriter{}
	// Pieces of 32 KiB (io.Copy's), smaller than the sink's buffer.
	_, err = io.Copy(io.MultiWriter(sink, want), newPatternReader(size))
	require.NoError(t, err)
	require.NoError(t, sink.Close())
	assert.Less(t, allocated()-before, uint64(budget), "writing %d MiB", size>>20)
	require.NoError(t, l.Close())

	before = allocated()
	l = mustOpen(t, dir, Options{})
	defer l.Close()
	assert.Less(t, allocated()-before, uint64(budget), "opening, which checks the snapshot's CRC")

	before = allocated()
	got, r, err := l.OpenSnapshot()
	require.NoError(t, err)
	assert.Equal(t, meta, got)
	read := &crcWriter{}
	_, err = io.CopyBuffer(read, r, make([]byte, 1<<20))
	require.NoError(t, err)
	require.NoError(t, r.Close())
	assert.Less(t, allocated()-before, uint64(budget), "reading")
	assert.Equal(t, size, read.n)
	assert.Equal(t, want.crc, read.crc)
}

// snapshotOnFaultFS returns a log on the fault file system holding
// entries 1..30 in small segments and two snapshots, closed, and the name
// of the latest snapshot's file.
func snapshotOnFaultFS(t *testing.T) (*faultFS, Options, string) {
	t.Helper()
	fsys := newFaultFS(1)
	opts := Options{SegmentSize: 200, fs: fsys}
	l := mustOpen(t, "db", opts)
	require.NoError(t, l.Save(&raftlite.HardState{Term: 1}, persistertest.Entries(1, 30, 1)))
	for _, i := range []uint64{10, 20} {
		require.NoError(t, storeSnapshot(l, &snapModel{meta: raftlite.SnapshotMeta{Index: i, Term: 1,
			Sessions: []raftlite.BroadcastID{{Origin: 1, Incarnation: 1, Seq: i}}}, data: []byte(strings.Repeat("state ", 100))}))
	}
	snap, _ := l.latestSnapshot()
	require.NoError(t, l.Close())
	return fsys, opts, filepath.Base(snap.name)
}

// TestDamagedSnapshotIsCorruption flips a byte of each part of the latest
// snapshot's file, and cuts it short: Open refuses the log with ErrCorrupt
// naming the file, rather than go back to the snapshot before it.
func TestDamagedSnapshotIsCorruption(t *testing.T) {
	fsys, opts, name := snapshotOnFaultFS(t)
	size := int64(len(fsys.names[name].data))
	metaEnd := int64(snapHeaderLen) + int64(binary.LittleEndian.Uint32(fsys.names[name].data[len(snapMagic)+1:]))
	for _, tc := range []struct {
		part string
		off  int64
	}{
		{"Magic", 0}, {"Version", int64(len(snapMagic))}, {"MetaLength", int64(len(snapMagic)) + 1},
		{"MetaCRC", int64(snapHeaderLen) - 1}, {"MetaIndex", int64(snapHeaderLen)}, {"MetaLastSession", metaEnd - 1},
		{"FirstDataByte", metaEnd}, {"LastDataByte", size - int64(snapTrailerLen) - 1},
		{"DataLength", size - int64(snapTrailerLen)}, {"DataCRC", size - 1},
		{"CutShort", -1},
	} {
		t.Run(tc.part, func(t *testing.T) {
			img := fsys.crashImage(rand.New(rand.NewPCG(1, 2)), false)
			ino := img.names[name]
			if tc.off < 0 {
				ino.data = ino.data[:size-5]
			} else {
				ino.data[tc.off] ^= 0x10
			}
			ino.synced = slices.Clone(ino.data)
			o := opts
			o.fs = img
			_, err := Open("db", o)
			require.ErrorIs(t, err, raftlite.ErrCorrupt)
			assert.Contains(t, err.Error(), join("db", name))
		})
	}
}

// TestMalformedSnapshotMetaIsRefused flips every byte of the header and
// metadata with the CRC recomputed, as a buggy writer could leave them:
// Open fails with ErrCorrupt or succeeds, never panics nor allocates what
// a damaged length or count claims.
func TestMalformedSnapshotMetaIsRefused(t *testing.T) {
	fsys, opts, name := snapshotOnFaultFS(t)
	metaEnd := snapHeaderLen + int(binary.LittleEndian.Uint32(fsys.names[name].data[len(snapMagic)+1:]))
	for off := 0; off < metaEnd; off++ {
		for _, flip := range []byte{0x01, 0x80, 0xff} {
			img := fsys.crashImage(rand.New(rand.NewPCG(1, 2)), false)
			data := img.names[name].data
			data[off] ^= flip
			if off < snapHeaderLen-4 || off >= snapHeaderLen {
				m := data[snapHeaderLen:min(len(data), snapHeaderLen+int(binary.LittleEndian.Uint32(data[len(snapMagic)+1:])))]
				crc := crc32.Update(crc32.Checksum(data[:snapHeaderLen-4], castagnoli), castagnoli, m)
				binary.LittleEndian.PutUint32(data[snapHeaderLen-4:], crc)
			}
			img.names[name].synced = slices.Clone(data)
			o := opts
			o.fs = img
			l, err := Open("db", o)
			if err == nil {
				l.Close()
				continue
			}
			require.ErrorIs(t, err, raftlite.ErrCorrupt, "byte %d flipped by %#x", off, flip)
		}
	}
}

// TestSnapshotDamagedAfterOpenFailsTheRead: the reader checks the data as
// it streams it, so damage done after Open is reported at the end of the
// data, as ErrCorrupt naming the file, and not as io.EOF.
func TestSnapshotDamagedAfterOpenFailsTheRead(t *testing.T) {
	fsys, opts, name := snapshotOnFaultFS(t)
	l := mustOpen(t, "db", opts)
	defer l.Close()
	fsys.names[name].data[snapHeaderLen+40] ^= 1
	_, r, err := l.OpenSnapshot()
	require.NoError(t, err)
	defer r.Close()
	_, err = io.ReadAll(r)
	require.ErrorIs(t, err, raftlite.ErrCorrupt)
	assert.Contains(t, err.Error(), join("db", name))

	// Cut short, it fails before the end rather than return less.
	fsys.names[name].data = fsys.names[name].data[:snapHeaderLen+60]
	_, r2, err := l.OpenSnapshot()
	if err == nil {
		_, err = io.ReadAll(r2)
		r2.Close()
	}
	require.ErrorIs(t, err, raftlite.ErrCorrupt)
}

// TestOpenRemovesLeftovers: temporary files of sinks never closed and
// snapshots beyond the latest two, which a crash may leave, are removed by
// Open; the latest stays the latest.
func TestOpenRemovesLeftovers(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{})
	for i := uint64(1); i <= 3; i++ {
		require.NoError(t, storeSnapshot(l, &snapModel{meta: raftlite.SnapshotMeta{Index: i}, data: []byte{byte(i)}}))
	}
	sink, err := l.CreateSnapshot(raftlite.SnapshotMeta{Index: 4})
	require.NoError(t, err)
	_, err = sink.Write([]byte("never closed"))
	require.NoError(t, err)
	require.NoError(t, l.Close())
	snaps := func() []string {
		m, err := filepath.Glob(filepath.Join(dir, "*.snap*"))
		require.NoError(t, err)
		for i := range m {
			m[i] = filepath.Base(m[i])
		}
		return m
	}
	assert.Equal(t, []string{snapshotName(2, 2), snapshotName(3, 3), tmpSnapshotName(4)}, snaps())
	// A crash kept the oldest from its removal.
	require.NoError(t, os.WriteFile(filepath.Join(dir, snapshotName(1, 1)), []byte("old"), 0o644))

	l = mustOpen(t, dir, Options{})
	defer l.Close()
	assert.Equal(t, []string{snapshotName(2, 2), snapshotName(3, 3)}, snaps())
	require.NoError(t, matchesSnapshot(&snapModel{meta: raftlite.SnapshotMeta{Index: 3}, data: []byte{3}}, l))
	require.NoError(t, storeSnapshot(l, &snapModel{meta: raftlite.SnapshotMeta{Index: 4}}))
	assert.Equal(t, []string{snapshotName(3, 3), snapshotName(4, 4)}, snaps())
}

// TestSinkLifecycle: Abort removes the temporary file and stores nothing,
// Abort after Close is a no-op, a sink used after Close or Abort fails,
// and a sink closed after the Log stores nothing.
func TestSinkLifecycle(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{})
	tmps := func() int {
		m, err := filepath.Glob(filepath.Join(dir, "*"+tmpSuffix))
		require.NoError(t, err)
		return len(m)
	}
	sink, err := l.CreateSnapshot(raftlite.SnapshotMeta{Index: 1})
	require.NoError(t, err)
	_, err = sink.Write([]byte("aborted"))
	require.NoError(t, err)
	assert.Equal(t, 1, tmps())
	require.NoError(t, sink.Abort())
	assert.Equal(t, 0, tmps())
	require.NoError(t, sink.Abort())
	_, err = sink.Write([]byte("more"))
	assert.Error(t, err)
	assert.Error(t, sink.Close())
	require.NoError(t, matchesSnapshot(nil, l))

	sink, err = l.CreateSnapshot(raftlite.SnapshotMeta{Index: 2})
	require.NoError(t, err)
	require.NoError(t, sink.Close())
	require.NoError(t, sink.Abort(), "a no-op after Close")
	assert.Error(t, sink.Close())
	require.NoError(t, matchesSnapshot(&snapModel{meta: raftlite.SnapshotMeta{Index: 2}}, l))

	sink, err = l.CreateSnapshot(raftlite.SnapshotMeta{Index: 3})
	require.NoError(t, err)
	require.NoError(t, l.Close())
	require.ErrorIs(t, sink.Close(), ErrClosed)
	assert.Equal(t, 0, tmps())
	_, err = l.CreateSnapshot(raftlite.SnapshotMeta{Index: 4})
	require.ErrorIs(t, err, ErrClosed)
	l = mustOpen(t, dir, Options{})
	defer l.Close()
	require.NoError(t, matchesSnapshot(&snapModel{meta: raftlite.SnapshotMeta{Index: 2}}, l))
}

// TestFailedSnapshotStoresNothing fills the disk at each operation of a
// snapshot's storing: Close fails with ErrStorage and the OS error, the
// previous snapshot stays the latest, and Saves go on, since the segments
// were not touched. Only a failure of the directory fsync after the
// rename (whose undoing fails on the same disk) may let the new snapshot,
// whole, show after a reopen, as a crash in the middle of Close may.
func TestFailedSnapshotStoresNothing(t *testing.T) {
	old := &snapModel{meta: raftlite.SnapshotMeta{Index: 1}, data: []byte("old")}
	snap := &snapModel{meta: raftlite.SnapshotMeta{Index: 2}, data: make([]byte, 600<<10)}
	setup := func(seed uint64) (*faultFS, *Log) {
		fsys := newFaultFS(seed)
		l := mustOpen(t, "db", Options{fs: fsys})
		require.NoError(t, storeSnapshot(l, old))
		return fsys, l
	}
	fsys, l := setup(0)
	ops := fsys.ops
	require.NoError(t, storeSnapshot(l, snap))
	ops = fsys.ops - ops
	require.GreaterOrEqual(t, ops, 6, "create, write, write, sync, rename, sync the directory")
	l.Close()

	for failAt := 1; failAt <= ops; failAt++ {
		fsys, l := setup(uint64(failAt))
		fsys.failAt, fsys.failErr = fsys.ops+failAt, syscall.ENOSPC
		err := storeSnapshot(l, snap)
		fsys.failAt = 0
		require.ErrorIs(t, err, raftlite.ErrStorage, "failure at operation %d", failAt)
		require.ErrorIs(t, err, syscall.ENOSPC)
		require.NoError(t, matchesSnapshot(old, l), "failure at operation %d", failAt)
		require.NoError(t, l.Save(nil, persistertest.Entries(1, 1, 1)))
		require.NoError(t, l.Close())

		l = mustOpen(t, "db", Options{fs: fsys})
		if errOld := matchesSnapshot(old, l); errOld != nil {
			require.Equal(t, ops, failAt, "after a reopen, failure at operation %d: %v", failAt, errOld)
			require.NoError(t, matchesSnapshot(snap, l))
		}
		names, _ := fsys.ReadDir("db")
		for _, n := range names {
			assert.False(t, strings.HasSuffix(n, tmpSuffix), "%s left after Open", n)
		}
		l.Close()
	}
}

// TestSnapshotMustReachTheLog: after compaction the log starts later, and
// a snapshot before that start would leave a hole that Open refuses, so
// storing one fails; Compact past the latest snapshot fails too.
func TestSnapshotMustReachTheLog(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Options{SegmentSize: 100})
	defer l.Close()
	for i := uint64(1); i <= 40; i += 5 {
		require.NoError(t, l.Save(nil, persistertest.Entries(i, i+4, 1)))
	}
	require.ErrorIs(t, l.Compact(1), ErrNotCovered)
	require.NoError(t, storeSnapshot(l, &snapModel{meta: raftlite.SnapshotMeta{Index: 30}}))
	require.ErrorIs(t, l.Compact(31), ErrNotCovered)
	require.NoError(t, l.Compact(30))
	first := l.FirstIndex()
	require.Greater(t, first, uint64(2))
	require.ErrorIs(t, storeSnapshot(l, &snapModel{meta: raftlite.SnapshotMeta{Index: first - 2}}), ErrNotCovered)
	require.NoError(t, storeSnapshot(l, &snapModel{meta: raftlite.SnapshotMeta{Index: first - 1}}))
}

// TestMissingFirstSegmentsAreCorruption: a log whose first segments are
// gone is refused unless the latest snapshot covers them (as after
// Compact) or the log restarted there (DiscardLog).
func TestMissingFirstSegmentsAreCorruption(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 100}
	l := mustOpen(t, dir, opts)
	for i := uint64(1); i <= 40; i += 5 {
		require.NoError(t, l.Save(nil, persistertest.Entries(i, i+4, 1)))
	}
	require.NoError(t, storeSnapshot(l, &snapModel{meta: raftlite.SnapshotMeta{Index: 5}}))
	require.NoError(t, l.Close())
	segs := segmentFiles(t, dir)
	require.NoError(t, os.Remove(segs[0]))
	require.NoError(t, os.Remove(segs[1])) // entries up to 10: past the snapshot
	_, err := Open(dir, opts)
	require.ErrorIs(t, err, raftlite.ErrCorrupt)
	assert.Contains(t, err.Error(), segs[2])
	assert.Contains(t, err.Error(), "the latest snapshot is at index 5: segments are missing")

	_, err = Open(dir, opts)
	require.ErrorIs(t, err, raftlite.ErrCorrupt, "Open repaired nothing")
}

// TestDiscardLog restarts the log after an index before, at and past its
// end, and after a reopen: the old segments go, Load is empty, LoadState
// says the log ends at the index, and Saves go on from index+1 only.
func TestDiscardLog(t *testing.T) {
	for _, index := range []uint64{0, 12, 40, 100} {
		dir := t.TempDir()
		opts := Options{SegmentSize: 100}
		l := mustOpen(t, dir, opts)
		hs := raftlite.HardState{Term: 3, VotedFor: 1, Commit: 9}
		require.NoError(t, l.Save(&hs, persistertest.Entries(1, 5, 1)))
		for i := uint64(6); i <= 40; i += 5 {
			require.NoError(t, l.Save(nil, persistertest.Entries(i, i+4, 1)))
		}
		require.NoError(t, l.DiscardLog(index))
		assert.Len(t, segmentFiles(t, dir), 1, "only the restart's segment is left")
		check := func(l *Log, want []raftlite.Entry) {
			t.Helper()
			persistertest.RequireState(t, l, hs, want)
			_, first, last, err := l.LoadState()
			require.NoError(t, err)
			assert.Equal(t, index+1, first)
			assert.Equal(t, index+uint64(len(want)), last)
		}
		check(l, nil)
		require.ErrorIs(t, l.Save(nil, persistertest.Entries(index+2, index+2, 3)), raftlite.ErrCorrupt)
		if index > 0 {
			require.ErrorIs(t, l.Save(nil, persistertest.Entries(index, index+1, 3)), raftlite.ErrCorrupt)
		}
		require.NoError(t, l.Close())
		l = mustOpen(t, dir, opts)
		check(l, nil)
		require.NoError(t, l.Save(nil, persistertest.Entries(index+1, index+30, 3)))
		check(l, persistertest.Entries(index+1, index+30, 3))
		require.NoError(t, l.Close())
		l = mustOpen(t, dir, opts)
		check(l, persistertest.Entries(index+1, index+30, 3))
		require.NoError(t, l.Close())
	}
}

// TestDiscardLogOnAnEmptyLog: a follower whose first act is to install a
// snapshot discards a log that has no segment yet.
func TestDiscardLogOnAnEmptyLog(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{})
	require.NoError(t, l.DiscardLog(50))
	require.NoError(t, l.Close())
	l = mustOpen(t, dir, Options{})
	defer l.Close()
	assert.Equal(t, uint64(51), l.FirstIndex())
	require.NoError(t, l.Save(nil, persistertest.Entries(51, 51, 1)))
	persistertest.RequireState(t, l, raftlite.HardState{}, persistertest.Entries(51, 51, 1))
}

// TestVersion2SegmentsOpen writes a log as the previous version did
// (segment headers of version 2, without flags): it opens, and goes on
// with version 3 segments.
func TestVersion2SegmentsOpen(t *testing.T) {
	dir := t.TempDir()
	hs := raftlite.HardState{Term: 2, VotedFor: 1, Incarnation: 1, Commit: 1}
	buf, start := beginFrame(nil, frameSegment, 0)
	buf = append(buf, segmentMagic...)
	buf = append(buf, segmentVersionV2)
	buf = binary.AppendUvarint(buf, 1)
	buf = binary.AppendUvarint(buf, 1)
	buf = appendHardState(buf, &hs)
	require.NoError(t, endFrame(buf, start))
	buf, _, err := appendSave(buf, 0, &hs, persistertest.Entries(1, 3, 2), nil)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, segmentName(1, 1)), buf, 0o644))

	opts := Options{SegmentSize: 10}
	l := mustOpen(t, dir, opts)
	persistertest.RequireState(t, l, hs, persistertest.Entries(1, 3, 2))
	require.NoError(t, l.Save(nil, persistertest.Entries(4, 4, 2)))
	require.NoError(t, l.Close())
	segs := segmentFiles(t, dir)
	require.Len(t, segs, 2)
	data, err := os.ReadFile(segs[1])
	require.NoError(t, err)
	assert.Equal(t, byte(segmentVersion), data[frameHeaderLen+len(segmentMagic)])
	l = mustOpen(t, dir, opts)
	defer l.Close()
	persistertest.RequireState(t, l, hs, persistertest.Entries(1, 4, 2))
}

// errReadAt fails every read, to show that the reader reports a failed read
// as ErrStorage, not as the end of the data.
type errReadAt struct{ file }

func (errReadAt) ReadAt([]byte, int64) (int, error) { return 0, errors.New("disk on fire") }

func TestSnapshotReaderReportsFailedReads(t *testing.T) {
	r := &snapshotReader{f: errReadAt{}, name: "x", off: 10, end: 20}
	_, err := r.Read(make([]byte, 4))
	require.ErrorIs(t, err, raftlite.ErrStorage)
	_, err = r.Read(make([]byte, 4))
	require.ErrorIs(t, err, raftlite.ErrStorage, "the failure sticks")
}

// The latest snapshot is the one with the highest index: a sink closed
// after a later snapshot was stored (the application's, written while one
// from the leader was installed) is dropped, leaving no file behind.
func TestAnOlderSnapshotClosedLaterIsDropped(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{})
	defer l.Close()
	older, err := l.CreateSnapshot(raftlite.SnapshotMeta{Index: 5})
	require.NoError(t, err)
	_, err = older.Write([]byte("as of 5"))
	require.NoError(t, err)
	later, err := l.CreateSnapshot(raftlite.SnapshotMeta{Index: 9})
	require.NoError(t, err)
	_, err = later.Write([]byte("as of 9"))
	require.NoError(t, err)
	require.NoError(t, later.Close())
	require.NoError(t, older.Close())

	meta, rc, err := l.OpenSnapshot()
	require.NoError(t, err)
	data, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	assert.Equal(t, uint64(9), meta.Index)
	assert.Equal(t, "as of 9", string(data))
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	require.NoError(t, err)
	for _, f := range files {
		assert.NotContains(t, f, tmpSuffix, "the dropped snapshot's temporary file is gone")
	}
}

// fakeClock is a clock whose time moves only when the sink sleeps or the
// test says so.
type fakeClock struct {
	now   time.Time
	slept time.Duration
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(d time.Duration) {
	if d > 0 {
		c.now = c.now.Add(d)
		c.slept += d
	}
}

// TestSnapshotSinkWritesInPacedPieces: whatever the sizes of the writes, a
// sink never leaves more than one piece of data unsynced, and with a rate
// cap each piece takes at least its share of the time, so that a large
// snapshot reaches the disk a little at a time. Time the sink was left
// idle gives it no credit: the writes after an hour's pause are paced too.
func TestSnapshotSinkWritesInPacedPieces(t *testing.T) {
	const rate = 4 << 20 // bytes per second
	perPiece := time.Duration(snapSyncEvery) * time.Second / rate
	for _, write := range []int{1000, 64<<10 + 13, 1<<20 + 7} {
		t.Run(fmt.Sprintf("writes of %d bytes", write), func(t *testing.T) {
			fsys := newFaultFS(1)
			clk := &fakeClock{now: time.Unix(0, 0)}
			l := mustOpen(t, "db", Options{fs: fsys, SnapshotBytesPerSecond: rate, clock: clk})
			defer l.Close()
			sink, err := l.CreateSnapshot(raftlite.SnapshotMeta{Index: 1})
			require.NoError(t, err)
			const size = 2<<20 + 5
			buf, r := make([]byte, write), newPatternReader(size)
			for written := 0; ; {
				n, err := r.Read(buf)
				if err == io.EOF {
					break
				}
				if written < size/2 && written+n >= size/2 {
					clk.now = clk.now.Add(time.Hour)
				}
				_, err = sink.Write(buf[:n])
				require.NoError(t, err)
				written += n
				require.LessOrEqual(t, fsys.unsynced(), snapSyncEvery)
			}
			require.NoError(t, sink.Close())
			assert.Zero(t, fsys.unsynced())
			// Every whole piece was paced; the rest, synced by Close,
			// was not.
			pieces := (snapHeaderLen + size + snapTrailerLen) / snapSyncEvery
			assert.Equal(t, time.Duration(pieces)*perPiece, clk.slept)
		})
	}
}

// TestOldSnapshotsAreRemovedOutsideTheLock: storing a snapshot removes the
// ones it leaves out of the latest two, and the one it turns out to be
// superseded by, without holding the lock that Save takes, since removing
// a large file takes the file system tens of milliseconds.
func TestOldSnapshotsAreRemovedOutsideTheLock(t *testing.T) {
	fsys := newFaultFS(1)
	l := mustOpen(t, "db", Options{fs: fsys})
	defer l.Close()
	require.NoError(t, l.Save(&raftlite.HardState{Term: 1}, persistertest.Entries(1, 10, 1)))
	var removed []string
	fsys.beforeRemove = func(name string) {
		if strings.HasSuffix(name, snapSuffix) || strings.HasSuffix(name, tmpSuffix) {
			removed = append(removed, filepath.Base(name))
			if assert.True(t, l.mu.TryLock(), "removing %s with the lock held", name) {
				l.mu.Unlock()
			}
		}
	}
	for i := uint64(1); i <= 4; i++ {
		require.NoError(t, storeSnapshot(l, &snapModel{meta: raftlite.SnapshotMeta{Index: i, Term: 1}, data: []byte("state")}))
	}
	sink, err := l.CreateSnapshot(raftlite.SnapshotMeta{Index: 3, Term: 1}) // older than the latest
	require.NoError(t, err)
	require.NoError(t, sink.Close())
	assert.Equal(t, []string{snapshotName(1, 1), snapshotName(2, 2), tmpSnapshotName(5)}, removed)
	require.NoError(t, matchesSnapshot(&snapModel{meta: raftlite.SnapshotMeta{Index: 4, Term: 1}, data: []byte("state")}, l))
}
