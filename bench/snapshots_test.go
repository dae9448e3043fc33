package bench

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Snapshots taken and sent under load, and a follower brought back by one,
// in full:
//
//	go test -run '^$' -bench SnapshotLoad -benchtime 1x -timeout 0 ./bench
//	go test -run '^$' -bench CatchUp -benchtime 1x -timeout 0 ./bench -catchup.missed=1000000
var (
	snapState     = flag.Int64("snapload.state", 100<<20, "bytes of BenchmarkSnapshotLoad's snapshots")
	snapQuiet     = flag.Int64("snapload.quiet", 50_000, "commits in BenchmarkSnapshotLoad's window without snapshots")
	snapTakes     = flag.Int("snapload.takes", 5, "snapshots BenchmarkSnapshotLoad takes in a row in its window while taking")
	catchupMissed = flag.Int("catchup.missed", 100_000, "broadcasts the follower misses in BenchmarkCatchUp")
	catchupState  = flag.Int64("catchup.state", 1<<20, "bytes of padding in BenchmarkCatchUp's application state")
)

// BenchmarkSnapshotLoad measures commit p99 of three nodes on the WAL over
// tcp under a steady load from 64 clients: with no snapshot activity,
// while the leader's application writes a -snapload.state snapshot, and
// while the leader streams one to a follower restarted behind its
// compaction point. Taking and sending should cost at most 2x quiet.
func BenchmarkSnapshotLoad(b *testing.B) {
	longRun(b)
	f := machineFloor(b)
	ignoreN(b)
	s := Setup{Transport: "tcp", Persister: "wal", Clients: 64, Size: 128, SnapshotEvery: math.MaxUint64, StateBytes: *snapState}
	dir := b.TempDir()
	disk, err := MeasureInterference(dir, *snapState, 200)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	c, err := Start(ctx, s, dir)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	res, err := c.SnapshotLoad(ctx, *snapQuiet, *snapTakes)
	if err != nil {
		b.Fatal(err)
	}
	floor := commitFloor(f, s)
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "window\tlasted\tcommits\tcommits/s\tp50\tp99\tp99/quiet\tp99/floor\telections\t")
	for i, w := range []struct {
		name string
		r    Result
	}{{"quiet", res.Quiet}, {"taking", res.Taking}, {"sending", res.Sending}} {
		fmt.Fprintf(tw, "%s\t%v\t%d\t%.0f\t%v\t%v\t%.2f\t%.1f\t%d\t\n", w.name, w.r.Elapsed.Round(time.Millisecond), w.r.Commits,
			w.r.PerSecond(), w.r.P50.Round(10*time.Microsecond), w.r.P99.Round(10*time.Microsecond),
			float64(w.r.P99)/float64(res.Quiet.P99), float64(w.r.P99)/float64(floor), res.Elections[i])
	}
	tw.Flush()
	logFloor(b, f)
	b.Logf("floor while writing: fdatasync p99 %v alone, %v while a %d-byte file was written and synced (%v): %.2fx",
		disk.Alone, disk.During, *snapState, disk.Write.Round(time.Millisecond), float64(disk.During)/float64(disk.Alone))
	var took []time.Duration
	for _, t := range res.Taken {
		took = append(took, t.Took.Round(time.Millisecond))
	}
	b.Logf("%s; snapshots of %d bytes: %d taken in a row, in %v; one sent (at %d) to node %d in %v\n%s",
		s, res.Sent.Bytes, len(res.Taken), took, res.Sent.Index, res.Follower, res.Send.Round(time.Millisecond), table.String())
	b.ReportMetric(float64(res.Quiet.P99.Nanoseconds()), "quiet-p99-ns")
	b.ReportMetric(float64(res.Taking.P99.Nanoseconds()), "taking-p99-ns")
	b.ReportMetric(float64(res.Sending.P99.Nanoseconds()), "sending-p99-ns")
	b.ReportMetric(float64(res.Taking.P99)/float64(res.Quiet.P99), "taking/quiet")
	b.ReportMetric(float64(res.Sending.P99)/float64(res.Quiet.P99), "sending/quiet")
	b.ReportMetric(float64(res.Quiet.P99)/float64(floor), "quiet-p99/floor")
	b.ReportMetric(float64(disk.During)/float64(disk.Alone), "floor-during/alone")
}

