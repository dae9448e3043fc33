package wal

import (
	"os"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/persister/persistertest"
)

// crashScript runs script on the fault file system, crashing it at every
// operation with several crash images each, and checks every recovery as
// TestCrash does: the state before or after the interrupted operation,
// nothing else (and so no record of a file's earlier life), no spare left
// behind, and a log that goes on. It returns what each operation was.
func crashScript(t *testing.T, script []op) []string {
	t.Helper()
	dry := &crashRun{script: script}
	require.NoError(t, dry.run(), "%v", dry)
	for at := 1; at <= dry.totalOps; at++ {
		for _, unsync := range []bool{false, true} {
			for seed := int64(1); seed <= 4; seed++ {
				r := &crashRun{seed: seed, script: script, crashAt: at, unsync: unsync}
				if err := r.run(); err != nil {
					t.Fatalf("crash at operation %d, %q (seed %d, unsynced kept: %v): %v", at, dry.trace[at-1], seed, unsync, err)
				}
			}
		}
	}
	return dry.trace
}

// requireSteps checks that trace has an operation matching each of steps.
func requireSteps(t *testing.T, trace []string, steps ...string) {
	t.Helper()
	for _, step := range steps {
		re := regexp.MustCompile(step)
		assert.True(t, slices.ContainsFunc(trace, re.MatchString), "no crash point at %q in %q", step, trace)
	}
}

// bigSave is a Save of entries lo..hi large enough not to fit in the rest
// of a crashSegment.
func bigSave(lo, hi uint64) op {
	es := persistertest.Entries(lo, hi, 1)
	for i := range es {
		es[i].Data = make([]byte, 60)
		es[i].Data[0] = byte(es[i].Index)
	}
	return op{kind: opSave, entries: es}
}

// TestCrashWhilePreparingAndRollingIntoASpare crashes at every step of
// preparing a spare (creating it, in the middle of writing it, before its
// sync, before its rename, before the directory sync) and of rolling into
// it (the rename, the write of the header and the first Save, torn
// anywhere, its sync, the directory sync).
func TestCrashWhilePreparingAndRollingIntoASpare(t *testing.T) {
	hs := &raftlite.HardState{Term: 1, VotedFor: 1, Incarnation: 1}
	trace := crashScript(t, []op{
		{kind: opSave, hs: hs, entries: persistertest.Entries(1, 2, 1)},
		{kind: opPrepare},
		bigSave(3, 5),
		bigSave(6, 6),
	})
	requireSteps(t, trace,
		`^create \w+\.prep$`, `^write@0 \w+\.prep$`, `^sync \w+\.prep$`, `^rename \w+\.prep \w+\.spare$`,
		`^rename \w+\.spare 0+2-0+3\.wal$`, `^write@0 0+2-0+3\.wal$`, `^sync 0+2-0+3\.wal$`)
}

// waitForSpare waits until the goroutine has a spare ready.
func waitForSpare(t *testing.T, l *Log) {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		l.mu.Lock()
		ready, published := len(l.ready), l.published
		l.mu.Unlock()
		if ready > 0 {
			return
		}
		select {
		case <-published:
		case <-deadline:
			t.Fatal("no spare was prepared within a minute")
		}
	}
}

// TestSavesOverwritePreparedSegments: on the OS's file system, a
// goroutine prepares spares, and Saves roll into them: the segments' files
// keep the size they were prepared at while Saves fill them, a Save that
// does not fit the rest goes to the next one, and all of it reads back
// after a reopen.
func TestSavesOverwritePreparedSegments(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 16 << 10}
	l := mustOpen(t, dir, opts)
	var want []raftlite.Entry
	for round := range 4 {
		waitForSpare(t, l)
		segs := len(l.segs)
		for len(l.segs) == segs || len(l.segs) == 0 {
			es := persistertest.Entries(uint64(len(want)+1), uint64(len(want)+5), 1)
			require.NoError(t, l.Save(nil, es))
			want = append(want, es...)
		}
		t.Logf("round %d: %d segments", round, len(l.segs))
	}
	for _, s := range l.segs[:len(l.segs)-1] {
		fi, err := os.Stat(s.name)
		require.NoError(t, err)
		assert.Equal(t, opts.SegmentSize, fi.Size(), "%s was prepared, then overwritten", s.name)
		assert.LessOrEqual(t, s.size, fi.Size())
	}
	require.NoError(t, l.Close())
	l = mustOpen(t, dir, opts)
	defer l.Close()
	persistertest.RequireState(t, l, raftlite.HardState{}, want)
}

// TestCrashWhileRecyclingAndRollingIntoARecycledSegment crashes at every
// step of compaction recycling two segments (each rename to a spare, the
// directory sync) and of rolling into them (after the rename, before and in
// the middle of the write of the header and first Save, which lands over
// the records of the file's earlier life), then of a DiscardLog that
// starts its restart segment in a spare. Recovery must never take a record
// of a file's earlier life for data.
func TestCrashWhileRecyclingAndRollingIntoARecycledSegment(t *testing.T) {
	first := bigSave(1, 3)
	first.hs = &raftlite.HardState{Term: 1, VotedFor: 1, Incarnation: 1}
	trace := crashScript(t, []op{
		first,
		{kind: opPrepare},
		bigSave(4, 6), // into the spare: segment 2
		bigSave(7, 7), // no spare: segment 3 is created
		{kind: opSnapshot, snap: &snapModel{meta: raftlite.SnapshotMeta{Index: 6, Term: 1}, data: []byte("six")}},
		{kind: opCompact, compact: 6}, // segments 1 and 2 become spares
		bigSave(8, 10),                // into segment 1's file: segment 4
		bigSave(11, 13),               // into segment 2's file: segment 5
		bigSave(14, 14),
		{kind: opPrepare},
		{kind: opDiscard, discard: 20}, // a restart segment in a spare: segment 7
		bigSave(21, 21),
	})
	requireSteps(t, trace, `^rename \w+\.spare 0+7-0+15\.wal$`, `^write@0 0+7-0+15\.wal$`,
		`^rename 0+1-0+1\.wal \w+\.spare$`, `^rename 0+2-0+4\.wal \w+\.spare$`,
		`^rename \w+\.spare 0+4-0+8\.wal$`, `^write@0 0+4-0+8\.wal$`, `^sync 0+4-0+8\.wal$`,
		`^rename \w+\.spare 0+5-0+b\.wal$`, `^write@0 0+5-0+b\.wal$`)
}

// TestSparesArePacedBySpareBytesPerSecond: a spare goes to disk in synced
// pieces, each taking at least its share of SpareBytesPerSecond, whatever
// the snapshot rate. Written at the snapshot rate, spares stalled every
// commit of a busy new log for milliseconds at a time.
func TestSparesArePacedBySpareBytesPerSecond(t *testing.T) {
	const rate = 1 << 20 // bytes per second
	fsys := newFaultFS(1)
	clk := &fakeClock{now: time.Unix(0, 0)}
	l := mustOpen(t, "db", Options{fs: fsys, clock: clk, SpareBytesPerSecond: rate, SnapshotBytesPerSecond: -1})
	defer l.Close()
	did, err := l.prepareSpare()
	require.NoError(t, err)
	require.True(t, did, "a spare was due")
	assert.Zero(t, fsys.unsynced())
	perPiece := time.Duration(prepChunk) * time.Second / rate
	assert.Equal(t, time.Duration(firstSpareSize/prepChunk)*perPiece, clk.slept)
}
