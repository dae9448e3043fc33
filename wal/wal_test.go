package wal

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/persister/persistertest"
)

func mustOpen(t testing.TB, dir string, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, opts)
	require.NoError(t, err)
	return l
}

// TestConformance runs the suite on Logs in a directory, and on Logs on
// the fault file system crashed at every operation: with only what was
// synced kept, and with random parts of what was not.
func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     Options
		unsynced bool
	}{
		{"DefaultSegments", Options{}, false},
		{"TinySegments", Options{SegmentSize: 256}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			persistertest.Run(t, persistertest.Harness{
				Open: func(t *testing.T) (raftlite.Persister, func() raftlite.Persister) {
					dir := t.TempDir()
					l := mustOpen(t, dir, tc.opts)
					return l, func() raftlite.Persister {
						require.NoError(t, l.Close())
						l = mustOpen(t, dir, tc.opts)
						return l
					}
				},
				Crash: func(t *testing.T, at int) (raftlite.Persister, persistertest.Machine) {
					m := &machine{t: t, fsys: newFaultFS(uint64(at)), opts: tc.opts, unsynced: tc.unsynced, at: at}
					m.opts.fs = m.fsys
					l := mustOpen(t, "db", m.opts)
					m.fsys.crashAfter(at)
					return l, m
				},
				AtomicSave: true,
			})
		})
	}
}

// machine is a persistertest.Machine: a Log on the fault file system.
type machine struct {
	t        *testing.T
	fsys     *faultFS
	opts     Options
	unsynced bool // the crash keeps random parts of unsynced writes
	at       int
}

func (m *machine) Crashed() bool { return m.fsys.hasCrashed() }

func (m *machine) Reboot() raftlite.Persister {
	opts := m.opts
	opts.fs = m.fsys.crashImage(rand.New(rand.NewPCG(uint64(m.at), 1)), m.unsynced)
	return mustOpen(m.t, "db", opts)
}

// TestOneSyncPerSave checks at the file system, not by the log's own count,
// that each Save is made durable by exactly one fdatasync that succeeded,
// plus one directory fsync when it starts a segment: a crash right after a
// Save returns keeps it.
func TestOneSyncPerSave(t *testing.T) {
	require.NoError(t, checkOneSyncPerSave(newFaultFS(1)))
}

// TestOneSyncPerSaveCatchesASkippedSync shows that the check above fails
// when the fdatasync of Save does not happen.
func TestOneSyncPerSaveCatchesASkippedSync(t *testing.T) {
	fsys := newFaultFS(1)
	fsys.skipSync = true
	err := checkOneSyncPerSave(fsys)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "save 0: 0 fdatasyncs succeeded, want 1")
}

func checkOneSyncPerSave(fsys *faultFS) error {
	opts := Options{SegmentSize: 1 << 10, fs: fsys}
	l, err := Open("db", opts)
	if err != nil {
		return err
	}
	defer l.Close()
	saves := []op{{kind: opSave, hs: &raftlite.HardState{Term: 1}}}
	for i := uint64(1); i <= 100; i += 10 {
		hs := raftlite.HardState{Term: 1, Commit: i - 1}
		saves = append(saves, op{kind: opSave, hs: &hs, entries: persistertest.Entries(i, i+9, 1)})
	}
	m := model{floor: 1}
	for i, o := range saves {
		files, dirs := fsys.syncCounts()
		segs := len(l.segs)
		if err := l.Save(o.hs, o.entries); err != nil {
			return fmt.Errorf("save %d: %w", i, err)
		}
		m = m.apply(o)
		files2, dirs2 := fsys.syncCounts()
		if files2-files != 1 {
			return fmt.Errorf("save %d: %d fdatasyncs succeeded, want 1", i, files2-files)
		}
		if started := len(l.segs) - segs; dirs2-dirs != started {
			return fmt.Errorf("save %d started %d segments and %d directory fsyncs succeeded", i, started, dirs2-dirs)
		}
		if err := survivesACrash(fsys, opts, m); err != nil {
			return fmt.Errorf("save %d returned, but a crash loses it: %w", i, err)
		}
	}
	if len(l.segs) < 2 {
		return fmt.Errorf("the saves filled only %d segment: no segment start was checked", len(l.segs))
	}
	if l.Syncs() != int64(len(saves)) {
		return fmt.Errorf("Syncs() reports %d, want %d", l.Syncs(), len(saves))
	}
	return nil
}

// survivesACrash checks that what a crash now would leave on fsys (synced
// data only) holds m.
func survivesACrash(fsys *faultFS, opts Options, m model) error {
	opts.fs = fsys.crashImage(rand.New(rand.NewPCG(1, 2)), false)
	l, err := Open("db", opts)
	if err != nil {
		return err
	}
	defer l.Close()
	hs, es, err := l.Load()
	if err != nil {
		return err
	}
	return matches(m, hs, es)
}