// BenchmarkCatchUp measures, on each transport, how long a follower that
// missed -catchup.missed broadcasts (from 256 clients, on the WAL) takes to
// be brought back by the leader's snapshot at the last of them: from its
// restart until its Delivered reaches that index.
func BenchmarkCatchUp(b *testing.B) {
	longRun(b)
	f := machineFloor(b)
	for _, transport := range []string{"mem", "tcp", "quic"} {
		// More clients than the matrix's, to commit the missed broadcasts
		// sooner: their figures are not the point.
		s := Setup{Transport: transport, Persister: "wal", Clients: 256, Size: 128,
			SnapshotEvery: math.MaxUint64, StateBytes: *catchupState}
		if !Available(s) {
			continue
		}
		b.Run(fmt.Sprintf("transport=%s/missed=%d", transport, *catchupMissed), func(b *testing.B) {
			ignoreN(b)
			ctx, c := startCluster(b, s, 30*time.Minute)
			res, err := c.CatchUp(ctx, *catchupMissed)
			if err != nil {
				b.Fatal(err)
			}
			logFloor(b, f)
			b.Logf("%s: node %d missed %d broadcasts (%.0f/s); brought back by a snapshot at %d of %d bytes "+
				"(and %d messages one by one): delivered in %v, applied in %v",
				s, res.Follower, res.Missed.Commits, res.Missed.PerSecond(), res.Snapshot.Index, res.Snapshot.Bytes,
				res.Messages, res.Delivered.Round(time.Millisecond), res.Applied.Round(time.Millisecond))
			b.ReportMetric(float64(res.Delivered.Nanoseconds()), "catchup-ns")
			b.ReportMetric(float64(res.Applied.Nanoseconds()), "applied-ns")
			b.ReportMetric(float64(res.Snapshot.Bytes), "snapshot-bytes")
			b.ReportMetric(res.Missed.PerSecond(), "missed-commits/s")
			b.ReportMetric(float64(res.Delivered)/float64(commitFloor(f, s)), "catchup/floor")
		})
	}
}

// TestSnapshotLoadRestoresTheFollower: a snapshot taken under load, and one
// streamed in several chunks to a follower restarted behind the leader's
// compaction point, which restores it and ends with everyone's state.
func TestSnapshotLoadRestoresTheFollower(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const state = 3<<20 + 5 // four chunks of the default MaxBatchBytes
	// Large messages: the leader waits for as many bytes as it may send
	// a follower unacknowledged (8 MiB) past the stopped one's log.
	s := Setup{Transport: "mem", Persister: "wal", Clients: 4, Size: 16 << 10,
		SnapshotEvery: math.MaxUint64, TrailingEntries: 20, StateBytes: state, SegmentBytes: 64 << 10}
	c, err := Start(ctx, s, t.TempDir())
	require.NoError(t, err)
	defer c.Close()
	res, err := c.SnapshotLoad(ctx, 200, 2)
	require.NoError(t, err) // which includes Agree and the follower's one restore
	assert.GreaterOrEqual(t, res.Quiet.Commits, 200)
	require.Len(t, res.Taken, 2)
	assert.EqualValues(t, snapshotHeader+state, res.Taken[0].Bytes)
	assert.Greater(t, res.Taken[1].Index, res.Taken[0].Index)
	assert.Greater(t, res.Sent.Index, res.Taken[1].Index)
	f := res.Follower - 1
	// From the leader's snapshot, or, if leadership moved meanwhile (a
	// loaded machine can delay heartbeats past check-quorum), from the
	// one the other node took past the same point.
	assert.Greater(t, c.nodes[f].Status().SnapshotIndex, res.Taken[1].Index)
	assert.EqualValues(t, snapshotHeader+state, c.apps[f].state().lastBytes, "restored whole")
}

// TestCatchUpBySnapshot: a follower that missed a load is brought back by
// the leader's snapshot at its last broadcast, on each transport the test
// can run cheaply. The load is more than the leader sends a follower
// unacknowledged (MaxInflightBytes, 8 MiB): tcp queues what the leader
// sent the stopped follower and delivers it when it is back, so that a
// smaller load would reach it as entries, without a snapshot.
func TestCatchUpBySnapshot(t *testing.T) {
	for _, transport := range []string{"mem", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			const missed, state = 1000, 64 << 10
			s := Setup{Transport: transport, Persister: "wal", Clients: 8, Size: 16 << 10,
				SnapshotEvery: math.MaxUint64, TrailingEntries: 50, StateBytes: state}
			c, err := Start(ctx, s, t.TempDir())
			require.NoError(t, err)
			defer c.Close()
			res, err := c.CatchUp(ctx, missed)
			require.NoError(t, err) // which includes Agree and the follower's one restore
			assert.Equal(t, missed, res.Missed.Commits)
			assert.Equal(t, res.Missed.Last, res.Snapshot.Index)
			assert.EqualValues(t, snapshotHeader+state, res.Snapshot.Bytes)
			assert.Equal(t, res.Missed.Last, c.nodes[res.Follower-1].Status().SnapshotIndex)
			assert.LessOrEqual(t, res.Delivered, res.Applied)
		})
	}
}
