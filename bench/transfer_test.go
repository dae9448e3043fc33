package bench

import (
	"context"
	"flag"
	"math"
	"testing"
	"time"
)

var transferMiB = flag.Int("transfer.mib", 64, "size in MiB of the snapshot BenchmarkSnapshotTransferMemory streams (1024 for the 1 GiB figure)")

// BenchmarkSnapshotTransferMemory brings back, over tcp with the WAL, a
// follower behind the leader's compaction point with a snapshot of
// -transfer.mib MiB (CatchUp), its application reading it to the end, and
// reports how far the process's live heap and RSS grew above where they
// were before the follower restarted, in MiB, and the live heap's growth
// in chunks (MaxBatchBytes, 1 MiB): what the nodes hold at once, whatever
// the snapshot's size. RSS also holds the garbage the GC lets accumulate
// between cycles (GOGC), which the copies of each chunk feed.
func BenchmarkSnapshotTransferMemory(b *testing.B) {
	longRun(b)
	size := int64(*transferMiB) << 20
	s := Setup{Transport: "tcp", Persister: "wal", Clients: 8, Size: 16 << 10,
		SnapshotEvery: math.MaxUint64, TrailingEntries: 50, StateBytes: size}
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		c, err := Start(ctx, s, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		// More than the leader may send the stopped follower unacknowledged
		// (8 MiB): tcp would deliver that when it is back, and no snapshot
		// would be needed.
		res, err := c.CatchUp(ctx, 1000)
		cancel()
		if cerr := c.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(res.HeapGrowth)/(1<<20), "heap-growth-MiB")
		b.ReportMetric(float64(res.RSSGrowth)/(1<<20), "rss-growth-MiB")
		b.ReportMetric(float64(res.HeapGrowth)/(1<<20), "chunks-held")
		b.ReportMetric(float64(res.Snapshot.Bytes)/(1<<20)/res.Applied.Seconds(), "MiB/s")
	}
}