func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{})
	_, err := Open(dir, Options{})
	require.ErrorIs(t, err, ErrLocked)
	require.NoError(t, l.Close())
	mustOpen(t, dir, Options{}).Close()
}

func TestEntriesRangeAndLimit(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Options{SegmentSize: 200})
	defer l.Close()
	all := persistertest.Entries(1, 50, 1)
	for i := 0; i < 50; i += 7 {
		require.NoError(t, l.Save(nil, all[i:min(i+7, 50)]))
	}
	es, err := l.Entries(10, 20, 0)
	require.NoError(t, err)
	assert.Equal(t, all[9:19], es)

	// Entries 10 and 11 encode in 23 bytes each, the no-op 12 in 5.
	es, err = l.Entries(10, 50, 50)
	require.NoError(t, err)
	assert.Len(t, es, 2, "46 bytes fit in 50, 51 do not")
	es, err = l.Entries(10, 50, 1)
	require.NoError(t, err)
	assert.Len(t, es, 1, "at least one entry")
	es, err = l.Entries(5, 5, 0)
	require.NoError(t, err)
	assert.Empty(t, es)

	_, err = l.Entries(40, 52, 0)
	assert.ErrorIs(t, err, ErrUnavailable)
	require.NoError(t, storeSnapshot(l, &snapModel{meta: raftlite.SnapshotMeta{Index: 29, Term: 1}}))
	require.NoError(t, l.Compact(29))
	_, err = l.Entries(1, 30, 0)
	assert.ErrorIs(t, err, errCompacted)
	assert.ErrorIs(t, err, ErrUnavailable)
}

// TestEntriesAllocatesWhatItReturns: a read bounded by maxBytes of the
// rest of a long log, as a restart and a lagging follower make, allocates
// for the entries it returns, not for the whole range asked for.
func TestEntriesAllocatesWhatItReturns(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Options{})
	defer l.Close()
	const total = 50_000
	all := persistertest.Entries(1, total, 1)
	for i := 0; i < total; i += 10_000 {
		require.NoError(t, l.Save(nil, all[i:i+10_000]))
	}
	before := allocated()
	es, err := l.Entries(1, total+1, 1024)
	require.NoError(t, err)
	assert.NotEmpty(t, es)
	assert.Less(t, len(es), 100)
	// Sized for the range, the slice alone would take total entries'
	// worth, megabytes.
	assert.Less(t, allocated()-before, uint64(64<<10))
}

// TestCompactionKeepsLaterEntriesAndHardState removes segments and checks
// that a reopened log starts later but lost nothing after the snapshot,
// not even a HardState saved only in a removed segment.
func TestCompactionKeepsLaterEntriesAndHardState(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 300}
	l := mustOpen(t, dir, opts)
	hs := raftlite.HardState{Term: 1, VotedFor: 2, Incarnation: 3}
	require.NoError(t, l.Save(&hs, nil))
	all := persistertest.Entries(1, 100, 1)
	for i := 0; i < 100; i += 10 {
		require.NoError(t, l.Save(nil, all[i:i+10]))
	}
	segsBefore := len(segmentFiles(t, dir))
	require.ErrorIs(t, l.Compact(54), ErrNotCovered, "no snapshot yet")
	require.NoError(t, storeSnapshot(l, &snapModel{meta: raftlite.SnapshotMeta{Index: 54, Term: 1}}))
	require.ErrorIs(t, l.Compact(55), ErrNotCovered, "past the snapshot")
	assert.Len(t, segmentFiles(t, dir), segsBefore, "a refused Compact removes nothing")
	require.NoError(t, l.Compact(54))
	first := l.FirstIndex()
	assert.LessOrEqual(t, first, uint64(55))
	assert.Greater(t, first, uint64(1))
	assert.Less(t, len(segmentFiles(t, dir)), segsBefore)
	persistertest.RequireState(t, l, hs, all[first-1:])
	require.NoError(t, l.Close())

	l = mustOpen(t, dir, opts)
	defer l.Close()
	assert.Equal(t, first, l.FirstIndex())
	persistertest.RequireState(t, l, hs, all[first-1:])
	// Compacting past the end removes all but the active segment and
	// keeps the last index. A Save may not start before the first kept
	// entry: the log would have a hole after the snapshot.
	require.NoError(t, storeSnapshot(l, &snapModel{meta: raftlite.SnapshotMeta{Index: 1000, Term: 1}}))
	require.NoError(t, l.Compact(1000))
	assert.Len(t, segmentFiles(t, dir), 1)
	assert.Equal(t, uint64(100), l.LastIndex())
	first = l.FirstIndex()
	require.ErrorIs(t, l.Save(nil, persistertest.Entries(first-1, first, 2)), raftlite.ErrCorrupt)
	require.NoError(t, l.Save(nil, persistertest.Entries(first, 101, 2)))
	persistertest.RequireState(t, l, hs, persistertest.Entries(first, 101, 2))
}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	require.NoError(t, err)
	return m
}
