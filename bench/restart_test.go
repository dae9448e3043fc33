package bench

import (
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite/wal"
)

// The restart, in full:
//
//	go test -run '^$' -bench RestartSnapshot -timeout 0 ./bench -restart.entries=10000000
var restartEntries = flag.Int("restart.entries", 1_000_000, "committed broadcasts in BenchmarkRestartSnapshot's log")

// BenchmarkRestartSnapshot measures a node's restart on a WAL of
// -restart.entries committed broadcasts of 128 bytes, which its
// application had applied: without a snapshot, and then with one at the
// last index and the log compacted behind it. The floor is reading the
// directory's files once.
func BenchmarkRestartSnapshot(b *testing.B) {
	longRun(b)
	if testing.Short() {
		b.Skip("-short: builds a log of -restart.entries entries")
	}
	total := *restartEntries
	dir := b.TempDir()
	t0 := time.Now()
	if err := BuildLog(dir, total, wal.Options{}, true); err != nil {
		b.Fatal(err)
	}
	b.Logf("built a log of %d entries in %v", total, time.Since(t0).Round(time.Millisecond))
	b.Run(fmt.Sprintf("entries=%d/snapshot=none", total), func(b *testing.B) { timeRestarts(b, dir) })
	first, err := SnapshotLog(dir, wal.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("stored a snapshot at %d and compacted: the log starts at %d", total, first)
	b.Run(fmt.Sprintf("entries=%d/snapshot=last", total), func(b *testing.B) { timeRestarts(b, dir) })
}

// timeRestarts restarts a node on dir b.N times and reports the median
// restart as ns/op, against the floor of reading dir once.
func timeRestarts(b *testing.B, dir string) {
	read, size, err := ReadFloor(dir)
	if err != nil {
		b.Fatal(err)
	}
	var took []time.Duration
	for range b.N {
		r, err := TimeRestart(dir, wal.Options{})
		if err != nil {
			b.Fatal(err)
		}
		took = append(took, r.Took)
	}
	restart := median(took)
	b.ReportMetric(float64(restart.Nanoseconds()), "ns/op")
	b.ReportMetric(float64(read.Nanoseconds()), "read-floor-ns")
	b.ReportMetric(float64(restart)/float64(read), "restart/read-floor")
	b.ReportMetric(float64(size)/(1<<20), "dir-MB")
}

// TestRestartFromSnapshotDeliversNothing: a node restarts on a committed
// log whose application applied everything, without and then with a
// snapshot at the last index, up at once with nothing to deliver; the
// snapshot compacted the log.
func TestRestartFromSnapshotDeliversNothing(t *testing.T) {
	dir, opts := t.TempDir(), wal.Options{SegmentSize: 64 << 10}
	const total = 5000
	require.NoError(t, BuildLog(dir, total, opts, true))
	_, bytesRead, err := ReadFloor(dir)
	require.NoError(t, err)
	assert.Greater(t, bytesRead, int64(total*EntryBytes))

	full, err := TimeRestart(dir, opts)
	require.NoError(t, err)
	assert.EqualValues(t, total, full.Status.LastIndex)
	assert.Zero(t, full.Status.SnapshotIndex)
	assert.Zero(t, full.Deliveries)

	first, err := SnapshotLog(dir, opts)
	require.NoError(t, err)
	assert.Greater(t, first, uint64(1), "compacted")
	snap, err := TimeRestart(dir, opts)
	require.NoError(t, err)
	assert.EqualValues(t, total, snap.Status.SnapshotIndex)
	assert.EqualValues(t, total, snap.Status.Delivered)
	assert.Zero(t, snap.Status.HeldEntries)
	assert.Zero(t, snap.Deliveries)
}
