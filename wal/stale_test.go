package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/persister/persistertest"
)

// segmentBytes is a version 4 segment seq as the log writes it: its
// header, then one Save per batch of entries.
func segmentBytes(t *testing.T, seq, prevEnd uint64, hs *raftlite.HardState, batches ...[]raftlite.Entry) []byte {
	t.Helper()
	buf := appendSegmentHeader(nil, seq, batches[0][0].Index, prevEnd, hs, false)
	for _, es := range batches {
		var err error
		buf, _, err = appendSave(buf, seq, nil, es, nil)
		require.NoError(t, err)
	}
	return buf
}

// writeFiles writes the named files into a new directory.
func writeFiles(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
	}
	return dir
}

var staleHS = raftlite.HardState{Term: 2, VotedFor: 1, Incarnation: 1}

// checkStaleRecordsAreTheEnd builds a log whose last segment, 2, is a
// recycled file: over what its previous life (segment 1's) left, a header
// and a Save of this life were written, and the previous life's next
// record, well-formed and with its CRC intact, starts exactly where the
// new data ends. Its entries even continue the log. Open must take it for
// the end of the log: not data, and not damage followed by data.
func checkStaleRecordsAreTheEnd(t *testing.T) error {
	seg1 := segmentBytes(t, 1, 0, &staleHS, persistertest.Entries(1, 3, 2))
	seg2 := segmentBytes(t, 2, uint64(len(seg1)), &staleHS, persistertest.Entries(4, 5, 2))
	stale, _, err := appendSave(nil, 1, nil, persistertest.Entries(6, 7, 2), nil)
	require.NoError(t, err)
	recycled := append(append(seg2, stale...), make([]byte, 300)...)
	dir := writeFiles(t, map[string][]byte{segmentName(1, 1): seg1, segmentName(2, 4): recycled})

	l, err := Open(dir, Options{})
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer l.Close()
	hs, es, err := l.Load()
	if err != nil {
		return err
	}
	if err := matches(model{hs: staleHS, entries: persistertest.Entries(1, 5, 2), floor: 1}, hs, es); err != nil {
		return err
	}
	// The next Save overwrites the stale record, and the file keeps its size.
	if err := l.Save(nil, persistertest.Entries(6, 6, 3)); err != nil {
		return err
	}
	if fi, err := os.Stat(filepath.Join(dir, segmentName(2, 4))); err != nil || fi.Size() != int64(len(recycled)) {
		return fmt.Errorf("the recycled segment was not overwritten in place: %v, %v", fi, err)
	}
	return nil
}

func TestStaleRecordsAreTheEndOfTheLog(t *testing.T) {
	require.NoError(t, checkStaleRecordsAreTheEnd(t))
}

// TestStaleRecordsNeedTheTagCheck shows that the check above fails when
// the tags of frames are not checked: the previous life's record, intact,
// is read as two more entries.
func TestStaleRecordsNeedTheTagCheck(t *testing.T) {
	checkTags = false
	defer func() { checkTags = true }()
	err := checkStaleRecordsAreTheEnd(t)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "log ends at 7, want 5")
}

// TestZerosAfterTheDataAreTheEnd: a prepared file holds zeros past its
// data, in the last segment and in one before it (whose end the next
// header gives): both read as the clean end of the data, not as damage.
func TestZerosAfterTheDataAreTheEnd(t *testing.T) {
	seg1 := segmentBytes(t, 1, 0, &staleHS, persistertest.Entries(1, 3, 2))
	seg2 := segmentBytes(t, 2, uint64(len(seg1)), &staleHS, persistertest.Entries(4, 5, 2), persistertest.Entries(6, 6, 2))
	zeros := make([]byte, 4096)
	dir := writeFiles(t, map[string][]byte{
		segmentName(1, 1): append(seg1, zeros...),
		segmentName(2, 4): append(seg2, zeros...),
	})
	l := mustOpen(t, dir, Options{})
	persistertest.RequireState(t, l, staleHS, persistertest.Entries(1, 6, 2))
	require.NoError(t, l.Save(nil, persistertest.Entries(7, 8, 2)))
	require.NoError(t, l.Close())
	l = mustOpen(t, dir, Options{})
	defer l.Close()
	persistertest.RequireState(t, l, staleHS, persistertest.Entries(1, 8, 2))
}

// TestDamageInAPreparedSegmentIsFoundPastTheZeros: a damaged record of the
// last segment followed, past zeros, by an intact record of this segment
// is corruption, however far the intact one is.
func TestDamageInAPreparedSegmentIsFoundPastTheZeros(t *testing.T) {
	seg1 := segmentBytes(t, 1, 0, &staleHS, persistertest.Entries(1, 3, 2), persistertest.Entries(4, 4, 2))
	later, _, err := appendSave(nil, 1, nil, persistertest.Entries(5, 5, 2), nil)
	require.NoError(t, err)
	data := append(append(seg1, make([]byte, 3<<20)...), later...)
	damaged := len(seg1) - 3
	data[damaged] ^= 0x40 // in the last entry's data
	dir := writeFiles(t, map[string][]byte{segmentName(1, 1): data})
	_, err = Open(dir, Options{})
	require.ErrorIs(t, err, raftlite.ErrCorrupt)
	assert.Contains(t, err.Error(), fmt.Sprintf("followed by an intact one at offset %d", len(seg1)+3<<20))
}

// TestARecordPastTheEndTheNextHeaderGivesIsCorruption: the header of a
// segment says where the one before it ends; an intact record after that
// point in the one before cannot have been written by this log.
func TestARecordPastTheEndTheNextHeaderGivesIsCorruption(t *testing.T) {
	seg1 := segmentBytes(t, 1, 0, &staleHS, persistertest.Entries(1, 3, 2), persistertest.Entries(4, 4, 2))
	short := segmentBytes(t, 1, 0, &staleHS, persistertest.Entries(1, 3, 2))
	seg2 := segmentBytes(t, 2, uint64(len(short)), &staleHS, persistertest.Entries(5, 5, 2))
	dir := writeFiles(t, map[string][]byte{segmentName(1, 1): seg1, segmentName(2, 5): seg2})
	_, err := Open(dir, Options{})
	require.ErrorIs(t, err, raftlite.ErrCorrupt)
	assert.Contains(t, err.Error(), fmt.Sprintf("%s at offset %d: records past the end", segmentName(1, 1), len(short)))
	assert.False(t, errors.Is(err, raftlite.ErrStorage))
}

// TestARecycledSegmentWithoutItsNewHeaderIsRemoved: a crash kept the
// rename of a recycled file to segment 2 but none of the write of its
// header: the file holds, intact, the header and Saves of the segment it
// was before. That is the torn start of segment 2, removed; not damage,
// and not data.
func TestARecycledSegmentWithoutItsNewHeaderIsRemoved(t *testing.T) {
	seg1 := segmentBytes(t, 1, 0, &staleHS, persistertest.Entries(1, 3, 2))
	earlier := segmentBytes(t, 1, 0, &staleHS, persistertest.Entries(1, 2, 1), persistertest.Entries(3, 9, 1))
	dir := writeFiles(t, map[string][]byte{segmentName(1, 1): seg1, segmentName(2, 4): earlier})
	l := mustOpen(t, dir, Options{})
	defer l.Close()
	persistertest.RequireState(t, l, staleHS, persistertest.Entries(1, 3, 2))
	assert.NoFileExists(t, filepath.Join(dir, segmentName(2, 4)))
}
