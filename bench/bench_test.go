package bench

import (
	"context"
	"sync"
	"testing"
	"time"
)

var (
	floorOnce sync.Once
	floor     Floor
	floorErr  error
)

func machineFloor(b *testing.B) Floor {
	floorOnce.Do(func() { floor, floorErr = MeasureFloor(b.TempDir(), 200) })
	if floorErr != nil {
		b.Fatal(floorErr)
	}
	return floor
}

// BenchmarkFloor reports the machine's floor for this run: what a commit
// cannot beat.
func BenchmarkFloor(b *testing.B) {
	f := machineFloor(b)
	for range b.N {
	}
	for _, m := range []struct {
		name string
		s    SyncFloor
	}{{"append", f.Append}, {"fallocate", f.Fallocate}, {"overwrite", f.Overwrite}} {
		b.ReportMetric(float64(m.s.Alone.Nanoseconds()), m.name+"-fsync-p50-ns")
		b.ReportMetric(float64(m.s.Quorum.Nanoseconds()), m.name+"-quorum-p50-ns")
	}
	b.ReportMetric(float64(f.LoopbackRTT.Nanoseconds()), "rtt-p50-ns")
}

// BenchmarkCommit runs three nodes in this process for every transport and
// persister: one sequential client and 64 concurrent ones, broadcasting on
// the leader and, separately, on a follower. Each op is one committed
// broadcast; after the load the run verifies that every node delivered
// exactly the acknowledged broadcasts in one order.
func BenchmarkCommit(b *testing.B) {
	for _, s := range Matrix() {
		if !Available(s) {
			continue
		}
		// The testing package calls a benchmark again with a larger b.N
		// until it has run for -benchtime: one cluster serves every
		// call, so that a setup costs one start rather than four, and is
		// verified once, after the last.
		var c *Cluster
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		dir := b.TempDir()
		b.Run(s.String(), func(b *testing.B) {
			f := machineFloor(b)
			if c == nil {
				var err error
				if c, err = Start(ctx, s, dir); err != nil {
					b.Fatal(err)
				}
			}
			// The disk's latency drifts by a third within a minute on a
			// shared machine: the floor a durable load is held to is the
			// quorum's overwrite measured just before it and just after.
			var before time.Duration
			if s.Persister == "wal" {
				before = quorumOverwrite(b, dir)
			}
			b.ReportAllocs()
			b.ResetTimer()
			r, err := c.Load(ctx, b.N)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if s.Persister == "wal" {
				f.Overwrite.Quorum = (before + quorumOverwrite(b, dir)) / 2
			}
			report(b, r, f, s)
		})
		if c != nil {
			if err := c.Verify(ctx); err != nil {
				b.Errorf("%s: %v", s, err)
			}
			if err := c.Close(); err != nil {
				b.Errorf("%s: closing: %v", s, err)
			}
		}
		cancel()
	}
}

func report(b *testing.B, r Result, f Floor, s Setup) {
	b.ReportMetric(r.PerSecond(), "commits/s")
	b.ReportMetric(float64(r.P50.Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(r.P90.Nanoseconds()), "p90-ns")
	b.ReportMetric(float64(r.P99.Nanoseconds()), "p99-ns")
	if s.Persister == "wal" {
		b.ReportMetric(float64(r.Syncs)/float64(r.Commits), "fsyncs/op")
	}
	b.ReportMetric(float64(r.Messages)/float64(r.Commits), "msgs/op")
	b.ReportMetric(float64(r.P50)/float64(commitFloor(f, s)), "p50/floor")
	if s.Persister == "wal" {
		b.ReportMetric(float64(r.P50)/float64(f.Append.Commit(f.LoopbackRTT)), "p50/append-floor")
	}
}

// commitFloor is what a commit of setup s cannot beat: a loopback round
// trip and, with the WAL, the quorum's syncs of a block the log overwrites
// (it writes into segments prepared ahead; p50/append-floor compares with
// what a log that appends would pay).
func commitFloor(f Floor, s Setup) time.Duration {
	if s.Persister == "wal" {
		return f.Overwrite.Commit(f.LoopbackRTT)
	}
	return f.LoopbackRTT
}

// quorumOverwrite measures the floor's quorum overwrite now, in brief.
func quorumOverwrite(b *testing.B, dir string) time.Duration {
	q, err := QuorumFsync(dir, 3, 50)
	if err != nil {
		b.Fatal(err)
	}
	return q
}

// logFloor logs the floor f, measured in this run.
func logFloor(b *testing.B, f Floor) {
	b.Logf("floor: %v", f)
}

// ignoreN makes a benchmark that measures one long run once: the figures
// are its metrics, and ns/op is meaningless.
func ignoreN(b *testing.B) {
	for range b.N {
	}
	b.ReportMetric(0, "ns/op")
}

// startCluster starts setup s for tb in a temporary directory, with a
// context that ends after d; the cluster closes, then the context ends,
// when tb does.
func startCluster(tb testing.TB, s Setup, d time.Duration) (context.Context, *Cluster) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	c, err := Start(ctx, s, tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return ctx, c
}
